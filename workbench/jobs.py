"""Background work done exactly once although workers die.

Every job row (an analysis run, a transcript import, a project import) has ``status``, ``attempts`` and
``heartbeat_at``. A task claims its row with one conditional UPDATE that succeeds for a queued row, or for a running
row whose worker has not written a heartbeat for ``TASK_LEASE_SECONDS`` (it was killed: the broker redelivered the
unacknowledged message). While it works, the task refreshes the heartbeat from a small thread. So:

* a redelivered message whose first worker is still alive finds the row *busy* and is retried later, not run twice;
* a message whose worker died finds the row *stale* and takes it over (``attempts`` counts the takeovers);
* a job that kills its worker every time stops after ``TASK_MAX_ATTEMPTS`` with a message on the row.

The finishing write of each job happens in the same database transaction as its effects (or is conditional on the
row still being running), so a worker killed at any point leaves either nothing or everything.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.models import F, Model, Q
from django.utils import timezone

logger = logging.getLogger(__name__)

# Errors that say the database went away, not that the job is wrong: the task is retried (with backoff), never
# marked failed for them.
TRANSIENT = (OperationalError, InterfaceError)
# The Celery options every job task shares: acknowledged at the end, given back if the worker dies, retried on a
# transient database error, and retried (see the tasks) while another live worker holds the job.
TASK_OPTIONS: dict[str, Any] = {
    "bind": True, "acks_late": True, "reject_on_worker_lost": True, "ignore_result": True, "max_retries": 100,
    "autoretry_for": TRANSIENT, "retry_backoff": 2, "retry_backoff_max": 60, "retry_jitter": True,
}

CLAIMED = "claimed"  # this worker now runs the job
BUSY = "busy"  # another live worker runs it: try again later
OVER = "over"  # finished, failed or withdrawn: nothing to do
GAVE_UP = "gave_up"  # its workers died too often; now marked failed


class TakenOver(Exception):
    """Another worker took this job over while this one was presumed dead: stop without writing more."""


def enqueue(task: Any, job_id: Any) -> bool:
    """Send the job's task. False (and a log line) when the broker cannot be reached, so that the caller says so on
    the job row instead of leaving it queued with nothing behind it."""
    try:
        task.delay(job_id)
    except Exception as exc:
        logger.warning("could not enqueue %s for %s: %s", task.name, job_id, type(exc).__name__)
        return False
    return True


def retry_if_busy(task: Any, outcome: str) -> str:
    """In a bound task: a job another live worker holds is looked at again after one lease."""
    if outcome == BUSY:
        raise task.retry(countdown=settings.TASK_LEASE_SECONDS)
    return outcome


def gave_up_message(attempts: int) -> str:
    return (f"Gave up: the worker running this stopped {attempts} times without finishing (killed, out of memory or "
            "crashed). Check the worker's log, then ask again.")


def claim(model: type[Model], pk: Any, *, queued: str, running: str, failed: str,
          on_claim: dict[str, Any] | None = None, on_give_up: dict[str, Any] | None = None) -> str:
    """Take the job row ``pk`` of ``model`` for this worker; returns CLAIMED, BUSY, OVER or GAVE_UP."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.TASK_LEASE_SECONDS)
    claimable = model.objects.filter(pk=pk).filter(
        Q(status=queued) | Q(status=running, heartbeat_at__lt=stale) | Q(status=running, heartbeat_at__isnull=True)
    )
    if claimable.filter(attempts__lt=settings.TASK_MAX_ATTEMPTS).update(
            status=running, heartbeat_at=now, attempts=F("attempts") + 1, **(on_claim or {})):
        return CLAIMED
    if claimable.update(status=failed, error=gave_up_message(settings.TASK_MAX_ATTEMPTS), **(on_give_up or {})):
        logger.error("%s %s: gave up after %s attempts", model.__name__, pk, settings.TASK_MAX_ATTEMPTS)
        return GAVE_UP
    if model.objects.filter(pk=pk, status=running).exists():
        return BUSY
    return OVER


@contextmanager
def heartbeat(model: type[Model], pk: Any, *, running: str) -> Iterator[None]:
    """Refresh ``heartbeat_at`` every quarter lease while the body runs (not with in-process tasks: nothing can take
    their job over, and SQLite would make the beat wait for the job's own transaction)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        yield
        return
    stop = threading.Event()
    interval = max(0.5, settings.TASK_LEASE_SECONDS / 4)

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    model.objects.filter(pk=pk, status=running).update(heartbeat_at=timezone.now())
                except Exception:  # the database is away for a moment: the next beat tries again
                    logger.warning("heartbeat of %s %s failed", model.__name__, pk, exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
