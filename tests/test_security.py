"""Security headers, login throttling, redirects and hosts."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD


def test_security_headers_on_every_page(login, world):
    client = login(world.users["pi"])
    for url in (reverse("study_list"), reverse("transcript", args=[world.study.slug, world.transcript.pk]),
                reverse("login")):
        response = client.get(url)
        csp = response["Content-Security-Policy"]
        script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in client.get(reverse("transcript", args=[world.study.slug, world.transcript.pk]))[
        "Cache-Control"]


def test_login_is_throttled_after_repeated_failures(world):
    client = Client()
    url = reverse("login")
    for _ in range(5):
        assert client.post(url, {"username": "coder", "password": "wrong-password"}).status_code == 200
    blocked = client.post(url, {"username": "coder", "password": PASSWORD})
    assert blocked.status_code == 429 and b"Too many failed attempts" in blocked.content
    # Another account is not affected; a success clears that account's failures.
    other = Client().post(url, {"username": "pi", "password": PASSWORD})
    assert other.status_code == 302


def test_login_next_cannot_leave_the_site(world):
    client = Client()
    response = client.post(reverse("login") + "?next=https://evil.example/steal",
                           {"username": "pi", "password": PASSWORD, "next": "https://evil.example/steal"})
    assert response.status_code == 302 and "evil.example" not in response["Location"]
    response = Client().post(reverse("login"), {"username": "pi", "password": PASSWORD,
                                                "next": "//evil.example/x"})
    assert "evil.example" not in response["Location"]
    good = Client().post(reverse("login"), {"username": "pi", "password": PASSWORD,
                                            "next": reverse("study_home", args=[world.study.slug])})
    assert good["Location"] == reverse("study_home", args=[world.study.slug])


def test_unknown_host_header_is_refused(world, settings):
    settings.ALLOWED_HOSTS = ["qda.example.org"]
    assert Client().get(reverse("healthz"), HTTP_HOST="evil.example").status_code == 400
    assert Client().get(reverse("healthz"), HTTP_HOST="qda.example.org").status_code == 200


def test_participant_withdrawal_leaves_only_a_tombstone(login, world, django_capture_on_commit_callbacks):
    import json

    from analysis.models import AnalysisRun
    from codebook.models import Coding
    from interviews.models import AuditEvent, Participant, Transcript

    client = login(world.users["pi"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("analysis_home", args=[world.study.slug]), {"kind": "drivers"})
    assert AnalysisRun.objects.get().result is not None
    url = reverse("participant_edit", args=[world.study.slug, world.participant.pk])
    assert client.post(url, {"action": "withdraw", "confirm": "wrong"}).status_code == 400
    assert login(world.users["coder"]).post(url, {"action": "withdraw", "confirm": "P01"}).status_code == 403
    client = login(world.users["pi"])
    response = client.post(url, {"action": "withdraw", "confirm": "P01"})
    assert response.status_code == 302
    assert not Participant.objects.filter(pk=world.participant.pk).exists()
    assert not Transcript.objects.filter(pk=world.transcript.pk).exists()
    assert not Coding.objects.filter(transcript_id=world.transcript.pk).exists()
    assert AnalysisRun.objects.get().result is None
    event = AuditEvent.objects.get(action="participant.withdraw")
    assert event.details["transcripts"] == 1 and event.details["codings"] == 2 and "P01" not in json.dumps(
        event.details)
    export = client.get(reverse("export", args=[world.study.slug]), {"download": "1", "format": "json"})
    body = b"".join(export.streaming_content).decode()
    assert "P01" not in body and "My mother" not in body


def test_audit_log_page_is_for_the_pi_and_filters(login, world):
    client = login(world.users["pi"])
    page = client.get(reverse("audit_log", args=[world.study.slug]), {"action": "member"}).content.decode()
    assert "<td>member.add</td>" in page and "<td>study.create</td>" not in page
    assert login(world.users["coder"]).get(reverse("audit_log", args=[world.study.slug])).status_code == 403


def test_audit_events_cannot_be_changed_or_deleted_in_the_database(world):
    from django.db import DatabaseError, transaction

    from interviews.models import AuditEvent

    event = AuditEvent.objects.filter(study=world.study).first()
    for attempt in (lambda: AuditEvent.objects.filter(pk=event.pk).update(action="nothing happened"),
                    lambda: AuditEvent.objects.filter(pk=event.pk).update(details={"rewritten": True}),
                    lambda: AuditEvent.objects.filter(pk=event.pk).delete()):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    event.refresh_from_db()
    assert event.action != "nothing happened"
    # Deleting the study keeps its events, with the study's slug beside a now empty link.
    slug = world.study.slug
    world.study.delete()
    event.refresh_from_db()
    assert event.study_id is None and event.study_slug == slug


def test_sessions_end_with_the_browser_and_after_a_working_day(client, world, settings):
    response = client.post("/accounts/login/", {"username": "coder", "password": PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert not cookie["expires"] and not cookie["max-age"]  # a browser-session cookie: gone when the browser closes
    assert client.session.get_expiry_age() <= 8 * 3600  # and refused by the server after eight hours regardless
