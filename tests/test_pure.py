"""Pure computation modules: hand examples plus property tests against plain reference implementations."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.frequencies import CodeNode, CodingFact, ancestors_map, code_frequencies
from codebook.highlight import Span, runs_for_ranges
from interviews.attributes import parse_value
from interviews.turns import paragraphs

# --- frequencies ----------------------------------------------------------------------------------------------
TREE = [CodeNode(1, None), CodeNode(2, 1), CodeNode(3, 1), CodeNode(4, None), CodeNode(5, 3)]


def test_parent_counts_each_participant_once():
    facts = [
        CodingFact(2, 10, 100),  # participant 100: two children of 1, in two transcripts
        CodingFact(3, 11, 100),
        CodingFact(3, 11, 100),  # a second segment in the same transcript
        CodingFact(1, 12, 101),  # participant 101: the parent itself
        CodingFact(5, 13, 102),  # participant 102: a grandchild
    ]
    freq = code_frequencies(TREE, facts)
    assert (freq[1].participants, freq[1].transcripts, freq[1].segments, freq[1].direct_segments) == (3, 4, 5, 1)
    assert (freq[2].participants, freq[3].participants, freq[5].participants) == (1, 2, 1)
    assert (freq[3].segments, freq[3].transcripts) == (3, 2)
    assert (freq[4].participants, freq[4].segments) == (0, 0)


def test_empty_study():
    assert code_frequencies([], []) == {}
    assert code_frequencies(TREE, [])[1].participants == 0


def test_cycle_and_unknown_code_are_errors():
    with pytest.raises(ValueError, match="cycle"):
        ancestors_map([CodeNode(1, 2), CodeNode(2, 1)])
    with pytest.raises(ValueError, match="unknown code"):
        code_frequencies(TREE, [CodingFact(99, 1, 1)])


@st.composite
def trees_and_facts(draw):
    n = draw(st.integers(1, 12))
    nodes = [CodeNode(i, draw(st.none() | st.integers(0, i - 1)) if i else None) for i in range(n)]
    facts = draw(st.lists(st.builds(CodingFact, st.integers(0, n - 1), st.integers(0, 6), st.integers(0, 4)),
                          max_size=40))
    # A transcript belongs to one participant.
    owner = {t: draw(st.integers(0, 4)) for t in range(7)}
    facts = [CodingFact(f.code_id, f.transcript_id, owner[f.transcript_id]) for f in facts]
    return nodes, facts


@given(trees_and_facts())
@settings(max_examples=200, deadline=None)
def test_frequencies_equal_brute_force(data):
    nodes, facts = data
    parent = {c.id: c.parent_id for c in nodes}

    def in_subtree(code_id, root):
        while code_id is not None:
            if code_id == root:
                return True
            code_id = parent[code_id]
        return False

    freq = code_frequencies(nodes, facts)
    for node in nodes:
        mine = [f for f in facts if in_subtree(f.code_id, node.id)]
        assert freq[node.id].segments == len(mine)
        assert freq[node.id].transcripts == len({f.transcript_id for f in mine})
        assert freq[node.id].participants == len({f.participant_id for f in mine})
        assert freq[node.id].direct_segments == sum(1 for f in facts if f.code_id == node.id)
        # A parent is never the plain sum of its children's participants when they share participants.
        children = [c.id for c in nodes if c.parent_id == node.id]
        assert freq[node.id].participants <= (
            sum(freq[c].participants for c in children) + freq[node.id].direct_segments
        ) or not children


# --- highlight runs -------------------------------------------------------------------------------------------
def test_runs_split_at_boundaries_and_order_innermost_first():
    spans = [Span(1, 2, 10), Span(2, 4, 6)]
    (runs,) = runs_for_ranges([(0, 12)], spans)
    assert [(r.start, r.end, r.codings) for r in runs] == [
        (0, 2, ()), (2, 4, (1,)), (4, 6, (2, 1)), (6, 10, (1,)), (10, 12, ()),
    ]


def test_runs_across_paragraphs():
    text = "abc\ndef\n"
    spans = [Span(7, 1, 6)]
    runs = runs_for_ranges([(0, 3), (4, 7)], spans)
    assert [(r.start, r.end, r.codings) for r in runs[0]] == [(0, 1, ()), (1, 3, (7,))]
    assert [(r.start, r.end, r.codings) for r in runs[1]] == [(4, 6, (7,)), (6, 7, ())]
    assert text[1:3] + text[4:6] == "bcde"


@st.composite
def text_ranges_spans(draw):
    lines = draw(st.lists(st.integers(0, 8), min_size=1, max_size=6))
    ranges, position = [], 0
    for length in lines:
        ranges.append((position, position + length))
        position += length + 1
    total = position
    spans = []
    for i in range(draw(st.integers(0, 10))):
        start = draw(st.integers(0, max(total - 1, 0)))
        end = draw(st.integers(start + 1, total + 1))
        spans.append(Span(i, start, end))
    return ranges, spans


@given(text_ranges_spans())
@settings(max_examples=300, deadline=None)
def test_runs_equal_per_character_coverage(data):
    ranges, spans = data
    result = runs_for_ranges(ranges, spans)
    assert len(result) == len(ranges)
    for (start, end), runs in zip(ranges, result, strict=True):
        # Runs tile the range exactly, and adjacent runs differ in coverage.
        if start == end:
            assert runs == []
            continue
        assert [r.start for r in runs] == [start] + [r.end for r in runs[:-1]]
        assert (runs[-1].end if runs else start) == end
        for a, b in itertools.pairwise(runs):
            assert a.codings != b.codings
        for run in runs:
            for position in range(run.start, run.end):
                covering = {s.id for s in spans if s.start <= position < s.end}
                assert set(run.codings) == covering
            lengths = [next(s for s in spans if s.id == i).end - next(s for s in spans if s.id == i).start
                       for i in run.codings]
            assert lengths == sorted(lengths)


# --- turns ----------------------------------------------------------------------------------------------------
def test_speaker_turns_in_english_and_chinese():
    text = "Interviewer: Hello there\nR: Hi.\n\nP07: I came back.\n访谈者：你好\nno label here\nNote: 10:30 am\n"
    paras = paragraphs(text)
    assert [p.speaker for p in paras] == ["Interviewer", "R", "P07", "访谈者", None, "Note"]
    turn = paras[3]
    assert text[turn.start : turn.end] == "访谈者：你好" and text[turn.body_start : turn.end] == "你好"
    assert text[paras[0].body_start : paras[0].end] == "Hello there"


@pytest.mark.parametrize("line", ["He said this: nothing more.", "and then: more", "A long sentence goes on: x"])
def test_colon_inside_a_sentence_is_not_a_speaker(line):
    (para,) = paragraphs(line + "\n")
    assert para.speaker is None and para.body_start == para.start


@pytest.mark.parametrize("label", ["Speaker 2", "Participant A", "Interviewer", "Dr. Wang", "受访者"])
def test_multi_word_labels(label):
    (para,) = paragraphs(f"{label}: words\n")
    assert para.speaker == label


def test_offsets_are_code_points():
    text = "😀😀\nI: é\n"
    paras = paragraphs(text)
    assert paras[1].start == 3 and text[paras[1].body_start : paras[1].end] == "é"


# --- attributes -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("text", "  Engineer ", "Engineer"),
        ("number", "34", "34"),
        ("number", "34.50", "34.5"),
        ("number", "-2e3", "-2000"),
        ("date", "2024-03-05", "2024-03-05"),
        ("boolean", "Yes", "true"),
        ("boolean", "否", "false"),
        ("choice", "female", "Female"),
    ],
)
def test_parse_value(kind, raw, expected):
    assert parse_value(kind, raw, ["Female", "Male"]) == expected


@pytest.mark.parametrize(
    ("kind", "raw"),
    [("number", "thirty"), ("number", "nan"), ("number", "inf"), ("date", "05/03/2024"), ("boolean", "perhaps"),
     ("choice", "Other"), ("text", ""), ("text", "x" * 501), ("colour", "red")],
)
def test_parse_value_refuses(kind, raw):
    with pytest.raises(ValueError):
        parse_value(kind, raw, ["Female", "Male"])
