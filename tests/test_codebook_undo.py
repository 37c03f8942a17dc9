"""One-step undo of codebook changes: every operation, undone, gives back exactly the state before it (codes with
their ids, GUIDs and times; codings and memos); undo is refused once later work would be lost."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codebook import restructure
from codebook.models import Code, Coding, Memo
from codebook.services import code_create, coding_apply, memo_create
from codebook.undo import codebook_undo, undo_available
from interviews import services
from interviews.models import AuditEvent
from workbench.errors import Conflict


def state(study) -> tuple:
    codes = sorted(Code.objects.filter(study=study).values_list(
        "id", "parent_id", "name", "description", "when_to_use", "when_not_to_use", "example", "color", "codable",
        "shortcut", "position", "guid", "created_at"))
    codings = sorted(Coding.objects.filter(transcript__study=study).values_list(
        "id", "transcript_id", "code_id", "coder_id", "layer", "start", "end", "quote", "memo", "version",
        "created_at", "updated_at"))
    memos = sorted(Memo.objects.filter(study=study).values_list(
        "id", "code_id", "transcript_id", "title", "body", "created_at", "updated_at"))
    return codes, codings, memos


def rich_study(world):
    """The migration-drivers codebook with overlapping codings by two coders, coding memos and code memos."""
    study = services.study_create(name="Undo", template="migration-drivers", pi=world.users["pi"])
    for user in ("coder", "other_coder"):
        services.membership_set(study=study, user=world.users[user], role="coder", actor=world.users["pi"])
    participant = services.participant_create(study=study, label="P1")
    transcript = services.transcript_create(study=study, participant=participant, title="T",
                                            text="R: " + "word " * 60)
    for i, c in enumerate(Code.objects.filter(study=study).order_by("id")):
        coding_apply(transcript=transcript, code=c, coder=world.users["coder"], start=3 + i % 20, end=8 + i % 20,
                     memo=f"memo {i}" if i % 3 == 0 else "")
        coding_apply(transcript=transcript, code=c, coder=world.users["other_coder"], start=3, end=8)
        if i % 4 == 0:
            memo_create(study=study, author=world.users["pi"], title=f"About code {i}", body="b", code=c)
    return study, transcript


OPS = st.tuples(st.sampled_from(["rename", "reorder", "move", "merge", "delete_move", "delete_all", "split_new",
                                 "split_existing"]), st.integers(0, 50), st.integers(0, 50))


@given(op=OPS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_operation_undone_gives_back_exactly_the_state_before(world, op):
    study, _ = rich_study(world)
    name, a, b = op
    current = list(Code.objects.filter(study=study).order_by("id"))
    x, y = current[a % len(current)], current[b % len(current)]
    before = state(study)
    pi = world.users["pi"]
    try:
        if name == "rename":
            restructure.code_update(code=x, actor=pi, name=f"{x.name} (renamed)", color="#123456",
                                    description="new definition")
        elif name == "reorder":
            restructure.code_reorder(code=x, position=b % 4, actor=pi)
        elif name == "move":
            restructure.code_move(code=x, parent=y if a != b else None, actor=pi)
        elif name == "merge":
            restructure.code_merge(source=x, target=y, actor=pi)
        elif name == "delete_move":
            restructure.code_delete(code=x, mode="move_to_parent", actor=pi)
        elif name == "delete_all":
            restructure.code_delete(code=x, mode="delete", actor=pi)
        elif name == "split_new":
            ids = list(Coding.objects.filter(code=x).values_list("pk", flat=True)[:1])
            restructure.code_split(code=x, coding_ids=ids, new_name=f"Split {a}", actor=pi)
        else:
            ids = list(Coding.objects.filter(code=x).values_list("pk", flat=True))
            restructure.code_split(code=x, coding_ids=ids, target=y, actor=pi)
    except ValidationError:
        return  # refused operations change nothing and leave nothing to undo
    changed = state(study) != before
    assert undo_available(study) is not None or not changed
    if undo_available(study) is None:
        return
    codebook_undo(study=study, actor=pi)
    assert state(study) == before
    assert undo_available(study) is None
    with pytest.raises(ValidationError, match="no codebook change to undo"):
        codebook_undo(study=study, actor=pi)


def test_undo_is_refused_once_someone_coded_with_the_merged_code(world):
    study, transcript = rich_study(world)
    kinship = Code.objects.get(study=study, name="Kinship")
    alumni = Code.objects.get(study=study, name="Alumni")
    restructure.code_merge(source=alumni, target=kinship, actor=world.users["pi"])
    coding_apply(transcript=transcript, code=kinship, coder=world.users["coder"], start=40, end=50)
    after = state(study)
    assert undo_available(study) is None
    with pytest.raises(Conflict, match="can no longer be undone"):
        codebook_undo(study=study, actor=world.users["pi"])
    assert state(study) == after  # nothing touched


def test_undo_is_refused_after_another_codebook_change_but_not_after_unrelated_coding(world):
    study, transcript = rich_study(world)
    kinship = Code.objects.get(study=study, name="Kinship")
    restructure.code_update(code=kinship, actor=world.users["pi"], name="Family")
    # Coding with another code, elsewhere: the undo stays possible.
    coding_apply(transcript=transcript, code=Code.objects.get(study=study, name="Alumni"),
                 coder=world.users["coder"], start=50, end=60)
    assert undo_available(study) is not None
    code_create(study=study, name="Brand new")
    assert undo_available(study) is None


def test_the_pi_undoes_from_the_codebook_page_and_it_is_audited(login, world):
    kinship = world.kinship
    restructure.code_update(code=kinship, actor=world.users["pi"], name="Family ties")
    url = f"/studies/{world.study.slug}/codebook/"
    coder_page = login(world.users["coder"]).get(url).content.decode()
    assert "codebook-undo" not in coder_page
    assert login(world.users["coder"]).post(url, {"action": "undo"}).status_code == 403
    client = login(world.users["pi"])
    page = client.get(url).content.decode()
    assert "Undo changing “Kinship” (name)" in page
    response = client.post(url, {"action": "undo"})
    assert response.status_code == 302
    kinship.refresh_from_db()
    assert kinship.name == "Kinship"
    event = AuditEvent.objects.get(action="codebook.undo")
    assert event.details["undone"] == "code.update" and event.actor_id == world.users["pi"].pk
    assert client.post(url, {"action": "undo"}).status_code == 400
