"""Importing transcripts end to end on the services and the command line: what is stored, what never is."""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from interviews import import_commit, imports, keystore
from interviews.models import (
    Attribute,
    AttributeValue,
    AuditEvent,
    ImportBatch,
    Participant,
    PseudonymKey,
    Transcript,
)
from interviews.participant_table import participants_apply, participants_preview, read_table
from interviews.pseudonymise import Entry
from workbench.errors import Conflict

SAMPLES = Path(__file__).resolve().parent / "samples" / "import"
TRANSCRIPTS = ["P01_interview.docx", "P02_访谈.txt", "P03_interview.txt", "P04_zoom.vtt"]
# Every identifier planted in the sample folder: none may be stored anywhere.
PLANTED = ["Wang Lei", "Zhang Min", "Huawei", "Hangzhou", "Shenyang", "Fudan", "李明", "阿里巴巴", "杭州",
           "wang.lei@example.com", "7946 0958", "13912345678", "11010519491231002X", "3 May 1988", "6543-2100"]


def uploads(names=TRANSCRIPTS):
    return [(name, (SAMPLES / name).read_bytes()) for name in names]


def sample_entries():
    return keystore.entries_from_csv((SAMPLES / "key.csv").read_bytes())


def stage_and_store(study, user, capture, *, keep_key=False, names=TRANSCRIPTS, decide=None):
    batch = imports.import_stage(study=study, user=user, uploads=uploads(names), replacements=sample_entries(),
                                 tags=["wave-1"])
    reviews = imports.import_review(batch=batch)
    decisions = decide(reviews) if decide else imports.decisions_accept_all(reviews)
    with capture(execute=True):
        imports.import_decide(batch=batch, user=user, decisions=decisions, keep_key=keep_key)
    batch.refresh_from_db()
    return batch


@pytest.fixture
def study(world):
    return world.study


def test_sample_folder_imports_with_turns_participants_and_pseudonyms(world, django_capture_on_commit_callbacks):
    rows = read_table("participants.csv", (SAMPLES / "participants.csv").read_bytes())
    participants_apply(study=world.study, preview=participants_preview(study=world.study, rows=rows),
                       actor=world.users["pi"])
    batch = stage_and_store(world.study, world.users["pi"], django_capture_on_commit_callbacks)
    assert batch.status == "done", batch.outcomes
    assert [o["status"] for o in batch.outcomes] == ["stored"] * 4
    texts = {t.participant.label: t for t in Transcript.objects.filter(study=world.study, tags__name="wave-1")}
    assert set(texts) == {"P01", "P02", "P03", "P04"}
    assert texts["P01"].text.splitlines()[1] == (
        "P01: My pleasure. I moved to [City A] in 2015 to work for [employer A].")
    assert "Write to [email] or call [phone]." in texts["P01"].text
    assert texts["P02"].text.splitlines()[1] == "受访者：我叫[P02]，以前在[雇主B]工作，后来回到[城市A]。"
    assert "[phone]" in texts["P02"].text and "[id-number]" in texts["P02"].text
    assert texts["P02"].language == "zh"
    assert "I was born on [date-of-birth] in [City B]" in texts["P03"].text
    assert texts["P04"].text.startswith("Interviewer: Did [mother of P01] help you return?\nP04: Yes,")
    for transcript in texts.values():
        for planted in PLANTED:
            assert planted.casefold() not in transcript.text.casefold()
    # The raw uploads are gone; only the one-time key file waits for the PI.
    assert sorted(p.name for p in imports.staging_dir(batch).iterdir()) == ["key.csv"]
    p03 = Participant.objects.get(study=world.study, label="P03")
    values = dict(AttributeValue.objects.filter(participant=p03).values_list("attribute__name", "value"))
    assert values == {"Gender": "Female", "Age": "29", "Migration": "Interprovincial", "Interviewed": "2024-04-01"}
    assert Attribute.objects.get(study=world.study, name="Age").type == "number"


def database_dump() -> str:
    """The whole test database as text: pg_dump on PostgreSQL, every row of every table on SQLite."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        pg_dump = shutil.which("pg_dump") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))),
                                                   None)
        assert pg_dump, "pg_dump not found"
        result = subprocess.run(
            [str(pg_dump), "-h", settings["HOST"], "-p", str(settings["PORT"]), "-U", settings["USER"],
             "--data-only", settings["NAME"]],
            capture_output=True, text=True, check=True, env={"PGPASSWORD": settings.get("PASSWORD") or ""},
        )
        return result.stdout
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')
            parts.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(parts)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("keep_key", [True, False])
def test_database_dump_holds_no_planted_original(keep_key):
    from django.contrib.auth import get_user_model

    from interviews import services

    pi = get_user_model().objects.create_user("lead", password="lead-password-1")
    study = services.study_create(name="Dump", pi=pi)
    batch = imports.import_stage(study=study, user=pi, uploads=uploads(), replacements=sample_entries())
    imports.import_decide(batch=batch, user=pi, decisions=imports.decisions_accept_all(
        imports.import_review(batch=batch)), keep_key=keep_key)
    batch.refresh_from_db()
    assert batch.status == "done" and Transcript.objects.filter(study=study).count() == 4
    assert PseudonymKey.objects.filter(study=study).exists() is keep_key
    dump = database_dump()
    assert "[City A]" in dump  # the dump does contain the pseudonymised transcripts
    leaked = [p for p in PLANTED if p.casefold() in dump.casefold()]
    assert leaked == []
    if keep_key:
        assert {e.original for e in keystore.stored_entries(study)} >= {"Wang Lei", "李明"}
    else:
        assert batch.key_download_pending
        assert "Wang Lei" in imports.import_key_download(batch=batch, user=pi)
        with pytest.raises(Conflict):
            imports.import_key_download(batch=ImportBatch.objects.get(pk=batch.pk), user=pi)
    assert not imports.staging_dir(batch).exists()


def test_the_rescan_blocks_a_file_that_still_holds_an_original(world, django_capture_on_commit_callbacks):
    def reject_huawei(reviews):
        decisions = imports.decisions_accept_all(reviews)
        for review in reviews:
            for j, p in enumerate(review.proposals):
                if p.original == "Huawei":
                    decisions[review.index].accepted.pop(j, None)
        return decisions

    batch = stage_and_store(world.study, world.users["pi"], django_capture_on_commit_callbacks,
                            decide=reject_huawei)
    outcomes = {o["name"]: o for o in batch.outcomes}
    assert outcomes["P01_interview.docx"]["status"] == "blocked"
    assert "still contains 1 replacement-list original" in outcomes["P01_interview.docx"]["message"]
    assert "Huawei" not in str(batch.outcomes)
    assert outcomes["P02_访谈.txt"]["status"] == "stored"
    assert not Transcript.objects.filter(study=world.study, participant__label="P01", tags__name="wave-1").exists()


def test_a_failed_file_leaves_the_others_imported(world, django_capture_on_commit_callbacks):
    batch = imports.import_stage(
        study=world.study, user=world.users["pi"], replacements=sample_entries(),
        uploads=[*uploads(["P04_zoom.vtt"]), ("empty.txt", b""), ("../../etc/passwd", b"root:x:0:0"),
                 ("photo.jpg", b"\xff\xd8\xff"), ("fake.docx", b"nope")],
    )
    reviews = imports.import_review(batch=batch)
    assert [bool(r.error) for r in reviews] == [False, True, True, True, True]
    with django_capture_on_commit_callbacks(execute=True):
        imports.import_decide(batch=batch, user=world.users["pi"], keep_key=False,
                              decisions=imports.decisions_accept_all(reviews))
    batch.refresh_from_db()
    assert [o["status"] for o in batch.outcomes] == ["stored", "failed", "failed", "failed", "failed"]
    messages = " ".join(o["message"] for o in batch.outcomes)
    for reason in ("is empty", "unsafe name", "unsupported type", "not a zip package"):
        assert reason in messages


def test_same_text_twice_is_skipped(world, django_capture_on_commit_callbacks):
    stage_and_store(world.study, world.users["pi"], django_capture_on_commit_callbacks, names=["P04_zoom.vtt"])
    again = stage_and_store(world.study, world.users["pi"], django_capture_on_commit_callbacks,
                            names=["P04_zoom.vtt"])
    assert again.outcomes[0]["status"] == "skipped"
    assert Transcript.objects.filter(study=world.study, participant__label="P04").count() == 1


def test_stale_review_is_refused(world):
    batch = imports.import_stage(study=world.study, user=world.users["pi"], uploads=uploads(["P04_zoom.vtt"]))
    decisions = imports.decisions_accept_all(imports.import_review(batch=batch))
    imports.import_add_entry(batch=batch, user=world.users["pi"], original="Zhang Min", pseudonym="[helper]")
    with pytest.raises(Conflict, match="changed"):
        imports.import_decide(batch=batch, user=world.users["pi"], decisions=decisions, keep_key=False)
    fresh = imports.import_review(batch=batch)
    assert "[helper]" in [p.pseudonym for p in fresh[0].proposals]


def test_accepted_name_suggestions_join_the_list(world, django_capture_on_commit_callbacks):
    text = "I: Did Sarah Johnson help?\nR: Yes, Sarah Johnson did.\n"

    def accept_names(reviews):
        decisions = imports.decisions_accept_all(reviews)
        for review in reviews:
            for j, p in enumerate(review.proposals):
                if p.suggestion:
                    decisions[review.index].accepted[j] = "[mentor]"
        return decisions

    batch = imports.import_stage(study=world.study, user=world.users["pi"], pasted=[("P09 notes", text)])
    with django_capture_on_commit_callbacks(execute=True):
        imports.import_decide(batch=batch, user=world.users["pi"], keep_key=True,
                              decisions=accept_names(imports.import_review(batch=batch)))
    transcript = Transcript.objects.get(study=world.study, title="P09 notes")
    assert transcript.text == "I: Did [mentor] help?\nR: Yes, [mentor] did.\n"
    assert Entry("Sarah Johnson", "[mentor]") in keystore.stored_entries(world.study)
    # The next import applies it without asking.
    later = imports.import_stage(study=world.study, user=world.users["pi"], pasted=[("P10", "R: sarah johnson!")])
    proposals = imports.import_review(batch=later)[0].proposals
    assert [(p.original, p.pseudonym, p.detector) for p in proposals] == [("sarah johnson", "[mentor]", "list")]


def test_key_views_are_audited(world):
    keystore_entries = [Entry("Wang Lei", "[P07]")]
    ciphertext, count = keystore.encrypt_entries(keystore_entries)
    PseudonymKey.objects.create(study=world.study, ciphertext=ciphertext, entries=count)
    assert "Wang Lei" not in ciphertext
    assert keystore.key_entries_for_person(study=world.study, user=world.users["pi"], reason="review") == \
        keystore_entries
    assert AuditEvent.objects.filter(study=world.study, action="key.view").count() == 1


def test_discard_and_expiry_delete_the_raw_files(world, settings):
    batch = imports.import_stage(study=world.study, user=world.users["pi"], uploads=uploads(["P04_zoom.vtt"]))
    assert imports.staging_dir(batch).exists()
    imports.import_discard(batch=batch, user=world.users["pi"])
    assert not imports.staging_dir(batch).exists()
    old = imports.import_stage(study=world.study, user=world.users["pi"], uploads=uploads(["P04_zoom.vtt"]))
    ImportBatch.objects.filter(pk=old.pk).update(expires_at=old.created_at)
    assert imports.imports_cleanup() == 1
    assert not imports.staging_dir(old).exists()
    assert ImportBatch.objects.get(pk=old.pk).status == "expired"
    with pytest.raises(Conflict):
        imports.import_review(batch=old)


def test_staging_files_are_private(world):
    batch = imports.import_stage(study=world.study, user=world.users["pi"], uploads=uploads(["P04_zoom.vtt"]))
    directory = imports.staging_dir(batch)
    assert directory.stat().st_mode & 0o077 == 0
    assert (directory / "manifest.json").stat().st_mode & 0o077 == 0


def test_nothing_to_import_is_refused(world):
    with pytest.raises(ValidationError):
        imports.import_stage(study=world.study, user=world.users["pi"], uploads=[])


# --- participant spreadsheets ---------------------------------------------------------------------------------
def test_participant_sheet_preview_lists_every_row_error_and_saves_nothing(world):
    sheet = (b"label,Gender,Age,Interviewed\nP20,Female,34,2024-01-02\nP20,Male,41,2024-01-03\n"
             b"P21,Other,forty,03/01/2024\n,Male,30,2024-01-04\n")
    preview = participants_preview(study=world.study, rows=read_table("p.csv", sheet))
    assert preview.errors == [
        "row 3: the label 'P20' already appears in row 2",
        "row 4, Gender: 'Other' is not one of: Female, Male",
        "row 5: no participant label",
    ]
    types = {c.name: c.type for c in preview.columns}
    assert types == {"Gender": "choice", "Age": "text", "Interviewed": "text"}
    with pytest.raises(ValidationError):
        participants_apply(study=world.study, preview=preview, actor=world.users["pi"])
    assert not Participant.objects.filter(study=world.study, label="P20").exists()


def test_participant_sheet_infers_types(world):
    sheet = (b"participant,Age,Married,Wave,Interviewed,Notes\nP30,34,yes,A,2024-01-02,likes tea\n"
             b"P31,41.5,no,B,2024-02-03,\nP32,29,yes,A,2024-03-04,quiet\n")
    preview = participants_preview(study=world.study, rows=read_table("p.csv", sheet))
    assert preview.ok and preview.new_participants == 3
    assert {c.name: (c.type, c.choices) for c in preview.columns} == {
        "Age": ("number", []), "Married": ("boolean", []), "Wave": ("choice", ["A", "B"]),
        "Interviewed": ("date", []), "Notes": ("text", []),
    }
    assert participants_apply(study=world.study, preview=preview, actor=world.users["pi"]) == 3
    values = dict(AttributeValue.objects.filter(participant__label="P31").values_list("attribute__name", "value"))
    assert values == {"Age": "41.5", "Married": "false", "Wave": "B", "Interviewed": "2024-02-03"}


def test_participant_sheet_from_xlsx(world):
    import datetime as dt

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Label", "Age", "Interviewed"])
    sheet.append(["P40", 33, dt.datetime(2024, 5, 6)])
    sheet.append(["P41", 45, dt.datetime(2024, 5, 7)])
    buffer = io.BytesIO()
    book.save(buffer)
    preview = participants_preview(study=world.study, rows=read_table("p.xlsx", buffer.getvalue()))
    assert preview.ok and [r["label"] for r in preview.rows] == ["P40", "P41"]
    assert {c.name: c.type for c in preview.columns} == {"Age": "number", "Interviewed": "date"}


@pytest.mark.parametrize(("name", "data", "message"), [
    ("p.csv", b"", "is empty"),
    ("p.xlsx", b"not a workbook", "not a readable .xlsx"),
    ("p.pdf", b"%PDF", "must be a .csv or .xlsx"),
])
def test_participant_sheet_bad_files(name, data, message):
    with pytest.raises(ValidationError, match=message):
        read_table(name, data)


def test_duplicate_and_missing_columns(world):
    preview = participants_preview(study=world.study, rows=read_table("p.csv", b"label,Age,age,\nP1,3,4,x\n"))
    assert "column 'age' appears twice" in preview.errors and "column 4 has no name" in preview.errors


# --- the command line -----------------------------------------------------------------------------------------
def run_cli(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_transcripts", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        err.write(str(exc))
        code = 1
    return code, out.getvalue(), err.getvalue()


def test_cli_without_accept_prints_proposals_and_stores_nothing(world):
    before = Transcript.objects.count()
    code, out, _ = run_cli(world.study.slug, *[str(SAMPLES / n) for n in TRANSCRIPTS],
                           "--replacements", str(SAMPLES / "key.csv"))
    assert code == 0
    assert "P01_interview.docx\t" in out and "\tWang Lei\t[P01]\tlist" in out
    assert "\twang.lei@example.com\t[email]\temail" in out
    assert "Nothing stored" in out
    assert Transcript.objects.count() == before
    assert not any(imports.staging_dir(b).exists() for b in ImportBatch.objects.all())


def test_cli_accept_stores_and_exits_non_zero_when_a_file_failed(world, tmp_path):
    bad = tmp_path / "broken.docx"
    bad.write_bytes(b"not a zip")
    code, out, err = run_cli(world.study.slug, *[str(SAMPLES / n) for n in TRANSCRIPTS], str(bad),
                             "--replacements", str(SAMPLES / "key.csv"),
                             "--participants", str(SAMPLES / "participants.csv"), "--accept", "--tag", "cli")
    assert code == 1 and "1 file(s) could not be imported" in err
    assert out.count("STORED\t") == 4 and "FAILED\tbroken.docx" in out
    assert Transcript.objects.filter(study=world.study, tags__name="cli").count() == 4


def test_cli_refuses_bad_participant_sheet_before_importing(world, tmp_path):
    sheet = tmp_path / "p.csv"
    sheet.write_text("label,Gender\nP1,Other\n")
    code, _, err = run_cli(world.study.slug, str(SAMPLES / "P04_zoom.vtt"), "--participants", str(sheet),
                           "--accept")
    assert code == 1 and "nothing was imported" in err
    assert not Transcript.objects.filter(study=world.study, participant__label="P04").exists()


def test_cli_unknown_study(db):
    code, _, err = run_cli("nope", str(SAMPLES / "P04_zoom.vtt"))
    assert code == 1 and "no study with the slug 'nope'" in err


def test_key_page_is_for_the_pi_and_every_look_is_audited(login, world):
    ciphertext, count = keystore.encrypt_entries([Entry("Wang Lei", "[P07]")])
    PseudonymKey.objects.create(study=world.study, ciphertext=ciphertext, entries=count)
    client = login(world.users["pi"])
    url = f"/studies/{world.study.slug}/key/"
    assert b"Wang Lei" not in client.get(url).content  # not shown until asked for
    assert AuditEvent.objects.filter(action="key.view").count() == 0
    assert b"Wang Lei" in client.get(url, {"show": "1"}).content
    download = client.post(url, {"action": "download"})
    assert download["Content-Disposition"].startswith("attachment") and b"Wang Lei" in download.content
    assert AuditEvent.objects.filter(action="key.view").count() == 2
    client.post(url, {"action": "delete"})
    assert not PseudonymKey.objects.filter(study=world.study).exists()
    assert AuditEvent.objects.filter(action="key.delete").count() == 1
    assert login(world.users["coder"]).get(url, {"show": "1"}).status_code == 403


def test_participant_attributes_edited_in_the_browser(login, world):
    client = login(world.users["pi"])
    attribute = Attribute.objects.get(study=world.study, name="Gender")
    url = f"/studies/{world.study.slug}/participants/{world.participant.pk}/"
    assert client.post(url, {f"attr-{attribute.pk}": "Other"}).status_code == 400
    assert AttributeValue.objects.get(participant=world.participant).value == "Female"
    assert client.post(url, {f"attr-{attribute.pk}": "male"}).status_code == 302
    assert AttributeValue.objects.get(participant=world.participant).value == "Male"
    assert login(world.users["viewer"]).post(url, {f"attr-{attribute.pk}": "Female"}).status_code == 403


class _WorkerKilled(BaseException):
    """Stands in for SIGKILL: not an Exception, so no handler in the import sees it."""


def test_a_batch_whose_worker_died_midway_is_finished_by_the_next_delivery_storing_each_file_once(
        world, monkeypatch, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    user = world.users["pi"]
    before = Transcript.objects.filter(study=world.study).count()
    batch = imports.import_stage(study=world.study, user=user, uploads=uploads(), replacements=sample_entries())
    reviews = imports.import_review(batch=batch)
    real = import_commit._commit_item
    calls = []

    def dies_on_the_third_file(*args, **kwargs):
        calls.append(args[2]["index"])
        if len(calls) == 3:
            raise _WorkerKilled
        return real(*args, **kwargs)

    monkeypatch.setattr(import_commit, "_commit_item", dies_on_the_third_file)
    with pytest.raises(_WorkerKilled), django_capture_on_commit_callbacks(execute=True):
        imports.import_decide(batch=batch, user=user, decisions=imports.decisions_accept_all(reviews),
                              keep_key=True)
    batch.refresh_from_db()
    assert batch.status == "running" and batch.attempts == 1 and len(batch.outcomes) == 2
    assert Transcript.objects.filter(study=world.study).count() == before + 2
    # The redelivered task while the first worker might still be alive: it waits.
    assert import_commit.import_commit(batch_id=str(batch.pk)) == "busy"
    # The first worker's heartbeat is older than the lease: the next delivery takes over and finishes.
    ImportBatch.objects.filter(pk=batch.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert import_commit.import_commit(batch_id=str(batch.pk)) == "done"
    batch.refresh_from_db()
    assert batch.status == "done" and batch.attempts == 2
    assert [o["index"] for o in batch.outcomes] == list(range(len(TRANSCRIPTS)))
    assert [o["status"] for o in batch.outcomes] == ["stored"] * len(TRANSCRIPTS)
    assert Transcript.objects.filter(study=world.study).count() == before + len(TRANSCRIPTS)
    assert calls[:3] == [0, 1, 2] and calls[3:] == list(range(2, len(TRANSCRIPTS)))
    assert import_commit.import_commit(batch_id=str(batch.pk)) == "skipped"


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_queue_keeps_the_review_and_answers_503(client, world, monkeypatch):
    from interviews import tasks

    def unreachable(*args, **kwargs):
        raise ConnectionRefusedError("redis down")

    batch = imports.import_stage(study=world.study, user=world.users["pi"], uploads=uploads(["P04_zoom.vtt"]))
    monkeypatch.setattr(tasks.import_commit_task, "delay", unreachable)
    client.force_login(world.users["pi"])
    url = f"/studies/{world.study.slug}/import/{batch.pk}/"
    assert client.get(url).status_code == 200
    form = {"action": "confirm", "include-0": "1", "participant-0": "P04", "title-0": "P04",
            "fp-0": imports.import_review(batch=batch)[0].fingerprint}
    response = client.post(url, form)
    assert response.status_code == 503 and "task queue unreachable" in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == "staged"  # the review is kept: confirming again later works
    assert (imports.staging_dir(batch) / "manifest.json").exists()
    monkeypatch.undo()
    response = client.post(url, form)
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == "done"
