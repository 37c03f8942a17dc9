"""Analysis runs: the claim, success, failure, staleness and an unreachable queue."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from analysis import services
from analysis.models import AnalysisRun
from workbench import jobs


def new_run(world, **parameters):
    params = services.clean_parameters(world.study, "drivers", parameters)
    return AnalysisRun.objects.create(study=world.study, kind="drivers", parameters=params)


def test_claim_is_conditional(world):
    run = new_run(world)
    assert services.run_claim(run_id=run.pk) == jobs.CLAIMED
    assert services.run_claim(run_id=run.pk) == jobs.BUSY
    run.refresh_from_db()
    assert run.status == "running" and run.attempts == 1 and run.started_at and run.heartbeat_at


def test_a_run_whose_worker_stopped_beating_is_taken_over_then_given_up(world, settings):
    settings.TASK_LEASE_SECONDS, settings.TASK_MAX_ATTEMPTS = 30, 3
    run = new_run(world)
    assert services.run_claim(run_id=run.pk) == jobs.CLAIMED
    # A heartbeat younger than the lease: the worker is alive, a redelivered copy waits.
    AnalysisRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=29))
    assert services.run_execute(run_id=run.pk) == "busy"
    for attempt in (2, 3):
        AnalysisRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=31))
        assert services.run_claim(run_id=run.pk) == jobs.CLAIMED
        assert AnalysisRun.objects.get(pk=run.pk).attempts == attempt
    AnalysisRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=31))
    assert services.run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and run.attempts == 3 and "stopped 3 times" in run.error and run.finished_at
    assert services.run_execute(run_id=run.pk) == "skipped"


def test_a_worker_presumed_dead_does_not_overwrite_the_run_of_the_one_that_took_over(world, monkeypatch):
    run = new_run(world)

    def slow_then_taken_over(study, kind, parameters):
        # While this worker computes, another takes the run over (attempt 2) and finishes it.
        AnalysisRun.objects.filter(pk=run.pk).update(attempts=2, status="done", result={"by": "second"})
        return {"by": "first"}

    monkeypatch.setattr(services, "COMPUTE", slow_then_taken_over)
    assert services.run_execute(run_id=run.pk) == "skipped"
    run.refresh_from_db()
    assert run.result == {"by": "second"}


def test_execute_records_done_and_a_second_delivery_is_skipped(world):
    run = new_run(world)
    assert services.run_execute(run_id=run.pk) == "done"
    assert services.run_execute(run_id=run.pk) == "skipped"
    run.refresh_from_db()
    assert run.status == "done" and run.progress == 100 and run.attempts == 1 and run.finished_at
    assert run.result["n"] == 1


def test_layer_and_coder_filters(world):
    def drivers(**raw):
        return services.compute(world.study, "drivers", services.clean_parameters(world.study, "drivers", raw))

    only_other = drivers(layer="coder", coders=["other_coder"])
    rows = {tuple(r["path"]): r for r in only_other["rows"] if r["kind"] == "code"}
    assert rows[("Social networks", "Kinship")]["segments"] == 0
    assert rows[("Social networks", "Alumni")]["segments"] == 1
    consensus = drivers(layer="consensus")
    assert all(r["segments"] == 0 for r in consensus["rows"] if r["kind"] == "code")


def test_failure_is_recorded_with_the_error(world, monkeypatch):
    def explode(study, kind, parameters):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "COMPUTE", explode)
    run = new_run(world)
    assert services.run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and "disk on fire" in run.error and run.finished_at


def test_stale_running_runs_are_failed(world, settings):
    settings.ANALYSIS_RUN_TIMEOUT = 60
    run = new_run(world)
    services.run_claim(run_id=run.pk)
    AnalysisRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(seconds=61))
    fresh = new_run(world)
    services.run_claim(run_id=fresh.pk)
    assert services.runs_fail_stale(study=world.study) == 1
    run.refresh_from_db()
    assert run.status == "failed" and "still running after 60 s" in run.error


def test_unreachable_queue_fails_the_run_with_a_message(world, django_capture_on_commit_callbacks, monkeypatch):
    from analysis import tasks

    def unreachable(*args, **kwargs):
        raise ConnectionRefusedError("redis down")

    monkeypatch.setattr(tasks.run_analysis, "delay", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.analysis_request(study=world.study, kind="drivers", parameters={},
                                        user=world.users["pi"])
    run.refresh_from_db()
    assert run.status == "failed" and "unavailable" in run.error


@pytest.mark.parametrize("parameters", [{"layer": "draft"}])
def test_bad_parameters_are_refused(world, parameters):
    with pytest.raises(ValidationError):
        services.analysis_request(study=world.study, kind="drivers", parameters=parameters,
                                  user=world.users["pi"])


@pytest.mark.django_db(transaction=True)
def test_unreachable_queue_answers_503_with_a_message_and_no_running_run(login, world, monkeypatch):
    from django.urls import reverse

    from analysis import tasks

    def unreachable(*args, **kwargs):
        raise ConnectionRefusedError("redis down")

    monkeypatch.setattr(tasks.run_analysis, "delay", unreachable)
    client = login(world.users["pi"])
    response = client.post(reverse("analysis_home", args=[world.study.slug]), {"kind": "drivers"})
    assert response.status_code == 503 and b"unavailable" in response.content
    assert not AnalysisRun.objects.filter(status__in=["queued", "running"]).exists()
    monkeypatch.undo()
    # When the queue is back, new requests work (here: in-process).
    response = client.post(reverse("analysis_home", args=[world.study.slug]), {"kind": "drivers"})
    assert response.status_code == 302


@pytest.mark.parametrize("kind", ["drivers", "crosstab", "cooccurrence", "matrix"])
def test_a_study_without_transcripts_gives_empty_tables_not_an_error(world, kind):
    from interviews import services as study_services

    empty = study_services.study_create(name="Empty", template="migration-drivers", pi=world.users["pi"])
    study_services.attribute_define(study=empty, name="Gender", type="choice", choices=["Female", "Male"])
    raw = {"attribute": "Gender"} if kind == "crosstab" else {}
    result = services.compute(empty, kind, services.clean_parameters(empty, kind, raw))
    assert result.get("n", 0) == 0
    # And a filter that matches nobody.
    raw = {**raw, "filters": {"attributes": {"Gender": ["Male"]}}}
    assert services.compute(world.study, kind, services.clean_parameters(world.study, kind, raw)).get("n", 0) == 0
