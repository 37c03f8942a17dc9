"""Importing a REFI-QDA project from the browser: stage the upload, let a Celery task import it, report."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from workbench import jobs
from workbench.errors import QueueUnavailable

from .models import ProjectImport, RunStatus
from .qdpx import import_project

MAX_UPLOAD = 200 * 1024 * 1024


def _path(record: ProjectImport | str) -> Path:
    pk = record.pk if isinstance(record, ProjectImport) else record
    return Path(settings.IMPORT_STAGING_DIR) / f"project-{pk}.qdpx"


def project_import_request(*, user: Any, data: bytes, name: str = "") -> ProjectImport:
    from .tasks import run_project_import

    if not data:
        raise ValidationError("Choose a .qdpx file.")
    if len(data) > MAX_UPLOAD:
        raise ValidationError("The file is larger than 200 MB.")
    record = ProjectImport.objects.create(created_by=user, name=name.strip()[:200])
    directory = Path(settings.IMPORT_STAGING_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(_path(record), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    transaction.on_commit(lambda: _enqueue(run_project_import, record))
    record.refresh_from_db()
    if record.status == RunStatus.FAILED:
        raise QueueUnavailable(record.error)
    return record


QUEUE_UNAVAILABLE = "The import service is unavailable (task queue unreachable). Upload the project again later."


def _enqueue(task: Any, record: ProjectImport) -> None:
    if not jobs.enqueue(task, str(record.pk)):  # the broker is unreachable: say so, keep no upload
        ProjectImport.objects.filter(pk=record.pk, status=RunStatus.QUEUED).update(status=RunStatus.FAILED,
                                                                                  error=QUEUE_UNAVAILABLE)
        _path(record).unlink(missing_ok=True)


def project_import_execute(*, import_id: str) -> str:
    """Claim (``workbench.jobs``), import, record. The study and the DONE mark are written in one transaction, so a
    worker killed at any point leaves no study behind and the redelivered task imports it once."""
    claimed = jobs.claim(ProjectImport, import_id, queued=RunStatus.QUEUED, running=RunStatus.RUNNING,
                         failed=RunStatus.FAILED)
    if claimed == jobs.BUSY:
        return jobs.BUSY
    if claimed == jobs.GAVE_UP:
        _path(import_id).unlink(missing_ok=True)
        return RunStatus.FAILED
    if claimed != jobs.CLAIMED:
        return "skipped"
    record = ProjectImport.objects.select_related("created_by").get(pk=import_id)
    path = _path(record)
    try:
        with jobs.heartbeat(ProjectImport, import_id, running=RunStatus.RUNNING), transaction.atomic():
            report = import_project(data=path.read_bytes(), actor=record.created_by, name=record.name or None)
            written = ProjectImport.objects.filter(pk=import_id, status=RunStatus.RUNNING,
                                                   attempts=record.attempts).update(status=RunStatus.DONE, report={
                "slug": report.study.slug, "name": report.study.name, "sources": report.sources,
                "codings": report.codings, "users": report.users, "unplaced": report.unplaced[:500],
                "skipped_sources": report.skipped_sources})
            if not written:
                raise jobs.TakenOver  # another worker finished it meanwhile: undo this copy
    except jobs.TakenOver:
        return "skipped"
    except jobs.TRANSIENT:
        raise  # the database went away mid-import: nothing was kept, the task retries with the file still here
    except ValidationError as exc:
        ProjectImport.objects.filter(pk=import_id).update(status=RunStatus.FAILED, error=" ".join(exc.messages))
        path.unlink(missing_ok=True)
        return RunStatus.FAILED
    except Exception as exc:
        ProjectImport.objects.filter(pk=import_id).update(status=RunStatus.FAILED,
                                                          error=f"The import stopped: {type(exc).__name__}.")
        path.unlink(missing_ok=True)
        raise
    path.unlink(missing_ok=True)
    return RunStatus.DONE
