"""Reads for studies, members, participants and transcripts."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, QuerySet

from codebook.models import Coding, CodingStatus, Layer, TranscriptProgress

from .access import StudyAccess
from .models import AttributeValue, Membership, Participant, Transcript


def studies_for_user(user: Any) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .select_related("study")
        .annotate(
            n_transcripts=Count("study__transcripts", distinct=True),
            n_participants=Count("study__participants", distinct=True),
        )
        .order_by("study__name")
    )


def study_members(access: StudyAccess) -> QuerySet[Membership]:
    return Membership.objects.filter(study=access.study).select_related("user").order_by("role", "user__username")


def visible_codings(access: StudyAccess) -> QuerySet[Coding]:
    """Codings of the study the caller may see: with blind coding a coder sees only their own layer."""
    codings = Coding.objects.filter(transcript__study=access.study)
    if not access.sees_all_layers:
        codings = codings.filter(layer=Layer.CODER, coder=access.user)
    return codings


def study_transcripts(access: StudyAccess) -> list[dict[str, Any]]:
    """Transcripts with participant and, per visible layer, the number of codings (progress)."""
    transcripts = list(
        Transcript.objects.filter(study=access.study)
        .select_related("participant")
        .prefetch_related("tags")
        .order_by("participant__label", "title")
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        visible_codings(access)
        .values("transcript_id", "layer", "coder__username")
        .annotate(n=Count("id"))
        .order_by("transcript_id", "layer", "coder__username")
    )
    for row in rows:
        label = "consensus" if row["layer"] == Layer.CONSENSUS else row["coder__username"]
        counts[row["transcript_id"]][label] = counts[row["transcript_id"]].get(label, 0) + row["n"]
    progress = TranscriptProgress.objects.filter(transcript__study=access.study)
    if not access.sees_all_layers:
        progress = progress.filter(coder=access.user)
    statuses: dict[int, dict[str, str]] = defaultdict(dict)
    for transcript_id, username, status in progress.values_list("transcript_id", "coder__username", "status"):
        statuses[transcript_id][username] = CodingStatus(status).label
    return [
        {"transcript": t, "participant": t.participant, "length": len(t.text), "counts": counts.get(t.pk, {}),
         "statuses": statuses.get(t.pk, {})}
        for t in transcripts
    ]


def participant_attributes(participant: Participant) -> list[tuple[str, str]]:
    values = AttributeValue.objects.filter(participant=participant).select_related("attribute")
    return [
        (v.attribute.name, v.value)
        for v in sorted(values, key=lambda v: (v.attribute.position, v.attribute.name))
    ]


@dataclass(frozen=True)
class Hit:
    transcript: Transcript
    start: int
    end: int
    before: str
    match: str
    after: str

    @property
    def key(self) -> str:
        return f"{self.transcript.pk}:{self.start}:{self.end}"


def search_hits(access: StudyAccess, query: str, *, limit: int = 1000, context: int = 60) -> tuple[list[Hit], bool]:
    """Every case-insensitive occurrence of ``query`` in the study's transcripts (CJK too), in study order, with
    up to ``context`` characters either side on the same line. Returns the hits and whether the list was cut."""
    if not query.strip():
        return [], False
    pattern = re.compile(re.escape(query), re.IGNORECASE)
    hits: list[Hit] = []
    transcripts = (Transcript.objects.filter(study=access.study, text__icontains=query)
                   .select_related("participant").order_by("participant__label", "title"))
    if connection.vendor == "sqlite" and not query.isascii():
        # SQLite's LIKE folds ASCII only; scan every transcript for non-ASCII queries.
        transcripts = (Transcript.objects.filter(study=access.study).select_related("participant")
                       .order_by("participant__label", "title"))
    for transcript in transcripts:
        text = transcript.text
        for match in pattern.finditer(text):
            line_start = text.rfind("\n", 0, match.start()) + 1
            line_end = text.find("\n", match.end())
            line_end = len(text) if line_end == -1 else line_end
            left = max(line_start, match.start() - context)
            right = min(line_end, match.end() + context)
            hits.append(Hit(transcript, match.start(), match.end(), text[left:match.start()], match.group(),
                            text[match.end():right]))
            if len(hits) >= limit:
                return hits, True
    return hits, False
