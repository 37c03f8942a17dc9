"""Analysis pages: request a run, watch it, read its table."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from codebook.models import Layer
from interviews.access import StudyAccess, access_study

from . import services
from .models import AnalysisRun


def _visible_runs(access: StudyAccess):
    runs = AnalysisRun.objects.filter(study=access.study).select_related("requested_by")
    if not access.sees_all_layers:
        # Under blind coding a coder's runs cover only their own layer; they see only their own runs.
        runs = runs.filter(requested_by=access.user)
    return runs


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def analysis_home(request: HttpRequest, slug: str) -> HttpResponse:
    access = access_study(request.user, slug)
    if request.method == "POST":
        layer = request.POST.get("layer", Layer.CODER)
        coders = request.POST.getlist("coders")
        if not access.sees_all_layers:
            layer, coders = Layer.CODER, [access.user.get_username()]
        try:
            run = services.analysis_request(
                study=access.study, kind=request.POST.get("kind", "frequencies"),
                parameters={"layer": layer, "coders": coders}, user=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("analysis_home", slug=access.study.slug)
        return redirect("run_detail", slug=access.study.slug, pk=run.pk)
    services.runs_fail_stale(study=access.study)
    return render(
        request,
        "analysis/analysis_home.html",
        {"access": access, "study": access.study, "runs": _visible_runs(access)[:20]},
    )


@login_required
@never_cache
@require_GET
def run_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access = access_study(request.user, slug)
    run = _visible_runs(access).filter(pk=pk).first()
    if run is None:
        raise Http404("No such analysis run in this study")
    if request.GET.get("format") == "json":
        return JsonResponse(
            {"id": run.pk, "kind": run.kind, "status": run.status, "progress": run.progress,
             "parameters": run.parameters, "error": run.error, "result": run.result}
        )
    return render(request, "analysis/run_detail.html", {"access": access, "study": access.study, "run": run})
