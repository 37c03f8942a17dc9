"""Typed participant attribute values: parsing raw input into the canonical stored form.

Pure functions, no Django. Canonical forms: text as given (stripped); number as the shortest decimal that
round-trips (``34``, ``34.5``); date as ISO ``YYYY-MM-DD``; boolean as ``true``/``false``; choice exactly as
defined in the attribute's choices (matched case-insensitively).
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

TRUE_WORDS = {"true", "yes", "y", "1", "是"}
FALSE_WORDS = {"false", "no", "n", "0", "否"}
MAX_LENGTH = 500


def parse_value(kind: str, raw: str, choices: Sequence[str] = ()) -> str:
    """The canonical string for ``raw`` under attribute type ``kind``; ValueError with a reason if it does not fit."""
    value = (raw or "").strip()
    if not value:
        raise ValueError("empty value")
    if len(value) > MAX_LENGTH:
        raise ValueError(f"longer than {MAX_LENGTH} characters")
    if kind == "text":
        return value
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    if kind == "date":
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError(f"{value!r} is not a date in the form YYYY-MM-DD") from None
    if kind == "boolean":
        lowered = value.lower()
        if lowered in TRUE_WORDS:
            return "true"
        if lowered in FALSE_WORDS:
            return "false"
        raise ValueError(f"{value!r} is not yes/no")
    if kind == "choice":
        for choice in choices:
            if choice.lower() == value.lower():
                return choice
        allowed = ", ".join(choices) if choices else "(no choices defined)"
        raise ValueError(f"{value!r} is not one of: {allowed}")
    raise ValueError(f"unknown attribute type {kind!r}")
