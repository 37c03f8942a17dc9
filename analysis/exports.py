"""Coded excerpts out: one row per coding with the participant's attributes beside it, streamed as CSV, XLSX or
JSON. Every export is recorded in the audit log (who, which filters, how many rows).

Schema version 1, columns in this order (README, docs/exports.md): study, transcript_id, transcript, participant,
one column per participant attribute (in the study's order, named after the attribute), code_id, code, code_path,
coder, layer, start, end, excerpt, [context_before, context_after], memo, created, updated.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from codebook.models import Code, Layer
from interviews.access import StudyAccess
from interviews.models import Attribute, AttributeValue, Study, Transcript
from interviews.selectors import visible_codings
from interviews.services import audit_record
from workbench.csvsafe import safe_cell

SCHEMA_VERSION = 1
PATH_SEPARATOR = " > "


@dataclass
class ExcerptFilters:
    codes: list[int] = field(default_factory=list)  # code ids; their descendants too unless exact
    exact: bool = False
    coders: list[str] = field(default_factory=list)
    layer: str | None = None  # "coder", "consensus" or None for both
    transcripts: list[int] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, list[str]] = field(default_factory=dict)
    context: int = 0

    def describe(self) -> dict[str, Any]:
        return {"codes": self.codes, "exact": self.exact, "coders": self.coders, "layer": self.layer,
                "transcripts": self.transcripts, "tags": self.tags, "attributes": self.attributes,
                "context": self.context}


def code_ids_for_paths(study: Study, paths: list[str]) -> list[int]:
    """``Social networks > Kinship`` style paths (or ids) to code ids; an unknown path is an error."""
    ids = []
    for path in paths:
        if path.strip().isdigit():
            ids.append(int(path))
            continue
        parent = None
        for name in [p.strip() for p in path.split(">")]:
            parent = Code.objects.filter(study=study, parent=parent, name__iexact=name).first()
            if parent is None:
                raise ValidationError(f"There is no code {path!r} in this study.")
        ids.append(parent.pk)
    return ids


def _selection(access: StudyAccess, f: ExcerptFilters):
    study = access.study
    codings = visible_codings(access)
    if f.codes:
        known = dict(Code.objects.filter(study=study).values_list("id", "parent_id"))
        unknown = [c for c in f.codes if c not in known]
        if unknown:
            raise ValidationError("Some of the chosen codes are not in this study.")
        wanted = set(f.codes)
        if not f.exact:
            children: dict[int | None, list[int]] = {}
            for code_id, parent_id in known.items():
                children.setdefault(parent_id, []).append(code_id)
            stack = list(wanted)
            while stack:
                for child in children.get(stack.pop(), []):
                    if child not in wanted:
                        wanted.add(child)
                        stack.append(child)
        codings = codings.filter(code_id__in=wanted)
    if f.layer:
        if f.layer not in Layer.values:
            raise ValidationError(f"Unknown layer {f.layer!r}.")
        codings = codings.filter(layer=f.layer)
    if f.coders:
        # A coder's codings are their own layer (or, with layer=consensus, what they wrote there).
        codings = codings.filter(coder__username__in=f.coders)
        if not f.layer:
            codings = codings.filter(layer=Layer.CODER)
    if f.transcripts:
        codings = codings.filter(transcript_id__in=f.transcripts)
    if f.tags:
        codings = codings.filter(transcript__tags__name__in=f.tags).distinct()
    for name, values in f.attributes.items():
        if not Attribute.objects.filter(study=study, name=name).exists():
            raise ValidationError(f"There is no attribute {name!r} in this study.")
        codings = codings.filter(transcript__participant__values__attribute__name=name,
                                 transcript__participant__values__value__in=values)
    return codings


def excerpt_header(study: Study, context: int) -> tuple[list[str], list[Attribute]]:
    attributes = list(Attribute.objects.filter(study=study))
    header = ["study", "transcript_id", "transcript", "participant", *[a.name for a in attributes], "code_id",
              "code", "code_path", "coder", "layer", "start", "end", "excerpt"]
    if context:
        header += ["context_before", "context_after"]
    header += ["memo", "created", "updated"]
    return header, attributes


def excerpt_rows(access: StudyAccess, f: ExcerptFilters) -> tuple[list[str], Iterator[list[Any]]]:
    """The header and a generator of rows, read in chunks through a server-side cursor: memory stays flat."""
    study = access.study
    header, attributes = excerpt_header(study, f.context)
    codings = _selection(access, f)  # validate before streaming starts
    codes = {c.pk: c for c in Code.objects.filter(study=study)}
    paths: dict[int, str] = {}

    def path(code_id: int) -> str:
        if code_id not in paths:
            names, current = [], codes.get(code_id)
            while current is not None:
                names.append(current.name)
                current = codes.get(current.parent_id) if current.parent_id else None
            paths[code_id] = PATH_SEPARATOR.join(reversed(names))
        return paths[code_id]

    def generate() -> Iterator[list[Any]]:
        # On PostgreSQL, inside a transaction the server-side cursor is declared WITHOUT HOLD and rows really are
        # fetched chunk by chunk. SQLite gets no transaction: it would hold its write lock for the whole export.
        with transaction.atomic() if connection.vendor == "postgresql" else nullcontext():
            yield from _rows()

    def _rows() -> Iterator[list[Any]]:
        current_id, text, title, label, values = None, "", "", "", {}
        rows = codings.order_by("transcript_id", "start", "end", "id").values_list(
            "transcript_id", "code_id", "coder__username", "layer", "start", "end", "memo", "created_at",
            "updated_at")
        for transcript_id, code_id, coder, layer, start, end, memo, created, updated in rows.iterator(
                chunk_size=2000):
            if transcript_id != current_id:
                current_id = transcript_id
                text, title, participant_id = Transcript.objects.values_list(
                    "text", "title", "participant_id").get(pk=transcript_id)
                label = study.participants.values_list("label", flat=True).get(pk=participant_id)
                values = dict(AttributeValue.objects.filter(participant_id=participant_id)
                              .values_list("attribute_id", "value"))
            row = [study.name, transcript_id, title, label, *[values.get(a.pk, "") for a in attributes], code_id,
                   codes[code_id].name, path(code_id), coder, layer, start, end, text[start:end]]
            if f.context:
                row += [text[max(0, start - f.context):start], text[end:end + f.context]]
            row += [memo, created.isoformat(), updated.isoformat()]
            yield row

    return header, generate()


class _Echo:
    def write(self, value: str) -> str:
        return value


def stream_csv(header: list[str], rows: Iterator[list[Any]], *, bom: bool = False) -> Iterator[str]:
    """RFC 4180 with every field quoted and spreadsheet-safe text cells, written row by row."""
    writer = csv.writer(_Echo(), quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    yield ("\ufeff" if bom else "") + writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        yield writer.writerow([safe_cell(v) for v in row])


def stream_json(header: list[str], rows: Iterator[list[Any]], meta: dict[str, Any]) -> Iterator[str]:
    """Lossless: values exactly as stored, no spreadsheet prefixing. One JSON object, rows streamed."""
    yield json.dumps({**meta, "schema_version": SCHEMA_VERSION, "columns": header}, ensure_ascii=False)[:-1]
    yield ', "rows": ['
    first = True
    for row in rows:
        yield ("" if first else ",\n") + json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=False)
        first = False
    yield "]}\n"


def write_xlsx(header: list[str], rows: Iterator[list[Any]], target: Any) -> int:
    """A write-only workbook (constant memory); every text cell is a string, never a formula."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Excerpts")

    def cells(values: list[Any]) -> list[Any]:
        out = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"
            out.append(cell)
        return out

    sheet.append(cells(header))
    count = 0
    for row in rows:
        sheet.append(cells(row))
        count += 1
    book.save(target)
    return count


def counted(rows: Iterator[list[Any]], on_done) -> Iterator[list[Any]]:
    """Pass rows through, then report how many there were and whether the stream ran to its end (for the audit
    event): ``on_done(n, complete)``, also when the download was cut short."""
    n, complete = 0, False
    try:
        for row in rows:
            n += 1
            yield row
        complete = True
    finally:
        on_done(n, complete)


def close_rows(rows: Iterator[list[Any]]) -> None:
    close = getattr(rows, "close", None)
    if close is not None:
        close()


def audited_stream(access: StudyAccess, f: ExcerptFilters, fmt: str, header: list[str], rows: Iterator[list[Any]],
                   *, bom: bool = False) -> Iterator[str]:
    """The CSV or JSON download, recorded once when it ends: with the rows sent and whether it ran to its end (a
    browser that goes away mid-download leaves an event with ``complete: false``)."""
    sent = 0

    def tally(n: int, complete: bool) -> None:
        nonlocal sent
        sent = n

    tracked = counted(rows, tally)
    chunks = (stream_csv(header, tracked, bom=bom) if fmt == "csv"
              else stream_json(header, tracked, {"study": access.study.slug}))
    complete = False
    try:
        yield from chunks
        complete = True
    finally:
        # Close the row generator before recording: on PostgreSQL it holds the read transaction of the server-side
        # cursor, and an event written inside it would be rolled back with it.
        chunks.close()
        tracked.close()
        close_rows(rows)
        record_export(access, f, fmt, sent, complete=complete)


def record_export(access: StudyAccess, f: ExcerptFilters, fmt: str, rows: int, complete: bool = True) -> None:
    audit_record(study=access.study, actor=access.user, action="export.excerpts", obj=access.study,
                 details={"format": fmt, "rows": rows, "filters": f.describe(), "complete": complete,
                          "schema_version": SCHEMA_VERSION})


def export_to_file(access: StudyAccess, f: ExcerptFilters, fmt: str, path: str, *, bom: bool = False) -> int:
    """Write the export to ``path`` via a temporary file renamed into place only when complete."""
    import os
    import tempfile

    header, rows = excerpt_rows(access, f)
    directory = os.path.dirname(os.path.abspath(path)) or "."
    fd, temporary = tempfile.mkstemp(prefix=".export-", dir=directory)
    count = 0
    try:
        if fmt == "xlsx":
            os.close(fd)
            count = write_xlsx(header, rows, temporary)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                if fmt == "csv":
                    for chunk in stream_csv(header, rows, bom=bom):
                        out.write(chunk)
                        count += 1
                    count -= 1
                else:
                    def tally(n: int, complete: bool) -> None:
                        nonlocal count
                        count = n

                    for chunk in stream_json(header, counted(rows, tally), {"study": access.study.slug}):
                        out.write(chunk)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        close_rows(rows)  # end the cursor's transaction first, or the event below would be rolled back with it
        record_export(access, f, fmt, count, complete=False)
        raise
    record_export(access, f, fmt, count)
    return count


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    for chunk in stream_csv(header, iter(rows)):
        out.write(chunk)
    return out.getvalue()
