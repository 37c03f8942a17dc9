"""Reshaping the codebook: every coding survives; interchange with REFI-QDA; the pages."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from codebook import interchange, restructure, tree
from codebook.models import Code, Coding, Memo
from codebook.refi import parse_qdc
from codebook.services import code_create, coding_apply, memo_create
from interviews import services
from interviews.models import AuditEvent

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "refi"


def code(study, name):
    return Code.objects.get(study=study, name=name)


def coding_snapshot(study):
    """Every coding as (transcript, coder, layer, start, end, quote), independent of its code."""
    return sorted(Coding.objects.filter(transcript__study=study)
                  .values_list("transcript_id", "coder_id", "layer", "start", "end", "quote"))


@pytest.fixture
def coded(world):
    """The world study with codings of Kinship, Partnership and Alumni by two coders, some identical spans."""
    t, text = world.transcript, world.transcript.text
    s = text.index("My mother")
    partnership = code(world.study, "Partnership")
    for coder in ("coder", "other_coder"):
        coding_apply(transcript=t, code=partnership, coder=world.users[coder], start=s, end=s + 21)
    coding_apply(transcript=t, code=world.alumni, coder=world.users["coder"], start=s, end=s + 21)
    return world


# --- simple edits ---------------------------------------------------------------------------------------------
def test_update_records_before_and_after(world):
    restructure.code_update(code=world.kinship, actor=world.users["pi"], name="Family", color="#AA0000",
                            when_to_use="Parents, children", description=None)
    world.kinship.refresh_from_db()
    assert (world.kinship.name, world.kinship.color, world.kinship.when_to_use) == ("Family", "#aa0000",
                                                                                    "Parents, children")
    event = AuditEvent.objects.get(action="code.update")
    assert event.details["before"] == {"name": "Kinship", "color": "#60a5fa", "when_to_use": ""}
    assert event.details["after"]["name"] == "Family"


@pytest.mark.parametrize("changes", [{"name": "Alumni"}, {"name": ""}, {"name": "a > b"}, {"color": "blue"},
                                     {"guid": "x"}])
def test_update_refusals_change_nothing(world, changes):
    with pytest.raises(ValidationError):
        restructure.code_update(code=world.kinship, actor=world.users["pi"], **changes)
    world.kinship.refresh_from_db()
    assert world.kinship.name == "Kinship"


def test_reorder_renumbers_siblings(world):
    networks = code(world.study, "Social networks")
    restructure.code_reorder(code=world.alumni, position=0, actor=world.users["pi"])
    assert list(networks.children.order_by("position").values_list("name", flat=True)) == [
        "Alumni", "Kinship", "Partnership"]


def test_move_with_subtree_and_refusals(world):
    networks, amenities = code(world.study, "Social networks"), code(world.study, "Amenities")
    restructure.code_move(code=networks, parent=amenities, actor=world.users["pi"])
    world.kinship.refresh_from_db()
    assert restructure.code_path(world.kinship) == ["Amenities", "Social networks", "Kinship"]
    with pytest.raises(ValidationError, match="inside it"):
        restructure.code_move(code=amenities, parent=world.kinship, actor=world.users["pi"])
    with pytest.raises(ValidationError, match="inside it"):
        restructure.code_move(code=amenities, parent=amenities, actor=world.users["pi"])
    code_create(study=world.study, name="Kinship")
    with pytest.raises(ValidationError, match="already a code"):
        restructure.code_move(code=world.kinship, parent=None, actor=world.users["pi"])
    with pytest.raises(ValidationError, match="another study"):
        restructure.code_move(code=world.kinship, parent=world.other_code, actor=world.users["pi"])
    restructure.code_move(code=networks, parent=None, actor=world.users["pi"])
    assert restructure.code_path(code(world.study, "Social networks")) == ["Social networks"]


# --- merge ----------------------------------------------------------------------------------------------------
def test_merge_moves_codings_folds_identical_ones_and_joins_memos(coded):
    w = coded
    partnership = code(w.study, "Partnership")
    Coding.objects.filter(code=partnership, coder=w.users["coder"]).update(memo="romance")
    Coding.objects.filter(code=w.kinship, coder=w.users["coder"]).update(memo="family")
    memo_create(study=w.study, author=w.users["pi"], title="Partnership vs kinship", code=partnership)
    before = coding_snapshot(w.study)
    preview = restructure.code_merge_preview(source=partnership, target=w.kinship)
    assert preview == {"codings": 2, "duplicates": 1, "children": 0, "subtree_codings": 2}
    totals = restructure.code_merge(source=partnership, target=w.kinship, actor=w.users["pi"])
    assert totals == {"moved": 1, "folded": 1, "children_moved": 0, "children_merged": 0}
    assert not Code.objects.filter(pk=partnership.pk).exists()
    after = coding_snapshot(w.study)
    # One identical coding was folded: every span is still coded, by the same coder, exactly once per code.
    assert sorted(set(before)) == sorted(set(after)) and len(after) == len(before) - 1
    folded = Coding.objects.get(code=w.kinship, coder=w.users["coder"])
    assert folded.memo == "family\n\nromance"
    assert Coding.objects.filter(code=w.kinship, coder=w.users["other_coder"]).count() == 1
    assert Memo.objects.get(title="Partnership vs kinship").code == w.kinship
    event = AuditEvent.objects.get(action="code.merge")
    assert event.details["before"]["source"] == ["Social networks", "Partnership"]


def test_merge_moves_children_and_merges_same_named_ones(world):
    networks, returns = code(world.study, "Social networks"), code(world.study, "Return migration")
    twin = code_create(study=world.study, name="Kinship", parent=returns)
    coding_apply(transcript=world.transcript, code=twin, coder=world.users["coder"], start=0, end=2)
    before = coding_snapshot(world.study)
    totals = restructure.code_merge(source=networks, target=returns, actor=world.users["pi"])
    assert totals["children_merged"] == 1 and totals["children_moved"] == 2
    assert set(returns.children.values_list("name", flat=True)) == {
        "Entrepreneurship", "Team return", "Associations", "Kinship", "Partnership", "Alumni"}
    assert coding_snapshot(world.study) == before
    assert Coding.objects.filter(code=twin).count() == 2


def test_merge_refusals(world):
    networks = code(world.study, "Social networks")
    for source, target, message in [(networks, world.kinship, "inside it"), (networks, networks, "itself"),
                                    (world.kinship, world.other_code, "same study")]:
        with pytest.raises(ValidationError, match=message):
            restructure.code_merge(source=source, target=target, actor=world.users["pi"])
    assert Code.objects.filter(pk=networks.pk).exists()


# --- split and delete -----------------------------------------------------------------------------------------
def test_split_to_a_new_and_an_existing_code(coded):
    w = coded
    partnership = code(w.study, "Partnership")
    mine = Coding.objects.get(code=partnership, coder=w.users["coder"])
    new, result = restructure.code_split(code=partnership, coding_ids=[mine.pk], new_name="Romance",
                                         actor=w.users["pi"])
    assert new.parent_id == partnership.parent_id and result == {"moved": 1, "folded": 0}
    assert Coding.objects.get(pk=mine.pk).code == new
    theirs = Coding.objects.get(code=partnership)
    _, result = restructure.code_split(code=partnership, coding_ids=[theirs.pk], target=new, actor=w.users["pi"])
    assert Coding.objects.filter(code=new).count() == 2
    with pytest.raises(ValidationError, match="not codings of this code"):
        restructure.code_split(code=partnership, coding_ids=[w.coding_b.pk], target=new, actor=w.users["pi"])


def test_delete_moving_to_parent(coded):
    w = coded
    networks = code(w.study, "Social networks")
    before = coding_snapshot(w.study)
    assert restructure.code_delete_preview(code=w.kinship) == {"codings": 1, "children": 0, "descendants": 0,
                                                               "subtree_codings": 1}
    restructure.code_delete(code=w.kinship, mode="move_to_parent", actor=w.users["pi"])
    assert coding_snapshot(w.study) == before
    assert Coding.objects.filter(code=networks).count() == 1


def test_delete_with_codings_and_subtree(coded):
    w = coded
    networks = code(w.study, "Social networks")
    doomed = Coding.objects.filter(code__parent=networks).count()
    result = restructure.code_delete(code=networks, mode="delete", actor=w.users["pi"])
    assert result["codings_deleted"] == doomed == 5
    assert sorted(result["codes_deleted"]) == ["Alumni", "Kinship", "Partnership", "Social networks"]
    assert not Code.objects.filter(study=w.study, name__in=["Kinship", "Alumni"]).exists()
    assert AuditEvent.objects.filter(action="code.delete").count() == 1


def test_delete_refusals(world):
    networks = code(world.study, "Social networks")
    with pytest.raises(ValidationError, match="top-level"):
        restructure.code_delete(code=networks, mode="move_to_parent", actor=world.users["pi"])
    with pytest.raises(ValidationError, match="Choose whether"):
        restructure.code_delete(code=networks, mode="", actor=world.users["pi"])
    assert Code.objects.filter(pk=networks.pk).exists()


# --- property: random sequences keep the tree sound and lose no coding ------------------------------------------
OPS = st.lists(st.tuples(st.sampled_from(["create", "move", "merge", "delete_move", "delete_all", "split"]),
                         st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=12)


@given(ops=OPS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_operations_keep_the_tree_acyclic_and_codings_attached(world, ops):
    study = services.study_create(name="Property", template="migration-drivers", pi=world.users["pi"])
    participant = services.participant_create(study=study, label="P1")
    transcript = services.transcript_create(study=study, participant=participant, title="T",
                                            text="R: " + "word " * 40)
    codes = list(Code.objects.filter(study=study))
    for i, c in enumerate(codes):
        coding_apply(transcript=transcript, code=c, coder=world.users["coder"], start=3 + i % 20, end=8 + i % 20)
        coding_apply(transcript=transcript, code=c, coder=world.users["other_coder"], start=3, end=8)
    spans = {(s, e, coder) for s, e, coder in Coding.objects.filter(transcript=transcript)
             .values_list("start", "end", "coder_id")}
    deleted_spans_allowed = False
    for op, a, b in ops:
        current = list(Code.objects.filter(study=study).order_by("id"))
        if not current:
            break
        x, y = current[a % len(current)], current[b % len(current)]
        try:
            if op == "create":
                code_create(study=study, name=f"New {a}-{b}", parent=x if b % 2 else None)
            elif op == "move":
                restructure.code_move(code=x, parent=y if a != b else None, actor=None)
            elif op == "merge":
                restructure.code_merge(source=x, target=y, actor=None)
            elif op == "delete_move":
                restructure.code_delete(code=x, mode="move_to_parent", actor=None)
            elif op == "delete_all":
                restructure.code_delete(code=x, mode="delete", actor=None)
                deleted_spans_allowed = True
            elif op == "split":
                ids = list(Coding.objects.filter(code=x).values_list("pk", flat=True)[:1])
                restructure.code_split(code=x, coding_ids=ids, target=y, actor=None)
        except ValidationError:
            pass
        parents = dict(Code.objects.filter(study=study).values_list("id", "parent_id"))
        assert tree.is_acyclic(parents)
        assert all(p is None or p in parents for p in parents.values())
        assert set(Coding.objects.filter(transcript=transcript).values_list("code_id", flat=True)) <= set(parents)
        now = {(s, e, coder) for s, e, coder in Coding.objects.filter(transcript=transcript)
               .values_list("start", "end", "coder_id")}
        if not deleted_spans_allowed:
            assert now == spans  # merges fold identical codings but never lose a coded span


# --- REFI-QDA interchange -------------------------------------------------------------------------------------
def xsd_validate(data: bytes, schema: str) -> None:
    xsd = etree.XMLSchema(etree.parse(str(SHARED / schema)))
    document = etree.fromstring(data)
    assert xsd.validate(document), xsd.error_log


def test_exported_qdc_validates_and_round_trips(world):
    restructure.code_update(code=world.kinship, actor=None, when_to_use="family", example="my mother",
                            when_not_to_use="friends")
    restructure.code_update(code=code(world.study, "Amenities"), actor=None, codable=False)
    first = interchange.codebook_export_qdc(study=world.study)
    xsd_validate(first, "Codebook.xsd")
    copy = services.study_create(name="Copy")
    report = interchange.codebook_import_qdc(study=copy, data=first, actor=world.users["pi"])
    assert len(report["added"]) == 17
    second = interchange.codebook_export_qdc(study=copy)
    assert first == second
    twin = Code.objects.get(study=copy, name="Kinship")
    assert (twin.guid, twin.when_to_use, twin.example, twin.color) == (world.kinship.guid, "family", "my mother",
                                                                        world.kinship.color)
    assert Code.objects.get(study=copy, name="Amenities").codable is False


def test_import_merges_by_guid_then_path_and_reports(world):
    data = interchange.codebook_export_qdc(study=world.study)
    report = interchange.codebook_import_qdc(study=world.study, data=data, actor=None)
    assert report == {"added": [], "matched_by_guid": 17, "matched_by_path": 0}
    other = services.study_create(name="Other", template="migration-drivers")
    report = interchange.codebook_import_qdc(study=other, data=data, actor=None)
    assert report["matched_by_path"] == 17 and not report["added"]
    sample = (SHARED / "samples" / "refi-qda-1.5-annexA1_codebook.qdc").read_bytes()
    report = interchange.codebook_import_qdc(study=world.study, data=sample, actor=None)
    assert report["added"] == ["Topics", "Economy", "Health care", "Values", "Conservatives", "Liberals"]
    assert Code.objects.get(study=world.study, name="Topics").codable is False
    assert str(Code.objects.get(study=world.study, name="Economy").guid) == "d7aa29da-519b-4946-9b90-253b6db8fd0a"
    assert AuditEvent.objects.filter(action="codebook.import").count() == 3


@pytest.mark.parametrize("sample", ["nvivo-win-12.6_oltas0517.qdpx", "nvivo-mac-15.0_nvivo_project.qdpx",
                                    "qc-1.3.2_demo.qdpx"])
def test_codebooks_inside_other_programs_projects_import(world, sample):
    import zipfile

    with zipfile.ZipFile(SHARED / "samples" / sample) as archive:
        qde = next(n for n in archive.namelist() if n.endswith(".qde"))
        data = archive.read(qde)
    roots = parse_qdc(data)
    assert roots
    report = interchange.codebook_import_qdc(study=world.other_study, data=data, actor=None)
    assert report["added"]


def deep(n):
    inner = ""
    for i in range(n):
        inner = f'<Code guid="{i:08d}-0000-0000-0000-000000000000" name="c{i}" isCodable="true">{inner}</Code>'
    return f'<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>{inner}</Codes></CodeBook>'.encode()


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"not xml at all", "not well-formed"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><CodeBook xmlns="urn:QDA-XML:codebook:1.0">&a;</CodeBook>',
     "forbidden"),
    (b'<CodeBook xmlns="urn:other"><Codes/></CodeBook>', "namespace"),
    (b'<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="nope" name="x" isCodable="true"/></Codes>'
     b"</CodeBook>", "not a GUID"),
    (deep(3000), "nested more than 50"),
    (b" " * (6 * 1024 * 1024), "larger than"),
])
def test_bad_qdc_files_change_nothing(world, data, message):
    before = Code.objects.filter(study=world.study).count()
    with pytest.raises(ValidationError, match=message):
        interchange.codebook_import_qdc(study=world.study, data=data, actor=None)
    assert Code.objects.filter(study=world.study).count() == before


def test_duplicate_sibling_names_in_a_qdc_merge_into_one(world):
    data = (b'<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
            b'<Code guid="11111111-1111-1111-1111-111111111111" name="Same" isCodable="true"/>'
            b'<Code guid="22222222-2222-2222-2222-222222222222" name="same" isCodable="true"/>'
            b"</Codes></CodeBook>")
    report = interchange.codebook_import_qdc(study=world.other_study, data=data, actor=None)
    assert report["added"] == ["Same"] and report["matched_by_path"] == 1


def test_csv_export_is_safe_and_complete(world):
    code_create(study=world.study, name="=HYPERLINK(\"x\")", description="+1 formula")
    text = interchange.codebook_export_csv(study=world.study)
    lines = text.splitlines()
    assert lines[0].startswith('"id","guid","path","name"')
    assert '"Social networks > Kinship","Kinship"' in text
    assert "\"'=HYPERLINK(\"\"x\"\")\"" in text and "\"'+1 formula\"" in text
    assert len(lines) == 1 + Code.objects.filter(study=world.study).count()


def test_cli_export_and_import(world, tmp_path):
    out = tmp_path / "book.qdc"
    call_command("codebook_export", world.study.slug, "--format", "qdc", "--output", str(out))
    xsd_validate(out.read_bytes(), "Codebook.xsd")
    copy = services.study_create(name="CLI copy")
    stdout = io.StringIO()
    call_command("codebook_import", copy.slug, str(out), stdout=stdout)
    assert "17 added, 0 matched by GUID, 0 matched by path" in stdout.getvalue()
    with pytest.raises(CommandError, match="not well-formed"):
        bad = tmp_path / "bad.qdc"
        bad.write_text("<<<")
        call_command("codebook_import", copy.slug, str(bad))
    with pytest.raises(CommandError, match="no study"):
        call_command("codebook_export", "nope")


# --- pages ----------------------------------------------------------------------------------------------------
def test_codebook_and_code_pages(login, coded):
    w = coded
    client = login(w.users["pi"])
    page = client.get(reverse("codebook", args=[w.study.slug])).content.decode()
    assert "Kinship" in page and "New code" in page
    detail = client.get(reverse("code_detail", args=[w.study.slug, w.kinship.pk])).content.decode()
    assert "My mother was alone." in detail and f"#coding-{w.coding_a.pk}" in detail
    coder_page = login(w.users["coder"]).get(reverse("codebook", args=[w.study.slug])).content.decode()
    assert "New code" not in coder_page


def test_code_actions_through_the_page(login, coded):
    w = coded
    client = login(w.users["pi"])
    partnership = code(w.study, "Partnership")
    url = reverse("code_action", args=[w.study.slug, partnership.pk])
    preview = client.post(url, {"action": "merge", "target": w.kinship.pk})
    assert preview.status_code == 200 and b"will be folded" in preview.content
    assert Code.objects.filter(pk=partnership.pk).exists()
    done = client.post(url, {"action": "merge", "target": w.kinship.pk, "confirm": "1"})
    assert done.status_code == 302 and not Code.objects.filter(pk=partnership.pk).exists()
    bad = client.post(reverse("code_action", args=[w.study.slug, w.kinship.pk]),
                      {"action": "move", "parent": w.kinship.pk})
    assert bad.status_code == 400 and b"inside it" in bad.content
    foreign = client.post(reverse("code_action", args=[w.study.slug, w.kinship.pk]),
                          {"action": "merge", "target": w.other_code.pk, "confirm": "1"})
    assert foreign.status_code == 404
    assert client.post(reverse("code_action", args=[w.study.slug, w.other_code.pk]),
                       {"action": "delete"}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_pis_moving_at_once_never_make_a_cycle():
    """A under B and B under A, at the same moment: one wins, the other is refused (PostgreSQL row lock)."""
    import threading

    from django.contrib.auth import get_user_model
    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises all writes; the race needs PostgreSQL")
    pi = get_user_model().objects.create_user("lead", password="lead-password-1")
    study = services.study_create(name="Race", pi=pi)
    for attempt in range(5):
        a = code_create(study=study, name=f"A{attempt}")
        b = code_create(study=study, name=f"B{attempt}")
        barrier = threading.Barrier(2)
        errors: list[str] = []

        def move(child, parent, barrier=barrier, errors=errors):
            try:
                barrier.wait()
                restructure.code_move(code=child, parent=parent, actor=None)
            except ValidationError as exc:
                errors.append(" ".join(exc.messages))
            finally:
                connections.close_all()

        threads = [threading.Thread(target=move, args=(a, b)), threading.Thread(target=move, args=(b, a))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        parents = dict(Code.objects.filter(study=study).values_list("id", "parent_id"))
        assert tree.is_acyclic(parents)
        assert len(errors) == 1 and "inside it" in errors[0]
