"""Participant attributes from a spreadsheet (CSV or XLSX): read, infer each column's type, preview every row
error, and only then save, all or nothing.

One row per participant; the label column is ``label`` (or ``participant``, ``id``, or else the first column);
every other column is an attribute. Columns that already exist as attributes keep their type; new columns get
the inferred one: number, date, yes/no, choice (a few distinct values, each repeated) or text.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from .attributes import FALSE_WORDS, TRUE_WORDS, parse_value
from .models import Attribute, AttributeType, Participant, Study
from .readers import ReadError, decode_text, extension

LABEL_COLUMNS = ("label", "participant", "participant id", "id", "case", "编号", "受访者")
MAX_ROWS = 20000
MAX_CHOICES = 12


def read_table(name: str, data: bytes) -> list[list[str]]:
    """Rows of cells as strings; the first row is the header."""
    ext = extension(name)
    if ext in ("csv", "txt", "tsv"):
        try:
            text, _ = decode_text(data)
        except ReadError as exc:
            raise ValidationError(f"{name} {exc}.") from None
        dialect = csv.excel_tab if ext == "tsv" or ("\t" in text[:2000] and "," not in text[:2000]) else csv.excel
        rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text), dialect)]
    elif ext == "xlsx":
        import openpyxl

        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds of error for broken files
            raise ValidationError(f"{name} is not a readable .xlsx file ({type(exc).__name__}).") from None
        sheet = book.worksheets[0]
        rows = []
        for values in sheet.iter_rows(values_only=True):
            rows.append([_cell(v) for v in values])
            if len(rows) > MAX_ROWS + 1:
                break
        book.close()
    else:
        raise ValidationError(f"{name}: participant details must be a .csv or .xlsx file.")
    rows = [r for r in rows if any(c for c in r)]
    if not rows:
        raise ValidationError(f"{name} is empty.")
    if len(rows) > MAX_ROWS + 1:
        raise ValidationError(f"{name} has more than {MAX_ROWS:,} rows.")
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def infer_type(values: list[str]) -> tuple[str, list[str]]:
    """The narrowest type every non-empty value fits, and the choices for a choice column."""
    present = [v for v in values if v.strip()]
    if not present:
        return AttributeType.TEXT, []
    for kind in (AttributeType.NUMBER, AttributeType.DATE):
        try:
            for v in present:
                parse_value(kind, v)
        except ValueError:
            continue
        return kind, []
    if all(v.strip().lower() in TRUE_WORDS | FALSE_WORDS for v in present) and not all(
        v.strip() in ("0", "1") for v in present
    ):
        return AttributeType.BOOLEAN, []
    distinct = list(dict.fromkeys(v.strip() for v in present))
    if len(distinct) <= MAX_CHOICES and len(distinct) < len(present):
        return AttributeType.CHOICE, sorted(distinct, key=str.lower)
    return AttributeType.TEXT, []


@dataclass
class Column:
    name: str
    type: str
    choices: list[str]
    exists: bool
    index: int  # position in the sheet


@dataclass
class Preview:
    label_column: str
    columns: list[Column]
    rows: list[dict[str, str]]  # label + attribute name -> raw value
    errors: list[str] = field(default_factory=list)
    new_participants: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def participants_preview(*, study: Study, rows: list[list[str]]) -> Preview:
    header = [h.strip() for h in rows[0]]
    if not header or not any(header):
        raise ValidationError("The first row must name the columns.")
    lowered = [h.lower() for h in header]
    label_index = next((lowered.index(c) for c in LABEL_COLUMNS if c in lowered), 0)
    errors: list[str] = []
    seen: set[str] = set()
    for i, h in enumerate(header):
        if not h:
            errors.append(f"column {i + 1} has no name")
        elif h.lower() in seen:
            errors.append(f"column {h!r} appears twice")
        seen.add(h.lower())
    body = rows[1:]
    existing = {a.name.lower(): a for a in Attribute.objects.filter(study=study)}
    columns: list[Column] = []
    for i, name in enumerate(header):
        if i == label_index or not name:
            continue
        values = [r[i] if i < len(r) else "" for r in body]
        attribute = existing.get(name.lower())
        if attribute is not None:
            columns.append(Column(attribute.name, attribute.type, list(attribute.choices), True, i))
        else:
            kind, choices = infer_type(values)
            columns.append(Column(name, kind, choices, False, i))
    labels_seen: dict[str, int] = {}
    parsed_rows: list[dict[str, str]] = []
    for number, row in enumerate(body, start=2):
        cells = row + [""] * (len(header) - len(row))
        if len(row) > len(header) and any(row[len(header):]):
            errors.append(f"row {number}: more cells than columns")
        label = cells[label_index].strip()
        if not label:
            errors.append(f"row {number}: no participant label")
            continue
        if len(label) > 50:
            errors.append(f"row {number}: the label {label[:20]!r}… is longer than 50 characters")
        if label in labels_seen:
            errors.append(f"row {number}: the label {label!r} already appears in row {labels_seen[label]}")
        labels_seen[label] = number
        values: dict[str, str] = {}
        for column in columns:
            raw = cells[column.index]
            if raw.strip():
                try:
                    parse_value(column.type, raw, column.choices)
                except ValueError as exc:
                    errors.append(f"row {number}, {column.name}: {exc}")
            values[column.name] = raw
        parsed_rows.append({"label": label, **values})
    known = set(Participant.objects.filter(study=study).values_list("label", flat=True))
    return Preview(header[label_index], columns, parsed_rows, errors,
                   new_participants=sum(1 for r in parsed_rows if r["label"] not in known))


@transaction.atomic
def participants_apply(*, study: Study, preview: Preview, actor: Any) -> int:
    """Save a preview without errors: new attributes, new participants, values. Returns rows saved."""
    from .services import attribute_define, audit_record, participant_create, participant_set_values

    if preview.errors:
        raise ValidationError(preview.errors)
    for column in preview.columns:
        if not column.exists:
            attribute_define(study=study, name=column.name, type=column.type, choices=column.choices, actor=actor)
    participants = {p.label: p for p in Participant.objects.filter(study=study)}
    for row in preview.rows:
        participant = participants.get(row["label"])
        if participant is None:
            participant = participant_create(study=study, label=row["label"], actor=actor)
            participants[row["label"]] = participant
        participant_set_values(participant=participant,
                               values={k: v for k, v in row.items() if k != "label"}, actor=actor)
    audit_record(study=study, actor=actor, action="participants.import", obj=study,
                 details={"rows": len(preview.rows), "new_participants": preview.new_participants,
                          "new_attributes": [c.name for c in preview.columns if not c.exists]})
    return len(preview.rows)
