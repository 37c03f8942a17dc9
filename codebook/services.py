"""Writes for codes, codings and memos. Keyword-only, ``<entity>_<action>``."""
from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from interviews.models import Study, Transcript
from interviews.services import audit_record, study_touch
from workbench.errors import Conflict

from .models import Code, Coding, CodingStatus, Layer, Memo, TranscriptProgress
from .presets import TEMPLATES, PresetCode

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_CODE_NAME = 200
PATH_SEPARATOR = " > "


def _clean_code_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("A code needs a name.")
    if len(name) > MAX_CODE_NAME:
        raise ValidationError(f"A code name can have at most {MAX_CODE_NAME} characters.")
    if PATH_SEPARATOR in name:
        raise ValidationError(f"A code name cannot contain {PATH_SEPARATOR!r}, which separates the levels of a path.")
    return name


@transaction.atomic
def code_create(
    *,
    study: Study,
    name: str,
    parent: Code | None = None,
    description: str = "",
    color: str = "#888888",
    actor: Any = None,
) -> Code:
    name = _clean_code_name(name)
    if not COLOR_RE.match(color or ""):
        raise ValidationError(f"{color!r} is not a colour of the form #rrggbb.")
    if parent is not None and parent.study_id != study.pk:
        raise ValidationError("The parent code belongs to another study.")
    siblings = Code.objects.filter(study=study, parent=parent)
    if siblings.filter(name__iexact=name).exists():
        raise ValidationError(f"There is already a code called {name!r} at this level.")
    code = Code.objects.create(
        study=study,
        parent=parent,
        name=name,
        description=description or "",
        color=color.lower(),
        position=siblings.count(),
    )
    study_touch(study.pk)
    audit_record(study=study, actor=actor, action="code.create", obj=code,
                 details={"parent": parent.pk if parent else None})
    return code


def _create_preset(study: Study, nodes: list[PresetCode], parent: Code | None, actor: Any) -> None:
    for node in nodes:
        code = code_create(
            study=study,
            name=node["name"],
            parent=parent,
            description=node.get("description", ""),
            color=node.get("color", "#888888"),
            actor=actor,
        )
        _create_preset(study, node.get("children", []), code, actor)


@transaction.atomic
def codebook_apply_template(*, study: Study, template: str, actor: Any = None) -> None:
    """Add a template's codes to the study's codebook (only into an empty codebook)."""
    if template not in TEMPLATES:
        raise ValidationError(f"Unknown codebook template {template!r}.")
    if TEMPLATES[template] and Code.objects.filter(study=study).exists():
        raise Conflict("A template can only be applied to an empty codebook.")
    _create_preset(study, TEMPLATES[template], None, actor)


def _check_span(transcript: Transcript, start: int, end: int, quote: str | None) -> str:
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool) or isinstance(end, bool):
        raise ValidationError("start and end must be whole numbers.")
    if not 0 <= start < end <= len(transcript.text):
        raise ValidationError(
            f"The span {start}-{end} is not inside the text (0-{len(transcript.text)}) or is empty."
        )
    actual = transcript.text[start:end]
    if quote is not None and quote != actual:
        raise Conflict(
            "The selected text does not match the stored transcript at these positions; reload the page."
        )
    return actual


def coding_apply(
    *,
    transcript: Transcript,
    code: Code,
    coder: Any,
    start: int,
    end: int,
    layer: str = Layer.CODER,
    memo: str = "",
    quote: str | None = None,
) -> tuple[Coding, bool]:
    """Apply ``code`` to ``transcript.text[start:end]`` in ``coder``'s layer (or the consensus layer).

    Idempotent: applying the same code to the same span again returns the existing coding. Returns
    ``(coding, created)``.
    """
    if code.study_id != transcript.study_id:
        raise ValidationError("The code and the transcript belong to different studies.")
    if layer not in Layer.values:
        raise ValidationError(f"Unknown layer {layer!r}.")
    actual = _check_span(transcript, start, end, quote)
    key: dict[str, Any] = {"transcript": transcript, "code": code, "start": start, "end": end, "layer": layer}
    if layer == Layer.CODER:
        key["coder"] = coder
    existing = Coding.objects.filter(**key).first()
    if existing is not None:
        return existing, False
    if not code.codable:
        raise ValidationError(f"“{code.name}” is a folder, not a code that can be applied.")
    try:
        with transaction.atomic():
            coding = Coding.objects.create(
                transcript=transcript, code=code, coder=coder, layer=layer, start=start, end=end,
                quote=actual, memo=memo or "",
            )
            if layer == Layer.CODER:
                progress_start(transcript=transcript, coder=coder)
            study_touch(transcript.study_id)
    except IntegrityError:
        # A concurrent identical request won the race: return its row.
        existing = Coding.objects.filter(**key).first()
        if existing is None:
            raise
        return existing, False
    return coding, True


def coding_as_dict(coding: Coding) -> dict[str, Any]:
    """The state of a coding as the endpoints and the coding page see it."""
    return {
        "id": coding.pk, "transcript": coding.transcript_id, "code": coding.code_id,
        "coder": coding.coder.get_username(), "layer": coding.layer, "start": coding.start, "end": coding.end,
        "quote": coding.quote, "memo": coding.memo,
        "version": coding.version, "created": coding.created_at.isoformat(), "updated": coding.updated_at.isoformat(),
    }


MAX_MEMO = 20000


@transaction.atomic
def coding_update(
    *,
    coding: Coding,
    version: int | None,
    memo: str | None = None,
    code: Code | None = None,
    start: int | None = None,
    end: int | None = None,
    quote: str | None = None,
) -> Coding:
    """Change a coding's memo, code or boundaries. ``version`` must be the version the client last saw: a change
    made meanwhile by someone else gives Conflict (409), never a silent overwrite."""
    # Lock the coding row only ("self"): with select_related, a plain FOR UPDATE would also lock the code and the
    # transcript rows, and every coding inserted meanwhile (which key-shares them) would queue behind it: deadlocks.
    locked = (Coding.objects.select_for_update(of=("self",)).select_related("transcript", "code", "coder")
              .get(pk=coding.pk))
    if version is not None and version != locked.version:
        raise Conflict("This coding was changed elsewhere since you loaded it; here is its current state.")
    changed: list[str] = []
    if memo is not None:
        if len(memo) > MAX_MEMO:
            raise ValidationError(f"A memo can have at most {MAX_MEMO:,} characters.")
        if memo != locked.memo:
            locked.memo = memo
            changed.append("memo")
    if code is not None and code.pk != locked.code_id:
        if code.study_id != locked.transcript.study_id:
            raise ValidationError("The code belongs to another study.")
        if not code.codable:
            raise ValidationError(f"“{code.name}” is a folder, not a code that can be applied.")
        locked.code = code
        changed.append("code")
    if start is not None or end is not None:
        new_start = locked.start if start is None else start
        new_end = locked.end if end is None else end
        actual = _check_span(locked.transcript, new_start, new_end, quote)
        if (new_start, new_end) != (locked.start, locked.end):
            locked.start, locked.end, locked.quote = new_start, new_end, actual
            changed += ["start", "end", "quote"]
    if changed:
        study_touch(locked.transcript.study_id)
        locked.version += 1
        try:
            with transaction.atomic():
                locked.save(update_fields=[*changed, "version", "updated_at"])
        except IntegrityError:
            raise Conflict("An identical coding already exists (same code, coder and span).") from None
    return locked


@transaction.atomic
def coding_remove(*, coding: Coding, actor: Any) -> None:
    audit_record(
        study=coding.transcript.study,
        actor=actor,
        action="coding.delete",
        obj=coding,
        details={"transcript": coding.transcript_id, "code": coding.code_id, "layer": coding.layer,
                 "coder": coding.coder.get_username(), "start": coding.start, "end": coding.end},
    )
    study_touch(coding.transcript.study_id)
    coding.delete()


@transaction.atomic
def memo_create(
    *,
    study: Study,
    author: Any,
    title: str,
    body: str = "",
    code: Code | None = None,
    transcript: Transcript | None = None,
) -> Memo:
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise ValidationError("A memo needs a title of 1 to 200 characters.")
    if code is not None and transcript is not None:
        raise ValidationError("A memo belongs to the study, one code or one transcript, not several.")
    for target in (code, transcript):
        if target is not None and target.study_id != study.pk:
            raise ValidationError("The memo's code or transcript belongs to another study.")
    return Memo.objects.create(study=study, author=author, title=title, body=body or "", code=code,
                               transcript=transcript)


def progress_start(*, transcript: Transcript, coder: Any) -> None:
    """A coder's first coding of a transcript marks it in progress (explicitly, from the coding service)."""
    TranscriptProgress.objects.get_or_create(transcript=transcript, coder=coder,
                                             defaults={"status": CodingStatus.IN_PROGRESS})


@transaction.atomic
def progress_set(*, transcript: Transcript, coder: Any, status: str) -> TranscriptProgress | None:
    if status not in CodingStatus.values:
        raise ValidationError(f"Unknown status {status!r}.")
    if status == CodingStatus.NOT_STARTED:
        TranscriptProgress.objects.filter(transcript=transcript, coder=coder).delete()
        return None
    progress, _ = TranscriptProgress.objects.update_or_create(transcript=transcript, coder=coder,
                                                              defaults={"status": status})
    return progress
