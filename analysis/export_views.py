"""The export page: coded excerpts as CSV, XLSX or JSON with filters, streamed; links to the other exports."""
from __future__ import annotations

import tempfile

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from codebook.models import Code, Coding, Layer
from interviews.access import StudyAccess, access_study
from interviews.models import Attribute
from workbench.errors import QueueUnavailable

from . import exports


def filters_from(request: HttpRequest, access: StudyAccess) -> exports.ExcerptFilters:
    data = request.GET
    try:
        context = int(data.get("context") or 0)
        transcripts = [int(t) for t in data.getlist("transcript") if t.strip()]
    except ValueError:
        raise ValidationError("Context and transcripts are whole numbers.") from None
    if not 0 <= context <= 2000:
        raise ValidationError("Context is between 0 and 2,000 characters.")
    attributes = {}
    if data.get("filter_attribute"):
        attributes[data["filter_attribute"]] = [v.strip() for v in data.get("filter_values", "").split(",")
                                                if v.strip()]
    coders = data.getlist("coder")
    if not access.sees_all_layers:
        coders = [access.user.get_username()]
    return exports.ExcerptFilters(
        codes=exports.code_ids_for_paths(access.study, [c for c in data.getlist("code") if c.strip()]),
        exact=data.get("exact") == "1", coders=coders, layer=data.get("layer") or None,
        transcripts=transcripts, tags=[t.strip() for t in data.get("tags", "").split(",") if t.strip()],
        attributes=attributes, context=context,
    )


@login_required
@never_cache
@require_GET
def export_page(request: HttpRequest, slug: str) -> HttpResponse:
    access = access_study(request.user, slug)
    if request.GET.get("download"):
        fmt = request.GET.get("format", "csv")
        try:
            if fmt not in ("csv", "xlsx", "json"):
                raise ValidationError("Choose csv, xlsx or json.")
            f = filters_from(request, access)
            header, rows = exports.excerpt_rows(access, f)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return _page(request, access, status=400)
        name = f"{access.study.slug}-excerpts.{fmt}"
        if fmt == "xlsx":
            spool = tempfile.SpooledTemporaryFile(max_size=50 * 1024 * 1024)
            try:
                count = exports.write_xlsx(header, rows, spool)
            except OSError as exc:  # a workbook beyond 50 MB is built on disk, which may be full
                spool.close()
                exports.record_export(access, f, fmt, 0, complete=False)
                messages.error(request, f"The workbook could not be built on the server ({exc.strerror}). Try CSV, "
                                        "which is streamed, or ask the administrator to free disk space.")
                return _page(request, access, status=507)
            exports.record_export(access, f, fmt, count)
            spool.seek(0)
            response = FileResponse(spool, as_attachment=True, filename=name, content_type=(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
        else:
            body = exports.audited_stream(access, f, fmt, header, rows, bom=request.GET.get("bom") == "1")
            response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8" if fmt == "csv"
                                             else "application/json")
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response
    return _page(request, access)


def _page(request: HttpRequest, access: StudyAccess, status: int = 200) -> HttpResponse:
    coders = get_user_model().objects.filter(
        pk__in=Coding.objects.filter(transcript__study=access.study, layer=Layer.CODER).values("coder_id")
    ).order_by("username")
    return render(request, "analysis/export.html", {
        "access": access, "study": access.study, "coders": coders if access.sees_all_layers else [],
        "codes": Code.objects.filter(study=access.study).order_by("parent_id", "position", "name"),
        "attributes": Attribute.objects.filter(study=access.study), "schema": exports.excerpt_header(
            access.study, 0)[0],
    }, status=status)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def project_import(request: HttpRequest) -> HttpResponse:
    """Any user may import a project: it becomes a new study of which they are the PI."""
    from .models import ProjectImport
    from .project_import import project_import_request

    if request.method == "POST":
        upload = request.FILES.get("qdpx")
        try:
            record = project_import_request(user=request.user, data=upload.read() if upload else b"",
                                            name=request.POST.get("name", ""))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return render(request, "analysis/project_import.html", {"imports": []}, status=400)
        except QueueUnavailable as exc:
            messages.error(request, str(exc))
            return render(request, "analysis/project_import.html", {"imports": []}, status=503)
        return redirect("project_import_status", pk=record.pk)
    return render(request, "analysis/project_import.html",
                  {"imports": ProjectImport.objects.filter(created_by=request.user)[:10]})


@login_required
@never_cache
@require_GET
def project_import_status(request: HttpRequest, pk) -> HttpResponse:
    from .models import ProjectImport

    record = ProjectImport.objects.filter(pk=pk, created_by=request.user).first()
    if record is None:
        raise Http404("No such import")
    return render(request, "analysis/project_import_status.html",
                  {"record": record, "running": record.status in ("queued", "running")})
