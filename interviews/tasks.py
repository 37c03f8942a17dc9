"""Celery tasks of the interviews app: thin interfaces that take an id and call a service (see analysis.tasks for
the retry of a busy job)."""
from __future__ import annotations

from celery import shared_task

from workbench.jobs import TASK_OPTIONS, retry_if_busy

from .import_commit import import_commit


@shared_task(**TASK_OPTIONS)
def import_commit_task(self, batch_id: str) -> str:
    return retry_if_busy(self, import_commit(batch_id=batch_id))
