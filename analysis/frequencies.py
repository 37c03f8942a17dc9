"""Code frequencies over a code tree. Pure computation, no Django.

For each code, counted over the code *and all its descendants* (a parent row is the distinct union of its
subtree, never the sum of its children):

- ``segments``: codings of the code or a descendant;
- ``transcripts``: distinct transcripts with at least one such coding;
- ``participants``: distinct participants with at least one such coding.

``direct_segments`` counts only codings of the code itself.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CodeNode:
    id: int
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class CodingFact:
    code_id: int
    transcript_id: int
    participant_id: int


@dataclass(frozen=True, slots=True)
class Frequency:
    code_id: int
    direct_segments: int
    segments: int
    transcripts: int
    participants: int


def ancestors_map(codes: Sequence[CodeNode]) -> dict[int, tuple[int, ...]]:
    """Each code id mapped to itself and its ancestors (nearest first). Raises ValueError on a cycle."""
    parent = {c.id: c.parent_id for c in codes}
    result: dict[int, tuple[int, ...]] = {}
    for code in codes:
        chain: list[int] = []
        seen: set[int] = set()
        current: int | None = code.id
        while current is not None:
            if current in seen:
                raise ValueError(f"code tree has a cycle through code {current}")
            seen.add(current)
            chain.append(current)
            current = parent.get(current)
        result[code.id] = tuple(chain)
    return result


def code_frequencies(codes: Sequence[CodeNode], codings: Iterable[CodingFact]) -> dict[int, Frequency]:
    chains = ancestors_map(codes)
    direct: dict[int, int] = defaultdict(int)
    segments: dict[int, int] = defaultdict(int)
    transcripts: dict[int, set[int]] = defaultdict(set)
    participants: dict[int, set[int]] = defaultdict(set)
    for fact in codings:
        chain = chains.get(fact.code_id)
        if chain is None:
            raise ValueError(f"coding refers to unknown code {fact.code_id}")
        direct[fact.code_id] += 1
        for code_id in chain:
            segments[code_id] += 1
            transcripts[code_id].add(fact.transcript_id)
            participants[code_id].add(fact.participant_id)
    return {
        c.id: Frequency(c.id, direct[c.id], segments[c.id], len(transcripts[c.id]), len(participants[c.id]))
        for c in codes
    }
