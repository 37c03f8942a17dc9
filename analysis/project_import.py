"""Importing a REFI-QDA project from the browser: stage the upload, let a Celery task import it, report."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from .models import ProjectImport, RunStatus
from .qdpx import import_project

MAX_UPLOAD = 200 * 1024 * 1024


def _path(record: ProjectImport) -> Path:
    return Path(settings.IMPORT_STAGING_DIR) / f"project-{record.pk}.qdpx"


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
    transaction.on_commit(lambda: run_project_import.delay(str(record.pk)))
    return record


def project_import_execute(*, import_id: str) -> str:
    """Claim (conditional update), import, record. A second delivery finds the record claimed and does nothing."""
    claimed = ProjectImport.objects.filter(pk=import_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, attempts=F("attempts") + 1)
    if not claimed:
        return "skipped"
    record = ProjectImport.objects.select_related("created_by").get(pk=import_id)
    path = _path(record)
    try:
        report = import_project(data=path.read_bytes(), actor=record.created_by, name=record.name or None)
    except ValidationError as exc:
        ProjectImport.objects.filter(pk=import_id).update(status=RunStatus.FAILED, error=" ".join(exc.messages))
        return RunStatus.FAILED
    except Exception as exc:
        ProjectImport.objects.filter(pk=import_id).update(status=RunStatus.FAILED,
                                                          error=f"The import stopped: {type(exc).__name__}.")
        raise
    finally:
        path.unlink(missing_ok=True)
    ProjectImport.objects.filter(pk=import_id).update(status=RunStatus.DONE, report={
        "slug": report.study.slug, "name": report.study.name, "sources": report.sources, "codings": report.codings,
        "users": report.users, "unplaced": report.unplaced[:500], "skipped_sources": report.skipped_sources})
    return RunStatus.DONE
