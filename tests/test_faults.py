"""Faults on the production parts: a Celery worker killed with SIGKILL in the middle of an analysis, a transcript
import and a project import; a task that kills its worker every time. Real worker processes (tests/faulty_worker.py),
PostgreSQL and Redis; the Redis transport tuned so that a dead worker's task comes back within seconds.

Needs the servers started by ``scripts/testservers.py`` (``make test``); skipped with a reason otherwise.
"""
from __future__ import annotations

import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from analysis.models import AnalysisRun, ProjectImport
from analysis.services import clean_parameters
from interviews import imports, services
from interviews.demo import demo_load
from interviews.models import ImportBatch, Transcript

from .live import Process, app_env

REDIS_URL = os.environ.get("WORKBENCH_TEST_REDIS_URL", "")
SAMPLES = Path(__file__).resolve().parent / "samples" / "import"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not REDIS_URL, reason="no Redis server (run through make test with redis-server installed)"),
]

# Short enough for a test: a dead worker's task is handed out again 3 s after it was delivered, looked for every
# second; a job whose heartbeat is 2 s old is taken over; three deaths and it is given up.
TUNING = {"CELERY_VISIBILITY_TIMEOUT": "3", "CELERY_RESTORE_INTERVAL": "1", "TASK_LEASE_SECONDS": "2",
          "TASK_MAX_ATTEMPTS": "3"}


@pytest.fixture(scope="module")
def fault_env(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.skip("the worker needs a database it can share with the tests: PostgreSQL")
        # A Redis database of its own: messages of killed workers never reach another module's worker.
        broker = REDIS_URL.rsplit("/", 1)[0] + "/7"
        env = app_env(broker, tmp_path_factory.mktemp("var"))
    env.update(TUNING)
    return env


@pytest.fixture
def workers(fault_env):
    started: list[Process] = []

    def start(mode: str = "slow") -> Process:
        worker = Process([sys.executable, "-m", "tests.faulty_worker", mode], fault_env)
        worker.wait_for(r"ready\.")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def send(fault_env):
    """Send a task to the fault tests' broker (the test process itself runs no tasks)."""
    from workbench.celery import app

    def send_task(name: str, arg) -> None:
        with app.connection_for_write(fault_env["CELERY_BROKER_URL"]) as conn:
            app.send_task(name, args=[arg], connection=conn)

    return send_task


def kill(worker: Process) -> None:
    os.killpg(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(10)


def wait_until(predicate, timeout: float, what: str, worker: Process | None = None) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s" + (f":\n{worker.output()}" if worker else ""))


def new_run(study) -> AnalysisRun:
    return AnalysisRun.objects.create(study=study, kind="drivers", parameters=clean_parameters(study, "drivers", {}))


@pytest.mark.django_db(transaction=True)
def test_an_analysis_whose_worker_is_killed_is_redelivered_and_done_once(workers, send, record_property):
    study, _ = demo_load()
    run = new_run(study)
    first = workers("slow")
    send("analysis.tasks.run_analysis", run.pk)
    first.wait_for("fault: analysis started", timeout=30)
    assert AnalysisRun.objects.get(pk=run.pk).status == "running"
    kill(first)

    second = workers("slow")
    back = time.monotonic()
    wait_until(lambda: AnalysisRun.objects.get(pk=run.pk).status == "done", 60, "the redelivered run", second)
    seconds = round(time.monotonic() - back, 1)
    record_property("analysis_redelivered_and_done_seconds", seconds)
    run.refresh_from_db()
    assert run.attempts == 2 and run.result["n"] == 14 and run.error == ""
    # Done once: the second worker computed it once; nothing else is queued for it.
    time.sleep(2)
    assert second.output().count("fault: analysis started") == 1
    assert AnalysisRun.objects.get(pk=run.pk).attempts == 2


@pytest.mark.django_db(transaction=True)
def test_a_transcript_import_whose_worker_is_killed_stores_every_file_once(workers, send, fault_env, settings,
                                                                          monkeypatch):
    settings.IMPORT_STAGING_DIR = Path(fault_env["WORKBENCH_VAR_DIR"]) / "imports"
    pi = get_user_model().objects.create_user("fault-pi", password="fault-password-1")
    study = services.study_create(name="Faults", template="migration-drivers", pi=pi)
    names = ["P02_访谈.txt", "P03_interview.txt", "P04_zoom.vtt"]
    batch = imports.import_stage(study=study, user=pi, uploads=[(n, (SAMPLES / n).read_bytes()) for n in names])
    reviews = imports.import_review(batch=batch)
    from interviews import tasks

    monkeypatch.setattr(tasks.import_commit_task, "delay",
                        lambda batch_id: send("interviews.tasks.import_commit_task", batch_id))
    first = workers("slow")
    imports.import_decide(batch=batch, user=pi, decisions=imports.decisions_accept_all(reviews), keep_key=False)
    first.wait_for("fault: storing file 1", timeout=30)
    kill(first)
    stored_before = Transcript.objects.filter(study=study).count()
    assert ImportBatch.objects.get(pk=batch.pk).status == "running" and stored_before == 1

    second = workers("slow")
    wait_until(lambda: ImportBatch.objects.get(pk=batch.pk).status == "done", 60, "the redelivered import", second)
    batch.refresh_from_db()
    assert batch.attempts == 2
    assert [o["status"] for o in batch.outcomes] == ["stored"] * 3
    assert Transcript.objects.filter(study=study).count() == 3
    # The second worker went on from the first unfinished file.
    assert "fault: storing file 0" not in second.output() and "fault: storing file 2" in second.output()


@pytest.mark.django_db(transaction=True)
def test_a_project_import_whose_worker_is_killed_makes_exactly_one_study(workers, send, fault_env, settings,
                                                                        monkeypatch):
    from analysis import project_import, tasks
    from analysis.qdpx import export_project
    from interviews.models import Study

    settings.IMPORT_STAGING_DIR = Path(fault_env["WORKBENCH_VAR_DIR"]) / "imports"
    study, _ = demo_load()
    data = export_project(study)
    monkeypatch.setattr(tasks.run_project_import, "delay",
                        lambda import_id: send("analysis.tasks.run_project_import", import_id))
    user = get_user_model().objects.get(username="demo-pi")
    first = workers("slow")
    record = project_import.project_import_request(user=user, data=data, name="Restored after a crash")
    first.wait_for("fault: project import started", timeout=30)
    kill(first)

    second = workers("slow")
    wait_until(lambda: ProjectImport.objects.get(pk=record.pk).status == "done", 60, "the redelivered import",
               second)
    record.refresh_from_db()
    assert record.attempts == 2
    assert Study.objects.filter(name="Restored after a crash").count() == 1
    assert not project_import._path(record).exists()


@pytest.mark.django_db(transaction=True)
def test_a_task_that_kills_its_worker_every_time_is_given_up_after_three_attempts(workers, send, record_property):
    study, _ = demo_load()
    run = new_run(study)
    send("analysis.tasks.run_analysis", run.pk)
    started = time.monotonic()
    deaths = 0
    while AnalysisRun.objects.get(pk=run.pk).status != "failed":
        assert time.monotonic() - started < 120, "the poison task kept going"
        worker = workers("crash")
        # Each worker takes the task again (once the last holder's lease is over) and dies with it, or finds the
        # run given up and acknowledges it.
        wait_until(lambda w=worker: w.proc.poll() is not None or AnalysisRun.objects.get(pk=run.pk).status
                   == "failed", 60, "the poison task to come back", worker)
        deaths += worker.proc.poll() is not None
        worker.stop()
    run.refresh_from_db()
    record_property("poison_task_given_up_seconds", round(time.monotonic() - started, 1))
    assert deaths == 3 and run.attempts == 3
    assert "stopped 3 times" in run.error and run.finished_at
    # A worker started now has nothing left to do: no endless loop.
    calm = workers("crash")
    time.sleep(5)
    assert calm.proc.poll() is None and "fault: analysis crashes" not in calm.output()


@pytest.mark.django_db(transaction=True)
def test_a_web_worker_killed_mid_export_leaves_the_download_visibly_incomplete(fault_env, tmp_path):
    """Exports stream from the web process, not a Celery worker. Killing that process in the middle of a download
    must not leave the researcher with a file that looks complete: the chunked response stops without its end."""
    import http.client
    import subprocess as sp

    from codebook.models import Code, Coding, Layer
    from interviews.models import Participant

    from .live import Browser, start_gunicorn

    study, _ = demo_load()
    coder = get_user_model().objects.get(username="demo-coder-a")
    codes = list(Code.objects.filter(study=study, codable=True))
    text = "R: " + "word " * 20000
    participant = Participant.objects.create(study=study, label="P-big")
    transcript = Transcript.objects.create(study=study, participant=participant, title="Big", text=text,
                                           content_hash="f" * 64)
    Coding.objects.bulk_create([Coding(transcript=transcript, code=codes[i % len(codes)], coder=coder,
                                       layer=Layer.CODER, start=3 + 5 * i, end=3 + 5 * i + 200, quote="x")
                                for i in range(19000)], batch_size=5000)
    server, base = start_gunicorn(fault_env, workers=1)
    try:
        browser = Browser(base)
        browser.login("demo-pi", "demo-workbench")
        # With 2,000 characters of context each side, the CSV is about 80 MB: far more than the socket buffers hold.
        request = urllib.request.Request(f"{base}/studies/{study.slug}/export/?download=1&format=csv&context=2000")
        response = browser.opener.open(request, timeout=30)
        assert response.status == 200 and response.headers.get("Transfer-Encoding") == "chunked"
        response.read(64 * 1024)  # the download has started
        workers = sp.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(workers) == 1
        os.kill(int(workers[0]), signal.SIGKILL)
        with pytest.raises(http.client.IncompleteRead):
            while response.read(64 * 1024):
                pass
    finally:
        server.stop()
