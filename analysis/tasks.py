"""Celery tasks: thin interfaces that take an id and call a service.

A delivery that finds its job busy (a redelivered copy while the first worker still runs it) retries after one lease:
by then the job is finished (the copy does nothing) or its worker has died (the copy takes it over).
"""
from __future__ import annotations

from celery import shared_task
from django.conf import settings

from workbench.jobs import TASK_OPTIONS

from .services import run_execute


@shared_task(**TASK_OPTIONS)
def run_analysis(self, run_id: int) -> str:
    outcome = run_execute(run_id=run_id)
    if outcome == "busy":
        raise self.retry(countdown=settings.TASK_LEASE_SECONDS)
    return outcome


@shared_task(**TASK_OPTIONS)
def run_project_import(self, import_id: str) -> str:
    from .project_import import project_import_execute

    outcome = project_import_execute(import_id=import_id)
    if outcome == "busy":
        raise self.retry(countdown=settings.TASK_LEASE_SECONDS)
    return outcome
