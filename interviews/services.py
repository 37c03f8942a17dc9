"""Writes for studies, members, participants, attributes and transcripts. Keyword-only, ``<entity>_<action>``."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from workbench.errors import Conflict

from .attributes import parse_value
from .models import (
    Attribute,
    AttributeType,
    AttributeValue,
    AuditEvent,
    Membership,
    Participant,
    Role,
    Study,
    Transcript,
)

User = get_user_model()


# --- Audit ----------------------------------------------------------------------------------------------------
def audit_record(
    *,
    study: Study | None,
    actor: Any,
    action: str,
    obj: Any = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the audit log. Details must never hold transcript text."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        study=study,
        study_slug=study.slug if study else "",
        actor=actor if is_user else None,
        actor_name=actor.get_username() if is_user else "system",
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "",
        object_id=str(getattr(obj, "pk", "") or "") if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        details=dict(details or {}),
    )


def study_touch(study_id: int) -> None:
    """Mark the study's data as changed (for the analysis cache). Called by the services that change it."""
    from django.db.models import F

    Study.objects.filter(pk=study_id).update(data_version=F("data_version") + 1)


# --- Studies and members --------------------------------------------------------------------------------------
def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "study"
    slug, n = base, 2
    while Study.objects.filter(slug=slug).exists():
        slug = f"{base}-{n}"
        n += 1
    return slug


@transaction.atomic
def study_create(
    *,
    name: str,
    actor: Any = None,
    description: str = "",
    blind_coding: bool = True,
    template: str = "empty",
    pi: Any = None,
    slug: str | None = None,
) -> Study:
    """Create a study, optionally with a codebook template and a PI."""
    from codebook.presets import TEMPLATES
    from codebook.services import codebook_apply_template

    name = (name or "").strip()
    if not name:
        raise ValidationError("A study needs a name.")
    if len(name) > 200:
        raise ValidationError("A study name can have at most 200 characters.")
    if template not in TEMPLATES:
        raise ValidationError(f"Unknown codebook template {template!r}; choose from {', '.join(TEMPLATES)}.")
    if slug is not None:
        if slug != slugify(slug) or not slug:
            raise ValidationError(f"{slug!r} is not a valid slug (lowercase letters, digits and hyphens).")
        if Study.objects.filter(slug=slug).exists():
            raise ValidationError(f"A study with the slug {slug!r} already exists.")
    study = Study.objects.create(
        name=name, slug=slug or _unique_slug(name), description=description, blind_coding=blind_coding
    )
    audit_record(study=study, actor=actor, action="study.create", obj=study, details={"template": template})
    codebook_apply_template(study=study, template=template, actor=actor)
    if pi is not None:
        membership_set(study=study, user=pi, role=Role.PI, actor=actor)
    return study


@transaction.atomic
def membership_set(*, study: Study, user: Any, role: str, actor: Any) -> Membership:
    """Add ``user`` to the study with ``role``, or change their role. Audited."""
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}; choose from {', '.join(Role.values)}.")
    membership = Membership.objects.select_for_update().filter(study=study, user=user).first()
    if membership is None:
        membership = Membership.objects.create(study=study, user=user, role=role)
        audit_record(study=study, actor=actor, action="member.add", obj=membership,
                     details={"user": user.get_username(), "role": role})
        return membership
    if membership.role == role:
        return membership
    if membership.role == Role.PI and _other_pis(study, user) == 0:
        raise Conflict("The study must keep at least one principal investigator.")
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(study=study, actor=actor, action="member.role", obj=membership,
                 details={"user": user.get_username(), "before": old, "after": role})
    return membership


@transaction.atomic
def membership_set_steward(*, study: Study, user: Any, steward: bool, actor: Any) -> Membership:
    """Give or take the data-steward right (import transcripts, see raw text in the review). Audited."""
    membership = Membership.objects.select_for_update().filter(study=study, user=user).first()
    if membership is None:
        raise ValidationError(f"{user.get_username()} is not a member of this study.")
    if membership.data_steward != steward:
        membership.data_steward = steward
        membership.save(update_fields=["data_steward"])
        audit_record(study=study, actor=actor, action="member.steward", obj=membership,
                     details={"user": user.get_username(), "data_steward": steward})
    return membership


def _other_pis(study: Study, user: Any) -> int:
    return Membership.objects.filter(study=study, role=Role.PI).exclude(user=user).count()


@transaction.atomic
def membership_remove(*, study: Study, user: Any, actor: Any) -> None:
    """Remove ``user`` from the study. Their codings stay (they are research data). Audited."""
    membership = Membership.objects.select_for_update().filter(study=study, user=user).first()
    if membership is None:
        raise ValidationError(f"{user.get_username()} is not a member of this study.")
    if membership.role == Role.PI and _other_pis(study, user) == 0:
        raise Conflict("The study must keep at least one principal investigator.")
    membership.delete()
    audit_record(study=study, actor=actor, action="member.remove", obj=study,
                 details={"user": user.get_username(), "role": membership.role})


# --- Participants and attributes ------------------------------------------------------------------------------
@transaction.atomic
def attribute_define(
    *, study: Study, name: str, type: str = AttributeType.TEXT, choices: Sequence[str] = (), actor: Any = None
) -> Attribute:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError("An attribute needs a name of 1 to 100 characters.")
    if type not in AttributeType.values:
        raise ValidationError(f"Unknown attribute type {type!r}.")
    clean_choices = [str(c).strip() for c in choices if str(c).strip()]
    if type == AttributeType.CHOICE and not clean_choices:
        raise ValidationError("A choice attribute needs at least one choice.")
    if len({c.lower() for c in clean_choices}) != len(clean_choices):
        raise ValidationError("The choices of an attribute must differ from each other.")
    if Attribute.objects.filter(study=study, name__iexact=name).exists():
        raise ValidationError(f"The attribute {name!r} already exists in this study.")
    position = Attribute.objects.filter(study=study).count()
    attribute = Attribute.objects.create(
        study=study, name=name, type=type, choices=clean_choices, position=position
    )
    study_touch(study.pk)
    audit_record(study=study, actor=actor, action="attribute.define", obj=attribute,
                 details={"type": type, "choices": clean_choices})
    return attribute


@transaction.atomic
def participant_create(
    *, study: Study, label: str, values: Mapping[str, str] | None = None, actor: Any = None
) -> Participant:
    label = (label or "").strip()
    if not label or len(label) > 50:
        raise ValidationError("A participant needs a label of 1 to 50 characters, such as P07.")
    if Participant.objects.filter(study=study, label=label).exists():
        raise ValidationError(f"The participant {label!r} already exists in this study.")
    participant = Participant.objects.create(study=study, label=label)
    study_touch(study.pk)
    if values:
        participant_set_values(participant=participant, values=values, actor=actor)
    return participant


@transaction.atomic
def participant_set_values(*, participant: Participant, values: Mapping[str, str], actor: Any = None) -> None:
    """Set attribute values by attribute name; an empty value clears it. All or nothing."""
    attributes = {a.name.lower(): a for a in Attribute.objects.filter(study_id=participant.study_id)}
    errors: list[str] = []
    parsed: list[tuple[Attribute, str | None]] = []
    for name, raw in values.items():
        attribute = attributes.get(name.strip().lower())
        if attribute is None:
            errors.append(f"{name}: no such attribute in this study")
            continue
        if raw is None or str(raw).strip() == "":
            parsed.append((attribute, None))
            continue
        try:
            parsed.append((attribute, parse_value(attribute.type, str(raw), attribute.choices)))
        except ValueError as exc:
            errors.append(f"{attribute.name}: {exc}")
    if errors:
        raise ValidationError(errors)
    study_touch(participant.study_id)
    for attribute, value in parsed:
        if value is None:
            AttributeValue.objects.filter(participant=participant, attribute=attribute).delete()
        else:
            AttributeValue.objects.update_or_create(
                participant=participant, attribute=attribute, defaults={"value": value}
            )


# --- Transcripts ----------------------------------------------------------------------------------------------
def normalise_text(text: str) -> str:
    """Line endings become ``\\n`` once, before storage; the stored text is what all offsets index."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@transaction.atomic
def transcript_create(
    *,
    study: Study,
    participant: Participant,
    title: str,
    text: str,
    language: str = "",
    created_by: Any = None,
    tags: Iterable[str] = (),
) -> Transcript:
    """Store an (already anonymised) transcript."""
    if participant.study_id != study.pk:
        raise ValidationError("The participant belongs to another study.")
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise ValidationError("A transcript needs a title of 1 to 200 characters.")
    text = normalise_text(text or "")
    if not text.strip():
        raise ValidationError("The transcript is empty.")
    if "\x00" in text:
        raise ValidationError("The transcript contains NUL characters; it is probably not a text file.")
    transcript = Transcript.objects.create(
        study=study,
        participant=participant,
        title=title,
        text=text,
        content_hash=content_hash(text),
        language=(language or "").strip()[:16],
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
    )
    study_touch(study.pk)
    tag_list = [t.strip() for t in tags if t and t.strip()]
    if tag_list:
        transcript.tags.set(tag_list)
    return transcript


@transaction.atomic
def transcript_update_text(*, transcript: Transcript, text: str, actor: Any = None) -> Transcript:
    """Replace a transcript's text. Refused once any coding exists, since offsets would no longer fit."""
    locked = Transcript.objects.select_for_update().get(pk=transcript.pk)
    if locked.codings.exists():
        raise Conflict("This transcript has codings; its text can no longer be changed.")
    text = normalise_text(text or "")
    if not text.strip():
        raise ValidationError("The transcript is empty.")
    locked.text = text
    locked.content_hash = content_hash(text)
    locked.save(update_fields=["text", "content_hash", "updated_at"])
    audit_record(study=locked.study, actor=actor, action="transcript.edit", obj=locked,
                 details={"characters": len(text)})
    return locked


def user_by_username(username: str) -> Any:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise ValidationError(f"There is no user called {username!r}.")
    return user


@transaction.atomic
def participant_withdraw(*, participant: Participant, actor: Any) -> dict[str, int]:
    """A participant withdraws from the research: their transcripts, codings, attribute values and every cached
    analysis result of the study go; what remains is an audit tombstone without their data."""
    from analysis.models import AnalysisRun
    from codebook.models import Coding

    study = participant.study
    transcripts = Transcript.objects.filter(participant=participant)
    counts = {"transcripts": transcripts.count(),
              "codings": Coding.objects.filter(transcript__participant=participant).count()}
    Coding.objects.filter(transcript__participant=participant).delete()
    transcripts.delete()
    counts["cached_results"] = AnalysisRun.objects.filter(study=study).exclude(result=None).update(
        result=None, error="Removed: a participant withdrew after this was computed.")
    label = participant.label
    participant.delete()
    study_touch(study.pk)
    audit_record(study=study, actor=actor, action="participant.withdraw", obj=None,
                 details={"participant_id": participant.pk, **counts})
    return {**counts, "label_removed": bool(label)}
