"""Celery tasks of the interviews app: thin interfaces that take an id and call a service."""
from __future__ import annotations

from celery import shared_task

from .imports import import_commit


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def import_commit_task(batch_id: str) -> str:
    return import_commit(batch_id=batch_id)
