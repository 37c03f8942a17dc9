"""Split a transcript's paragraphs into runs of characters covered by the same set of codings.

Pure computation, no Django: the transcript page renders each run as one span, coloured by its innermost coding.
A sweep over the sorted coding boundaries: cost O((paragraphs + codings) log codings), independent of text length.
"""
from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    id: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Run:
    start: int
    end: int
    # Ids of the codings covering the run, innermost (shortest) first.
    codings: tuple[int, ...]


def runs_for_ranges(ranges: Sequence[tuple[int, int]], spans: Iterable[Span]) -> list[list[Run]]:
    """For each (start, end) range (sorted, non-overlapping), the runs of equal coverage inside it."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end, s.id))
    rank = {s.id: (s.end - s.start, s.id) for s in ordered}.__getitem__
    result: list[list[Run]] = []
    active: dict[int, Span] = {}
    ends: list[tuple[int, int]] = []  # heap of (end, id) of active spans
    next_span = 0
    for range_start, range_end in ranges:
        runs: list[Run] = []
        position = range_start
        while position < range_end:
            # Admit spans that started at or before this position; retire those that ended.
            while next_span < len(ordered) and ordered[next_span].start <= position:
                span = ordered[next_span]
                next_span += 1
                if span.end > position:
                    active[span.id] = span
                    heapq.heappush(ends, (span.end, span.id))
            while ends and ends[0][0] <= position:
                _, span_id = heapq.heappop(ends)
                active.pop(span_id, None)
            boundary = range_end
            if next_span < len(ordered):
                boundary = min(boundary, max(ordered[next_span].start, position + 1))
            if ends:
                boundary = min(boundary, ends[0][0])
            covering = tuple(sorted(active, key=rank))
            if runs and runs[-1].codings == covering and runs[-1].end == position:
                runs[-1] = Run(runs[-1].start, boundary, covering)
            else:
                runs.append(Run(position, boundary, covering))
            position = boundary
        result.append(runs)
    return result
