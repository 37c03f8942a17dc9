"""Agreement statistics: the worked examples in ../shared/agreement/README.md to 1e-6, and property tests against
a plain per-character implementation, the krippendorff package and scikit-learn / statsmodels."""
from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from analysis import agreement as ag

TOL = 1e-6


# --- published examples ---------------------------------------------------------------------------------------
def test_krippendorff_2011_nominal_with_missing_values():
    rows = {
        "A": "1 2 3 3 2 1 4 1 2 . . .",
        "B": "1 2 3 3 2 2 4 1 2 5 . 3",
        "C": ". 3 3 3 2 3 4 2 2 5 1 .",
        "D": "1 2 3 3 2 4 4 1 2 5 1 .",
    }
    matrix = [[None if v == "." else int(v) for v in row.split()] for row in rows.values()]
    units = list(zip(*matrix, strict=True))
    assert ag.alpha_nominal(units) == pytest.approx(0.743421, abs=TOL)


def test_krippendorff_2011_binary_and_letters():
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert ag.alpha_nominal(list(zip(a, b, strict=True))) == pytest.approx(0.095238, abs=TOL)
    counts = {}
    for x, y in zip(a, b, strict=True):
        counts[x | y << 1] = counts.get(x | y << 1, 0) + 1
    assert ag.alpha_binary(counts, 2) == pytest.approx(0.095238, abs=TOL)
    letters_b = "b a b b b c c c e d d d".split()
    letters_a = "a a b b d c c c e d d a".split()
    assert ag.alpha_nominal(list(zip(letters_a, letters_b, strict=True))) == pytest.approx(0.691964, abs=TOL)


@pytest.mark.parametrize(("table", "kappa"), [
    ([[20, 5], [10, 15]], 0.4),
    ([[45, 15], [25, 15]], 0.130435),
    ([[25, 35], [5, 35]], 0.259259),
])
def test_cohen_examples(table, kappa):
    assert ag.cohen_kappa_table(table) == pytest.approx(kappa, abs=TOL)
    # The same through pattern counts: mask bit 0 = coder A marked, bit 1 = coder B marked.
    counts = {3: table[0][0], 1: table[0][1], 2: table[1][0], 0: table[1][1]}
    assert ag.cohen_kappa(counts) == pytest.approx(kappa, abs=TOL)


def test_nvivo_style_character_example():
    # 1,000 characters: 50 coded by both, 100 by A only, 50 by B only, 800 by neither.
    per_coder = [[(0, 150)], [(0, 50), (150, 200)]]
    counts = ag.character_counts(1000, per_coder)
    assert counts == {3: 50, 1: 100, 2: 50, 0: 800}
    result = ag.measures(counts, 2)
    assert result.percent_agreement == pytest.approx(0.85, abs=TOL)
    assert result.kappa == pytest.approx(0.318182, abs=TOL)
    assert result.coded_agreement == pytest.approx(50 / 200, abs=TOL)


WIKI_FLEISS = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1], [7, 7, 0, 0, 0],
               [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
FLEISS_1971 = ("444444 222555 233335 555555 222444 113333 333355 113334 114444 555555 144444 124444 222333 144444 "
               "224445 333335 111455 111112 224444 133555 555555 244444 224555 114444 144445 222224 111155 224444 "
               "133333 555555").split()


def test_fleiss_examples():
    assert ag.fleiss_kappa(WIKI_FLEISS) == pytest.approx(0.209931, abs=TOL)
    ratings = [[patient.count(str(c)) for c in range(1, 6)] for patient in FLEISS_1971]
    assert ag.fleiss_kappa(ratings) == pytest.approx(0.4302445, abs=TOL)
    units = [[int(ch) for ch in patient] for patient in FLEISS_1971]
    assert ag.alpha_nominal(units) == pytest.approx(0.433410, abs=TOL)


# --- edge cases -----------------------------------------------------------------------------------------------
def test_nobody_used_the_code():
    result = ag.measures({0: 500}, 2)
    assert result.percent_agreement == 1.0 and result.coded_agreement is None
    assert result.kappa is None and result.alpha is None


def test_identical_coders_and_empty_selection():
    result = ag.measures({3: 40, 0: 60}, 2)
    assert result.kappa == pytest.approx(1.0) and result.alpha == pytest.approx(1.0)
    empty = ag.measures({}, 3)
    assert empty.units == 0 and empty.percent_agreement is None and empty.alpha is None


def test_unit_counts_for_turns():
    turns = [(0, 10), (11, 20), (21, 30)]
    counts = ag.unit_counts(turns, [[(5, 12)], [(25, 26)]])
    assert counts == {1: 2, 2: 1}


def test_segment_matches():
    own = [(0, 100), (200, 210)]
    others = [(5, 100), (150, 205)]
    assert ag.segment_matches(own, others, 0.9) == [True, False]
    assert ag.segment_matches(own, others, 0.96) == [False, False]


def test_bootstrap_is_seeded_and_brackets_alpha():
    clusters = [{3: 30, 0: 60, 1: 5}, {3: 10, 0: 80, 2: 10}, {3: 25, 0: 70}, {1: 10, 0: 90}, {3: 40, 0: 50, 2: 3}]
    total: dict[int, int] = {}
    for c in clusters:
        ag.add(total, c)
    alpha = ag.alpha_binary(total, 2)
    low, high = ag.alpha_bootstrap(clusters, 2, resamples=1000, seed=3)
    assert low <= alpha <= high
    assert ag.alpha_bootstrap(clusters, 2, resamples=1000, seed=3) == (low, high)


# --- property tests -------------------------------------------------------------------------------------------
@st.composite
def codings(draw, coders=2):
    length = draw(st.integers(1, 120))
    per = []
    for _ in range(coders):
        items = []
        for _ in range(draw(st.integers(0, 5))):
            start = draw(st.integers(0, length - 1))
            items.append((start, draw(st.integers(start + 1, length))))
        per.append(items)
    return length, per


def per_character(length, per):
    return [[int(any(s <= i < e for s, e in coder)) for coder in per] for i in range(length)]


@given(codings(coders=2))
@settings(max_examples=300, deadline=None)
def test_two_coders_equal_plain_implementations(data):
    length, per = data
    values = per_character(length, per)
    counts = ag.character_counts(length, per)
    result = ag.measures(counts, 2)
    a = [v[0] for v in values]
    b = [v[1] for v in values]
    assert result.percent_agreement == pytest.approx(sum(x == y for x, y in zip(a, b, strict=True)) / length)
    if len(set(a)) > 1 or len(set(b)) > 1:
        expected = cohen_kappa_score(a, b)
        if np.isfinite(expected) and result.kappa is not None:
            assert result.kappa == pytest.approx(expected, abs=1e-9)
    if len(set(a + b)) > 1:
        assert result.alpha == pytest.approx(
            krippendorff.alpha(reliability_data=[a, b], level_of_measurement="nominal"), abs=1e-9)
        assert result.alpha == pytest.approx(ag.alpha_nominal(values), abs=1e-9)
    else:
        assert result.alpha is None


@given(codings(coders=3))
@settings(max_examples=200, deadline=None)
def test_three_coders_equal_plain_implementations(data):
    length, per = data
    values = per_character(length, per)
    counts = ag.character_counts(length, per)
    result = ag.measures(counts, 3)
    flat = [x for v in values for x in v]
    if 0 < sum(flat) < len(flat):
        table = np.array([[3 - sum(v), sum(v)] for v in values])
        assert result.kappa == pytest.approx(sm_fleiss(table), abs=1e-9)
        assert result.alpha == pytest.approx(
            krippendorff.alpha(reliability_data=np.array(values).T, level_of_measurement="nominal"), abs=1e-9)
    assert result.units == length
    for i in range(3):
        assert result.units_coded[i] == sum(v[i] for v in values)
