from dataclasses import dataclass, field

import pytest

from ssae_core.config import Config
from ssae_core.demo.world import DemoConfig
from ssae_core.errors import ConfigError


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
