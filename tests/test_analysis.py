"""The analysis tables: hand-built fixtures with known answers, brute-force property tests, the cache, outputs."""
from __future__ import annotations

import io
import itertools
import json

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import output, services, tables
from analysis.frequencies import CodeNode
from analysis.models import AnalysisRun
from codebook.models import Code
from codebook.services import code_create, coding_apply
from interviews import services as study_services

# --- pure: a hand-built study ---------------------------------------------------------------------------------
# Codes: 1 Social networks (parent) > 2 Kinship, 3 Partnership, 4 Alumni; 5 Amenities (no codings).
TREE = tables.Tree([CodeNode(1, None), CodeNode(2, 1), CodeNode(3, 1), CodeNode(4, 1), CodeNode(5, None)],
                   {1: "Social networks", 2: "Kinship", 3: "Partnership", 4: "Alumni", 5: "Amenities"},
                   {1: (0, "a"), 2: (0, "a"), 3: (1, "b"), 4: (2, "c"), 5: (1, "z")})


def fact(i, code, transcript, participant, coder=1, start=0, end=10):
    return tables.Fact(i, code, transcript, participant, coder, start, end)


# Participant 10 has two transcripts (100, 101) with kinship in both and partnership in one; participant 11 has a
# direct parent coding and alumni; participant 12 only partnership by coder 2; participant 13 nothing.
FACTS = [
    fact(1, 2, 100, 10), fact(2, 2, 101, 10), fact(3, 3, 101, 10, start=5, end=20),
    fact(4, 1, 110, 11), fact(5, 4, 110, 11, start=50, end=60),
    fact(6, 3, 120, 12, coder=2),
]
POPULATION = {10, 11, 12, 13}


def test_driver_table_by_hand():
    result = tables.driver_table(TREE, FACTS, POPULATION)
    rows = {(r["kind"], tuple(r["path"])): r for r in result["rows"]}
    parent = rows[("code", ("Social networks",))]
    assert result["n"] == 4
    # A parent is the distinct union: 3 participants, not 2 + 2 + 1.
    assert (parent["participants"], parent["transcripts"], parent["segments"], parent["percent"]) == (3, 4, 6, 75.0)
    assert rows[("code", ("Social networks", "Kinship"))]["participants"] == 1
    assert rows[("code", ("Social networks", "Kinship"))]["transcripts"] == 2
    assert rows[("code", ("Social networks", "Partnership"))]["participants"] == 2
    assert rows[("none", ("Social networks", "none of these"))]["participants"] == 1
    # Participant 10 has two children (kinship, partnership); 11 has alumni only (its parent coding is no child).
    assert rows[("two_or_more", ("Social networks", "two or more of these"))]["participants"] == 1
    assert rows[("code", ("Amenities",))]["participants"] == 0
    order = [(r["kind"], r["path"][-1]) for r in result["rows"]]
    assert order == [("code", "Social networks"), ("code", "Kinship"), ("code", "Partnership"), ("code", "Alumni"),
                     ("none", "none of these"), ("two_or_more", "two or more of these"), ("code", "Amenities")]


def test_empty_study_tables():
    empty = tables.Tree([], {}, {})
    assert tables.driver_table(empty, [], set()) == {"n": 0, "rows": []}
    assert tables.driver_table(TREE, [], set())["rows"][0]["percent"] is None


def test_crosstab_by_hand_with_an_empty_value():
    values = {10: "Female", 11: "Male", 12: "Female"}  # 13 has no value
    result = tables.crosstab(TREE, FACTS, POPULATION, values, ["Female", "Male", "Other"])
    columns = {c["value"]: c["n"] for c in result["columns"]}
    assert columns == {"Female": 2, "Male": 1, "Other": 0, tables.MISSING: 1}
    parent = result["rows"][0]
    assert parent["counts"] == {"Female": 2, "Male": 1, "Other": 0, tables.MISSING: 0} and parent["total"] == 3
    assert parent["column_percent"]["Female"] == 100.0 and parent["column_percent"]["Other"] is None
    assert parent["row_percent"]["Male"] == pytest.approx(33.3)


def test_binning():
    assert [tables.bin_label(v, [30, 40]) for v in (29.9, 30, 39, 40, 70)] == ["< 30", "30–<40", "30–<40", "≥ 40",
                                                                               "≥ 40"]
    assert tables.bin_order([30, 40]) == ["< 30", "30–<40", "≥ 40"]


def test_attribute_tables():
    gender = {10: "Female", 11: "Male", 12: "Female", 13: "Female"}
    migration = {10: "Intra", 11: "Inter", 12: "Inter"}
    one = tables.attribute_table(POPULATION, gender, ["Female", "Male"])
    assert [(r["value"], r["count"], r["percent"]) for r in one["rows"]] == [("Female", 3, 75.0), ("Male", 1, 25.0)]
    two = tables.attribute_table(POPULATION, gender, ["Female", "Male"], migration, ["Intra", "Inter"])
    female = two["rows"][0]
    assert female["counts"] == {"Intra": 1, "Inter": 1, tables.MISSING: 1} and female["total"] == 3


def test_cooccurrence_units_by_hand():
    result = tables.cooccurrence_units(TREE, FACTS, POPULATION, "participant", level=1)
    pairs = {(p["a"][-1], p["b"][-1]): p for p in result["pairs"]}
    kp = pairs[("Kinship", "Partnership")]
    assert (kp["count"], kp["n_a"], kp["n_b"], kp["jaccard"], kp["a_given"], kp["b_given"]) == (1, 1, 2, 0.5, 100.0,
                                                                                                 50.0)
    assert pairs[("Kinship", "Alumni")]["count"] == 0
    by_transcript = tables.cooccurrence_units(TREE, FACTS, POPULATION, "transcript", level=1)
    assert {(p["a"][-1], p["b"][-1]): p["count"] for p in by_transcript["pairs"]}[("Kinship", "Partnership")] == 1


def test_cooccurrence_segments_by_hand():
    facts = [
        fact(1, 2, 100, 10, start=0, end=10), fact(2, 3, 100, 10, start=5, end=20),   # overlap
        fact(3, 4, 100, 10, start=25, end=30),                                         # 5 after partnership ends
        fact(4, 4, 100, 10, coder=2, start=0, end=10),                                 # other coder: never pairs
        fact(5, 2, 101, 10, start=0, end=5), fact(6, 3, 101, 10, start=5, end=9),       # touching, no overlap
    ]
    overlap = tables.cooccurrence_segments(TREE, facts, {10}, level=1)
    pairs = {(p["a"][-1], p["b"][-1]): p for p in overlap["pairs"]}
    assert pairs[("Kinship", "Partnership")]["count"] == 1
    assert pairs[("Partnership", "Alumni")]["count"] == 0 and pairs[("Kinship", "Alumni")]["count"] == 0
    near = tables.cooccurrence_segments(TREE, facts, {10}, level=1, within=5)
    pairs = {(p["a"][-1], p["b"][-1]): p for p in near["pairs"]}
    assert pairs[("Partnership", "Alumni")]["count"] == 1 and pairs[("Kinship", "Partnership")]["count"] == 2
    turns = [(100, 0, 22), (100, 23, 40), (101, 0, 9)]
    same_turn = tables.cooccurrence_segments(TREE, facts, {10}, level=1, turns=turns)
    pairs = {(p["a"][-1], p["b"][-1]): p["count"] for p in same_turn["pairs"]}
    assert pairs == {("Kinship", "Partnership"): 2, ("Kinship", "Alumni"): 0, ("Partnership", "Alumni"): 0}


def test_matrix_by_hand():
    result = tables.code_matrix(TREE, FACTS, [10, 11, 12, 13], level=None)
    header = [c["path"][-1] for c in result["codes"]]
    assert header == ["Social networks", "Kinship", "Partnership", "Alumni", "Amenities"]
    assert [r["values"] for r in result["rows"]] == [[1, 1, 1, 0, 0], [1, 0, 0, 1, 0], [1, 0, 1, 0, 0],
                                                     [0, 0, 0, 0, 0]]
    counts = tables.code_matrix(TREE, FACTS, [10], level=None, counts=True)
    assert counts["rows"][0]["values"] == [3, 2, 1, 0, 0]


# --- property tests against plain reference implementations -----------------------------------------------------
@st.composite
def studies(draw):
    n_codes = draw(st.integers(1, 8))
    nodes = [CodeNode(i, draw(st.none() | st.integers(0, i - 1)) if i else None) for i in range(n_codes)]
    owner = {t: draw(st.integers(0, 5)) for t in range(8)}
    facts = []
    for i in range(draw(st.integers(0, 30))):
        t = draw(st.integers(0, 7))
        start = draw(st.integers(0, 50))
        facts.append(tables.Fact(i, draw(st.integers(0, n_codes - 1)), t, owner[t], draw(st.integers(1, 2)), start,
                                 start + draw(st.integers(1, 15))))
    population = set(draw(st.lists(st.integers(0, 6), max_size=7)))
    tree = tables.Tree(nodes, {c.id: f"c{c.id}" for c in nodes}, {c.id: (c.id, "") for c in nodes})
    return tree, facts, population


def in_subtree(tree, code, root):
    return root in tree.chains[code]


@given(studies())
@settings(max_examples=150, deadline=None)
def test_driver_table_equals_brute_force(study):
    tree, facts, population = study
    result = tables.driver_table(tree, facts, population)
    for row in result["rows"]:
        code = row["code_id"]
        mine = [f for f in facts if in_subtree(tree, f.code_id, code)]
        people = {f.participant_id for f in mine} & population
        if row["kind"] == "code":
            assert row["participants"] == len(people)
            assert row["transcripts"] == len({f.transcript_id for f in mine})
            assert row["segments"] == len(mine)
        elif row["kind"] == "none":
            assert row["participants"] == len(population - people)
        else:
            children = tree.children[code]
            assert row["participants"] == sum(
                1 for p in population
                if sum(1 for c in children if any(f.participant_id == p and in_subtree(tree, f.code_id, c)
                                                  for f in facts)) >= 2)


@given(studies(), st.dictionaries(st.integers(0, 6), st.sampled_from(["a", "b", "c"])))
@settings(max_examples=100, deadline=None)
def test_crosstab_equals_brute_force(study, values):
    tree, facts, population = study
    result = tables.crosstab(tree, facts, population, values, ["a", "b"])
    for row in result["rows"]:
        people = {f.participant_id for f in facts if in_subtree(tree, f.code_id, row["code_id"])} & population
        for value, count in row["counts"].items():
            assert count == sum(1 for p in people if values.get(p, tables.MISSING) == value)
        assert row["total"] == len(people) == sum(row["counts"].values())


@given(studies(), st.sampled_from(["participant", "transcript"]))
@settings(max_examples=100, deadline=None)
def test_cooccurrence_units_equal_brute_force(study, unit):
    tree, facts, population = study
    result = tables.cooccurrence_units(tree, facts, population, unit, level=None)
    for pair in result["pairs"]:
        def units(code):
            return {(f.participant_id if unit == "participant" else f.transcript_id) for f in facts
                    if in_subtree(tree, f.code_id, code) and f.participant_id in population}

        assert pair["count"] == len(units(pair["a_id"]) & units(pair["b_id"]))


@given(studies(), st.integers(0, 10))
@settings(max_examples=150, deadline=None)
def test_cooccurrence_segments_equal_brute_force(study, within):
    tree, facts, population = study
    level = 0
    result = tables.cooccurrence_segments(tree, facts, population, level, within)

    def top(f):
        return tree.at_level(f.code_id, level)

    counts = {}
    for x, y in itertools.combinations([f for f in facts if f.participant_id in population], 2):
        if x.transcript_id != y.transcript_id or x.coder_id != y.coder_id or top(x) == top(y):
            continue
        gap = max(x.start, y.start) - min(x.end, y.end)
        if gap < 0 or (within > 0 and gap <= within):
            key = tuple(sorted((top(x), top(y))))
            counts[key] = counts.get(key, 0) + 1
    for pair in result["pairs"]:
        assert pair["count"] == counts.get(tuple(sorted((pair["a_id"], pair["b_id"]))), 0)


# --- services: filters, layers, cache -------------------------------------------------------------------------
def drivers(study, **raw):
    result = services.compute(study, "drivers", services.clean_parameters(study, "drivers", raw))
    return {tuple(r["path"]): r for r in result["rows"] if r["kind"] == "code"}, result["n"]


@pytest.fixture
def two_transcripts(world):
    """P01 with two transcripts; a second participant P02 (Male) coded by the other coder."""
    second = study_services.transcript_create(study=world.study, participant=world.participant, title="Interview 1b",
                                              text="R: My classmates again.\n", tags=["wave-2"])
    coding_apply(transcript=second, code=world.kinship, coder=world.users["coder"], start=3, end=5)
    p2 = study_services.participant_create(study=world.study, label="P02", values={"Gender": "Male"})
    third = study_services.transcript_create(study=world.study, participant=p2, title="Interview 2",
                                             text="R: Alumni helped.\n")
    coding_apply(transcript=third, code=world.alumni, coder=world.users["other_coder"], start=3, end=9)
    return world


def test_layers_filters_and_tags(two_transcripts):
    w = two_transcripts
    rows, n = drivers(w.study)
    assert n == 2 and rows[("Social networks",)]["participants"] == 2
    assert rows[("Social networks", "Kinship")]["transcripts"] == 2
    rows, _ = drivers(w.study, coders=["coder"])
    assert rows[("Social networks",)]["participants"] == 1
    rows, n = drivers(w.study, filters={"attributes": {"Gender": ["Male"]}})
    assert n == 1 and rows[("Social networks", "Alumni")]["participants"] == 1
    rows, n = drivers(w.study, filters={"tags": ["wave-2"]})
    assert n == 1 and rows[("Social networks", "Kinship")]["segments"] == 1
    rows, _ = drivers(w.study, code=Code.objects.get(study=w.study, name="Social networks").pk)
    assert set(rows) == {("Social networks",), ("Social networks", "Kinship"), ("Social networks", "Partnership"),
                         ("Social networks", "Alumni")}


@pytest.mark.parametrize(("kind", "raw", "message"), [
    ("astrology", {}, "Unknown analysis"),
    ("drivers", {"layer": "draft"}, "Unknown layer"),
    ("crosstab", {}, "Choose an attribute"),
    ("crosstab", {"attribute": "Gender", "bins": "30,40"}, "Only number attributes"),
    ("cooccurrence", {"level": "sentence"}, "level must be"),
    ("cooccurrence", {"within": "far"}, "whole number"),
    ("drivers", {"filters": {"attributes": {"Nope": ["x"]}}}, "no attribute"),
    ("drivers", {"code": 999999}, "not in this study"),
    ("matrix", {"depth": "deep"}, "depth must be"),
])
def test_bad_parameters(world, kind, raw, message):
    with pytest.raises(services.ValidationError, match=message):
        services.clean_parameters(world.study, kind, raw)


def test_cache_reuses_unchanged_results_and_recomputes_after_a_change(world, django_capture_on_commit_callbacks):
    pi = world.users["pi"]
    with django_capture_on_commit_callbacks(execute=True):
        first = services.analysis_request(study=world.study, kind="drivers", parameters={}, user=pi)
    first.refresh_from_db()
    again = services.analysis_request(study=world.study, kind="drivers", parameters={"coders": []}, user=pi)
    assert again.pk == first.pk and first.status == "done"
    viewer_copy = services.analysis_request(study=world.study, kind="drivers", parameters={},
                                            user=world.users["viewer"])
    assert viewer_copy.from_cache and viewer_copy.result == first.result
    coding_apply(transcript=world.transcript, code=world.alumni, coder=world.users["coder"], start=0, end=2)
    with django_capture_on_commit_callbacks(execute=True):
        fresh = services.analysis_request(study=world.study, kind="drivers", parameters={}, user=pi)
    fresh.refresh_from_db()
    assert fresh.pk != first.pk and fresh.data_version > first.data_version and fresh.result != first.result
    for change in (lambda: code_create(study=world.study, name="New"),
                   lambda: study_services.participant_set_values(participant=world.participant,
                                                                 values={"Gender": "Male"})):
        version = type(world.study).objects.get(pk=world.study.pk).data_version
        change()
        assert type(world.study).objects.get(pk=world.study.pk).data_version > version


def test_demo_driver_table_has_the_papers_shape(db):
    from interviews.demo import demo_load

    study, _ = demo_load()
    params = services.clean_parameters(study, "drivers", {"coders": ["demo-coder-a"]})
    result = services.compute(study, "drivers", params)
    table = output.to_markdown(output.grid("drivers", result, params))
    assert "| Social networks |" in table and "none of these" in table and "N = 14 participants" in table


# --- outputs --------------------------------------------------------------------------------------------------
def test_outputs_are_safe(world):
    code_create(study=world.study, name="=cmd|' /C calc'!A0", parent=None)
    params = services.clean_parameters(world.study, "drivers", {})
    g = output.grid("drivers", services.compute(world.study, "drivers", params), params)
    csv_text = output.to_csv(g)
    assert "\"'=cmd|' /C calc'!A0\"" in csv_text
    book = openpyxl.load_workbook(io.BytesIO(output.to_xlsx(g)))
    values = [c.value for row in book.active.iter_rows() for c in row]
    cells = [c for row in book.active.iter_rows() for c in row]
    assert "=cmd|' /C calc'!A0" in values
    assert all(c.data_type != "f" for c in cells)
    latex = output.to_latex(output.Grid("T & 50%", "c_1 #", ["A"], [["x_y {z}"]], [1]))
    assert r"x\_y \{z\}" in latex and r"T \& 50\%" in latex and r"\toprule" in latex and r"\quad" in latex
    assert "a\\|b" in output.to_markdown(output.Grid("t", "c", ["h"], [["a|b"]], [0]))


def test_downloads_and_charts_through_the_pages(login, world, django_capture_on_commit_callbacks):
    client = login(world.users["pi"])
    for kind, extra in (("drivers", {}), ("cooccurrence", {"level": "segment", "depth": "1"}),
                        ("crosstab", {"attribute": "Gender"}), ("demographics", {"attribute": "Gender"}),
                        ("matrix", {})):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/studies/{world.study.slug}/analysis/", {"kind": kind, **extra})
        run = AnalysisRun.objects.filter(kind=kind).latest("id")
        assert run.status == "done", run.error
        page = client.get(response["Location"]).content.decode()
        assert "<table" in page and 'id="result"' in page
        if kind == "drivers":
            assert "<svg" in page and "N = 1" in page
        for fmt in ("csv", "xlsx", "md", "tex"):
            download = client.get(f"/studies/{world.study.slug}/analysis/runs/{run.pk}/download/", {"format": fmt})
            assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    assert client.get(f"/studies/{world.study.slug}/analysis/runs/{run.pk}/download/",
                      {"format": "pdf"}).status_code == 400


# --- the command line -----------------------------------------------------------------------------------------
def test_cli_json_interface(two_transcripts):
    out = io.StringIO()
    call_command("analyze", two_transcripts.study.slug, "drivers", "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    first = data["rows"][0]
    assert data["n"] == 2 and set(first) >= {"path", "participants", "transcripts", "segments"}
    out = io.StringIO()
    call_command("analyze", two_transcripts.study.slug, "crosstab", "--attribute", "Gender", "--format", "json",
                 stdout=out)
    data = json.loads(out.getvalue())
    assert data["attribute"] == "Gender" and {"value", "n"} <= set(data["columns"][0])
    assert set(data["rows"][0]) == {"path", "counts", "total"}
    out = io.StringIO()
    call_command("analyze", two_transcripts.study.slug, "cooccurrence", "--level", "participant", "--format", "json",
                 stdout=out)
    data = json.loads(out.getvalue())
    assert data["level"] == "participant" and {"a", "b", "count", "jaccard"} <= set(data["pairs"][0])
    with pytest.raises(CommandError, match="Choose an attribute"):
        call_command("analyze", two_transcripts.study.slug, "crosstab", stdout=io.StringIO())
