"""Codes (a tree per study), codings (real rows with code-point offsets) and memos.

Models hold data and constraints only; every write goes through ``codebook.services``.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from interviews.models import Study, Transcript


class Code(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="codes")
    # RESTRICT: a code with children is never removed by accident; deleting the study removes the whole tree.
    parent = models.ForeignKey("self", on_delete=models.RESTRICT, null=True, blank=True, related_name="children")
    name = models.CharField(max_length=200)
    # The code's definition: what it means, when to apply it, when not to, and an example.
    description = models.TextField(blank=True)
    when_to_use = models.TextField(blank=True)
    when_not_to_use = models.TextField(blank=True)
    example = models.TextField(blank=True)
    color = models.CharField(max_length=7, default="#888888", help_text="#rrggbb")
    # False for a folder that groups codes but is not applied itself (REFI-QDA isCodable="false").
    codable = models.BooleanField(default=True)
    # Pinned codes are applied on the coding page with the digit keys 1-9.
    shortcut = models.PositiveSmallIntegerField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)
    # Stable identity for REFI-QDA exchange: kept through export and import, so unique within a study only.
    guid = models.UUIDField(default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            # Sibling names are unique, case-insensitively; top-level codes are siblings of each other.
            models.UniqueConstraint(
                Lower("name"), "study", condition=Q(parent__isnull=True), name="code_unique_top_level_name"
            ),
            models.UniqueConstraint(
                Lower("name"), "parent", condition=Q(parent__isnull=False), name="code_unique_sibling_name"
            ),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="code_not_own_parent"),
            models.UniqueConstraint(fields=["study", "guid"], name="code_unique_guid_in_study"),
            models.UniqueConstraint(fields=["study", "shortcut"], condition=Q(shortcut__isnull=False),
                                    name="code_unique_shortcut_in_study"),
            models.CheckConstraint(condition=Q(shortcut__isnull=True) | Q(shortcut__gte=1, shortcut__lte=9),
                                   name="code_shortcut_digit"),
            models.CheckConstraint(condition=~Q(name=""), name="code_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class Layer(models.TextChoices):
    CODER = "coder", "Coder's own"
    CONSENSUS = "consensus", "Consensus"


class Coding(models.Model):
    """One code applied to ``transcript.text[start:end]`` (Python ``str`` indexes = Unicode code points)."""

    transcript = models.ForeignKey(Transcript, on_delete=models.CASCADE, related_name="codings")
    code = models.ForeignKey(Code, on_delete=models.RESTRICT, related_name="codings")
    # For the coder layer, whose coding it is; for the consensus layer, who wrote it there.
    coder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.RESTRICT, related_name="codings")
    layer = models.CharField(max_length=10, choices=Layer.choices, default=Layer.CODER)
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    quote = models.TextField(help_text="text[start:end] at the time of coding")
    memo = models.TextField(blank=True)
    # Bumped on every change; a client editing an older version gets 409.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["transcript", "start", "end", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(start__gte=0) & Q(end__gt=F("start")), name="coding_start_before_end"),
            models.CheckConstraint(condition=Q(layer__in=Layer.values), name="coding_layer_valid"),
            models.UniqueConstraint(
                fields=["transcript", "code", "coder", "layer", "start", "end"], name="coding_unique_span"
            ),
            # The consensus layer is one layer for the whole study, whoever wrote into it.
            models.UniqueConstraint(
                fields=["transcript", "code", "start", "end"],
                condition=Q(layer="consensus"),
                name="coding_unique_consensus_span",
            ),
        ]
        indexes = [
            models.Index(fields=["transcript", "layer", "coder"], name="coding_transcript_layer"),
            models.Index(fields=["code", "layer"], name="coding_code_layer"),
        ]

    def __str__(self) -> str:
        return f"{self.code} [{self.start}:{self.end}] by {self.coder}"


class Memo(models.Model):
    """A researcher's note on the study, on a code or on a transcript."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memos")
    code = models.ForeignKey(Code, on_delete=models.CASCADE, null=True, blank=True, related_name="memos")
    transcript = models.ForeignKey(
        Transcript, on_delete=models.CASCADE, null=True, blank=True, related_name="memos"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(code__isnull=True) | Q(transcript__isnull=True), name="memo_one_target"
            )
        ]

    def __str__(self) -> str:
        return self.title


class CodingStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"


class TranscriptProgress(models.Model):
    """One coder's progress on one transcript. No row means not started."""

    transcript = models.ForeignKey(Transcript, on_delete=models.CASCADE, related_name="progress")
    coder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=12, choices=CodingStatus.choices, default=CodingStatus.IN_PROGRESS)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["transcript", "coder"], name="progress_one_per_coder"),
            models.CheckConstraint(condition=Q(status__in=CodingStatus.values), name="progress_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.coder} {self.status} on {self.transcript}"


class CoderSettings(models.Model):
    """A user's own preferences on the coding page."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="coder_settings")
    # Widen a selection to whole words before coding (no effect on CJK text, which has no spaces).
    snap_to_words = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"settings of {self.user}"


class CodebookUndo(models.Model):
    """The last codebook change of a study, kept so that it can be undone once (see codebook/undo.py): the state
    before it (codes; codings and memos of the codes it touched) and a fingerprint of the state it left."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, primary_key=True, related_name="codebook_undo")
    action = models.CharField(max_length=40)
    label = models.CharField(max_length=300)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    created_at = models.DateTimeField(auto_now=True)
    before = models.JSONField(encoder=DjangoJSONEncoder)
    touched = models.JSONField(default=list)
    after = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"undo {self.label}"
