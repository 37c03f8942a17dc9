"""Analysis runs: request, claim, compute, record. The Celery task is a thin interface over ``run_execute``."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from codebook.models import Code, Coding, Layer
from interviews.models import Participant, Study

from .frequencies import CodeNode, CodingFact, code_frequencies
from .models import AnalysisRun, RunStatus

logger = logging.getLogger(__name__)

KINDS = ("frequencies",)


def _layer_filter(parameters: dict[str, Any]) -> Q:
    layer = parameters.get("layer", Layer.CODER)
    if layer == Layer.CONSENSUS:
        return Q(layer=Layer.CONSENSUS)
    query = Q(layer=Layer.CODER)
    coders = parameters.get("coders") or []
    if coders:
        query &= Q(coder__username__in=coders)
    return query


def _clean_parameters(study: Study, kind: str, parameters: dict[str, Any]) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValidationError(f"Unknown analysis {kind!r}; choose from {', '.join(KINDS)}.")
    layer = parameters.get("layer", Layer.CODER)
    if layer not in Layer.values:
        raise ValidationError(f"Unknown layer {layer!r}.")
    coders = sorted({str(c) for c in parameters.get("coders") or []})
    return {"layer": layer, "coders": coders}


def analysis_request(*, study: Study, kind: str, parameters: dict[str, Any], user: Any) -> AnalysisRun:
    """Create a queued run and enqueue its task once the row is committed."""
    from .tasks import run_analysis

    clean = _clean_parameters(study, kind, parameters)
    with transaction.atomic():
        run = AnalysisRun.objects.create(study=study, kind=kind, parameters=clean, requested_by=user)
        transaction.on_commit(lambda: _enqueue(run.pk, run_analysis))
    return run


def _enqueue(run_id: int, task: Any) -> None:
    try:
        task.delay(run_id)
    except Exception as exc:  # the broker is unreachable: say so on the run instead of leaving it queued
        logger.warning("could not enqueue analysis run %s: %s", run_id, type(exc).__name__)
        AnalysisRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
            error="The analysis service is unavailable (task queue unreachable). Try again later.",
        )


def run_claim(*, run_id: int) -> bool:
    """Move a queued run to running with a conditional UPDATE. False if another worker has it or it is over."""
    claimed = AnalysisRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), progress=0, attempts=F("attempts") + 1
    )
    return bool(claimed)


def run_execute(*, run_id: int) -> str:
    """Claim, compute and record one run. Returns the final status (or 'skipped' if it was not claimable)."""
    if not run_claim(run_id=run_id):
        return "skipped"
    run = AnalysisRun.objects.select_related("study").get(pk=run_id)
    try:
        result = COMPUTE[run.kind](run.study, run.parameters)
    except Exception as exc:
        logger.exception("analysis run %s failed", run_id)
        AnalysisRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        return RunStatus.FAILED
    AnalysisRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        status=RunStatus.DONE, finished_at=timezone.now(), progress=100, result=result, error=""
    )
    return RunStatus.DONE


def runs_fail_stale(*, study: Study | None = None) -> int:
    """Mark runs that have been running longer than ANALYSIS_RUN_TIMEOUT as failed."""
    limit = timezone.now() - timedelta(seconds=settings.ANALYSIS_RUN_TIMEOUT)
    stale = AnalysisRun.objects.filter(status=RunStatus.RUNNING, started_at__lt=limit)
    if study is not None:
        stale = stale.filter(study=study)
    return stale.update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        error=f"Gave up: the run was still running after {settings.ANALYSIS_RUN_TIMEOUT} s.",
    )


def compute_frequencies(study: Study, parameters: dict[str, Any]) -> dict[str, Any]:
    codes = list(Code.objects.filter(study=study).values_list("id", "parent_id", "name", "position"))
    nodes = [CodeNode(c[0], c[1]) for c in codes]
    facts = (
        CodingFact(code_id, transcript_id, participant_id)
        for code_id, transcript_id, participant_id in Coding.objects.filter(
            _layer_filter(parameters), transcript__study=study
        )
        .values_list("code_id", "transcript_id", "transcript__participant_id")
        .iterator(chunk_size=5000)
    )
    freq = code_frequencies(nodes, facts)
    names = {c[0]: c[2] for c in codes}
    parents = {c[0]: c[1] for c in codes}
    children: dict[int | None, list[tuple[int, str, int]]] = {}
    for code_id, parent_id, name, position in codes:
        children.setdefault(parent_id, []).append((position, name, code_id))
    rows: list[dict[str, Any]] = []

    def path_of(code_id: int) -> list[str]:
        path: list[str] = []
        current: int | None = code_id
        while current is not None:
            path.append(names[current])
            current = parents[current]
        return path[::-1]

    def walk(parent_id: int | None) -> None:
        for _, _, code_id in sorted(children.get(parent_id, [])):
            f = freq[code_id]
            rows.append({"code_id": code_id, "path": path_of(code_id), "participants": f.participants,
                         "transcripts": f.transcripts, "segments": f.segments,
                         "direct_segments": f.direct_segments})
            walk(code_id)

    walk(None)
    return {"n": Participant.objects.filter(study=study).count(), "rows": rows}


COMPUTE = {"frequencies": compute_frequencies}
