"""Outages on the production parts: Redis stopped while the team works, PostgreSQL restarted under load.

gunicorn, a real Celery worker, PostgreSQL and Redis (a Redis of this module's own, so that it can be stopped).
Needs the servers started by ``scripts/testservers.py`` (``make test``); skipped with a reason otherwise.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import threading
import time

import pytest
from django.db import connection

from analysis.models import AnalysisRun
from benchmarks import load
from codebook.models import Code, Coding
from interviews.demo import DEMO_PASSWORD, demo_load

from .live import ROOT, Browser, app_env, start_gunicorn, start_worker
from .test_load import team

REDIS_URL = os.environ.get("WORKBENCH_TEST_REDIS_URL", "")
PG_RESTART = os.environ.get("WORKBENCH_TEST_PG_RESTART", "")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not REDIS_URL or not shutil.which("redis-server"),
                       reason="no Redis server (run through make test with redis-server installed)"),
]


def own_redis(directory):
    """A redis-server of this test's own, on a fixed port, that can be stopped and started again (the same helper
    that scripts/testservers.py starts the suite's Redis with)."""
    spec = importlib.util.spec_from_file_location("testservers", ROOT / "scripts" / "testservers.py")
    testservers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(testservers)
    return testservers.RedisServer(shutil.which("redis-server"), directory)


def needs_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the servers need a database they can share with the tests: PostgreSQL")


@pytest.mark.django_db(transaction=True)
def test_with_redis_stopped_coding_browsing_and_exports_work_and_analysis_says_503(tmp_path):
    needs_postgres()
    study, _ = demo_load()
    transcript = study.transcripts.order_by("pk").first()
    code = Code.objects.filter(study=study, codable=True, parent__isnull=False).first()
    redis = own_redis(tmp_path)
    env = app_env(redis.start(), tmp_path / "var")
    worker = start_worker(env)
    server, base = start_gunicorn(env)
    try:
        coder, pi = Browser(base), Browser(base)
        coder.login("demo-coder-a", DEMO_PASSWORD)
        pi.login("demo-pi", DEMO_PASSWORD)
        redis.stop()

        status, _, page = coder.request("GET", f"/studies/{study.slug}/transcripts/{transcript.pk}/")
        assert status == 200 and transcript.title in page
        status, _, body = coder.request_json("POST", f"/api/studies/{study.slug}/transcripts/{transcript.pk}/codings/",
                                             {"code": code.pk, "start": 0, "end": 12})
        assert status == 201, body
        made = json.loads(body)
        status, _, body = coder.request_json("PATCH", f"/api/studies/{study.slug}/codings/{made['id']}/",
                                             {"memo": "written while Redis was down", "version": made["version"]})
        assert status == 200, body
        status, headers, csv_text = pi.request("GET", f"/studies/{study.slug}/export/?download=1&format=csv")
        assert status == 200 and "written while Redis was down" in csv_text
        status, _, page = pi.request("POST", f"/studies/{study.slug}/analysis/", {"kind": "drivers"})
        assert status == 503 and "task queue unreachable" in page
        assert not AnalysisRun.objects.filter(status__in=["queued", "running"]).exists()

        redis.start()  # back on the same port
        status, headers, _ = pi.request("POST", f"/studies/{study.slug}/analysis/", {"kind": "drivers"})
        assert status == 302, server.output()[-2000:]
        run = headers["Location"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, _, body = pi.request("GET", run + "?format=json")
            if json.loads(body)["status"] in ("done", "failed"):
                break
            time.sleep(0.3)
        assert json.loads(body)["status"] == "done", worker.output()[-3000:]
    finally:
        server.stop()
        worker.stop()
        redis.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not PG_RESTART, reason="the test PostgreSQL was not started by scripts/testservers.py")
def test_postgresql_restarted_under_load_loses_no_acknowledged_coding(tmp_path, record_property):
    needs_postgres()
    study, transcripts, codes, coders = team(10)
    env = app_env(REDIS_URL, tmp_path)
    worker = start_worker(env)
    server, base = start_gunicorn(env, workers=3)
    restarted: dict[str, float] = {}

    def restart_later() -> None:
        time.sleep(6)
        restarted["at"] = time.monotonic()
        subprocess.run(json.loads(PG_RESTART), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        restarted["back"] = time.monotonic()

    try:
        plan = load.Plan(base=base, slug=study.slug, transcripts=transcripts, codes=codes, coders=coders,
                         pi=("demo-pi", DEMO_PASSWORD), seconds=18)
        restarter = threading.Thread(target=restart_later)
        restarter.start()
        log, states, figures = load.run(plan)
        restarter.join()
    finally:
        server.stop()
        worker.stop()
    connection.close()  # this process's own connection did not survive the restart either

    statuses = [status for _, status, _ in log.calls]
    unanswered = statuses.count(0)
    failed = [s for s in statuses if s >= 500]
    record_property("pg_restart", json.dumps({"requests": len(statuses), "per_second": figures["requests_per_second"],
                                              "failed_5xx": len(failed),
                                              "unanswered": unanswered,
                                              "restart_seconds": round(restarted["back"] - restarted["at"], 1)}))
    print("PostgreSQL restart:", len(failed), "of", len(statuses), "requests answered 503;", unanswered, "unanswered")
    # In-flight requests failed cleanly: an answer, and only 503 (the database-unavailable answer).
    assert unanswered == 0
    assert set(failed) <= {503}, sorted(set(failed))
    # The app reconnected: the calls in the last seconds of the run succeeded.
    assert all(s < 500 for s in statuses[-100:])
    # No coding the server acknowledged is lost: each one the clients believe in is stored, on the same span.
    stored = {c.pk: (c.transcript_id, c.code_id, c.start, c.end)
              for c in Coding.objects.filter(transcript__study=study, coder__username__startswith="load-coder-")}
    for state in states:
        for pk, belief in state.beliefs.items():
            assert stored.get(pk) == (belief.transcript, belief.code, belief.start, belief.end), (state.username, pk)
    assert sum(len(s.beliefs) for s in states) > 50
