"""One-step undo of the last codebook change (rename, recolour, define, reorder, move, merge, split, delete).

Before an operation changes anything, ``capture`` copies the study's codes and the codings and memos of the codes the
operation may touch; afterwards ``remember`` stores that copy with a fingerprint of the state the operation left.
``codebook_undo`` puts the copy back (the same ids, GUIDs and times, so exports and links still match), but only if
the fingerprint still matches: once anyone has changed the codebook or a coding of those codes, undoing would
throw their work away, so it is refused with a message instead. Only the latest change can be undone, once.
"""
from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from interviews.models import Study
from interviews.services import audit_record
from workbench.errors import Conflict

from .models import Code, CodebookUndo, Coding, Memo


class _Encoder(DjangoJSONEncoder):
    """Times to the microsecond (DjangoJSONEncoder keeps milliseconds only: restored rows would differ)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime):
            return o.isoformat()
        return super().default(o)


CODE_FIELDS = ("id", "parent_id", "name", "description", "when_to_use", "when_not_to_use", "example", "color",
               "codable", "shortcut", "position", "guid", "created_at")
CODING_FIELDS = ("id", "transcript_id", "code_id", "coder_id", "layer", "start", "end", "quote", "memo", "version",
                 "created_at", "updated_at")
MEMO_FIELDS = ("id", "code_id", "author_id", "title", "body", "created_at", "updated_at")


def _rows(study_id: int, affected: set[int]) -> dict[str, list[dict[str, Any]]]:
    return {
        "codes": list(Code.objects.filter(study_id=study_id).order_by("id").values(*CODE_FIELDS)),
        "codings": list(Coding.objects.filter(code_id__in=affected).order_by("id").values(*CODING_FIELDS)),
        "memos": list(Memo.objects.filter(code_id__in=affected).order_by("id").values(*MEMO_FIELDS)),
    }


def _fingerprint(rows: dict[str, list[dict[str, Any]]]) -> str:
    text = json.dumps(rows, cls=_Encoder, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def capture(study_id: int, affected: set[int] | None = None) -> dict[str, Any]:
    """The state an operation is about to change (call it inside the operation's locked transaction)."""
    affected = set(affected or ())
    return {"affected": sorted(affected), **json.loads(json.dumps(_rows(study_id, affected), cls=_Encoder))}


def remember(*, study: Study, action: str, label: str, actor: Any, before: dict[str, Any]) -> None:
    """Keep ``before`` as the study's undo step, with a fingerprint of the state the operation left."""
    old_ids = {c["id"] for c in before["codes"]}
    new_ids = set(Code.objects.filter(study=study).exclude(pk__in=old_ids).values_list("id", flat=True))
    touched = sorted(set(before["affected"]) | new_ids)
    CodebookUndo.objects.update_or_create(study=study, defaults={
        "action": action, "label": label[:300], "actor": actor if getattr(actor, "pk", None) else None,
        "before": before, "touched": touched, "after": _fingerprint(_rows(study.pk, set(touched))),
    })


def undo_available(study: Study) -> CodebookUndo | None:
    """The undo step, if the state is still the one its operation left."""
    step = CodebookUndo.objects.filter(study=study).first()
    if step is None or _fingerprint(_rows(study.pk, set(step.touched))) != step.after:
        return None
    return step


def codebook_undo(*, study: Study, actor: Any) -> CodebookUndo:
    from .restructure import lock_study

    with transaction.atomic():
        lock_study(study.pk)
        step = CodebookUndo.objects.filter(study=study).first()
        if step is None:
            raise ValidationError("There is no codebook change to undo.")
        if _fingerprint(_rows(study.pk, set(step.touched))) != step.after:
            step.delete()
            raise Conflict("The codebook or the codings of these codes have changed since that change, so undoing "
                           "it would lose later work; it can no longer be undone.")
        before, touched = step.before, set(step.touched)
        Coding.objects.filter(code_id__in=touched).delete()
        Memo.objects.filter(code_id__in=touched).delete()
        _restore_codes(study, before["codes"])
        _restore_rows(Coding, before["codings"], ("created_at", "updated_at"))
        _restore_rows(Memo, [{**m, "study_id": study.pk} for m in before["memos"]], ("created_at", "updated_at"))
        audit_record(study=study, actor=actor, action="codebook.undo", obj=study,
                     details={"undone": step.action, "label": step.label, "codes": sorted(touched),
                              "codings_restored": len(before["codings"])})
        step.delete()
        return step


def _restore_codes(study: Study, rows: list[dict[str, Any]]) -> None:
    wanted = {r["id"]: r for r in rows}
    existing = set(Code.objects.filter(study=study).values_list("id", flat=True))
    # Codes the operation made (a split's new code) go, children first; their codings are already gone.
    parents = dict(Code.objects.filter(study=study).values_list("id", "parent_id"))
    extra = [cid for cid in existing if cid not in wanted]
    depth = {cid: _depth(cid, parents) for cid in extra}
    for cid in sorted(extra, key=lambda c: -depth[c]):
        Code.objects.filter(pk=cid).delete()
    # The others come back parents first: updated where they still exist, recreated (same id and GUID) where not.
    done: set[int] = set()

    def put(cid: int) -> None:
        if cid in done:
            return
        row = dict(wanted[cid])
        if row["parent_id"] is not None:
            put(row["parent_id"])
        fields = {k: v for k, v in row.items() if k not in ("id", "created_at")}
        if cid in existing:
            Code.objects.filter(pk=cid).update(**fields)
        else:
            Code.objects.create(id=cid, study=study, **fields)
        Code.objects.filter(pk=cid).update(created_at=row["created_at"])
        done.add(cid)

    for cid in wanted:
        put(cid)


def _depth(cid: int, parents: dict[int, int | None]) -> int:
    n, current = 0, parents.get(cid)
    while current is not None:
        n, current = n + 1, parents.get(current)
    return n


def _restore_rows(model: Any, rows: list[dict[str, Any]], times: tuple[str, ...]) -> None:
    """Recreate rows with their ids and times (bulk_create would stamp new times: put the old ones back after)."""
    if not rows:
        return
    objects = [model(**row) for row in rows]
    model.objects.bulk_create(objects, batch_size=2000)
    for obj, row in zip(objects, rows, strict=True):
        for name in times:
            setattr(obj, name, row[name])
    model.objects.bulk_update(objects, list(times), batch_size=2000)
