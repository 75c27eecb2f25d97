"""Frozen config dataclasses with a JSON round trip and a stable content hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from typing import Any, TypeVar

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
            from ssae_core.errors import ConfigError

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
        """16 hex chars of the SHA-256 of the canonical JSON, class name included."""
        return stable_hash({"class": type(self).__name__, "config": self.to_dict()})


def stable_hash(obj: Any) -> str:
    """16 hex chars of the SHA-256 of ``obj`` as canonical JSON."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
