"""Inter-coder agreement from intervals. No Django.

Units and values (for one code c and coders 1..m):

- **character**: every character of every chosen transcript is a unit; a coder's value is 1 if the character lies
  inside any of that coder's codings of c.
- **turn**: every paragraph / speaker turn is a unit; value 1 if the coder's codings of c overlap it.
- **transcript**: value 1 if the coder applied c anywhere in the transcript.

All statistics follow from *pattern counts*: for each bit mask of coders (bit i set = coder i marked the unit), the
number of units with that pattern. For characters these come from a sweep over the boundaries of each coder's
merged intervals, so the cost grows with the number of codings, not the length of the text.
"""
from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Counts = dict[int, int]  # coder bit mask -> number of units


# --- intervals ------------------------------------------------------------------------------------------------
def merge(intervals: Iterable[tuple[int, int]], *, touching: bool = True) -> list[tuple[int, int]]:
    """Disjoint, sorted intervals covering the same characters; with ``touching=False`` intervals that only meet
    end to start stay apart (two passages, not one)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if out and (start <= out[-1][1] if touching else start < out[-1][1]):
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def character_counts(length: int, per_coder: Sequence[Sequence[tuple[int, int]]]) -> Counts:
    """Pattern counts over the ``length`` characters of one transcript, given each coder's intervals."""
    events: list[tuple[int, int, int]] = []  # (position, +1/-1, coder)
    for coder, intervals in enumerate(per_coder):
        for start, end in merge(intervals):
            start, end = max(0, start), min(length, end)
            if start < end:
                events.append((start, 1, coder))
                events.append((end, -1, coder))
    events.sort()
    counts: Counts = defaultdict(int)
    mask, position, i = 0, 0, 0
    while i < len(events):
        at = events[i][0]
        if at > position:
            counts[mask] += at - position
            position = at
        while i < len(events) and events[i][0] == at:
            _, step, coder = events[i]
            mask = mask | (1 << coder) if step > 0 else mask & ~(1 << coder)
            i += 1
    if length > position:
        counts[mask] += length - position
    return dict(counts)


def unit_counts(units: Sequence[tuple[int, int]], per_coder: Sequence[Sequence[tuple[int, int]]]) -> Counts:
    """Pattern counts over units (e.g. turns, sorted and disjoint): a coder marks a unit their codings overlap."""
    starts = [u[0] for u in units]
    masks = [0] * len(units)
    for coder, intervals in enumerate(per_coder):
        for start, end in merge(intervals):
            i = max(0, bisect.bisect_right(starts, start) - 1)
            while i < len(units) and units[i][0] < end:
                if units[i][1] > start:
                    masks[i] |= 1 << coder
                i += 1
    counts: Counts = defaultdict(int)
    for mask in masks:
        counts[mask] += 1
    return dict(counts)


def add(into: Counts, more: Mapping[int, int]) -> Counts:
    for mask, n in more.items():
        into[mask] = into.get(mask, 0) + n
    return into


# --- statistics from pattern counts ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Measures:
    units: int
    units_coded: dict[int, int]  # coder index -> units that coder marked
    percent_agreement: float | None
    coded_agreement: float | None  # over units at least one coder marked
    kappa: float | None  # Cohen's (2 coders) or Fleiss' (3 or more)
    alpha: float | None  # Krippendorff's alpha, nominal


def measures(counts: Mapping[int, int], m: int) -> Measures:
    full = (1 << m) - 1
    total = sum(counts.values())
    coded = total - counts.get(0, 0)
    agree = counts.get(0, 0) + counts.get(full, 0)
    per_coder = {i: sum(n for mask, n in counts.items() if mask >> i & 1) for i in range(m)}
    return Measures(
        units=total,
        units_coded=per_coder,
        percent_agreement=agree / total if total else None,
        coded_agreement=counts.get(full, 0) / coded if coded else None,
        kappa=cohen_kappa(counts) if m == 2 else fleiss_kappa_binary(counts, m),
        alpha=alpha_binary(counts, m),
    )


def cohen_kappa(counts: Mapping[int, int]) -> float | None:
    """Cohen's kappa for two coders from the 2x2 pattern counts; None when undefined (no variation)."""
    both, a_only, b_only, neither = counts.get(3, 0), counts.get(1, 0), counts.get(2, 0), counts.get(0, 0)
    return cohen_kappa_table([[both, a_only], [b_only, neither]])


def cohen_kappa_table(table: Sequence[Sequence[float]]) -> float | None:
    """Cohen's kappa from a square agreement table (rows: coder A's category, columns: coder B's)."""
    n = sum(sum(row) for row in table)
    if n == 0:
        return None
    k = len(table)
    p_o = sum(table[i][i] for i in range(k)) / n
    p_e = sum(sum(table[i]) * sum(table[r][i] for r in range(k)) for i in range(k)) / (n * n)
    if p_e == 1:
        return None
    return (p_o - p_e) / (1 - p_e)


def fleiss_kappa(ratings: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa from per-subject category counts (each row sums to the number of raters)."""
    if not ratings:
        return None
    n_raters = sum(ratings[0])
    subjects = len(ratings)
    if n_raters < 2:
        return None
    totals = [sum(row[j] for row in ratings) for j in range(len(ratings[0]))]
    p_j = [t / (subjects * n_raters) for t in totals]
    p_i = [(sum(x * x for x in row) - n_raters) / (n_raters * (n_raters - 1)) for row in ratings]
    p_bar = sum(p_i) / subjects
    p_e = sum(p * p for p in p_j)
    if p_e == 1:
        return None
    return (p_bar - p_e) / (1 - p_e)


def fleiss_kappa_binary(counts: Mapping[int, int], m: int) -> float | None:
    """Fleiss' kappa for a binary code from pattern counts (units grouped by how many coders marked them)."""
    by_ones: dict[int, int] = defaultdict(int)
    for mask, n in counts.items():
        by_ones[bin(mask).count("1")] += n
    subjects = sum(by_ones.values())
    if subjects == 0 or m < 2:
        return None
    ones = sum(k * n for k, n in by_ones.items())
    p1 = ones / (subjects * m)
    p_e = p1 * p1 + (1 - p1) * (1 - p1)
    p_bar = sum(n * (k * k + (m - k) * (m - k) - m) / (m * (m - 1)) for k, n in by_ones.items()) / subjects
    if p_e == 1:
        return None
    return (p_bar - p_e) / (1 - p_e)


def alpha_binary(counts: Mapping[int, int], m: int) -> float | None:
    """Krippendorff's nominal alpha for values 0/1, every coder valuing every unit."""
    if m < 2:
        return None
    o01 = 0.0
    n1 = 0
    units = 0
    for mask, n in counts.items():
        k = bin(mask).count("1")
        o01 += n * k * (m - k) / (m - 1)
        n1 += n * k
        units += n
    total = units * m
    n0 = total - n1
    if total < 2 or n0 == 0 or n1 == 0:
        return None  # no variation: alpha is undefined
    return 1 - (total - 1) * o01 / (n0 * n1)


def alpha_nominal(units: Sequence[Sequence[object]]) -> float | None:
    """Krippendorff's nominal alpha for any values, ``None`` marking a missing value; units with fewer than two
    values are left out (Krippendorff 2011)."""
    coincidence: dict[tuple[object, object], float] = defaultdict(float)
    for values in units:
        present = [v for v in values if v is not None]
        mu = len(present)
        if mu < 2:
            continue
        for i, a in enumerate(present):
            for j, b in enumerate(present):
                if i != j:
                    coincidence[(a, b)] += 1 / (mu - 1)
    n_c: dict[object, float] = defaultdict(float)
    for (a, _), value in coincidence.items():
        n_c[a] += value
    n = sum(n_c.values())
    if n < 2:
        return None
    observed = sum(v for (a, b), v in coincidence.items() if a != b)
    expected = sum(n_c[a] * n_c[b] for a in n_c for b in n_c if a != b)
    if expected == 0:
        return None
    return 1 - (n - 1) * observed / expected


# --- bootstrap ------------------------------------------------------------------------------------------------
def alpha_bootstrap(per_cluster: Sequence[Mapping[int, int]], m: int, resamples: int = 1000, seed: int = 7,
                    level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval for alpha by a cluster bootstrap: resample transcripts (clusters) with replacement,
    add up their pattern counts, recompute alpha. ``None`` when alpha is undefined in too many resamples."""
    import numpy as np

    if len(per_cluster) < 2 or m < 2:
        return None
    masks = sorted({mask for counts in per_cluster for mask in counts})
    table = np.array([[counts.get(mask, 0) for mask in masks] for counts in per_cluster], dtype=float)
    ones = np.array([bin(mask).count("1") for mask in masks], dtype=float)
    rng = np.random.default_rng(seed)
    clusters = len(per_cluster)
    weights = rng.multinomial(clusters, [1 / clusters] * clusters, size=resamples).astype(float)
    sums = weights @ table  # resamples x masks
    units = sums.sum(axis=1)
    n1 = sums @ ones
    o01 = sums @ (ones * (m - ones) / (m - 1))
    total = units * m
    n0 = total - n1
    with np.errstate(divide="ignore", invalid="ignore"):
        alphas = 1 - (total - 1) * o01 / (n0 * n1)
    alphas = alphas[np.isfinite(alphas)]
    if len(alphas) < resamples / 2:
        return None
    low, high = np.quantile(alphas, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(low), float(high)


# --- segments (MAXQDA-like) -----------------------------------------------------------------------------------
def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    overlap = min(a[1], b[1]) - max(a[0], b[0])
    if overlap <= 0:
        return 0.0
    return overlap / (max(a[1], b[1]) - min(a[0], b[0]))


def segment_matches(own: Sequence[tuple[int, int]], others: Sequence[tuple[int, int]], threshold: float) -> list[bool]:
    """For each of one coder's codings: is there a coding of another coder with overlap / union >= threshold?"""
    ordered = sorted(others)
    starts = [o[0] for o in ordered]
    out = []
    for seg in own:
        # Candidates overlap seg: they start before seg ends.
        hi = bisect.bisect_left(starts, seg[1])
        out.append(any(iou(seg, ordered[i]) >= threshold - 1e-12 for i in range(hi) if ordered[i][1] > seg[0]))
    return out


def mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return sum(present) / len(present) if present else None
