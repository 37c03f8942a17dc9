"""Database-level constraints: inserted past the services, the database itself refuses bad rows."""
from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from analysis.models import AnalysisRun
from codebook.models import Code, Coding, Memo
from interviews.models import Attribute, AttributeValue, Membership, Participant


def refused(create) -> bool:
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        return True
    return False


def coding_row(world, **overrides):
    values = {"transcript": world.transcript, "code": world.kinship, "coder": world.users["coder"],
              "layer": "coder", "start": 0, "end": 5, "quote": "x"}
    values.update(overrides)
    return Coding.objects.create(**values)


def test_coding_start_must_be_before_end(world):
    assert refused(lambda: coding_row(world, start=10, end=10))
    assert refused(lambda: coding_row(world, start=10, end=4))


def test_coding_start_not_negative(world):
    assert refused(lambda: coding_row(world, start=-1, end=4))


def test_coding_duplicate_span_refused_overlap_allowed(world):
    coding_row(world, start=0, end=5)
    assert refused(lambda: coding_row(world, start=0, end=5))
    # Overlapping and nested codings, and the same span by another coder or code, are fine.
    coding_row(world, start=2, end=8)
    coding_row(world, start=1, end=3)
    coding_row(world, start=0, end=5, coder=world.users["other_coder"])
    coding_row(world, start=0, end=5, code=world.alumni)


def test_consensus_layer_has_one_coding_per_span_whoever_wrote_it(world):
    coding_row(world, layer="consensus", coder=world.users["pi"])
    assert refused(lambda: coding_row(world, layer="consensus", coder=world.users["viewer"]))


def test_coding_layer_must_be_known(world):
    assert refused(lambda: coding_row(world, layer="draft"))


def test_membership_unique_and_role_valid(world):
    assert refused(lambda: Membership.objects.create(user=world.users["coder"], study=world.study, role="viewer"))
    assert refused(lambda: Membership.objects.create(user=world.users["outsider"], study=world.study, role="owner"))


def test_sibling_code_names_unique_case_insensitively(world):
    parent = Code.objects.get(study=world.study, name="Social networks")
    assert refused(lambda: Code.objects.create(study=world.study, parent=parent, name="KINSHIP"))
    assert refused(lambda: Code.objects.create(study=world.study, parent=None, name="social networks"))
    # The same name under another parent, or in another study, is fine.
    other_parent = Code.objects.get(study=world.study, name="Amenities")
    Code.objects.create(study=world.study, parent=other_parent, name="Kinship")
    Code.objects.create(study=world.other_study, parent=None, name="Social networks")


def test_code_cannot_be_its_own_parent(world):
    code = Code.objects.get(study=world.study, name="Kinship")
    code.parent_id = code.pk
    assert refused(lambda: code.save())


def test_code_name_not_empty(world):
    assert refused(lambda: Code.objects.create(study=world.study, name=""))


def test_code_with_codings_cannot_be_deleted_silently(world):
    assert refused(lambda: world.kinship.delete())
    assert Coding.objects.filter(code=world.kinship).exists()


def test_participant_label_unique_in_study(world):
    assert refused(lambda: Participant.objects.create(study=world.study, label="P01"))
    Participant.objects.create(study=world.other_study, label="P01")


def test_one_attribute_value_per_participant(world):
    attribute = Attribute.objects.get(study=world.study, name="Gender")
    assert refused(lambda: AttributeValue.objects.create(participant=world.participant, attribute=attribute,
                                                         value="Male"))
    assert refused(lambda: Attribute.objects.create(study=world.study, name="gender"))


def test_memo_has_at_most_one_target(world):
    assert refused(lambda: Memo.objects.create(study=world.study, title="x", code=world.kinship,
                                               transcript=world.transcript))


def test_analysis_run_status_and_progress(world):
    assert refused(lambda: AnalysisRun.objects.create(study=world.study, kind="drivers", status="lost"))
    assert refused(lambda: AnalysisRun.objects.create(study=world.study, kind="drivers", progress=101))


def test_deleting_a_study_removes_its_data(world):
    study_id = world.study.pk
    world.study.delete()
    assert not Coding.objects.filter(transcript__study_id=study_id).exists()
    assert not Code.objects.filter(study_id=study_id).exists()


@pytest.mark.parametrize("field", ["start", "end"])
def test_coding_offsets_are_integers_in_the_database(world, field):
    coding = coding_row(world, start=3, end=9)
    coding.refresh_from_db()
    assert isinstance(getattr(coding, field), int)
