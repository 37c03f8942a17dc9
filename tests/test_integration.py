"""End to end on the production parts: gunicorn and a real Celery worker process, PostgreSQL and Redis.

Needs the servers started by ``scripts/testservers.py`` (``make test``); skipped with a reason otherwise.
"""
from __future__ import annotations

import json
import os
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from analysis.models import AnalysisRun
from interviews import services
from interviews.demo import DEMO_PASSWORD, demo_load

from .live import Browser, app_env, start_gunicorn, start_worker

REDIS_URL = os.environ.get("WORKBENCH_TEST_REDIS_URL", "")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not REDIS_URL, reason="no Redis server (run through make test with redis-server installed)"),
]


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """gunicorn + a Celery worker, both configured with the test database and the test Redis."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.skip("the worker needs a database it can share with the tests: PostgreSQL")
        env = app_env(REDIS_URL, tmp_path_factory.mktemp("var"))
    worker = start_worker(env)
    try:
        server, base = start_gunicorn(env)
    except Exception:
        worker.stop()
        raise
    yield {"base": base, "worker": worker, "server": server}
    server.stop()
    worker.stop()


def wait_for_run(browser: Browser, path: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, body = browser.request("GET", path + "?format=json")
        assert status == 200
        data = json.loads(body)
        if data["status"] in ("done", "failed"):
            return data
        time.sleep(0.2)
    raise AssertionError(f"run {path} did not finish")


@pytest.mark.django_db(transaction=True)
def test_analysis_runs_in_a_real_worker(stack):
    study, _ = demo_load()
    browser = Browser(stack["base"])
    browser.login("demo-pi", DEMO_PASSWORD)
    status, _, home = browser.request("GET", f"/studies/{study.slug}/")
    assert status == 200 and "Interview 1: materials scientist" in home

    status, headers, _ = browser.request("POST", f"/studies/{study.slug}/analysis/", {"kind": "drivers"})
    assert status == 302, stack["server"].output()
    run_path = headers["Location"]
    data = wait_for_run(browser, run_path)
    assert data["status"] == "done", data["error"] + stack["worker"].output()
    rows = {tuple(r["path"]): r for r in data["result"]["rows"] if r["kind"] == "code"}
    assert data["result"]["n"] == 14
    assert rows[("Social networks",)]["participants"] >= rows[("Social networks", "Kinship")]["participants"] > 0

    run = AnalysisRun.objects.get(pk=data["id"])
    assert run.attempts == 1 and run.started_at and run.finished_at
    # The worker, not this process, ran it: its log names the task and the run's success.
    assert "analysis.tasks.run_analysis" in stack["worker"].output()


@pytest.mark.django_db(transaction=True)
def test_a_coder_logs_in_and_reads_a_transcript_over_http(stack):
    study, _ = demo_load()
    transcript = study.transcripts.order_by("participant__label").first()
    browser = Browser(stack["base"])
    browser.login("demo-coder-a", DEMO_PASSWORD)
    status, headers, page = browser.request("GET", f"/studies/{study.slug}/transcripts/{transcript.pk}/")
    assert status == 200 and "no-store" in headers.get("Cache-Control", "")
    assert '<mark class="hl' in page and "demo-coder-b" not in page


@pytest.mark.django_db(transaction=True)
def test_redelivered_task_is_not_run_twice(stack):
    """A second delivery of the same run id finds the run already claimed and does nothing."""
    from workbench.celery import app

    pi = get_user_model().objects.create_user("lead", password="lead-password-1")
    study = services.study_create(name="Claim", template="migration-drivers", pi=pi)
    from analysis.services import clean_parameters

    run = AnalysisRun.objects.create(study=study, kind="drivers",
                                     parameters=clean_parameters(study, "drivers", {}))
    with app.connection_for_write(REDIS_URL) as conn:
        for _ in range(2):
            app.send_task("analysis.tasks.run_analysis", args=[run.pk], connection=conn)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "'skipped'" not in stack["worker"].output():
        time.sleep(0.2)
    run.refresh_from_db()
    assert run.status == "done" and run.attempts == 1
    assert stack["worker"].output().count("'skipped'") == 1
