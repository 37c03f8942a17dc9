"""Agreement between coders on real studies, the disagreements behind it, and the PI's decisions that write the
consensus layer. Services over the pure ``analysis.agreement`` module."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from codebook.models import Code, Coding, Layer
from codebook.services import coding_apply
from interviews.models import Study, Transcript
from interviews.services import audit_record
from interviews.turns import paragraphs

from . import agreement as ag
from . import tables
from .frequencies import CodeNode

UNITS = ("character", "turn", "transcript", "segment")
CHOICES = ("keep", "union", "intersection", "neither", "edit")


def clean_agreement_parameters(study: Study, raw: dict[str, Any]) -> dict[str, Any]:
    coders = sorted({str(c) for c in raw.get("coders") or []})
    if len(coders) < 2:
        raise ValidationError("Choose at least two coders to compare.")
    known = set(get_user_model().objects.filter(username__in=coders).values_list("username", flat=True))
    if known != set(coders):
        raise ValidationError(f"Unknown coder(s): {', '.join(sorted(set(coders) - known))}.")
    unit = raw.get("unit") or "character"
    if unit not in UNITS:
        raise ValidationError(f"unit must be one of {', '.join(UNITS)}.")
    try:
        threshold = float(raw.get("threshold") or 0.9)
        resamples = int(1000 if raw.get("resamples") in (None, "") else raw["resamples"])
    except (TypeError, ValueError):
        raise ValidationError("threshold is a number between 0 and 1; resamples a whole number.") from None
    if not 0 < threshold <= 1 or not 0 <= resamples <= 10000:
        raise ValidationError("threshold must lie in (0, 1]; resamples between 0 and 10,000.")
    root = raw.get("code")
    if root not in (None, ""):
        root = int(root)
        if not Code.objects.filter(study=study, pk=root).exists():
            raise ValidationError("That code is not in this study.")
    tags = sorted({t.strip() for t in raw.get("tags") or [] if t.strip()})
    return {"coders": coders, "unit": unit, "threshold": threshold, "resamples": resamples, "seed": 7,
            "code": root or None, "descendants": bool(raw.get("descendants", True)), "tags": tags}


@dataclass
class Material:
    study: Study
    coders: list[str]
    coder_ids: list[int]
    tree: tables.Tree
    transcripts: dict[int, str]  # id -> text
    # (code id, transcript id) -> per coder index -> intervals
    spans: dict[tuple[int, int], list[list[tuple[int, int]]]] = field(default_factory=dict)
    coding_ids: dict[tuple[int, int, int], list[tuple[int, int, int]]] = field(default_factory=dict)


def gather(study: Study, params: dict[str, Any]) -> Material:
    """The chosen coders' codings on the transcripts every one of them has coded (or the tagged ones)."""
    users = dict(get_user_model().objects.filter(username__in=params["coders"]).values_list("username", "id"))
    coder_ids = [users[name] for name in params["coders"]]
    codes = list(Code.objects.filter(study=study).values_list("id", "parent_id", "name", "position"))
    tree = tables.Tree([CodeNode(c[0], c[1]) for c in codes], {c[0]: c[2] for c in codes},
                       {c[0]: (c[3], c[2]) for c in codes})
    transcripts = Transcript.objects.filter(study=study)
    if params["tags"]:
        transcripts = transcripts.filter(tags__name__in=params["tags"]).distinct()
    else:
        for coder_id in coder_ids:  # one IN subquery per coder: no join that multiplies codings
            transcripts = transcripts.filter(
                pk__in=Coding.objects.filter(layer=Layer.CODER, coder_id=coder_id).values("transcript_id"))
    texts = dict(transcripts.values_list("id", "text"))
    material = Material(study, params["coders"], coder_ids, tree, texts)
    index = {coder_id: i for i, coder_id in enumerate(coder_ids)}
    rows = Coding.objects.filter(transcript_id__in=list(texts), layer=Layer.CODER, coder_id__in=coder_ids)
    for coding_id, code_id, transcript_id, coder_id, start, end in rows.values_list(
            "id", "code_id", "transcript_id", "coder_id", "start", "end").iterator(chunk_size=10000):
        targets = tree.chains[code_id] if params["descendants"] else (code_id,)
        for target in targets:
            per = material.spans.setdefault((target, transcript_id), [[] for _ in coder_ids])
            per[index[coder_id]].append((start, end))
        material.coding_ids.setdefault((code_id, transcript_id, index[coder_id]), []).append((coding_id, start, end))
    return material


def _counts(material: Material, code_id: int, transcript_id: int, unit: str,
            turns: dict[int, list[tuple[int, int]]]) -> ag.Counts:
    m = len(material.coders)
    per = material.spans.get((code_id, transcript_id), [[] for _ in range(m)])
    text = material.transcripts[transcript_id]
    if unit == "character":
        return ag.character_counts(len(text), per)
    if unit == "turn":
        if transcript_id not in turns:
            turns[transcript_id] = [(p.start, p.end) for p in paragraphs(text)]
        return ag.unit_counts(turns[transcript_id], per)
    mask = sum(1 << i for i, spans in enumerate(per) if spans)
    return {mask: 1}


def _format(measures: ag.Measures, coders: list[str]) -> dict[str, Any]:
    return {"percent_agreement": measures.percent_agreement, "coded_agreement": measures.coded_agreement,
            "kappa": measures.kappa, "alpha": measures.alpha,
            "units": measures.units, "units_coded": {coders[i]: n for i, n in measures.units_coded.items()}}


def compute_agreement(study: Study, params: dict[str, Any]) -> dict[str, Any]:
    material = gather(study, params)
    coders, unit, m = material.coders, params["unit"], len(material.coders)
    rows: list[dict[str, Any]] = []
    pooled: ag.Counts = {}
    pooled_clusters: dict[int, ag.Counts] = defaultdict(dict)
    turns: dict[int, list[tuple[int, int]]] = {}
    per_code: list[ag.Counts] = []  # each code's pooled pattern counts, reused for the coder pairs
    for code_id, depth in material.tree.preorder(params["code"]):
        row: dict[str, Any] = {"code_id": code_id, "path": material.tree.path(code_id), "depth": depth}
        if unit == "segment":
            row.update(_segment_row(material, code_id, params["threshold"]))
            rows.append(row)
            continue
        clusters = []
        total: ag.Counts = {}
        for transcript_id in material.transcripts:
            counts = _counts(material, code_id, transcript_id, unit, turns)
            clusters.append(counts)
            ag.add(total, counts)
            ag.add(pooled_clusters[transcript_id], counts)
        ag.add(pooled, total)
        per_code.append(total)
        row.update(_format(ag.measures(total, m), coders))
        row["alpha_ci"] = (list(ag.alpha_bootstrap(clusters, m, params["resamples"], params["seed"]) or []) or None
                           if params["resamples"] and row["alpha"] is not None else None)
        rows.append(row)
    overall: dict[str, Any] = {}
    if unit != "segment":
        overall["pooled"] = _format(ag.measures(pooled, m), coders)
        overall["pooled"]["alpha_ci"] = (list(ag.alpha_bootstrap(list(pooled_clusters.values()), m,
                                                                 params["resamples"], params["seed"]) or []) or None
                                         if params["resamples"] else None)
        overall["mean"] = {key: ag.mean(r[key] for r in rows)
                           for key in ("percent_agreement", "coded_agreement", "kappa", "alpha")}
        overall["pairs"] = _pairs(material.coders, per_code)
    else:
        overall["mean"] = {"matched": ag.mean(r["matched"] for r in rows)}
    return {"unit": unit, "coders": coders, "transcripts": len(material.transcripts), "codes": rows,
            "overall": overall, "method": {"bootstrap": "cluster bootstrap over transcripts, percentile 95% interval",
                                           "resamples": params["resamples"], "seed": params["seed"],
                                           "threshold": params["threshold"]}}


def _pairs(coders: list[str], per_code: list[ag.Counts]) -> list[dict[str, Any]]:
    """Per pair of coders: percent agreement, Cohen's kappa and alpha over all chosen codes pooled, read off the
    same pattern counts (a pair's pattern is two bits of the full pattern)."""
    out = []
    m = len(coders)
    for i in range(m):
        for j in range(i + 1, m):
            pooled: ag.Counts = {}
            for counts in per_code:
                for mask, n in counts.items():
                    sub = (mask >> i & 1) | (mask >> j & 1) << 1
                    pooled[sub] = pooled.get(sub, 0) + n
            result = ag.measures(pooled, 2)
            out.append({"a": coders[i], "b": coders[j], "percent_agreement": result.percent_agreement,
                        "kappa": result.kappa, "alpha": result.alpha})
    return out


def _segment_row(material: Material, code_id: int, threshold: float) -> dict[str, Any]:
    matched = total = 0
    per_coder = {c: 0 for c in material.coders}
    unmatched = []
    for transcript_id in material.transcripts:
        per = material.spans.get((code_id, transcript_id))
        if not per:
            continue
        for i, own in enumerate(per):
            others = [s for k, spans in enumerate(per) if k != i for s in spans]
            flags = ag.segment_matches(own, others, threshold)
            per_coder[material.coders[i]] += len(own)
            total += len(own)
            matched += sum(flags)
            unmatched += [{"transcript": transcript_id, "coder": material.coders[i], "start": s, "end": e}
                          for (s, e), ok in zip(own, flags, strict=True) if not ok]
    return {"matched": matched / total if total else None, "units_coded": per_coder,
            "percent_agreement": None, "coded_agreement": None, "kappa": None, "alpha": None, "alpha_ci": None,
            "unmatched": unmatched[:500]}


# --- disagreements --------------------------------------------------------------------------------------------
@dataclass
class Region:
    transcript_id: int
    start: int
    end: int
    agreed: bool
    spans: dict[str, list[tuple[int, int]]]  # coder -> their merged intervals inside the region


def regions(material: Material, code_id: int, coders: list[str] | None = None) -> list[Region]:
    """Every stretch of text any chosen coder coded with the code (or, with descendants, its subtree): the union
    of their codings, each union interval one region; a region is agreed when every coder covers exactly it."""
    chosen = coders or material.coders
    index = [material.coders.index(c) for c in chosen]
    out: list[Region] = []
    for transcript_id in sorted(material.transcripts):
        per = material.spans.get((code_id, transcript_id))
        if not per:
            continue
        merged = {material.coders[i]: ag.merge(per[i], touching=False) for i in index}
        union = ag.merge([s for spans in merged.values() for s in spans], touching=False)
        for start, end in union:
            inside = {c: [(max(s, start), min(e, end)) for s, e in spans if s < end and e > start]
                      for c, spans in merged.items()}
            agreed = all(spans == [(start, end)] for spans in inside.values())
            out.append(Region(transcript_id, start, end, agreed, inside))
    return out


@transaction.atomic
def consensus_decide(
    *, study: Study, code: Code, transcript: Transcript, start: int, end: int, choice: str, actor: Any,
    coders: list[str], keep: str = "", edit: tuple[int, int] | None = None,
) -> list[Coding]:
    """Settle one region: replace the consensus codings of ``code`` inside [start, end) by the chosen version.
    The coders' own layers are never changed. Recorded in the audit log."""
    if choice not in CHOICES:
        raise ValidationError(f"Choose one of: {', '.join(CHOICES)}.")
    if code.study_id != study.pk or transcript.study_id != study.pk:
        raise ValidationError("The code or transcript belongs to another study.")
    if not 0 <= start < end <= len(transcript.text):
        raise ValidationError("The region is not inside the text.")
    params = clean_agreement_parameters(study, {"coders": coders, "resamples": 0})
    material = gather(study, {**params, "tags": []})
    material.transcripts.setdefault(transcript.pk, transcript.text)
    per = material.spans.get((code.pk, transcript.pk), [[] for _ in material.coders])
    merged = {c: [(max(s, start), min(e, end)) for s, e in ag.merge(per[i]) if s < end and e > start]
              for i, c in enumerate(material.coders)}
    if choice == "keep":
        if keep not in merged:
            raise ValidationError("Choose whose coding to keep.")
        result = merged[keep]
    elif choice == "union":
        result = ag.merge([s for spans in merged.values() for s in spans])
    elif choice == "intersection":
        result = [(start, end)]
        for spans in merged.values():
            result = _intersect(result, spans)
    elif choice == "edit":
        if edit is None or not start <= edit[0] < edit[1] <= len(transcript.text):
            raise ValidationError("Give a start before the end, inside the text.")
        result = [edit]
    else:
        result = []
    removed = Coding.objects.filter(transcript=transcript, code=code, layer=Layer.CONSENSUS,
                                    start__lt=end, end__gt=start)
    removed_spans = list(removed.values_list("start", "end"))
    removed.delete()
    made = [coding_apply(transcript=transcript, code=code, coder=actor, start=s, end=e, layer=Layer.CONSENSUS)[0]
            for s, e in result if e > s]
    audit_record(study=study, actor=actor, action="consensus.decide", obj=code,
                 details={"transcript": transcript.pk, "start": start, "end": end, "choice": choice, "keep": keep,
                          "coders": coders, "removed": removed_spans, "written": [[c.start, c.end] for c in made]})
    return made


def _intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    return ag.merge(out)


@transaction.atomic
def consensus_copy_agreements(*, study: Study, code: Code | None, actor: Any, coders: list[str]) -> int:
    """Write every region on which all chosen coders agree exactly into the consensus layer (for one code or all).
    Returns the number of consensus codings written."""
    params = clean_agreement_parameters(study, {"coders": coders, "resamples": 0, "descendants": False})
    material = gather(study, params)
    codes = [code.pk] if code else [c for c, _ in material.tree.preorder()]
    written = 0
    transcripts = {t.pk: t for t in Transcript.objects.filter(pk__in=list(material.transcripts))}
    code_objects = {c.pk: c for c in Code.objects.filter(pk__in=codes)}
    for code_id in codes:
        for region in regions(material, code_id):
            if region.agreed:
                _, created = coding_apply(transcript=transcripts[region.transcript_id], code=code_objects[code_id],
                                          coder=actor, start=region.start, end=region.end, layer=Layer.CONSENSUS)
                written += created
    audit_record(study=study, actor=actor, action="consensus.copy_agreements", obj=code or study,
                 details={"coders": coders, "written": written})
    return written
