"""Documented, validated fields for the frozen configuration dataclasses.

Every configuration field is declared with `spec(...)`: its default, unit, one-line meaning and the
allowed values. `validate` checks an instance against those declarations and raises `ConfigError`
naming the field, the value and what is allowed.

Numbers must be finite unless the field says what infinity means (`inf=`, e.g. "no heartbeat").
A field without its own upper bound gets its unit's (`UNIT_LIMITS`): far beyond anything the model
is meant for, they keep arithmetic exact (byte counts fit 64-bit integers, simulated clocks keep
sub-microsecond precision) and stop a typo such as 1e300 before it becomes a runaway run.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

# The unit's upper bound and why, for fields that set none of their own.
UNIT_LIMITS = {
    "s": (1e6, "11.6 days: longer than any streaming response the model is for"),
    "B": (1e12, "a terabyte: byte counts of a run stay exact in 64-bit integers"),
    "1/s": (1e3, "a thousand events per second"),
    "x": (1e6, "a million-fold"),
    "weight": (1e9, "relative weights"),
    "count": (1e9, "a billion"),
}
# A plain decimal number in ASCII (float() also takes '1_000', 'nan', 'infinity' and other
# scripts' digits, none of which a setting should be).
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
INFINITY = ("inf", "+inf", "infinity", "+infinity")


def parse_number(text: str, inf_ok: bool = False) -> float:
    """A plain ASCII decimal number (and `inf` if allowed); ValueError otherwise."""
    t = text.strip()
    if NUMBER.fullmatch(t):
        return float(t)
    if inf_ok and t.lower() in INFINITY:
        return math.inf
    raise ValueError(text)


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
    default,
    unit: str,
    doc: str,
    *,
    lo=None,
    hi=None,
    lo_open=False,
    hi_open=False,
    choices=None,
    inf: str | None = None,
):
    """A dataclass field with its unit, meaning and allowed range (inclusive unless *_open).
    `inf`: what an infinite value means, if it is allowed (numbers are finite otherwise); `hi`
    defaults to the unit's limit (`UNIT_LIMITS`)."""
    if hi is None and choices is None and unit in UNIT_LIMITS:
        hi = UNIT_LIMITS[unit][0]
    meta = dict(
        unit=unit, doc=doc, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, choices=choices, inf=inf
    )
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
    text = f"a number in {left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
    return text + (f" or inf ({meta['inf']})" if meta.get("inf") else "")


def _check(name: str, value, meta: dict, kind: type):
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(name, value, "true or false")
        return
    if kind in (int, float):
        allowed = allowed_text(meta) if meta else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(name, value, allowed)
        if isinstance(value, float) and not math.isfinite(value):
            if value == math.inf and meta.get("inf"):
                return
            raise ConfigError(name, value, allowed)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(name, value, "a whole number, " + allowed)
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
