"""Coded-excerpt exports: columns, filters, spreadsheet safety, lossless JSON, streaming, the audit record."""
from __future__ import annotations

import csv
import io
import json

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
