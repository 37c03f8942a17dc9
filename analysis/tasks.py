"""Celery tasks: thin interfaces that take an id and call a service."""
from __future__ import annotations

from celery import shared_task

from .services import run_execute


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_analysis(run_id: int) -> str:
    return run_execute(run_id=run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_project_import(import_id: str) -> str:
    from .project_import import project_import_execute

    return project_import_execute(import_id=import_id)
