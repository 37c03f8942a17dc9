"""The codebook page, the code page and codebook interchange. Thin: access, selector or service, template."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from interviews.access import StudyAccess, access_study
from interviews.models import AuditEvent
from interviews.selectors import visible_codings
from workbench.errors import Conflict

from . import interchange, restructure, services, undo
from .models import Code
from .selectors import code_tree

CODEBOOK_ACTIONS = ("code.", "codebook.")


def _code(access: StudyAccess, pk: int | str | None) -> Code | None:
    if pk in (None, ""):
        return None
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise ValidationError("Choose a code from the list.") from None
    code = Code.objects.select_related("parent").filter(study=access.study, pk=pk).first()
    if code is None:
        raise Http404("No such code in this study")
    return code


def _reason(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def codebook(request: HttpRequest, slug: str) -> HttpResponse:
    access = access_study(request.user, slug, manage=request.method == "POST")
    status = 200
    if request.method == "POST":
        try:
            action = request.POST.get("action")
            if action == "create":
                code = services.code_create(
                    study=access.study, name=request.POST.get("name", ""),
                    parent=_code(access, request.POST.get("parent")),
                    color=request.POST.get("color") or "#888888", description=request.POST.get("description", ""),
                    actor=request.user,
                )
                messages.success(request, f"Created the code “{code.name}”.")
            elif action == "import":
                upload = request.FILES.get("qdc")
                if upload is None:
                    raise ValidationError("Choose a .qdc file.")
                report = interchange.codebook_import_qdc(study=access.study, data=upload.read(), actor=request.user)
                added = ", ".join(report["added"][:20]) + (" …" if len(report["added"]) > 20 else "")
                messages.success(request, f"{len(report['added'])} code(s) added"
                                          f"{': ' + added if added else ''}; {report['matched_by_guid']} matched by "
                                          f"GUID, {report['matched_by_path']} by path.")
            elif action == "undo":
                step = undo.codebook_undo(study=access.study, actor=request.user)
                messages.success(request, f"Undone: {step.label}.")
            else:
                raise ValidationError("Unknown action.")
            return redirect("codebook", slug=access.study.slug)
        except ValidationError as exc:
            messages.error(request, _reason(exc))
            status = 400
        except Conflict as exc:
            messages.error(request, str(exc))
            status = 409
    rows = code_tree(access)
    return render(request, "codebook/codebook.html",
                  {"access": access, "study": access.study, "rows": rows,
                   "undo_step": undo.undo_available(access.study) if access.is_pi else None}, status=status)


@login_required
@never_cache
@require_GET
def codebook_export(request: HttpRequest, slug: str) -> HttpResponse:
    access = access_study(request.user, slug)
    fmt = request.GET.get("format", "qdc")
    try:
        if fmt == "qdc":
            response = HttpResponse(interchange.codebook_export_qdc(study=access.study, actor=request.user),
                                    content_type="application/xml")
        elif fmt == "csv":
            if not access.sees_all_layers:
                raise PermissionDenied("Under blind coding the codebook CSV (with everyone's counts) is for the PI.")
            response = HttpResponse(interchange.codebook_export_csv(study=access.study, actor=request.user),
                                    content_type="text/csv; charset=utf-8")
        else:
            raise ValidationError("Choose the format qdc or csv.")
    except ValidationError as exc:
        return HttpResponse(_reason(exc), status=400, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{access.study.slug}-codebook.{fmt}"'
    return response


@login_required
@never_cache
@require_GET
def codebook_history(request: HttpRequest, slug: str) -> HttpResponse:
    access = access_study(request.user, slug, manage=True)
    events = AuditEvent.objects.filter(study=access.study, action__startswith="code")[:500]
    return render(request, "codebook/history.html", {"access": access, "study": access.study, "events": events})


def _code_history(access: StudyAccess, code: Code) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(study=access.study, action__startswith="code.").order_by("-created_at")[:2000]
    return [e for e in events if code.pk in (e.details or {}).get("codes", [])]


@login_required
@never_cache
@require_GET
def code_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access = access_study(request.user, slug)
    return _render_code(request, access, _code(access, pk))


def _render_code(request: HttpRequest, access: StudyAccess, code: Code, status: int = 200) -> HttpResponse:
    rows = {r.code.pk: r for r in code_tree(access)}
    excerpts = (visible_codings(access).filter(code=code)
                .select_related("transcript", "transcript__participant", "coder")
                .order_by("transcript__participant__label", "transcript__title", "start")[:1000])
    others = [r for r in rows.values() if r.code.pk != code.pk]
    return render(request, "codebook/code.html", {
        "access": access, "study": access.study, "code": code, "row": rows.get(code.pk),
        "path": restructure.code_path(code), "excerpts": excerpts, "others": others,
        "history": _code_history(access, code) if access.is_pi else [],
    }, status=status)


@login_required
@never_cache
@require_POST
def code_action(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access = access_study(request.user, slug, manage=True)
    code = _code(access, pk)
    action = request.POST.get("action")
    try:
        if action == "update":
            fields = {f: request.POST.get(f) for f in ("name", "color", *restructure.DEFINITION_FIELDS)}
            fields["codable"] = request.POST.get("codable") == "1"
            restructure.code_update(code=code, actor=request.user, **fields)
            messages.success(request, "Saved.")
        elif action == "move":
            restructure.code_move(code=code, parent=_code(access, request.POST.get("parent")), actor=request.user)
            messages.success(request, f"Moved “{code.name}”.")
        elif action == "reorder":
            restructure.code_reorder(code=code, position=int(request.POST.get("position", "0")), actor=request.user)
        elif action in ("merge", "delete") and not request.POST.get("confirm"):
            return _confirm(request, access, code, action)
        elif action == "merge":
            target = _code(access, request.POST.get("target"))
            if target is None:
                raise ValidationError("Choose the code to merge into.")
            totals = restructure.code_merge(source=code, target=target, actor=request.user)
            messages.success(request, f"Merged “{code.name}” into “{target.name}”: {totals['moved']} coding(s) "
                                      f"moved, {totals['folded']} identical one(s) folded.")
            return redirect("code_detail", slug=access.study.slug, pk=target.pk)
        elif action == "delete":
            result = restructure.code_delete(code=code, mode=request.POST.get("mode", ""), actor=request.user)
            messages.success(request, f"Deleted “{code.name}” ({result['mode'].replace('_', ' ')}).")
            return redirect("codebook", slug=access.study.slug)
        elif action == "split":
            target, result = restructure.code_split(
                code=code, coding_ids=request.POST.getlist("codings"), actor=request.user,
                target=_code(access, request.POST.get("target")), new_name=request.POST.get("new_name", ""),
            )
            messages.success(request, f"Moved {result['moved']} coding(s) to “{target.name}”.")
        else:
            raise ValidationError("Unknown action.")
    except (ValidationError, ValueError) as exc:
        messages.error(request, _reason(exc) if isinstance(exc, ValidationError) else "Give a whole number.")
        return _render_code(request, access, restructure._fresh(code), status=400)
    return redirect("code_detail", slug=access.study.slug, pk=code.pk)


def _confirm(request: HttpRequest, access: StudyAccess, code: Code, action: str) -> HttpResponse:
    context = {"access": access, "study": access.study, "code": code, "action": action,
               "path": restructure.code_path(code)}
    if action == "merge":
        target = _code(access, request.POST.get("target"))
        if target is None:
            messages.error(request, "Choose the code to merge into.")
            return redirect("code_detail", slug=access.study.slug, pk=code.pk)
        context.update(target=target, target_path=restructure.code_path(target),
                       preview=restructure.code_merge_preview(source=code, target=target))
    else:
        context.update(preview=restructure.code_delete_preview(code=code))
    return render(request, "codebook/confirm.html", context)
