"""Spreadsheet-safe CSV: a cell that a spreadsheet would run as a formula gets a leading apostrophe. No Django."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\x00")


def safe_cell(value: Any) -> str:
    """Text that starts with = + - @ tab CR LF or NUL (also after leading spaces) gets a leading ``'``."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return text  # real numbers are data, not formulas
    stripped = text.lstrip(" ")
    if text.startswith(TRIGGERS) or (stripped and stripped.startswith(TRIGGERS)):
        return "'" + text
    return text


def write_rows(rows: Iterable[Iterable[Any]], *, bom: bool = False) -> str:
    """RFC 4180 CSV with every field quoted and every text cell made safe."""
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()
