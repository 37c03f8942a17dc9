"""Analysis pages: ask for a table, watch the run, read the table and its chart, download it."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from codebook.models import Code, Coding, Layer
from interviews.access import StudyAccess, access_study
from interviews.models import Attribute
from interviews.services import audit_record

from . import charts, output, services
from .models import AnalysisRun, RunStatus

DOWNLOADS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "md": ("text/markdown; charset=utf-8", "md"),
    "tex": ("application/x-tex; charset=utf-8", "tex"),
}


def _visible_runs(access: StudyAccess):
    runs = AnalysisRun.objects.filter(study=access.study).select_related("requested_by")
    if not access.sees_all_layers:
        # Under blind coding a coder's runs cover only their own layer; they see only their own runs.
        runs = runs.filter(requested_by=access.user)
    return runs


def parameters_from(data, access: StudyAccess) -> dict:
    """Form fields to run parameters. Under blind coding a coder always gets their own layer."""
    layer = data.get("layer") or Layer.CODER
    coders = data.getlist("coders") if hasattr(data, "getlist") else data.get("coders", [])
    if not access.sees_all_layers:
        layer, coders = Layer.CODER, [access.user.get_username()]
    filters: dict = {"tags": [t.strip() for t in (data.get("tags") or "").split(",") if t.strip()], "attributes": {}}
    if data.get("filter_attribute"):
        filters["attributes"][data["filter_attribute"]] = [
            v.strip() for v in (data.get("filter_values") or "").split(",") if v.strip()]
    return {"layer": layer, "coders": coders, "filters": filters, "code": data.get("code") or None,
            "attribute": data.get("attribute"), "attribute_b": data.get("attribute_b") or None,
            "bins": data.get("bins") or "", "bins_b": data.get("bins_b") or "", "level": data.get("level"),
            "depth": data.get("depth"), "within": data.get("within") or 0, "same_turn": bool(data.get("same_turn")),
            "counts": bool(data.get("counts"))}


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def analysis_home(request: HttpRequest, slug: str) -> HttpResponse:
    access = access_study(request.user, slug)
    if request.method == "POST":
        try:
            run = services.analysis_request(
                study=access.study, kind=request.POST.get("kind", "drivers"),
                parameters=parameters_from(request.POST, access), user=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("analysis_home", slug=access.study.slug)
        run.refresh_from_db()
        if run.status == RunStatus.FAILED and run.error == services.UNAVAILABLE:
            # The task queue could not be reached: say so here, with 503, and leave no run pretending to work.
            messages.error(request, run.error)
            return _home(request, access, status=503)
        return redirect("run_detail", slug=access.study.slug, pk=run.pk)
    return _home(request, access)


def _home(request: HttpRequest, access: StudyAccess, status: int = 200) -> HttpResponse:
    services.runs_fail_stale(study=access.study)
    coders = get_user_model().objects.filter(
        pk__in=Coding.objects.filter(transcript__study=access.study, layer=Layer.CODER).values("coder_id")
    ).order_by("username")
    return render(request, "analysis/analysis_home.html", {
        "access": access, "study": access.study, "runs": _visible_runs(access)[:20],
        "attributes": Attribute.objects.filter(study=access.study),
        "codes": Code.objects.filter(study=access.study, children__isnull=False).distinct().order_by("name"),
        "coders": coders,
    }, status=status)


def _run(access: StudyAccess, pk: int) -> AnalysisRun:
    run = _visible_runs(access).filter(pk=pk).first()
    if run is None:
        raise Http404("No such analysis run in this study")
    return run


@login_required
@never_cache
@require_GET
def run_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access = access_study(request.user, slug)
    run = _run(access, pk)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {"id": run.pk, "kind": run.kind, "status": run.status, "progress": run.progress,
             "parameters": run.parameters, "error": run.error, "result": run.result}
        )
    context = {"access": access, "study": access.study, "run": run,
               "running": run.status in (RunStatus.QUEUED, RunStatus.RUNNING)}
    if run.status == RunStatus.DONE and run.result is not None:
        context["grid"] = output.grid(run.kind, run.result, run.parameters)
        context["table_rows"] = list(zip(context["grid"].rows, context["grid"].depths, strict=True))
        if run.kind == "drivers":
            colors = dict(Code.objects.filter(study=access.study).values_list("id", "color"))
            context["chart"] = mark_safe(charts.driver_bars(run.result, colors))  # noqa: S308 - built escaped
        elif run.kind == "cooccurrence":
            context["chart"] = mark_safe(charts.heatmap(run.result))  # noqa: S308 - built escaped
    return render(request, "analysis/run_detail.html", context)


@login_required
@never_cache
@require_GET
def run_download(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access = access_study(request.user, slug)
    run = _run(access, pk)
    fmt = request.GET.get("format", "csv")
    if fmt not in DOWNLOADS:
        return HttpResponse("Choose csv, xlsx, md or tex.", status=400, content_type="text/plain")
    if run.status != RunStatus.DONE or run.result is None:
        return HttpResponse("This run has no result yet.", status=409, content_type="text/plain")
    g = output.grid(run.kind, run.result, run.parameters)
    body = {"csv": output.to_csv, "xlsx": output.to_xlsx, "md": output.to_markdown, "tex": output.to_latex}[fmt](g)
    content_type, extension = DOWNLOADS[fmt]
    audit_record(study=access.study, actor=request.user, action="export.table", obj=run,
                 details={"kind": run.kind, "format": fmt, "rows": len(g.rows)})
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{access.study.slug}-{run.kind}-{run.pk}.{extension}"'
    return response


@login_required
@never_cache
@require_GET
def run_cell(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """What lies behind one co-occurrence cell: the participants (or transcripts) with both codes."""
    access = access_study(request.user, slug)
    run = _run(access, pk)
    if run.kind != "cooccurrence" or run.status != RunStatus.DONE:
        raise Http404("No cells to open in this run")
    try:
        a, b = int(request.GET.get("a", "")), int(request.GET.get("b", ""))
    except ValueError:
        return HttpResponse("a and b must be code ids.", status=400, content_type="text/plain")
    data = services.load(access.study, run.parameters)
    if a not in data.tree.chains or b not in data.tree.chains:
        raise Http404("No such code in this study")
    sub_a, sub_b = data.tree.subtree(a), data.tree.subtree(b)
    with_a: dict[int, list] = {}
    with_b: dict[int, list] = {}
    key = "transcript_id" if run.parameters.get("level") == "transcript" else "participant_id"
    for fact in data.facts:
        if fact.code_id in sub_a:
            with_a.setdefault(getattr(fact, key), []).append(fact)
        if fact.code_id in sub_b:
            with_b.setdefault(getattr(fact, key), []).append(fact)
    both = sorted(set(with_a) & set(with_b))
    ids = [f.coding_id for unit in both for f in with_a[unit] + with_b[unit]]
    excerpts = (Coding.objects.filter(pk__in=ids).select_related("code", "transcript", "transcript__participant",
                                                                  "coder").order_by("transcript__participant__label",
                                                                                    "transcript_id", "start"))
    return render(request, "analysis/cell.html", {
        "access": access, "study": access.study, "run": run, "excerpts": excerpts[:2000], "units": len(both),
        "a": data.tree.path(a), "b": data.tree.path(b), "level": run.parameters.get("level"),
    })
