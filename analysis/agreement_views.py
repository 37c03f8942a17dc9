"""The PI's agreement review: the table per code, the disagreements of one code, decisions into consensus."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from codebook.models import Code, Coding, Layer
from interviews.access import StudyAccess, access_study, access_transcript
from interviews.services import audit_record
from workbench.csvsafe import write_rows

from . import consensus, output, services
from .models import AnalysisRun, RunStatus

BANDS = ((0.800, "good"), (0.667, "tentative"))


def _reviewer(request: HttpRequest, slug: str, *, manage: bool = False) -> StudyAccess:
    access = access_study(request.user, slug, manage=manage)
    if not access.sees_all_layers:
        raise PermissionDenied("Agreement figures are shown to coders only once the PI turns blind coding off.")
    return access


def _run(access: StudyAccess, pk: int) -> AnalysisRun:
    run = AnalysisRun.objects.filter(study=access.study, kind="agreement", pk=pk).first()
    if run is None:
        raise Http404("No such agreement run in this study")
    return run


def band(alpha: float | None) -> str:
    if alpha is None:
        return "undefined"
    for limit, name in BANDS:
        if alpha >= limit:
            return name
    return "poor"


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def agreement_home(request: HttpRequest, slug: str) -> HttpResponse:
    access = _reviewer(request, slug)
    if request.method == "POST":
        raw = {"coders": request.POST.getlist("coders"), "unit": request.POST.get("unit"),
               "threshold": request.POST.get("threshold"), "code": request.POST.get("code") or None,
               "tags": [t for t in request.POST.get("tags", "").split(",") if t.strip()],
               "descendants": request.POST.get("descendants", "1") == "1"}
        try:
            run = services.analysis_request(study=access.study, kind="agreement", parameters=raw, user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("agreement_home", slug=access.study.slug)
        return redirect("agreement_run", slug=access.study.slug, pk=run.pk)
    coders = get_user_model().objects.filter(
        pk__in=Coding.objects.filter(transcript__study=access.study, layer=Layer.CODER).values("coder_id")
    ).order_by("username")
    runs = AnalysisRun.objects.filter(study=access.study, kind="agreement")[:10]
    return render(request, "analysis/agreement_home.html", {
        "access": access, "study": access.study, "coders": coders, "runs": runs,
        "codes": Code.objects.filter(study=access.study, children__isnull=False).distinct().order_by("name"),
    })


@login_required
@never_cache
@require_GET
def agreement_run(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access = _reviewer(request, slug)
    run = _run(access, pk)
    context = {"access": access, "study": access.study, "run": run,
               "running": run.status in (RunStatus.QUEUED, RunStatus.RUNNING)}
    if run.status == RunStatus.DONE:
        rows = []
        for row in run.result["codes"]:
            rows.append({**row, "band": band(row.get("alpha")),
                         "units": [row["units_coded"].get(c, 0) for c in run.result["coders"]]})
        context.update(rows=rows, result=run.result)
    return render(request, "analysis/agreement_run.html", context)


@login_required
@never_cache
@require_GET
def disagreements(request: HttpRequest, slug: str, pk: int, code_id: int) -> HttpResponse:
    access = _reviewer(request, slug)
    run = _run(access, pk)
    code = Code.objects.filter(study=access.study, pk=code_id).first()
    if code is None:
        raise Http404("No such code in this study")
    coders = run.parameters["coders"]
    pair = [c for c in request.GET.get("pair", "").split(",") if c in coders]
    chosen = pair if len(pair) == 2 else coders
    material = consensus.gather(access.study, run.parameters)
    found = consensus.regions(material, code.pk, chosen)
    wanted = [r for r in found if not r.agreed] if request.GET.get("show") != "all" else found
    titles = dict(access.study.transcripts.filter(pk__in={r.transcript_id for r in wanted})
                  .values_list("pk", "title"))
    settled = {(c.transcript_id, c.start, c.end) for c in
               Coding.objects.filter(code=code, layer=Layer.CONSENSUS, transcript_id__in=titles)}
    items = []
    for r in wanted:
        text = material.transcripts[r.transcript_id]
        items.append({
            "region": r, "title": titles.get(r.transcript_id, ""), "before": text[max(0, r.start - 120):r.start],
            "text": text[r.start:r.end], "after": text[r.end:r.end + 120],
            "sides": [{"coder": c, "spans": [{"start": s, "end": e, "text": text[s:e]} for s, e in r.spans[c]]}
                      for c in chosen],
            "settled": any(t == r.transcript_id and r.start <= s and e <= r.end for t, s, e in settled),
        })
    if request.GET.get("format") == "csv":
        audit_record(study=access.study, actor=request.user, action="export.disagreements", obj=code,
                     details={"run": run.pk, "rows": len(items)})
        rows = [["transcript", "start", "end", "agreed", *[f"{c}" for c in chosen]]]
        rows += [[i["title"], i["region"].start, i["region"].end, "yes" if i["region"].agreed else "no",
                  *[" | ".join(s["text"] for s in side["spans"]) for side in i["sides"]]] for i in items]
        response = HttpResponse(write_rows(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{access.study.slug}-disagreements-{code.pk}.csv"'
        return response
    return render(request, "analysis/disagreements.html", {
        "access": access, "study": access.study, "run": run, "code": code, "items": items, "coders": coders,
        "chosen": chosen, "pairs": [(a, b) for i, a in enumerate(coders) for b in coders[i + 1:]],
        "row": next((r for r in run.result["codes"] if r["code_id"] == code.pk), None) if run.result else None,
    })


@login_required
@never_cache
@require_POST
def consensus_decision(request: HttpRequest, slug: str, pk: int, code_id: int) -> HttpResponse:
    access = _reviewer(request, slug, manage=True)
    run = _run(access, pk)
    code = Code.objects.filter(study=access.study, pk=code_id).first()
    if code is None:
        raise Http404("No such code in this study")
    back = reverse("disagreements", args=[access.study.slug, run.pk, code.pk])
    try:
        if request.POST.get("action") == "copy_agreements":
            written = consensus.consensus_copy_agreements(study=access.study, code=code, actor=request.user,
                                                          coders=run.parameters["coders"])
            messages.success(request, f"{written} agreed passage(s) copied into the consensus layer.")
            return redirect(back)
        transcript = access_transcript(access, int(request.POST.get("transcript", "0")))
        start, end = int(request.POST["start"]), int(request.POST["end"])
        edit = None
        if request.POST.get("choice") == "edit":
            edit = (int(request.POST.get("edit_start", "")), int(request.POST.get("edit_end", "")))
        choice, _, keep = request.POST.get("choice", "").partition(":")
        made = consensus.consensus_decide(
            study=access.study, code=code, transcript=transcript, start=start, end=end,
            choice=choice, keep=keep, edit=edit,
            actor=request.user, coders=request.POST.getlist("coders") or run.parameters["coders"],
        )
        messages.success(request, f"Settled: {len(made)} consensus coding(s) written.")
    except (ValidationError, ValueError, KeyError) as exc:
        messages.error(request, " ".join(exc.messages) if isinstance(exc, ValidationError)
                       else "The decision could not be read; reload the page.")
        response = redirect(back)
        response.status_code = 303
        return response
    return redirect(back)


@login_required
@never_cache
@require_GET
def agreement_download(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access = _reviewer(request, slug)
    run = _run(access, pk)
    if run.status != RunStatus.DONE:
        return HttpResponse("This run has no result yet.", status=409, content_type="text/plain")
    fmt = request.GET.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        return HttpResponse("Choose csv or xlsx.", status=400, content_type="text/plain")
    g = output.grid("agreement", run.result, run.parameters)
    body = output.to_csv(g) if fmt == "csv" else output.to_xlsx(g)
    audit_record(study=access.study, actor=request.user, action="export.agreement", obj=run,
                 details={"format": fmt, "rows": len(g.rows)})
    response = HttpResponse(body, content_type="text/csv; charset=utf-8" if fmt == "csv" else
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="{access.study.slug}-agreement-{run.pk}.{fmt}"'
    return response
