"""The tables papers print, computed from plain tuples. No Django.

Definitions (also in docs/analysis.md and the table captions):

- A participant *has* a code if any of their transcripts (in the filtered set) has at least one coding of that code
  or, for a parent row, of any of its descendants, in the chosen layers. Parent rows are the distinct union of
  their subtree, never the sum of their children.
- N is the number of participants in the filtered set; percentages are of N, or of a column's N in crosstabs.
"""
from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from .frequencies import CodeNode, ancestors_map


class Fact(NamedTuple):
    """One coding, reduced to what the tables need (a named tuple: a million of them are made per table)."""

    coding_id: int
    code_id: int
    transcript_id: int
    participant_id: int
    coder_id: int
    start: int
    end: int


def percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass
class Tree:
    codes: Sequence[CodeNode]
    names: Mapping[int, str]
    positions: Mapping[int, tuple[int, str]]

    def __post_init__(self) -> None:
        self.chains = ancestors_map(self.codes)
        self.children: dict[int | None, list[int]] = defaultdict(list)
        for code in sorted(self.codes, key=lambda c: self.positions.get(c.id, (0, ""))):
            self.children[code.parent_id].append(code.id)

    def path(self, code_id: int) -> list[str]:
        return [self.names[c] for c in reversed(self.chains[code_id])]

    def preorder(self, root: int | None = None) -> list[tuple[int, int]]:
        """(code id, depth) in tree order; with ``root``, that code and its subtree."""
        out: list[tuple[int, int]] = []

        def walk(parent: int | None, depth: int) -> None:
            for child in self.children.get(parent, []):
                out.append((child, depth))
                walk(child, depth + 1)

        if root is None:
            walk(None, 0)
        else:
            out.append((root, 0))
            walk(root, 1)
        return out

    def subtree(self, root: int) -> set[int]:
        return {root, *(c for c, _ in self.preorder(root))}

    def at_level(self, code_id: int, level: int) -> int | None:
        """The ancestor of ``code_id`` at depth ``level`` (0 = top), or None if the code is shallower."""
        chain = list(reversed(self.chains[code_id]))  # root first
        return chain[level] if level < len(chain) else None


def presence(tree: Tree, facts: Iterable[Fact]) -> tuple[dict[int, set[int]], dict[int, set[int]], dict[int, int]]:
    """Per code (with its subtree): the participants and transcripts that have it, and its number of segments."""
    participants: dict[int, set[int]] = defaultdict(set)
    transcripts: dict[int, set[int]] = defaultdict(set)
    segments: dict[int, int] = defaultdict(int)
    for fact in facts:
        for code_id in tree.chains[fact.code_id]:
            participants[code_id].add(fact.participant_id)
            transcripts[code_id].add(fact.transcript_id)
            segments[code_id] += 1
    return participants, transcripts, segments


def driver_table(tree: Tree, facts: Iterable[Fact], population: set[int], root: int | None = None) -> dict:
    """Hierarchical rows of participants (% of N), transcripts and segments, with a *none of these* row and a
    *two or more* row under every parent."""
    people, texts, segments = presence(tree, facts)
    n = len(population)
    rows: list[dict] = []
    for code_id, depth in tree.preorder(root):
        have = people[code_id] & population
        rows.append({"kind": "code", "code_id": code_id, "path": tree.path(code_id), "depth": depth,
                     "participants": len(have), "percent": percent(len(have), n),
                     "transcripts": len(texts[code_id]), "segments": segments[code_id]})
        children = tree.children.get(code_id, [])
        if children:
            none = n - len(have)
            counts: dict[int, int] = defaultdict(int)
            for child in children:
                for person in people[child] & population:
                    counts[person] += 1
            two = sum(1 for c in counts.values() if c >= 2)
            rows.append({"kind": "none", "code_id": code_id, "path": [*tree.path(code_id), "none of these"],
                         "depth": depth + 1, "participants": none, "percent": percent(none, n),
                         "transcripts": None, "segments": None})
            rows.append({"kind": "two_or_more", "code_id": code_id,
                         "path": [*tree.path(code_id), "two or more of these"], "depth": depth + 1,
                         "participants": two, "percent": percent(two, n), "transcripts": None, "segments": None})
    # Rows reorder so that each parent's summary rows follow its whole subtree.
    return {"n": n, "rows": _summaries_after_subtree(rows)}


def _summaries_after_subtree(rows: list[dict]) -> list[dict]:
    out: list[dict] = []
    pending: list[tuple[int, list[dict]]] = []  # (depth of parent, its summary rows)
    for row in rows:
        if row["kind"] != "code":
            pending[-1][1].append(row)
            continue
        while pending and pending[-1][0] >= row["depth"]:
            out.extend(pending.pop()[1])
        out.append(row)
        pending.append((row["depth"], []))
    while pending:
        out.extend(pending.pop()[1])
    return out


def bin_label(value: float, edges: Sequence[float]) -> str:
    """``edges`` [20, 30, 40] give "< 20", "20–<30", "30–<40", "≥ 40"."""
    def fmt(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else str(x)

    i = bisect.bisect_right(edges, value)
    if i == 0:
        return f"< {fmt(edges[0])}"
    if i == len(edges):
        return f"≥ {fmt(edges[-1])}"
    return f"{fmt(edges[i - 1])}–<{fmt(edges[i])}"


def bin_order(edges: Sequence[float]) -> list[str]:
    labels = [bin_label(edges[0] - 1, edges)]
    labels += [bin_label(edges[i], edges) for i in range(len(edges))]
    return labels


MISSING = "(no value)"


def crosstab(tree: Tree, facts: Iterable[Fact], population: set[int], values: Mapping[int, str],
             column_order: Sequence[str], root: int | None = None) -> dict:
    """Codes × the values of one participant attribute. ``values`` maps participant → value (after binning).
    Cells count participants with the code and that value; row % is of the code's participants, column % of the
    column's N."""
    people, _, _ = presence(tree, facts)
    columns = list(dict.fromkeys([*column_order, *sorted({values.get(p, MISSING) for p in population})]))
    column_n = {v: sum(1 for p in population if values.get(p, MISSING) == v) for v in columns}
    if column_n.get(MISSING, 0) == 0 and MISSING not in column_order:
        columns = [c for c in columns if c != MISSING]
    rows = []
    for code_id, depth in tree.preorder(root):
        have = people[code_id] & population
        counts = {v: 0 for v in columns}
        for person in have:
            counts[values.get(person, MISSING)] += 1
        rows.append({"code_id": code_id, "path": tree.path(code_id), "depth": depth, "counts": counts,
                     "total": len(have),
                     "row_percent": {v: percent(counts[v], len(have)) for v in columns},
                     "column_percent": {v: percent(counts[v], column_n[v]) for v in columns}})
    return {"n": len(population), "columns": [{"value": v, "n": column_n[v]} for v in columns], "rows": rows}


def attribute_table(population: set[int], a: Mapping[int, str], a_order: Sequence[str],
                    b: Mapping[int, str] | None = None, b_order: Sequence[str] = ()) -> dict:
    """The sample's demographics: counts and % of N for one attribute, or attribute × attribute."""
    n = len(population)
    a_values = list(dict.fromkeys([*a_order, *sorted({a.get(p, MISSING) for p in population})]))
    if b is None:
        rows = [{"value": v, "count": sum(1 for p in population if a.get(p, MISSING) == v)} for v in a_values]
        for row in rows:
            row["percent"] = percent(row["count"], n)
        return {"n": n, "rows": [r for r in rows if r["count"] or r["value"] != MISSING]}
    b_values = list(dict.fromkeys([*b_order, *sorted({b.get(p, MISSING) for p in population})]))
    rows = []
    for va in a_values:
        counts = {vb: sum(1 for p in population if a.get(p, MISSING) == va and b.get(p, MISSING) == vb)
                  for vb in b_values}
        total = sum(counts.values())
        if va == MISSING and not total:
            continue
        rows.append({"value": va, "counts": counts, "total": total, "percent": percent(total, n),
                     "cell_percent": {vb: percent(c, n) for vb, c in counts.items()}})
    columns = [{"value": vb, "n": sum(1 for p in population if b.get(p, MISSING) == vb)} for vb in b_values]
    columns = [c for c in columns if c["n"] or c["value"] != MISSING]
    return {"n": n, "columns": columns, "rows": rows}


def _level_codes(tree: Tree, level: int | None, root: int | None) -> list[int]:
    allowed = tree.subtree(root) if root is not None else None
    out = []
    for code_id, _ in tree.preorder(root):
        depth = len(tree.chains[code_id]) - 1
        if (level is None or depth == level) and (allowed is None or code_id in allowed):
            out.append(code_id)
    return out


def cooccurrence_units(tree: Tree, facts: Iterable[Fact], population: set[int], unit: str, level: int | None,
                       root: int | None = None) -> dict:
    """Code × code at participant or transcript level: for each pair, the units that have both."""
    codes = _level_codes(tree, level, root)
    wanted = set(codes)
    have: dict[int, set[int]] = defaultdict(set)
    for fact in facts:
        if fact.participant_id not in population:
            continue
        key = fact.participant_id if unit == "participant" else fact.transcript_id
        for code_id in tree.chains[fact.code_id]:
            if code_id in wanted:
                have[code_id].add(key)
    pairs = []
    for a, b in itertools.combinations(codes, 2):
        both = len(have[a] & have[b])
        n_a, n_b = len(have[a]), len(have[b])
        union = n_a + n_b - both
        pairs.append({"a": tree.path(a), "b": tree.path(b), "a_id": a, "b_id": b, "count": both,
                      "jaccard": round(both / union, 4) if union else None,
                      "a_given": percent(both, n_a), "b_given": percent(both, n_b), "n_a": n_a, "n_b": n_b})
    return {"level": unit, "codes": [{"id": c, "path": tree.path(c), "n": len(have[c])} for c in codes],
            "pairs": pairs}


def cooccurrence_segments(tree: Tree, facts: Iterable[Fact], population: set[int], level: int | None,
                          within: int = 0, turns: Sequence[tuple[int, int, int]] = (), root: int | None = None) -> dict:
    """Code × code over codings: two codings of the same coder in the same transcript co-occur when they overlap,
    lie within ``within`` characters of each other, or (with ``turns`` = (transcript, start, end) ranges) fall in
    the same speaker turn. Counts are of coding pairs; ``a_given`` is the share of A's codings that co-occur with
    at least one coding of B. A sort-and-sweep per transcript and coder: no comparison of every pair."""
    codes = _level_codes(tree, level, root)
    wanted = set(codes)
    groups: dict[tuple[int, int], list[tuple[int, int, int, int]]] = defaultdict(list)
    n_codings: dict[int, int] = defaultdict(int)
    for fact in facts:
        if fact.participant_id not in population:
            continue
        mapped = next((c for c in tree.chains[fact.code_id] if c in wanted), None)
        if mapped is None:
            continue
        n_codings[mapped] += 1
        groups[(fact.transcript_id, fact.coder_id)].append((fact.start, fact.end, mapped, fact.coding_id))
    turn_index: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for transcript_id, start, end in turns:
        turn_index[transcript_id].append((start, end))
    for spans in turn_index.values():
        spans.sort()
    pair_count: dict[tuple[int, int], int] = defaultdict(int)
    partnered: dict[tuple[int, int], set[int]] = defaultdict(set)  # (code, other code) -> codings of code
    for (transcript_id, _), items in groups.items():
        if turns:
            starts = [s for s, _ in turn_index[transcript_id]]

            def turn_of(pos: int, starts=starts, spans=turn_index[transcript_id]) -> int:
                i = bisect.bisect_right(starts, pos) - 1
                return i if i >= 0 and pos < spans[i][1] else -1

            keyed = [(turn_of(s), turn_of(max(s, e - 1)), s, e, c, cid) for s, e, c, cid in items]
            # Same turn: the codings' turn ranges intersect.
            keyed.sort()
            for i, (_, t1b, _, _, c1, id1) in enumerate(keyed):
                for t2a, _, _, _, c2, id2 in keyed[i + 1:]:
                    if t2a > t1b:
                        break
                    _count(pair_count, partnered, c1, id1, c2, id2)
            continue
        items.sort()
        active: list[tuple[int, int, int, int]] = []  # (end, start, code, id)
        for start, end, code, coding_id in items:
            active = [a for a in active if a[0] > start or (within > 0 and start - a[0] <= within)]
            for _, _, other, other_id in active:
                _count(pair_count, partnered, code, coding_id, other, other_id)
            active.append((end, start, code, coding_id))
    pairs = []
    for a, b in itertools.combinations(codes, 2):
        key = (min(a, b), max(a, b))
        both = pair_count.get(key, 0)
        n_a, n_b = n_codings[a], n_codings[b]
        union = n_a + n_b - both
        pairs.append({"a": tree.path(a), "b": tree.path(b), "a_id": a, "b_id": b, "count": both,
                      "jaccard": round(both / union, 4) if union > 0 else None,
                      "a_given": percent(len(partnered[(a, b)]), n_a), "b_given": percent(len(partnered[(b, a)]), n_b),
                      "n_a": n_a, "n_b": n_b})
    return {"level": "segment", "within": within, "same_turn": bool(turns),
            "codes": [{"id": c, "path": tree.path(c), "n": n_codings[c]} for c in codes], "pairs": pairs}


def _count(pair_count, partnered, c1: int, id1: int, c2: int, id2: int) -> None:
    if c1 == c2:
        return
    pair_count[(min(c1, c2), max(c1, c2))] += 1
    partnered[(c1, c2)].add(id1)
    partnered[(c2, c1)].add(id2)


def code_matrix(tree: Tree, facts: Iterable[Fact], population: Sequence[int], level: int | None,
                counts: bool = False, root: int | None = None) -> dict:
    """Participants × codes: 1/0 presence (or the number of codings), the wide table for R or Stata."""
    codes = _level_codes(tree, level, root)
    wanted = set(codes)
    cells: dict[tuple[int, int], int] = defaultdict(int)
    allowed = set(population)
    for fact in facts:
        if fact.participant_id not in allowed:
            continue
        for code_id in tree.chains[fact.code_id]:
            if code_id in wanted:
                cells[(fact.participant_id, code_id)] += 1
    rows = [{"participant_id": p, "values": [(cells[(p, c)] if counts else int(cells[(p, c)] > 0)) for c in codes]}
            for p in population]
    return {"codes": [{"id": c, "path": tree.path(c)} for c in codes], "rows": rows, "counts": counts}
