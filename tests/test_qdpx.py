"""REFI-QDA projects: our export validates and round-trips; real files from NVivo and qc import correctly."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from lxml import etree

from analysis.qdpx import export_project, import_project
from codebook.models import Code, Coding, Layer, Memo
from codebook.services import coding_apply, memo_create
from interviews.demo import demo_load
from interviews.models import AttributeValue, Participant, Transcript

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "refi" / "samples"
XSD = Path(__file__).resolve().parent.parent.parent / "shared" / "refi" / "Project.xsd"


def qde_of(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("project.qde")


def snapshot(study):
    codes = sorted((tuple(_path(c)), c.color, c.description, str(c.guid)) for c in Code.objects.filter(study=study))
    people = sorted((p.label, tuple(sorted(AttributeValue.objects.filter(participant=p)
                                           .values_list("attribute__name", "value"))))
                    for p in Participant.objects.filter(study=study))
    texts = sorted((t.participant.label, t.title, t.text) for t in Transcript.objects.filter(study=study))
    codings = sorted((c.transcript.title, tuple(_path(c.code)), c.coder.get_username() if c.layer == Layer.CODER
                      else "consensus", c.layer, c.start, c.end, c.memo)
                     for c in Coding.objects.filter(transcript__study=study).select_related("code", "transcript",
                                                                                           "coder"))
    memos = sorted((m.title, m.body, tuple(_path(m.code)) if m.code else (), m.transcript.title if m.transcript
                    else "") for m in Memo.objects.filter(study=study).select_related("code", "transcript"))
    return codes, people, texts, codings, memos


def _path(code):
    names = []
    while code is not None:
        names.append(code.name)
        code = code.parent
    return names[::-1]


def test_export_validates_and_round_trips(world):
    study, _ = demo_load()
    pi = study.memberships.get(role="pi").user
    t = study.transcripts.first()
    coding_apply(transcript=t, code=Code.objects.get(study=study, name="Kinship"), coder=pi, start=0, end=5,
                 layer=Layer.CONSENSUS)
    Coding.objects.filter(transcript=t).exclude(layer=Layer.CONSENSUS).update(memo="<b>memo</b> & more")
    kinship = Code.objects.get(study=study, name="Kinship")
    memo_create(study=study, author=pi, title="What counts as kinship", body="Parents, siblings & in-laws.",
                code=kinship)
    memo_create(study=study, author=pi, title="Project log", body="Second coding round starts in May.")
    memo_create(study=study, author=pi, title="About this interview", body="Noisy recording.", transcript=t)
    first = export_project(study)
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    document = etree.fromstring(qde_of(first))
    assert schema.validate(document), schema.error_log
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        sources = [n for n in archive.namelist() if n.startswith("sources/")]
        assert len(sources) == study.transcripts.count()
        text = archive.read(sources[0])
        assert not text.startswith(b"\xef\xbb\xbf")
    report = import_project(data=first, actor=pi, name="Copy")
    assert report.unplaced == [] and report.codings == Coding.objects.filter(transcript__study=study).count()
    assert snapshot(report.study) == snapshot(study)
    second = import_project(data=export_project(report.study), actor=pi, name="Copy 2")
    assert snapshot(second.study) == snapshot(study)


def test_the_three_sample_projects_import(db):
    reports = {}
    for sample in ("nvivo-win-12.6_oltas0517.qdpx", "nvivo-mac-15.0_nvivo_project.qdpx", "qc-1.3.2_demo.qdpx"):
        reports[sample] = import_project(data=(SAMPLES / sample).read_bytes(), actor=None)
    nvivo = reports["nvivo-win-12.6_oltas0517.qdpx"]
    assert nvivo.sources == 2 and nvivo.codings == 303 and nvivo.unplaced == []
    assert sorted(nvivo.users) == ["Gergo", "floriansipos"]
    assert Code.objects.filter(study=nvivo.study).count() == 152
    # UTF-16 units with CRLF as 2 (NVivo for Windows): the selections land on word boundaries.
    def boundary(text, i):
        return i in (0, len(text)) or not (text[i - 1].isalnum() and text[i].isalnum())

    codings = list(Coding.objects.filter(transcript__study=nvivo.study).select_related("transcript"))
    on_words = sum(boundary(c.transcript.text, c.start) and boundary(c.transcript.text, c.end) for c in codings)
    assert on_words >= 300
    # Known selections (first three codings in NVivo's own order): whole Hungarian words, not shifted by the BOM,
    # the CRLFs or the emoji that precede them.
    ordered = sorted(codings, key=lambda c: c.pk)
    assert ordered[0].quote.startswith("Senkit nem lehet kötelezni oltásra")
    assert ordered[1].quote == "tudatos hal äl reklám, hatalmas árulás"
    assert ordered[3].quote.startswith("Záhertorta egy alkesz")
    first = min(codings, key=lambda c: (c.transcript.title, c.start))
    assert first.quote == first.transcript.text[first.start:first.end] and first.quote.strip()
    assert "\r" not in first.transcript.text
    mac = reports["nvivo-mac-15.0_nvivo_project.qdpx"]
    assert mac.sources == 0 and len(mac.skipped_sources) == 2 and Code.objects.filter(study=mac.study).exists()
    qc = reports["qc-1.3.2_demo.qdpx"]
    assert qc.sources == 2 and qc.codings == 205 and qc.unplaced == []
    assert Participant.objects.filter(study=qc.study).count() == 2


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


GOOD_QDE = b'<Project xmlns="urn:QDA-XML:project:1.0" name="x"></Project>'


@pytest.mark.parametrize(("data", "message"), [
    (b"not a zip", "not a zip"),
    (zip_of({"a.txt": b"x"}), "exactly one .qde"),
    (zip_of({"project.qde": GOOD_QDE, "../evil.txt": b"x"}), "unsafe path"),
    (zip_of({"project.qde": GOOD_QDE, "/abs.txt": b"x"}), "unsafe path"),
    (zip_of({"project.qde": b"<<<"}), "not well-formed"),
    (zip_of({"project.qde": b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "b">]><Project xmlns="urn:QDA-XML:'
                            b'project:1.0" name="&a;"/>'}), "forbidden"),
    (zip_of({"project.qde": b'<Other xmlns="urn:x"/>'}), "not a REFI-QDA project"),
])
def test_bad_archives_import_nothing(db, data, message):
    from interviews.models import Study

    before = Study.objects.count()
    with pytest.raises(ValidationError, match=message):
        import_project(data=data, actor=None)
    assert Study.objects.count() == before


def test_a_bad_selection_is_reported_not_shifted(db):
    qde = (b'<Project xmlns="urn:QDA-XML:project:1.0" name="p" origin="other"><Users><User guid="11111111-1111-1111'
           b'-1111-111111111111" name="ann"/></Users><CodeBook><Codes><Code guid="22222222-2222-2222-2222-22222222222'
           b'2" name="A" isCodable="true"/></Codes></CodeBook><Sources><TextSource guid="33333333-3333-3333-3333-3333'
           b'33333333" name="S" plainTextPath="s.txt"><PlainTextSelection guid="44444444-4444-4444-4444-44444444444'
           b'4" startPosition="2" endPosition="900"><Coding guid="55555555-5555-5555-5555-555555555555" creatingUser'
           b'="11111111-1111-1111-1111-111111111111"><CodeRef targetGUID="22222222-2222-2222-2222-222222222222"/>'
           b"</Coding></PlainTextSelection></TextSource></Sources></Project>")
    report = import_project(data=zip_of({"p.qde": qde, "Sources/s.txt": b"short text"}), actor=None)
    assert report.sources == 1 and report.codings == 0
    assert report.unplaced == ["S: selection 2-900 lies outside the text"]


def test_cli_backup_and_restore(world, tmp_path):
    study, _ = demo_load()
    target = tmp_path / "backup.qdpx"
    out = io.StringIO()
    call_command("export_qdpx", study.slug, "--output", str(target), stdout=out)
    out = io.StringIO()
    call_command("import_qdpx", str(target), "--name", "Restored", stdout=out)
    slug = out.getvalue().strip().splitlines()[-1]
    from interviews.models import Study

    assert snapshot(Study.objects.get(slug=slug)) == snapshot(study)
    with pytest.raises(CommandError, match="no study"):
        call_command("export_qdpx", "nope", "--output", str(tmp_path / "x.qdpx"))
    with pytest.raises(CommandError, match="not a zip"):
        bad = tmp_path / "bad.qdpx"
        bad.write_bytes(b"nope")
        call_command("import_qdpx", str(bad))


def test_browser_upload_runs_as_a_task_and_reports(login, world, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from analysis.models import ProjectImport
    from interviews.models import Membership, Study

    client = login(world.users["viewer"])
    data = (SAMPLES / "qc-1.3.2_demo.qdpx").read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("project_import"), {"qdpx": SimpleUploadedFile("demo.qdpx", data),
                                                           "name": "From qc"})
    record = ProjectImport.objects.get()
    assert response.status_code == 302 and record.status == "done", record.error
    study = Study.objects.get(slug=record.report["slug"])
    assert study.name == "From qc" and record.report["codings"] == 205
    assert Membership.objects.get(study=study, user=world.users["viewer"]).role == "pi"
    page = client.get(reverse("project_import_status", args=[record.pk])).content.decode()
    assert "205 coding(s)" in page
    assert login(world.users["pi"]).get(reverse("project_import_status", args=[record.pk])).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("project_import"), {"qdpx": SimpleUploadedFile("bad.qdpx", b"not a zip")})
    failed = ProjectImport.objects.exclude(pk=record.pk).get()
    assert failed.status == "failed" and "not a zip" in failed.error
    assert Study.objects.filter(name="From qc").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_project_upload_with_the_queue_unreachable_answers_503_and_keeps_nothing(client, world, monkeypatch,
                                                                                   settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from analysis import tasks
    from analysis.models import ProjectImport

    def unreachable(*args, **kwargs):
        raise ConnectionRefusedError("redis down")

    settings.IMPORT_STAGING_DIR = tmp_path
    monkeypatch.setattr(tasks.run_project_import, "delay", unreachable)
    client.force_login(world.users["pi"])
    upload = SimpleUploadedFile("p.qdpx", (SAMPLES / "qc-1.3.2_demo.qdpx").read_bytes())
    response = client.post("/import-project/", {"qdpx": upload, "name": "Later"})
    assert response.status_code == 503 and "task queue unreachable" in response.content.decode()
    assert ProjectImport.objects.get().status == "failed"
    assert list(tmp_path.iterdir()) == []  # the upload is not kept
