"""Services: validation, refusals, audit events, idempotence."""
from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from codebook.models import Code, Coding
from codebook.services import code_create, coding_apply, coding_remove, memo_create
from interviews import services
from interviews.models import AttributeValue, AuditEvent, Membership, Study
from workbench.errors import Conflict


def test_study_create_with_template_builds_the_tree(db):
    study = services.study_create(name="Drivers", template="migration-drivers")
    parents = set(Code.objects.filter(study=study, parent=None).values_list("name", flat=True))
    assert parents == {"Economic incentives", "Preferential policies", "Amenities", "Social networks",
                       "Return migration"}
    networks = Code.objects.get(study=study, name="Social networks")
    assert set(networks.children.values_list("name", flat=True)) == {"Kinship", "Partnership", "Alumni"}
    assert Code.objects.filter(study=study).count() == 17
    assert study.blind_coding is True


def test_study_create_empty_and_unique_slugs(db):
    first = services.study_create(name="Wave 1")
    second = services.study_create(name="Wave 1")
    chinese = services.study_create(name="回流移民研究")
    assert (first.slug, second.slug) == ("wave-1", "wave-1-2")
    assert chinese.slug == "study"
    assert not Code.objects.filter(study=first).exists()


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_study_create_refuses_bad_names(db, name):
    with pytest.raises(ValidationError):
        services.study_create(name=name)


def test_study_create_refuses_unknown_template(db):
    with pytest.raises(ValidationError):
        services.study_create(name="x", template="nvivo")
    assert not Study.objects.exists()


def test_membership_changes_are_audited(world):
    pi = world.users["pi"]
    events = AuditEvent.objects.filter(study=world.study)
    before = events.count()
    services.membership_set(study=world.study, user=world.users["outsider"], role="viewer", actor=pi)
    services.membership_set(study=world.study, user=world.users["outsider"], role="coder", actor=pi)
    services.membership_set(study=world.study, user=world.users["outsider"], role="coder", actor=pi)  # no change
    services.membership_remove(study=world.study, user=world.users["outsider"], actor=pi)
    actions = list(events.order_by("id").values_list("action", flat=True))[before:]
    assert actions == ["member.add", "member.role", "member.remove"]
    role_change = events.get(action="member.role")
    assert role_change.details == {"user": "outsider", "before": "viewer", "after": "coder"}
    assert role_change.actor_name == "pi"


def test_last_pi_cannot_leave_or_be_demoted(world):
    with pytest.raises(Conflict):
        services.membership_remove(study=world.study, user=world.users["pi"], actor=world.users["pi"])
    with pytest.raises(Conflict):
        services.membership_set(study=world.study, user=world.users["pi"], role="coder", actor=world.users["pi"])
    services.membership_set(study=world.study, user=world.users["coder"], role="pi", actor=world.users["pi"])
    services.membership_set(study=world.study, user=world.users["pi"], role="coder", actor=world.users["coder"])
    assert Membership.objects.get(study=world.study, user=world.users["pi"]).role == "coder"


def test_unknown_role_refused(world):
    with pytest.raises(ValidationError):
        services.membership_set(study=world.study, user=world.users["outsider"], role="owner", actor=None)


def test_attribute_values_are_typed_and_all_or_nothing(world):
    services.attribute_define(study=world.study, name="Age", type="number")
    services.attribute_define(study=world.study, name="Interviewed", type="date")
    services.attribute_define(study=world.study, name="Married", type="boolean")
    with pytest.raises(ValidationError) as info:
        services.participant_set_values(participant=world.participant,
                                        values={"Age": "thirty", "Gender": "Other", "Married": "yes"})
    assert len(info.value.messages) == 2
    assert not AttributeValue.objects.filter(participant=world.participant, attribute__name="Married").exists()
    services.participant_set_values(participant=world.participant,
                                    values={"age": " 34.0 ", "Interviewed": "2024-03-05", "Married": "No",
                                            "Gender": "male"})
    values = dict(AttributeValue.objects.filter(participant=world.participant)
                  .values_list("attribute__name", "value"))
    assert values == {"Age": "34", "Interviewed": "2024-03-05", "Married": "false", "Gender": "Male"}
    services.participant_set_values(participant=world.participant, values={"Age": ""})
    assert not AttributeValue.objects.filter(participant=world.participant, attribute__name="Age").exists()


def test_transcript_create_normalises_line_endings_and_hashes(world):
    transcript = services.transcript_create(study=world.study, participant=world.participant, title="CRLF",
                                            text="I: Hello\r\nR: Hi\rthere\r\n", tags=["wave-1", "site"])
    assert transcript.text == "I: Hello\nR: Hi\nthere\n"
    assert transcript.content_hash == services.content_hash(transcript.text)
    assert set(transcript.tags.names()) == {"wave-1", "site"}


@pytest.mark.parametrize("text", ["", "  \n ", "bin\x00ary"])
def test_transcript_create_refuses_empty_or_binary(world, text):
    with pytest.raises(ValidationError):
        services.transcript_create(study=world.study, participant=world.participant, title="t", text=text)


def test_transcript_text_is_immutable_once_coded(world):
    with pytest.raises(Conflict):
        services.transcript_update_text(transcript=world.transcript, text="new text", actor=world.users["pi"])
    world.transcript.refresh_from_db()
    assert world.transcript.text.startswith("I: Why")
    fresh = services.transcript_create(study=world.study, participant=world.participant, title="Fresh",
                                       text="old words")
    updated = services.transcript_update_text(transcript=fresh, text="new words", actor=world.users["pi"])
    assert updated.text == "new words" and updated.content_hash == services.content_hash("new words")


def test_transcript_participant_must_be_in_the_study(world):
    with pytest.raises(ValidationError):
        services.transcript_create(study=world.other_study, participant=world.participant, title="t", text="x")


def test_coding_apply_stores_the_quote_in_code_points(world):
    text = "访谈者：你好 😀 e\u0301cole\n"
    transcript = services.transcript_create(study=world.study, participant=world.participant, title="zh", text=text)
    start = text.index("😀")
    coding, created = coding_apply(transcript=transcript, code=world.kinship, coder=world.users["coder"],
                                   start=start, end=start + 7, quote="😀 e\u0301col")
    assert created and coding.quote == text[start : start + 7]


@pytest.mark.parametrize(("start", "end"), [(-1, 3), (5, 5), (6, 2), (0, 10_000)])
def test_coding_apply_refuses_spans_outside_the_text(world, start, end):
    with pytest.raises(ValidationError):
        coding_apply(transcript=world.transcript, code=world.kinship, coder=world.users["coder"], start=start,
                     end=end)


def test_coding_apply_refuses_stale_quote(world):
    with pytest.raises(Conflict):
        coding_apply(transcript=world.transcript, code=world.kinship, coder=world.users["coder"], start=0, end=2,
                     quote="R:")


def test_coding_apply_refuses_code_from_another_study(world):
    with pytest.raises(ValidationError):
        coding_apply(transcript=world.transcript, code=world.other_code, coder=world.users["coder"], start=0, end=2)


def test_coding_apply_is_idempotent(world):
    again, created = coding_apply(transcript=world.transcript, code=world.kinship, coder=world.users["coder"],
                                  start=world.coding_a.start, end=world.coding_a.end)
    assert not created and again.pk == world.coding_a.pk
    assert Coding.objects.filter(code=world.kinship).count() == 1


def test_coding_remove_is_audited(world):
    coding_remove(coding=world.coding_a, actor=world.users["coder"])
    event = AuditEvent.objects.get(action="coding.delete")
    assert event.details["start"] == world.coding_a.start and event.actor_name == "coder"


@pytest.mark.parametrize("name", ["", "a > b", "x" * 201])
def test_code_create_refuses_bad_names(world, name):
    with pytest.raises(ValidationError):
        code_create(study=world.study, name=name)


def test_code_create_refuses_duplicate_siblings_and_foreign_parent(world):
    parent = Code.objects.get(study=world.study, name="Social networks")
    with pytest.raises(ValidationError):
        code_create(study=world.study, name="kinship", parent=parent)
    with pytest.raises(ValidationError):
        code_create(study=world.study, name="New", parent=world.other_code)
    with pytest.raises(ValidationError):
        code_create(study=world.study, name="New", color="red")


def test_memo_targets(world):
    memo = memo_create(study=world.study, author=world.users["pi"], title="Kinship vs partnership",
                       code=world.kinship)
    assert memo.code == world.kinship
    with pytest.raises(ValidationError):
        memo_create(study=world.study, author=world.users["pi"], title="x", code=world.kinship,
                    transcript=world.transcript)
    with pytest.raises(ValidationError):
        memo_create(study=world.study, author=world.users["pi"], title="x", transcript=world.other_transcript)


def test_create_study_command_prints_slug_last(db):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("lead", password="x" * 12)
    out = io.StringIO()
    call_command("create_study", "Return migration 2026", "--template", "migration-drivers", "--pi", "lead",
                 stdout=out)
    slug = out.getvalue().strip().splitlines()[-1]
    study = Study.objects.get(slug=slug)
    assert slug == "return-migration-2026"
    assert study.memberships.get().role == "pi"
    assert Code.objects.filter(study=study).count() == 17


def test_create_study_command_fails_with_one_line_reason(db):
    with pytest.raises(CommandError, match="no user called 'ghost'"):
        call_command("create_study", "X", "--pi", "ghost")
