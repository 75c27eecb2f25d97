"""Frozen config dataclasses with a JSON round trip and a stable content hash, and the
command-line options generated from them (``add_options`` / ``from_args``): each default and
each option's help lives once, in the dataclass (a field's docstring is its help)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import inspect
import json
import textwrap
import typing
from collections.abc import Iterable
from typing import Any, Literal, TypeVar

T = TypeVar("T", bound="Config")


class Config:
    """Mixin for frozen dataclasses: ``to_dict``, ``from_dict``, ``digest``."""

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Build from a dict; unknown keys are an error that names them."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            from ssae_core.infra.errors import ConfigError

            raise ConfigError(
                f"{cls.__name__} has no option(s) {unknown}; valid options: {sorted(fields)}."
            )
        hints = typing.get_type_hints(cls)
        values = {}
        for key, value in data.items():
            kind = hints.get(key)
            if isinstance(kind, type) and issubclass(kind, Config) and isinstance(value, dict):
                value = kind.from_dict(value)
            elif isinstance(value, list):
                value = tuple(value)
            values[key] = value
        return cls(**values)

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)

    def digest(self) -> str:
        """16 hex chars of the SHA-256 of the canonical JSON, class name included; a field
        declared with ``added`` is left out while it holds its default."""
        return stable_hash({"class": type(self).__name__, "config": _without_added(self)})


ADDED = "ssae_added"


def added(default: Any) -> Any:
    """A field added to a config after artifacts were made with it, whose ``default`` reproduces
    what the config did before: at the default it is not part of the digest, so those artifacts
    keep their keys (``Config.digest``); set, it makes a new key."""
    return dataclasses.field(default=default, metadata={ADDED: True})


def _without_added(config: Config) -> dict[str, Any]:
    """``config.to_dict()`` without the ``added`` fields that hold their default, at any depth."""
    out = config.to_dict()
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.metadata.get(ADDED) and value == f.default:
            del out[f.name]
        elif isinstance(value, Config):
            out[f.name] = _without_added(value)
    return out


def stable_hash(obj: Any) -> str:
    """16 hex chars of the SHA-256 of ``obj`` as canonical JSON."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> docstring: the string literal statement right after the field in the class
    body (of ``cls`` and of its dataclass bases; a subclass's docstring wins)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):  # no source (built in a REPL, or a frozen app)
            continue
        body = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)).body
        for node, after in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


_TUPLE_ITEMS = {int: ("integers", "0,1,2"), float: ("numbers", "1,2.5,5"), str: ("values", "a,b")}


def split_values(text: str, kind: type, flag: str) -> tuple:
    """``"1,2.5"`` -> ``(1.0, 2.5)`` for ``kind`` int, float or str (empty items skipped); a
    ConfigError naming ``flag`` on a value that is not a ``kind``."""
    items = [v.strip() if kind is str else v for v in text.split(",") if v.strip()]
    try:
        return tuple(kind(v) for v in items)
    except ValueError:
        from ssae_core.infra.errors import ConfigError

        what, example = _TUPLE_ITEMS[kind]
        raise ConfigError(
            f"{flag} takes comma-separated {what}, e.g. {example}; got {text!r}."
        ) from None


def _option_kind(cls: type, name: str, hint: Any) -> dict[str, Any]:
    """argparse keywords for a field annotated ``hint``: type, choices or action."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        kinds = {type(v) for v in args}
        if len(kinds) == 1:
            return {"choices": list(args), **({} if kinds == {str} else {"type": kinds.pop()})}
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis and args[0] in _TUPLE_ITEMS:
        return {}  # a comma-separated string, split by from_args
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if hint in (int, float):
        return {"type": hint}
    if hint is str:
        return {}
    raise TypeError(f"add_options: no command-line form for {cls.__name__}.{name}: {hint!r}.")


def help_phrase(doc: str) -> str:
    """A field docstring as command-line help: ``"Token budget."`` -> ``"token budget"`` (an
    acronym such as ``ERM`` or ``TracIn`` keeps its case; inner sentences are kept)."""
    doc = " ".join(doc.split()).removesuffix(".")
    if len(doc) > 1 and doc[0].isupper() and doc[1].islower():
        doc = doc[0].lower() + doc[1:]
    return doc


def _fields_key(cls: type) -> str:
    return f"_options_of_{cls.__module__}.{cls.__qualname__}"


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    flags: dict[str, str] | None = None,
    only: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    defaults: Config | None = None,
) -> None:
    """One option per field of the config dataclass ``cls`` (those in ``only``, in its order, else
    all in field order; none in ``exclude``).

    The flag is ``--field-name`` unless ``flags`` renames it (``{"sparsity": "--l1"}``); the
    default is the field's value in ``defaults`` (a preset such as a recipe), else the field's
    default; the help its docstring (``field_docs``). The annotation gives
    the rest: ``int`` / ``float`` / ``str`` values, ``bool`` a switch (``--x`` when it defaults
    to False, else ``--x`` / ``--no-x``), ``Literal[...]`` its choices, ``tuple[int | float | str,
    ...]`` a comma-separated string (default: the default's values joined by commas) that
    ``from_args`` splits, with a ConfigError naming the flag on a bad value. ``from_args`` builds
    the config from the options added here (several calls for one class add up).
    """
    flags = dict(flags or {})
    exclude = set(exclude)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = [n for n in (fields if only is None else list(only)) if n not in exclude]
    unknown = sorted((set(names) | set(flags) | exclude) - set(fields))
    if unknown:
        raise TypeError(f"add_options: {cls.__name__} has no field(s) {unknown}.")
    hints, docs = typing.get_type_hints(cls), field_docs(cls)
    added = dict(parser.get_default(_fields_key(cls)) or {})
    for name in names:
        field = fields[name]
        flag = flags.get(name, "--" + name.replace("_", "-"))
        kwargs = _option_kind(cls, name, hints[name])
        if defaults is not None:
            default = getattr(defaults, name)
        elif field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            kwargs["required"] = True
            default = None
        if isinstance(default, tuple):
            default = ",".join(str(v) for v in default)
        if kwargs.get("action") is argparse.BooleanOptionalAction and not default:
            kwargs["action"] = "store_true"
        help_text = help_phrase(docs.get(name, "")).replace("%", "%%")  # argparse %-formats it
        if typing.get_origin(hints[name]) is tuple:
            help_text = f"comma-separated {help_text or 'values'}"
        action = parser.add_argument(flag, default=default, help=help_text or None, **kwargs)
        added[name] = (action.dest, flag)
    parser.set_defaults(**{_fields_key(cls): added})


def option_values(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The values of ``cls``'s fields that ``add_options`` added, from parsed ``args`` (tuples
    split and checked)."""
    added = getattr(args, _fields_key(cls), None)
    if added is None:
        raise TypeError(f"No options of {cls.__name__} were added to the parser of these args.")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, (dest, flag) in added.items():
        value = getattr(args, dest)
        if typing.get_origin(hints[name]) is tuple and isinstance(value, str):
            value = split_values(value, typing.get_args(hints[name])[0], flag)
        values[name] = value
    return values


def from_args(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """``cls`` from the options ``add_options`` added (its other fields keep their defaults),
    then ``overrides``."""
    return cls(**{**option_values(cls, args), **overrides})
