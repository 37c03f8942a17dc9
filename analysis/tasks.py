"""Celery tasks: thin interfaces that take an id and call a service.

A delivery that finds its job busy (a redelivered copy while the first worker still runs it) retries after one lease:
by then the job is finished (the copy does nothing) or its worker has died (the copy takes it over).
"""
from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .services import run_execute

RETRY = {"bind": True, "acks_late": True, "reject_on_worker_lost": True, "ignore_result": True, "max_retries": 100}


@shared_task(**RETRY)
def run_analysis(self, run_id: int) -> str:
    outcome = run_execute(run_id=run_id)
    if outcome == "busy":
        raise self.retry(countdown=settings.TASK_LEASE_SECONDS)
    return outcome


@shared_task(**RETRY)
def run_project_import(self, import_id: str) -> str:
    from .project_import import project_import_execute

    outcome = project_import_execute(import_id=import_id)
    if outcome == "busy":
        raise self.retry(countdown=settings.TASK_LEASE_SECONDS)
    return outcome
