"""The pure pseudonymisation module: list matching, detectors, overlaps, application, the re-scan."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interviews.pseudonymise import Entry, Matcher, Proposal, apply, detect, leftovers, propose, resolve


def found(text, entries):
    return [(p.original, p.pseudonym) for p in resolve(Matcher(entries).find(text))]


def test_whole_words_any_case_longest_first():
    entries = [Entry("Wang", "[W]"), Entry("Wang Lei", "[P07]"), Entry("Lei", "[L]")]
    assert found("wang lei met WANG and Lei; Wangfujing, Leiming", entries) == [
        ("wang lei", "[P07]"), ("WANG", "[W]"), ("Lei", "[L]")]


def test_aliases_share_the_pseudonym():
    assert found("Lei Wang and Wang Lei", [Entry("Wang Lei", "[P07]", ("Lei Wang",))]) == [
        ("Lei Wang", "[P07]"), ("Wang Lei", "[P07]")]


def test_cjk_entries_match_exact_strings_without_word_boundaries():
    entries = [Entry("华为", "[雇主]"), Entry("杭州", "[城市A]"), Entry("杭州市", "[城市A市]")]
    assert found("我在华为工作，住在杭州市，常去杭州。", entries) == [
        ("华为", "[雇主]"), ("杭州市", "[城市A市]"), ("杭州", "[城市A]")]


def test_entries_with_punctuation():
    assert found("at A.B. Corp, not AB", [Entry("A.B. Corp", "[employer]")]) == [("A.B. Corp", "[employer]")]


def test_the_same_original_gets_the_same_pseudonym_everywhere():
    matcher = Matcher([Entry("Huawei", "[employer]")])
    for text in ("Huawei hired me.", "I left huawei.", "HUAWEI!"):
        assert {p.pseudonym for p in matcher.find(text)} == {"[employer]"}


@pytest.mark.parametrize(
    ("text", "detector", "original"),
    [
        ("write to sarah.j+qda@mail.example.co.uk today", "email", "sarah.j+qda@mail.example.co.uk"),
        ("see https://example.org/path?q=1.", "url", "https://example.org/path?q=1"),
        ("see www.example.com/me, thanks", "url", "www.example.com/me"),
        ("call +44 20 7946 0958 now", "phone", "+44 20 7946 0958"),
        ("call +1 (415) 555-0132 now", "phone", "+1 (415) 555-0132"),
        ("手机13812345678。", "phone", "13812345678"),
        ("mobile 138-1234-5678 ok", "phone", "138-1234-5678"),
        ("tel +86 139 1234 5678", "phone", "+86 139 1234 5678"),
        ("office (020) 7946 0958 ok", "phone", "(020) 7946 0958"),
        ("身份证号11010519491231002X。", "id-number", "11010519491231002X"),
        ("account 12345678901 ok", "digits", "12345678901"),
        ("lives at SW1A 1AA now", "postcode", "SW1A 1AA"),
        ("zip 94103-1234", "postcode", "94103-1234"),
        ("Springfield, IL 62704", "postcode", "62704"),
        ("邮编：310012", "postcode", "310012"),
        ("I was born on 3 May 1988 in", "date-of-birth", "3 May 1988"),
        ("date of birth: 1988-05-03.", "date-of-birth", "1988-05-03"),
        ("born March 3, 1988", "date-of-birth", "March 3, 1988"),
        ("我出生于1988年5月3日。", "date-of-birth", "1988年5月3日"),
        ("Then Sarah Johnson called", "name", "Sarah Johnson"),
        ("我和王先生谈过", "name", "王先生"),
    ],
)
def test_detectors(text, detector, original):
    proposals = resolve(detect(text))
    assert (detector, original) in [(p.detector, p.original) for p in proposals]


@pytest.mark.parametrize(
    "text",
    [
        "In 2015 I moved. It was 30,000 yuan.",
        "The year 1988 and 12 people.",
        "Interviewer: Yes. So what happened in March?",
        "I think. Maybe.",
        "ID 110105194912310021 has a wrong checksum",  # not a valid resident ID: only a long digit run
    ],
)
def test_detectors_leave_ordinary_text_alone(text):
    detectors = {p.detector for p in resolve(detect(text))}
    assert detectors <= {"digits"}
    if "checksum" not in text:
        assert detectors == set()


def test_known_names_are_not_suggested_again():
    assert not [p for p in detect("Then Sarah Johnson called", known=["Sarah Johnson"]) if p.detector == "name"]


def test_bracketed_pseudonyms_are_not_suggested_as_names():
    assert not [p for p in detect("I moved to [City A] with [Wang Lei]") if p.detector == "name"]


def test_list_wins_over_detectors_and_suggestions_are_flagged():
    text = "Email Wang Lei at wl@example.com, said Sarah Johnson."
    proposals = propose(text, Matcher([Entry("Wang Lei", "[P07]")]))
    kinds = [(p.original, p.detector, p.suggestion) for p in proposals]
    assert ("Wang Lei", "list", False) in kinds
    assert ("wl@example.com", "email", False) in kinds
    assert ("Sarah Johnson", "name", True) in kinds
    assert not any(k[0] == "Email Wang Lei" for k in kinds)


def test_apply_and_rescan():
    text = "Wang Lei worked at Huawei."
    matcher = Matcher([Entry("Wang Lei", "[P07]"), Entry("Huawei", "[employer]")])
    proposals = propose(text, matcher)
    result = apply(text, proposals)
    assert result == "[P07] worked at [employer]."
    assert leftovers(result, matcher) == []
    partial = apply(text, [p for p in proposals if p.original != "Huawei"])
    assert [p.original for p in leftovers(partial, matcher)] == ["Huawei"]


def test_apply_refuses_overlaps():
    with pytest.raises(ValueError):
        apply("abcdef", [Proposal(0, 3, "abc", "x", "list"), Proposal(2, 4, "cd", "y", "list")])


WORDS = ["Wang", "Lei", "Li", "Ming", "Hangzhou", "Huawei", "the", "and", "worked", "in", "华为", "杭州", "李明"]


@given(
    entries=st.lists(st.tuples(st.lists(st.sampled_from(WORDS), min_size=1, max_size=2), st.integers(0, 9)),
                     max_size=6),
    words=st.lists(st.sampled_from(WORDS), max_size=30),
    separators=st.lists(st.sampled_from([" ", ", ", ". ", "\n", ""]), min_size=30, max_size=30),
)
@settings(max_examples=300, deadline=None)
def test_accepting_every_list_proposal_leaves_no_original(entries, words, separators):
    entry_list = [Entry(" ".join(w), f"[X{n}]") for w, n in entries]
    text = "".join(w + s for w, s in zip(words, separators, strict=False))
    matcher = Matcher(entry_list)
    proposals = [p for p in propose(text, matcher) if p.detector == "list"]
    result = apply(text, proposals)
    assert leftovers(result, matcher) == []
    for p in proposals:
        assert text[p.start : p.end].casefold() == p.original.casefold()
