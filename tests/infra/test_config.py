import argparse
from dataclasses import dataclass, field
from typing import Literal

import pytest

from ssae_core.demo.world import DemoConfig
from ssae_core.infra.config import Config, add_options, field_docs, from_args
from ssae_core.infra.errors import ConfigError


@dataclass(frozen=True)
class Inner(Config):
    a: int = 1
    values: tuple = (1, 2)


@dataclass(frozen=True)
class Outer(Config):
    inner: Inner = field(default_factory=Inner)
    name: str = "x"


def test_round_trip_keeps_nested_configs_and_tuples():
    cfg = Outer(Inner(a=5, values=(3, 4)), "y")
    again = Outer.from_dict(cfg.to_dict())
    assert again == cfg
    assert isinstance(again.inner, Inner) and again.inner.values == (3, 4)


def test_digest_is_stable_and_sensitive():
    assert Outer().digest() == Outer().digest()
    assert Outer().digest() != Outer(name="z").digest()
    assert Inner().digest() != Outer().digest()


def test_demo_config_round_trip():
    cfg = DemoConfig.quick()
    assert DemoConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_option_is_named():
    with pytest.raises(ConfigError, match="no option.*'bogus'"):
        Inner.from_dict({"a": 1, "bogus": 2})


@dataclass(frozen=True)
class Options(Config):
    """A config with every kind of field ``add_options`` turns into an option."""

    steps: int = 10
    """Optimizer steps."""
    lr: float = 1e-3  # a comment is not a docstring
    name: str = "x"
    """The run's name.

    Its second paragraph."""
    mode: Literal["fast", "slow"] = "fast"
    """How to run: 50% faster or not."""
    verbose: bool = False
    normalize: bool = True
    sparsity: tuple[float, ...] = (1.0, 2.5)
    """Sparsity values."""
    seeds: tuple[int, ...] = (0, 1)
    tags: tuple[str, ...] = ()
    version: int = 1


@dataclass(frozen=True)
class MoreOptions(Options):
    steps: int = 20
    """Steps of the subclass."""
    extra: int = 0
    """A field of the subclass."""


def _parser(**kwargs) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_options(parser, Options, **kwargs)
    return parser


def test_field_docs_reads_attribute_docstrings_of_the_class_and_its_bases():
    docs = field_docs(Options)
    assert docs["steps"] == "Optimizer steps."
    assert docs["name"] == "The run's name.\n\nIts second paragraph."
    assert "lr" not in docs and "verbose" not in docs and "version" not in docs
    more = field_docs(MoreOptions)
    assert more["steps"] == "Steps of the subclass." and more["extra"] == "A field of the subclass."
    assert more["sparsity"] == "Sparsity values."


def test_add_options_round_trips_through_from_args():
    parser = _parser(flags={"sparsity": "--l1"}, exclude=["version"])
    assert from_args(Options, parser.parse_args([])) == Options()
    args = parser.parse_args(
        ["--steps", "5", "--lr", "0.5", "--name", "y", "--mode", "slow", "--verbose"]
        + ["--no-normalize"]
        + ["--l1", "3,4.5", "--seeds", "7", "--tags", "a, b"]
    )
    assert from_args(Options, args) == Options(
        steps=5,
        lr=0.5,
        name="y",
        mode="slow",
        verbose=True,
        normalize=False,
        sparsity=(3.0, 4.5),
        seeds=(7,),
        tags=("a", "b"),
    )
    assert args.l1 == "3,4.5", "a renamed flag keeps argparse's own dest"
    assert from_args(Options, args, steps=9).steps == 9


def test_add_options_defaults_help_and_choices_come_from_the_dataclass():
    parser = _parser(flags={"sparsity": "--l1"}, only=["mode", "sparsity", "steps"])
    actions = {a.option_strings[0]: a for a in parser._actions if a.option_strings}
    assert list(actions) == ["-h", "--mode", "--l1", "--steps"], "only: in its order"
    assert actions["--mode"].choices == ["fast", "slow"] and actions["--mode"].default == "fast"
    assert actions["--l1"].default == "1.0,2.5"
    assert actions["--l1"].help == "comma-separated sparsity values"
    assert actions["--steps"].type is int and actions["--steps"].help == "optimizer steps"
    assert "50% faster" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "medium"])
    # only the added fields come from the args; the others keep their defaults
    cfg = from_args(Options, parser.parse_args(["--steps", "3"]))
    assert cfg == Options(steps=3)


def test_several_add_options_calls_for_one_class_add_up():
    parser = argparse.ArgumentParser()
    add_options(parser, Options, only=["steps"])
    parser.add_argument("--other")
    add_options(parser, Options, only=["name"])
    assert from_args(Options, parser.parse_args(["--steps", "2", "--name", "z"])) == Options(
        steps=2, name="z"
    )


def test_bad_tuple_values_name_the_flag():
    parser = _parser(flags={"sparsity": "--l1"})
    with pytest.raises(ConfigError, match=r"--l1 takes comma-separated numbers.*'a,b'"):
        from_args(Options, parser.parse_args(["--l1", "a,b"]))
    with pytest.raises(ConfigError, match=r"--seeds takes comma-separated integers.*'1.5'"):
        from_args(Options, parser.parse_args(["--seeds", "1.5"]))


def test_add_options_rejects_unknown_fields():
    with pytest.raises(TypeError, match="no field"):
        _parser(only=["bogus"])
    with pytest.raises(TypeError, match="no field"):
        _parser(flags={"bogus": "--b"})


def test_an_added_field_at_its_default_keeps_the_digest():
    """A field added later with a default that reproduces the old behaviour leaves the digests
    of configs that keep it at the default unchanged (at any depth); set, it changes them."""
    from dataclasses import dataclass, field

    from ssae_core.infra.config import Config, added

    @dataclass(frozen=True)
    class Before(Config):
        a: int = 1

    @dataclass(frozen=True)
    class After(Config):
        a: int = 1
        b: float = added(0.0)

    @dataclass(frozen=True)
    class Holder(Config):
        inner: After = field(default_factory=After)

    @dataclass(frozen=True)
    class OldHolder(Config):
        inner: Before = field(default_factory=Before)

    def renamed(cfg, name):
        type(cfg).__name__ = name
        return cfg.digest()

    old = renamed(Before(a=3), "Same")
    assert renamed(After(a=3), "Same") == old
    assert renamed(After(a=3, b=0.5), "Same") != old
    assert After.from_dict(After(b=0.5).to_dict()) == After(b=0.5), "still in the JSON round trip"
    assert renamed(Holder(), "Outer") == renamed(OldHolder(), "Outer"), "nested, too"
    assert renamed(Holder(After(b=0.5)), "Outer") != renamed(OldHolder(), "Outer")
