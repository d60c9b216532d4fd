"""Documented, validated fields for the frozen configuration dataclasses.

Every configuration field is declared with `spec(...)`: its default, unit, one-line meaning and the
allowed values. `validate` checks an instance against those declarations and raises `ConfigError`
naming the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


class ConfigError(ValueError):
    """An invalid configuration value: says which field, which value, and what is allowed."""

    def __init__(self, path: str, value: Any, allowed: str):
        self.path, self.value, self.allowed = path, value, allowed
        super().__init__(f"{path}={value!r}: {allowed}")

    def under(self, prefix: str) -> ConfigError:
        """The same error with its path qualified by the enclosing field's path."""
        return ConfigError(
            f"{prefix}.{self.path}" if prefix else self.path, self.value, self.allowed
        )


def spec(
    default, unit: str, doc: str, *, lo=None, hi=None, lo_open=False, hi_open=False, choices=None
):
    """A dataclass field with its unit, meaning and allowed range (inclusive unless *_open)."""
    meta = dict(unit=unit, doc=doc, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, choices=choices)
    return dataclasses.field(default=default, metadata=meta)


def allowed_text(meta: dict) -> str:
    """Human description of what a field accepts, e.g. 'a number in (0, inf)'."""
    if meta.get("choices"):
        return "one of " + ", ".join(map(str, meta["choices"]))
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is None and hi is None:
        return "any value"
    left = "(" if meta.get("lo_open") or lo is None else "["
    right = ")" if meta.get("hi_open") or hi is None else "]"
    return f"a number in {left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"


def _check(name: str, value, meta: dict, kind: type):
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(name, value, "true or false")
        return
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ConfigError(name, value, allowed_text(meta) if meta else "a number")
        if kind is int and not float(value).is_integer():
            raise ConfigError(name, value, "a whole number, " + allowed_text(meta))
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(name, value, allowed_text(meta))
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and (value < lo or (meta.get("lo_open") and value == lo)):
        raise ConfigError(name, value, allowed_text(meta))
    if hi is not None and (value > hi or (meta.get("hi_open") and value == hi)):
        raise ConfigError(name, value, allowed_text(meta))


def field_type(cls, f: dataclasses.Field) -> type:
    """The runtime type of a field, resolved from its (string) annotation."""
    ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return {"int": int, "float": float, "str": str, "bool": bool}.get(
        ann.split("|")[0].strip(), object
    )


def validate(obj) -> None:
    """Check every declared field of a config dataclass instance."""
    for f in dataclasses.fields(obj):
        if f.metadata:
            _check(f.name, getattr(obj, f.name), f.metadata, field_type(type(obj), f))
