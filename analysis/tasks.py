"""Celery tasks: thin interfaces that take an id and call a service.

A delivery that finds its job busy (a redelivered copy while the first worker still runs it) retries after one lease:
by then the job is finished (the copy does nothing) or its worker has died (the copy takes it over).
"""
from __future__ import annotations

from celery import shared_task

from workbench.jobs import TASK_OPTIONS, retry_if_busy

from .services import run_execute


@shared_task(**TASK_OPTIONS)
def run_analysis(self, run_id: int) -> str:
    return retry_if_busy(self, run_execute(run_id=run_id))


@shared_task(**TASK_OPTIONS)
def run_project_import(self, import_id: str) -> str:
    from .project_import import project_import_execute

    return retry_if_busy(self, project_import_execute(import_id=import_id))
