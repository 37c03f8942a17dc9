"""The audit log records each sensitive act exactly once, through the pages people use: transcript views by anyone
who is not a coder, exports, key views, role changes and deletions. Each case compares every event before and after
the request: exactly the one expected event is new, naming the actor and the object."""
from __future__ import annotations

import pytest

from analysis.models import AnalysisRun
from analysis.services import clean_parameters, run_execute
from interviews import keystore
from interviews.models import AuditEvent, PseudonymKey
from interviews.pseudonymise import Entry


def new_events(before: set[int]) -> list[AuditEvent]:
    return list(AuditEvent.objects.exclude(pk__in=before).order_by("pk"))


def exactly_one(client, method: str, url: str, data: dict | None = None, *, action: str, actor) -> AuditEvent:
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    response = client.get(url, data or {}) if method == "GET" else client.post(url, data or {})
    if hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)  # a streamed export is recorded when it has been read to the end
    assert response.status_code in (200, 302), response.status_code
    events = new_events(before)
    assert [e.action for e in events] == [action], [(e.action, e.details) for e in events]
    assert events[0].actor_id == actor.pk
    return events[0]


@pytest.mark.parametrize("persona", ["pi", "viewer"])
def test_a_transcript_read_by_someone_who_is_not_a_coder_is_one_event(login, world, persona):
    user = world.users[persona]
    event = exactly_one(login(user), "GET", f"/studies/{world.study.slug}/transcripts/{world.transcript.pk}/",
                        action="transcript.view", actor=user)
    assert event.object_id == str(world.transcript.pk) and event.details["role"] == persona


def test_a_coder_reading_the_transcript_they_code_is_not_recorded(login, world):
    client = login(world.users["coder"])
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    assert client.get(f"/studies/{world.study.slug}/transcripts/{world.transcript.pk}/").status_code == 200
    assert new_events(before) == []


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_an_excerpt_export_is_one_event_with_its_rows_and_filters(login, world, fmt):
    pi = world.users["pi"]
    event = exactly_one(login(pi), "GET", f"/studies/{world.study.slug}/export/",
                        {"download": "1", "format": fmt, "code": str(world.kinship.pk)},
                        action="export.excerpts", actor=pi)
    assert event.details["rows"] == 1 and event.details["format"] == fmt
    assert event.details["filters"]["codes"] == [world.kinship.pk]


def test_an_analysis_table_download_is_one_event(login, world):
    pi = world.users["pi"]
    run = AnalysisRun.objects.create(study=world.study, kind="drivers",
                                     parameters=clean_parameters(world.study, "drivers", {}))
    run_execute(run_id=run.pk)
    exactly_one(login(pi), "GET", f"/studies/{world.study.slug}/analysis/runs/{run.pk}/download/",
                {"format": "csv"}, action="export.table", actor=pi)


def test_a_project_export_and_a_codebook_export_are_one_event_each(login, world):
    pi = world.users["pi"]
    client = login(pi)
    exactly_one(client, "GET", f"/studies/{world.study.slug}/codebook/export/", {"format": "qdc"},
                action="codebook.export", actor=pi)


def test_each_look_at_the_key_is_one_event_and_deleting_it_is_one(login, world):
    pi = world.users["pi"]
    ciphertext, count = keystore.encrypt_entries([Entry("Wang Lei", "[P07]")])
    PseudonymKey.objects.create(study=world.study, ciphertext=ciphertext, entries=count)
    client = login(pi)
    url = f"/studies/{world.study.slug}/key/"
    exactly_one(client, "GET", url, {"show": "1"}, action="key.view", actor=pi)
    exactly_one(client, "POST", url, {"action": "download"}, action="key.view", actor=pi)
    exactly_one(client, "POST", url, {"action": "delete"}, action="key.delete", actor=pi)


def test_role_changes_are_one_event_each(login, world):
    pi = world.users["pi"]
    client = login(pi)
    url = f"/studies/{world.study.slug}/members/"
    event = exactly_one(client, "POST", url, {"action": "set", "username": "viewer", "role": "coder"},
                        action="member.role", actor=pi)
    assert event.details.get("role") == "coder" or "coder" in str(event.details)
    exactly_one(client, "POST", url, {"action": "steward", "username": "coder", "steward": "1"},
                action="member.steward", actor=pi)
    exactly_one(client, "POST", url, {"action": "remove", "username": "other_coder"},
                action="member.remove", actor=pi)
    exactly_one(client, "POST", url, {"action": "set", "username": "outsider", "role": "viewer"},
                action="member.add", actor=pi)


def test_deletions_are_one_event_each(login, world):
    pi = world.users["pi"]
    client = login(pi)
    empty = world.study.codes.create(name="Unused", parent=world.kinship.parent)
    exactly_one(client, "POST", f"/studies/{world.study.slug}/codes/{empty.pk}/action/",
                {"action": "delete", "confirm": "1", "mode": "delete"}, action="code.delete", actor=pi)
    exactly_one(client, "POST", f"/studies/{world.study.slug}/participants/{world.participant.pk}/",
                {"action": "withdraw", "confirm": world.participant.label}, action="participant.withdraw", actor=pi)


def test_the_pi_reads_and_filters_the_log_in_the_browser(login, world):
    client = login(world.users["pi"])
    client.get(f"/studies/{world.study.slug}/transcripts/{world.transcript.pk}/")
    page = client.get(f"/studies/{world.study.slug}/audit/", {"action": "transcript.view"})
    assert page.status_code == 200 and b"transcript.view" in page.content
    assert login(world.users["coder"]).get(f"/studies/{world.study.slug}/audit/").status_code == 403
