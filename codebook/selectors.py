"""Reads for the codebook and codings."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from analysis.frequencies import CodeNode, CodingFact, code_frequencies
from interviews.access import StudyAccess
from interviews.models import Study, Transcript
from interviews.selectors import visible_codings

from .models import Code, CoderSettings, Coding, CodingStatus, Layer, TranscriptProgress


@dataclass(frozen=True, slots=True)
class TreeRow:
    code: Code
    depth: int
    path: tuple[str, ...]
    codings: int  # codings of this code and its descendants, in the layers the caller sees
    transcripts: int
    participants: int
    direct: int = 0  # codings of this code itself


def code_tree(access: StudyAccess) -> list[TreeRow]:
    """The study's codes in tree order with subtree counts over the caller's visible codings. Two queries."""
    return code_tree_for(access.study, visible_codings(access))


def code_tree_for(study: Study, codings: QuerySet[Coding]) -> list[TreeRow]:
    codes = list(Code.objects.filter(study=study).order_by("position", "name"))
    facts = (
        CodingFact(*row)
        for row in codings.values_list("code_id", "transcript_id", "transcript__participant_id")
    )
    freq = code_frequencies([CodeNode(c.pk, c.parent_id) for c in codes], facts)
    children: dict[int | None, list[Code]] = {}
    for code in codes:
        children.setdefault(code.parent_id, []).append(code)
    rows: list[TreeRow] = []

    def walk(parent_id: int | None, depth: int, path: tuple[str, ...]) -> None:
        for code in children.get(parent_id, []):
            f = freq[code.pk]
            here = (*path, code.name)
            rows.append(TreeRow(code, depth, here, f.segments, f.transcripts, f.participants, f.direct_segments))
            walk(code.pk, depth + 1, here)

    walk(None, 0, ())
    return rows


@dataclass(frozen=True, slots=True)
class LayerChoice:
    key: str  # "all", "consensus" or "coder:<username>"
    label: str


def layer_choices(access: StudyAccess, transcript: Transcript | None = None) -> list[LayerChoice]:
    """The layers the caller may look at."""
    if not access.sees_all_layers:
        return [LayerChoice(f"coder:{access.user.get_username()}", "My codings")]
    coder_ids = Coding.objects.filter(transcript__study=access.study, layer=Layer.CODER)
    if transcript is not None:
        coder_ids = coder_ids.filter(transcript=transcript)
    users = get_user_model().objects.filter(pk__in=coder_ids.values("coder_id")).order_by("username")
    choices = [LayerChoice("all", "All layers")]
    choices += [LayerChoice(f"coder:{u.get_username()}", u.get_username()) for u in users]
    choices.append(LayerChoice("consensus", "Consensus"))
    return choices


def transcript_codings(access: StudyAccess, transcript: Transcript, layer_key: str) -> QuerySet[Coding]:
    """The codings of one transcript in the chosen layer, restricted to what the caller may see."""
    codings = visible_codings(access).filter(transcript=transcript)
    if layer_key == "consensus":
        codings = codings.filter(layer=Layer.CONSENSUS)
    elif layer_key.startswith("coder:"):
        codings = codings.filter(layer=Layer.CODER, coder__username=layer_key.removeprefix("coder:"))
    return codings.select_related("code", "coder").order_by("start", "end", "id")


def choose_layer(access: StudyAccess, requested: Any) -> str:
    """The layer key to show: a coder under blind coding always gets their own layer, whatever was asked."""
    if not access.sees_all_layers:
        return f"coder:{access.user.get_username()}"
    if isinstance(requested, str) and (requested in ("all", "consensus") or requested.startswith("coder:")):
        return requested
    return "all"


def coding_page_data(
    access: StudyAccess, transcript: Transcript, layer: str, codings: list[Coding], coders: dict[int, str]
) -> dict[str, Any]:
    """Everything the coding page's script needs, passed with json_script (never interpolated into JS)."""
    from django.urls import reverse

    rows = code_tree_for(access.study, Coding.objects.none())
    settings_row = CoderSettings.objects.filter(user=access.user).first()
    slug = access.study.slug
    return {
        "transcript": transcript.pk,
        "text": transcript.text,
        "user": access.user.get_username(),
        "canCode": access.can_code,
        "isPi": access.is_pi,
        "canAddCodes": access.can_code and (access.is_pi or access.study.coders_add_codes),
        "layer": layer,
        "snap": bool(settings_row and settings_row.snap_to_words),
        "codes": [
            {"id": r.code.pk, "name": r.code.name, "path": " › ".join(r.path), "color": r.code.color,
             "codable": r.code.codable, "shortcut": r.code.shortcut, "parent": r.code.parent_id}
            for r in rows
        ],
        "codings": [
            {"id": c.pk, "code": c.code_id, "coder": coders[c.coder_id], "layer": c.layer, "start": c.start,
             "end": c.end, "memo": c.memo, "version": c.version, "created": c.created_at.date().isoformat()}
            for c in codings
        ],
        "api": {
            "codings": reverse("api_transcript_codings", args=[slug, transcript.pk]),
            "coding": reverse("api_coding", args=[slug, 0]),
            "codes": reverse("api_codes", args=[slug]),
            "progress": reverse("api_progress", args=[slug, transcript.pk]),
            "settings": reverse("api_settings"),
        },
    }


def my_progress(access: StudyAccess, transcript: Transcript) -> str:
    row = TranscriptProgress.objects.filter(transcript=transcript, coder=access.user).first()
    return row.status if row else CodingStatus.NOT_STARTED


def next_transcript(access: StudyAccess, current: Transcript | None = None) -> Transcript | None:
    """The next transcript for the caller to code: one in progress first, then one not started, in study order."""
    if not access.can_code:
        return None
    statuses = dict(TranscriptProgress.objects.filter(transcript__study=access.study, coder=access.user)
                    .values_list("transcript_id", "status"))
    candidates = Transcript.objects.filter(study=access.study).order_by("participant__label", "title")
    if current is not None:
        candidates = candidates.exclude(pk=current.pk)
    ids = list(candidates.values_list("pk", flat=True))
    for wanted in (CodingStatus.IN_PROGRESS, None):
        for pk in ids:
            if statuses.get(pk) == wanted:
                return Transcript.objects.get(pk=pk)
    return None
