"""Load at CI size: 20 coders and a PI against gunicorn (as deployed: 3 sync workers), a real Celery worker,
PostgreSQL and Redis, for LOAD_SECONDS (20 s here; ``make bench`` runs 60 s and prints the figures). Afterwards the
database holds exactly the codings the clients were told they made, no request got a 5xx, every double POST made one
row and every pair of concurrent edits gave one 200 and one 409 carrying the winner's state.
"""
from __future__ import annotations

import json
import os

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from benchmarks import load
from codebook.models import Code
from interviews import services
from interviews.demo import DEMO_PASSWORD, demo_load

from .live import app_env, start_gunicorn, start_worker

REDIS_URL = os.environ.get("WORKBENCH_TEST_REDIS_URL", "")
LOAD_SECONDS = float(os.environ.get("WORKBENCH_LOAD_SECONDS", "20"))
PASSWORD = "load-password-1"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not REDIS_URL, reason="no Redis server (run through make test with redis-server installed)"),
]


def team(n: int = 20):
    """The demo study with ``n`` extra coders; returns the plan's pieces."""
    study, _ = demo_load()
    pi = get_user_model().objects.get(username="demo-pi")
    coders = []
    for i in range(n):
        user = get_user_model().objects.create_user(f"load-coder-{i:02d}", password=PASSWORD)
        services.membership_set(study=study, user=user, role="coder", actor=pi)
        coders.append((user.username, PASSWORD))
    transcripts = dict(study.transcripts.values_list("id", "text"))
    codes = list(Code.objects.filter(study=study, codable=True).values_list("id", flat=True))
    return study, transcripts, codes, coders


@pytest.mark.django_db(transaction=True)
def test_twenty_coders_and_a_pi_lose_nothing(django_db_blocker, tmp_path, record_property):
    if connection.vendor != "postgresql":
        pytest.skip("the servers need a database they can share with the tests: PostgreSQL")
    study, transcripts, codes, coders = team(20)
    env = app_env(REDIS_URL, tmp_path)
    worker = start_worker(env)
    try:
        server, base = start_gunicorn(env, workers=3)
        try:
            plan = load.Plan(base=base, slug=study.slug, transcripts=transcripts, codes=codes, coders=coders,
                             pi=("demo-pi", DEMO_PASSWORD), seconds=LOAD_SECONDS)
            log, states, figures = load.run(plan)
        finally:
            server.stop()
    finally:
        worker.stop()
    record_property("load_figures", json.dumps(figures))
    print(json.dumps(figures, indent=1))
    assert not log.problems, "\n".join(log.problems[:30]) + "\n" + server.output()[-3000:]
    assert figures["server_errors"] == 0
    assert load.reconcile(study.slug, states) == []
    # The run did what it says: every kind of request happened, in numbers.
    assert sum(len(s.beliefs) for s in states) > 100
    assert figures["double_posts"] >= 5 and figures["concurrent_edits_answered_409"] >= 5
    assert figures["pi"].get("analyses_done", 0) >= 2 and figures["pi"].get("exports", 0) >= 1
    for endpoint in ("POST codings", "PATCH coding", "DELETE coding", "GET codings", "GET transcript page"):
        assert figures["endpoints"][endpoint]["requests"] > 10


@pytest.mark.django_db(transaction=True)
def test_two_people_editing_the_same_consensus_coding_one_wins_the_other_gets_409(tmp_path):
    """Two PIs of one study settle the same consensus coding at the same moment, 20 times over: each time exactly
    one edit is saved and the other is refused with 409 and the winner's state; nothing is overwritten silently."""
    if connection.vendor != "postgresql":
        pytest.skip("the servers need a database they can share with the tests: PostgreSQL")
    from codebook.models import Coding, Layer
    from codebook.services import coding_apply

    study, _ = demo_load()
    first = get_user_model().objects.get(username="demo-pi")
    second = get_user_model().objects.create_user("second-pi", password=PASSWORD)
    services.membership_set(study=study, user=second, role="pi", actor=first)
    transcript = study.transcripts.order_by("pk").first()
    code = Code.objects.filter(study=study, codable=True, parent__isnull=False).first()
    coding, _ = coding_apply(transcript=transcript, code=code, coder=first, start=0, end=10, layer=Layer.CONSENSUS)
    server, base = start_gunicorn(app_env(REDIS_URL, tmp_path), workers=3)
    try:
        log = load.Log()
        a, b = load.Client(base, log), load.Client(base, log)
        a.login("demo-pi", DEMO_PASSWORD)
        b.login("second-pi", PASSWORD)
        url = f"/api/studies/{study.slug}/codings/{coding.pk}/"

        def edit(client, memo, version):
            status, _, body = client.call("PATCH coding", "PATCH", url, data={"memo": memo, "version": version})
            return status, json.loads(body)

        version = coding.version
        for round_ in range(20):
            answers = load.at_once((edit, a, f"first pi {round_}", version), (edit, b, f"second pi {round_}", version))
            assert sorted(s for s, _ in answers) == [200, 409], answers
            won = next(p for s, p in answers if s == 200)
            lost = next(p for s, p in answers if s == 409)
            assert lost["current"] == won and won["version"] == version + 1
            version = won["version"]
            stored = Coding.objects.get(pk=coding.pk)
            assert (stored.memo, stored.version) == (won["memo"], won["version"])
    finally:
        server.stop()
