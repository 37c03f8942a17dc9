"""Studies, their members, participants with typed attributes, transcripts and the audit log.

Models hold data and constraints only; every write goes through ``interviews.services``.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from taggit.managers import TaggableManager


class Study(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    # Blind coding: coders see and change only their own codings. On by default for new studies.
    blind_coding = models.BooleanField(default=True)
    # Coders may add new codes while coding (in-vivo); renaming, moving, merging and deleting stay with the PI.
    coders_add_codes = models.BooleanField(default=True)
    # Raised by every service that changes codings, codes, transcripts or attributes: analysis results computed
    # for an older version are not reused.
    data_version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    PI = "pi", "Principal investigator"
    CODER = "coder", "Coder"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    # May import transcripts and see raw (not yet pseudonymised) text in the import review, like the PI.
    data_steward = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "study"], name="membership_unique_user_study"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.study}"


class AttributeType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Yes/no"
    CHOICE = "choice", "Choice"


class Attribute(models.Model):
    """The definition of one participant attribute in a study (gender, age band, migration, ...)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="attributes")
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=AttributeType.choices, default=AttributeType.TEXT)
    # Allowed values, in display order, for type "choice".
    choices = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "study", name="attribute_unique_name_in_study"),
            models.CheckConstraint(condition=models.Q(type__in=AttributeType.values), name="attribute_type_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class Participant(models.Model):
    """An interviewee, known only by a pseudonymous label such as ``P07``."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    label = models.CharField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["label"]
        constraints = [models.UniqueConstraint(fields=["study", "label"], name="participant_unique_label")]

    def __str__(self) -> str:
        return self.label


class AttributeValue(models.Model):
    """One participant's value of one attribute, stored in canonical text form (see ``interviews.attributes``)."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="values")
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="values")
    value = models.CharField(max_length=500)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["participant", "attribute"], name="attributevalue_one_per_participant")
        ]

    def __str__(self) -> str:
        return f"{self.attribute.name}={self.value}"


class Transcript(models.Model):
    """An anonymised interview transcript. ``text`` is what every coding offset indexes (Unicode code points)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="transcripts")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="transcripts")
    title = models.CharField(max_length=200)
    text = models.TextField()
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the UTF-8 text")
    language = models.CharField(max_length=16, blank=True, help_text="BCP 47 tag, e.g. en or zh")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    tags = TaggableManager(blank=True)

    class Meta:
        ordering = ["title"]
        indexes = [models.Index(fields=["study", "content_hash"], name="transcript_study_hash")]

    def __str__(self) -> str:
        return self.title


class AuditEvent(models.Model):
    """Who did what, when. Written by services; never edited (the admin is read-only)."""

    study = models.ForeignKey(Study, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events")
    # Kept as plain values so a deleted study or user still leaves a readable tombstone.
    study_slug = models.CharField(max_length=80, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["study", "action"], name="audit_study_action")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.object_repr}"


class PseudonymKey(models.Model):
    """A study's replacement list (original -> pseudonym), kept only if the PI chooses, and only encrypted.

    ``ciphertext`` is a Fernet token whose key comes from the environment (``PSEUDONYM_KEY``), never the database:
    a copy of the database alone does not reveal a single original.
    """

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="pseudonym_key")
    ciphertext = models.TextField()
    entries = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"key of {self.study} ({self.entries} entries)"


class ImportStatus(models.TextChoices):
    STAGED = "staged", "Waiting for review"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    DISCARDED = "discarded", "Discarded"
    EXPIRED = "expired", "Expired"


class ImportBatch(models.Model):
    """One upload of transcripts. The raw files never enter the database: they wait, for the review, in a staging
    folder named by ``id`` that is deleted when the batch is stored, discarded or expires. This row holds only
    status, progress and per-file outcomes, with file names already pseudonymised."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="import_batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.STAGED)
    files = models.PositiveIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # refreshed by the worker storing it (workbench/jobs)
    outcomes = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    # A key file the PI may download once (when the key is not kept); deleted on download or expiry.
    key_download_pending = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=ImportStatus.values), name="importbatch_status_valid"),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="importbatch_progress_percent"),
        ]

    def __str__(self) -> str:
        return f"import {self.id} ({self.status})"


class LoginFailure(models.Model):
    """A failed login, kept for 24 hours to slow down password guessing (see ThrottledLoginView)."""

    username = models.CharField(max_length=150, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"failed login for {self.username} at {self.created_at:%Y-%m-%d %H:%M}"
