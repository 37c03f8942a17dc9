"""Coded-excerpt exports: columns, filters, spreadsheet safety, lossless JSON, streaming, the audit record."""
from __future__ import annotations

import csv
import errno
import io
import json
import os

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from codebook.models import Code
from codebook.services import code_create, coding_apply
from interviews import services as study_services
from interviews.models import AuditEvent

HOSTILE = ["=HYPERLINK(\"http://x\")", "+1+2", "-2", "@SUM(A1)", "\tlead tab", "\rcr", "\nlf", "  =spaced",
           "\x00nul"]


@pytest.fixture
def hostile(world):
    """A transcript whose passages, a code name, a memo and an attribute value start like formulas."""
    text = "R: " + " | ".join(h.replace("\x00", "") for h in HOSTILE) + "\n"
    t = study_services.transcript_create(study=world.study, participant=world.participant, title="=cmd|' /C calc'!A0",
                                         text=text)
    code = code_create(study=world.study, name="=EVIL()")
    start = 3
    made = []
    for h in HOSTILE:
        piece = h.replace("\x00", "")
        made.append(coding_apply(transcript=t, code=code, coder=world.users["coder"], start=start,
                                 end=start + len(piece), memo="@memo")[0])
        start += len(piece) + 3
    study_services.attribute_define(study=world.study, name="Occupation", type="text")
    study_services.participant_set_values(participant=world.participant,
                                          values={"Gender": "Female", "Occupation": "=1+cmd|' /C calc'!A0"})
    return world, t, code, made


def download(client, world, **params):
    response = client.get(reverse("export", args=[world.study.slug]), {"download": "1", **params})
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def test_csv_columns_rows_and_exact_excerpts(login, world):
    client = login(world.users["pi"])
    response, body = download(client, world, format="csv", context="5")
    assert response.status_code == 200 and response["Content-Disposition"].endswith('-excerpts.csv"')
    assert "no-store" in response["Cache-Control"]
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == ["study", "transcript_id", "transcript", "participant", "Gender", "code_id", "code", "code_path",
                       "coder", "layer", "start", "end", "excerpt", "context_before", "context_after", "memo",
                       "created", "updated"]
    assert len(rows) == 3
    kin = next(r for r in rows[1:] if r[6] == "Kinship")
    text = world.transcript.text
    start, end = int(kin[10]), int(kin[11])
    assert kin[12] == text[start:end] and kin[13] == text[start - 5:start] and kin[7] == "Social networks > Kinship"
    assert kin[4] == "Female" and kin[3] == "P01"
    assert body.decode().splitlines()[1].startswith('"') and '\r\n' in body.decode()
    event = AuditEvent.objects.get(action="export.excerpts")
    assert event.details["rows"] == 2 and event.details["format"] == "csv" and event.details["filters"]["context"] == 5


def test_every_formula_trigger_is_defused_in_csv_and_xlsx(login, hostile):
    world, *_ = hostile
    client = login(world.users["pi"])
    _, body = download(client, world, format="csv", bom="1")
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode().lstrip("\ufeff"))))
    for row in rows[1:]:
        for cell in row:
            stripped = cell.lstrip(" ")
            assert not stripped.startswith(("=", "+", "-", "@", "\t", "\r", "\n", "\x00")) or cell.startswith("'")
    assert all(r[5] == "'=1+cmd|' /C calc'!A0" for r in rows[1:])  # the attribute value
    assert all(r[14] == "'@memo" for r in rows[1:] if r[7] == "'=EVIL()")  # the memo
    excerpts = [r[13] for r in rows[1:] if r[7] == "'=EVIL()"]
    assert "'=HYPERLINK(\"http://x\")" in excerpts and "'  =spaced" in excerpts and "'-2" in excerpts
    _, body = download(client, world, format="xlsx")
    book = openpyxl.load_workbook(io.BytesIO(body))
    cells = [c for row in book.active.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert "=HYPERLINK(\"http://x\")" in [c.value for c in cells]


def test_json_is_lossless(login, hostile):
    world, *_ = hostile
    client = login(world.users["pi"])
    _, body = download(client, world, format="json")
    data = json.loads(body)
    assert data["schema_version"] == 1 and data["study"] == world.study.slug
    excerpts = {r["excerpt"] for r in data["rows"] if r["code"] == "=EVIL()"}
    assert "=HYPERLINK(\"http://x\")" in excerpts and "  =spaced" in excerpts and "\tlead tab" in excerpts
    assert all(r["memo"] == "@memo" for r in data["rows"] if r["code"] == "=EVIL()")


def test_filters(login, world):
    client = login(world.users["pi"])
    def rows(**params):
        _, body = download(client, world, format="json", **params)
        return json.loads(body)["rows"]

    assert {r["code"] for r in rows(code=str(Code.objects.get(study=world.study, name="Social networks").pk))} == {
        "Kinship", "Alumni"}
    assert rows(code=str(Code.objects.get(study=world.study, name="Social networks").pk), exact="1") == []
    assert {r["coder"] for r in rows(coder="other_coder")} == {"other_coder"}
    assert rows(layer="consensus") == []
    assert len(rows(filter_attribute="Gender", filter_values="Female")) == 2
    assert rows(filter_attribute="Gender", filter_values="Male") == []
    assert rows(tags="nope") == []
    response, _ = download(client, world, format="csv", code=str(world.other_code.pk))
    assert response.status_code == 400
    response, _ = download(client, world, format="pdf")
    assert response.status_code == 400


def test_blind_coder_exports_only_their_own_codings(login, world):
    _, body = download(login(world.users["coder"]), world, format="json", coder="other_coder")
    assert {r["coder"] for r in json.loads(body)["rows"]} == {"coder"}


def test_cli_export(world, tmp_path):
    out = io.StringIO()
    target = tmp_path / "excerpts.xlsx"
    call_command("export_excerpts", world.study.slug, "--code", "Social networks > Kinship", "--format", "xlsx",
                 "--output", str(target), stdout=out)
    assert "1 excerpt(s) written" in out.getvalue()
    sheet = openpyxl.load_workbook(target).active
    assert [c.value for c in next(sheet.iter_rows())][:4] == ["study", "transcript_id", "transcript", "participant"]
    assert AuditEvent.objects.filter(action="export.excerpts", actor_name="pi").count() == 1
    with pytest.raises(CommandError, match="no code"):
        call_command("export_excerpts", world.study.slug, "--code", "Nope", "--output", str(tmp_path / "x.csv"))
    with pytest.raises(CommandError, match="cannot write"):
        call_command("export_excerpts", world.study.slug, "--output", "/proc/nope/x.csv")
    assert not list(tmp_path.glob(".export-*"))


class _FullDisk:
    """A file whose disk fills up after the first write (the header)."""

    def __init__(self, real) -> None:
        self.real, self.writes = real, 0

    def write(self, data):
        self.writes += 1
        if self.writes > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()
        return False


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_full_disk_gives_a_clear_error_and_leaves_no_file(world, tmp_path, monkeypatch, fmt):
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: _FullDisk(real_fdopen(*a, **k)))
    target = tmp_path / f"out.{fmt}"
    with pytest.raises(CommandError, match="No space left on device"):
        call_command("export_excerpts", world.study.slug, "--format", fmt, "--output", str(target))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []  # neither the file nor its half-written temporary
    event = AuditEvent.objects.filter(action="export.excerpts").latest("pk")
    assert event.details["complete"] is False


def test_a_read_only_folder_gives_a_clear_error(world, tmp_path, monkeypatch):
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(CommandError, match="Read-only file system"):
        call_command("export_excerpts", world.study.slug, "--output", str(tmp_path / "out.csv"))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_kept_whole_when_the_export_fails(world, tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("yesterday's complete export\n")
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: _FullDisk(real_fdopen(*a, **k)))
    with pytest.raises(CommandError):
        call_command("export_excerpts", world.study.slug, "--output", str(target))
    monkeypatch.undo()
    assert target.read_text() == "yesterday's complete export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_workbook_that_cannot_be_built_for_lack_of_disk_says_so(login, world, monkeypatch):
    from analysis import exports

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(exports, "write_xlsx", full)
    response = login(world.users["pi"]).get(reverse("export", args=[world.study.slug]),
                                            {"download": "1", "format": "xlsx"})
    assert response.status_code == 507 and b"No space left on device" in response.content
    assert "attachment" not in response.get("Content-Disposition", "")
    assert AuditEvent.objects.filter(action="export.excerpts").latest("pk").details["complete"] is False


def test_a_download_cut_short_is_recorded_as_incomplete(world):
    from analysis import exports
    from interviews.access import StudyAccess

    pi = world.study.memberships.get(user=world.users["pi"])
    access = StudyAccess(world.study, pi)
    f = exports.ExcerptFilters()
    header, rows = exports.excerpt_rows(access, f)
    download = exports.audited_stream(access, f, "csv", header, rows)
    next(download), next(download)  # the header and one row; then the browser goes away
    download.close()  # what the server does with a response whose client disconnected
    event = AuditEvent.objects.filter(action="export.excerpts").latest("pk")
    assert event.details["complete"] is False and event.details["rows"] == 1
    # Read to the end, the same download is recorded as complete.
    header, rows = exports.excerpt_rows(access, f)
    assert len(list(exports.audited_stream(access, f, "csv", header, rows))) == 3
    event = AuditEvent.objects.filter(action="export.excerpts").latest("pk")
    assert event.details["complete"] is True and event.details["rows"] == 2
