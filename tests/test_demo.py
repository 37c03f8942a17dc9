"""The demo study: loads once, is internally consistent, and shows agreement and disagreement."""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis import services as analysis_services
from codebook.models import Code, Coding
from interviews.demo import CODE_KEYS, parse_marked
from interviews.models import AttributeValue, AuditEvent, Membership, Participant, Study, Transcript
from interviews.turns import paragraphs


def counts():
    return (Study.objects.count(), Transcript.objects.count(), Coding.objects.count(), Code.objects.count(),
            AttributeValue.objects.count(), Membership.objects.count(), AuditEvent.objects.count())


@pytest.fixture
def demo(db):
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return Study.objects.get(slug="demo"), out.getvalue()


def test_load_demo_is_idempotent(demo):
    before = counts()
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert counts() == before
    assert "Already present" in out.getvalue()


def test_load_demo_prints_logins(demo):
    _, output = demo
    for username in ("demo-pi", "demo-coder-a", "demo-coder-b", "demo-viewer"):
        assert username in output
    assert "demo-workbench" in output


def test_demo_refused_in_production(db, settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("load_demo", stdout=io.StringIO())
    assert not Study.objects.exists()


def test_demo_content(demo):
    study, _ = demo
    transcripts = Transcript.objects.filter(study=study)
    assert transcripts.count() >= 12
    assert transcripts.filter(language="zh").count() >= 2
    assert Participant.objects.filter(study=study).count() == transcripts.count()
    n_attributes = study.attributes.count()
    assert n_attributes == 5
    assert AttributeValue.objects.filter(participant__study=study).count() == 5 * transcripts.count()
    for transcript in transcripts:
        assert any(p.speaker for p in paragraphs(transcript.text))
        assert "{" not in transcript.text and "|" not in transcript.text
    for coding in Coding.objects.filter(transcript__study=study).select_related("transcript"):
        assert coding.quote == coding.transcript.text[coding.start : coding.end]
        assert coding.quote.strip() == coding.quote and coding.quote


def test_demo_coders_agree_on_most_and_disagree_on_some(demo):
    study, _ = demo
    spans = {}
    for username in ("demo-coder-a", "demo-coder-b"):
        spans[username] = set(
            Coding.objects.filter(transcript__study=study, coder__username=username)
            .values_list("transcript_id", "code_id", "start", "end")
        )
    a, b = spans["demo-coder-a"], spans["demo-coder-b"]
    assert len(a & b) / len(a | b) > 0.6
    assert a - b and b - a


def test_demo_frequency_table_has_the_papers_shape(demo):
    study, _ = demo
    params = analysis_services.clean_parameters(study, "drivers", {"coders": ["demo-coder-a"]})
    result = analysis_services.compute(study, "drivers", params)
    rows = {tuple(r["path"]): r for r in result["rows"] if r["kind"] == "code"}
    assert result["n"] == 14
    networks = rows[("Social networks",)]
    children = [rows[("Social networks", c)] for c in ("Kinship", "Partnership", "Alumni")]
    # The parent is the distinct union: never more than the children's sum, at least the largest child.
    assert max(c["participants"] for c in children) <= networks["participants"]
    assert networks["participants"] < sum(c["participants"] for c in children)
    assert rows[("Social networks", "Kinship")]["participants"] >= 6


def test_demo_marks_parse():
    text, marks = parse_marked("a {kinship|b {alumni@a|c}} d")
    assert text == "a b c d"
    assert [(m.start, m.end, m.key, m.coders) for m in marks] == [(4, 5, "alumni", ("a",)),
                                                                    (2, 5, "kinship", ("a", "b"))]
    assert set(CODE_KEYS.values()) and len(CODE_KEYS) == 12
    with pytest.raises(ValueError):
        parse_marked("{nosuch|x}")
    with pytest.raises(ValueError):
        parse_marked("{kinship|open")
