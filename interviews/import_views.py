"""Pages for importing transcripts and participant details. Thin: access, service, template."""
from __future__ import annotations

import json
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from workbench.errors import Conflict, QueueUnavailable

from . import imports, keystore, services
from .access import StudyAccess, access_study
from .models import Attribute, AttributeValue, ImportBatch, ImportStatus, Participant, PseudonymKey
from .participant_table import participants_apply, participants_preview, read_table


def _batch(access: StudyAccess, batch_id: UUID) -> ImportBatch:
    batch = ImportBatch.objects.filter(study=access.study, pk=batch_id).select_related("study").first()
    if batch is None:
        raise Http404("No such import in this study")
    return batch


def _reason(exc: Exception) -> str:
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest, slug: str) -> HttpResponse:
    access = access_study(request.user, slug, steward=True)
    context = {"access": access, "study": access.study, "key_storage": keystore.key_storage_available(),
               "recent": ImportBatch.objects.filter(study=access.study)[:10]}
    if request.method == "GET":
        return render(request, "interviews/import_upload.html", context)
    try:
        entries = []
        if request.FILES.get("replacements"):
            entries = keystore.entries_from_csv(request.FILES["replacements"].read())
        uploads = [(f.name, f.read()) for f in request.FILES.getlist("files")]
        pasted = []
        if request.POST.get("pasted", "").strip():
            pasted.append((request.POST.get("pasted_title", "").strip() or "Pasted text", request.POST["pasted"]))
        tags = [t.strip() for t in request.POST.get("tags", "").split(",") if t.strip()]
        batch = imports.import_stage(study=access.study, user=request.user, uploads=uploads, pasted=pasted,
                                     replacements=entries, tags=tags, language=request.POST.get("language", ""))
    except ValidationError as exc:
        messages.error(request, _reason(exc))
        return render(request, "interviews/import_upload.html", context, status=400)
    return redirect("import_review", slug=access.study.slug, batch_id=batch.pk)


def _decisions_from_post(request: HttpRequest, reviews: list[imports.ItemReview]) -> dict[int, imports.ItemDecision]:
    decisions = {}
    for review in reviews:
        i = review.index
        if review.error or not request.POST.get(f"include-{i}"):
            continue
        accepted = {}
        for j, _ in enumerate(review.proposals):
            if request.POST.get(f"accept-{i}-{j}"):
                accepted[j] = request.POST.get(f"pseudonym-{i}-{j}", "")
        decisions[i] = imports.ItemDecision(
            participant=request.POST.get(f"participant-{i}", ""), title=request.POST.get(f"title-{i}", ""),
            fingerprint=request.POST.get(f"fp-{i}", ""), accepted=accepted,
        )
    return decisions


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def import_review(request: HttpRequest, slug: str, batch_id: UUID) -> HttpResponse:
    access = access_study(request.user, slug, steward=True)
    batch = _batch(access, batch_id)
    if batch.status != ImportStatus.STAGED:
        return redirect("import_status", slug=access.study.slug, batch_id=batch.pk)
    status = 200
    try:
        if request.method == "POST":
            action = request.POST.get("action")
            if action == "add":
                imports.import_add_entry(batch=batch, user=request.user, original=request.POST.get("original", ""),
                                         pseudonym=request.POST.get("pseudonym", ""))
                messages.success(request, "Added to the replacement list; the proposals below are updated.")
                return redirect("import_review", slug=access.study.slug, batch_id=batch.pk)
            if action == "discard":
                imports.import_discard(batch=batch, user=request.user)
                messages.success(request, "The import was discarded and its uploaded files deleted.")
                return redirect("import_upload", slug=access.study.slug)
            if action == "confirm":
                reviews = imports.import_review(batch=batch)
                imports.import_decide(batch=batch, user=request.user,
                                      decisions=_decisions_from_post(request, reviews),
                                      keep_key=bool(request.POST.get("keep_key")))
                return redirect("import_status", slug=access.study.slug, batch_id=batch.pk)
            raise ValidationError("Unknown action.")
    except QueueUnavailable as exc:
        messages.error(request, str(exc))
        status = 503
        batch.refresh_from_db()
    except (ValidationError, Conflict) as exc:
        messages.error(request, _reason(exc))
        status = 409 if isinstance(exc, Conflict) else 400
        batch.refresh_from_db()
        if batch.status != ImportStatus.STAGED:
            return redirect("import_status", slug=access.study.slug, batch_id=batch.pk)
    reviews = imports.import_review(batch=batch)
    return render(
        request, "interviews/import_review.html",
        {"access": access, "study": access.study, "batch": batch, "reviews": reviews,
         "key_storage": keystore.key_storage_available(),
         "key_kept": hasattr(access.study, "pseudonym_key")},
        status=status,
    )


@login_required
@never_cache
@require_GET
def import_status(request: HttpRequest, slug: str, batch_id: UUID) -> HttpResponse:
    access = access_study(request.user, slug, steward=True)
    batch = _batch(access, batch_id)
    if request.GET.get("format") == "json":
        return JsonResponse({"status": batch.status, "progress": batch.progress, "outcomes": batch.outcomes,
                             "error": batch.error})
    return render(request, "interviews/import_status.html",
                  {"access": access, "study": access.study, "batch": batch,
                   "running": batch.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)})


@login_required
@never_cache
@require_POST
def import_key_download(request: HttpRequest, slug: str, batch_id: UUID) -> HttpResponse:
    access = access_study(request.user, slug, manage=True)
    batch = _batch(access, batch_id)
    try:
        content = imports.import_key_download(batch=batch, user=request.user)
    except Conflict as exc:
        messages.error(request, str(exc))
        return redirect("import_status", slug=access.study.slug, batch_id=batch.pk)
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{access.study.slug}-pseudonymisation-key.csv"'
    return response


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def pseudonym_key(request: HttpRequest, slug: str) -> HttpResponse:
    """The study's kept replacement list: the PI only; every view, download and deletion is audited."""
    access = access_study(request.user, slug, manage=True)
    kept = PseudonymKey.objects.filter(study=access.study).first()
    if request.method == "POST":
        action = request.POST.get("action")
        if kept is None:
            messages.error(request, "This study keeps no replacement list.")
            return redirect("pseudonym_key", slug=access.study.slug)
        if action == "download":
            entries = keystore.key_entries_for_person(study=access.study, user=request.user, reason="download")
            response = HttpResponse(keystore.entries_to_csv(entries), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{access.study.slug}-pseudonymisation-key.csv"'
            return response
        if action == "delete":
            keystore.key_delete(study=access.study, user=request.user)
            messages.success(request, "The replacement list was deleted. Later imports start from an empty list.")
            return redirect("pseudonym_key", slug=access.study.slug)
        messages.error(request, "Unknown action.")
        return redirect("pseudonym_key", slug=access.study.slug)
    show = request.GET.get("show") == "1" and kept is not None
    entries = keystore.key_entries_for_person(study=access.study, user=request.user, reason="view") if show else []
    return render(request, "interviews/pseudonym_key.html",
                  {"access": access, "study": access.study, "kept": kept, "entries": entries, "show": show,
                   "storage": keystore.key_storage_available()})


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def participants(request: HttpRequest, slug: str) -> HttpResponse:
    access = access_study(request.user, slug)
    attributes = list(Attribute.objects.filter(study=access.study))
    values: dict[tuple[int, int], str] = {
        (v.participant_id, v.attribute_id): v.value
        for v in AttributeValue.objects.filter(participant__study=access.study)
    }
    people = list(Participant.objects.filter(study=access.study).order_by("label"))
    table = [(p, [values.get((p.pk, a.pk), "") for a in attributes]) for p in people]
    context = {"access": access, "study": access.study, "attributes": attributes, "table": table}
    if request.method == "POST":
        access = access_study(request.user, slug, steward=True)
        status = 200
        try:
            if request.POST.get("action") == "confirm":
                rows = json.loads(request.POST.get("rows", "[]"))
                if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                    raise ValidationError("The preview could not be read back; upload the file again.")
                preview = participants_preview(study=access.study, rows=rows)
                saved = participants_apply(study=access.study, preview=preview, actor=request.user)
                messages.success(request, f"Saved the details of {saved} participant(s).")
                return redirect("participants", slug=access.study.slug)
            upload = request.FILES.get("sheet")
            if upload is None:
                raise ValidationError("Choose a .csv or .xlsx file.")
            rows = read_table(upload.name, upload.read())
            preview = participants_preview(study=access.study, rows=rows)
            context.update(preview=preview, rows_json=json.dumps(rows, ensure_ascii=False))
            status = 200 if preview.ok else 400
        except ValidationError as exc:
            messages.error(request, _reason(exc))
            status = 400
        return render(request, "interviews/participants.html", context, status=status)
    return render(request, "interviews/participants.html", context)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def participant_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access = access_study(request.user, slug, steward=request.method == "POST")
    participant = Participant.objects.filter(study=access.study, pk=pk).first()
    if participant is None:
        raise Http404("No such participant in this study")
    attributes = list(Attribute.objects.filter(study=access.study))
    current = {v.attribute_id: v.value for v in AttributeValue.objects.filter(participant=participant)}
    status = 200
    if request.method == "POST" and request.POST.get("action") == "withdraw":
        access_study(request.user, slug, manage=True)
        if request.POST.get("confirm") != participant.label:
            messages.error(request, "Type the participant's label to confirm the withdrawal.")
            status = 400
        else:
            result = services.participant_withdraw(participant=participant, actor=request.user)
            messages.success(request, f"{participant.label} withdrew: {result['transcripts']} transcript(s) and "
                                      f"{result['codings']} coding(s) deleted.")
            return redirect("participants", slug=access.study.slug)
    elif request.method == "POST":
        submitted = {a.name: request.POST.get(f"attr-{a.pk}", "") for a in attributes}
        try:
            services.participant_set_values(participant=participant, values=submitted, actor=request.user)
            messages.success(request, f"Saved the details of {participant.label}.")
            return redirect("participants", slug=access.study.slug)
        except ValidationError as exc:
            messages.error(request, _reason(exc))
            current = {a.pk: submitted[a.name] for a in attributes}
            status = 400
    fields = [(a, current.get(a.pk, "")) for a in attributes]
    return render(request, "interviews/participant_edit.html",
                  {"access": access, "study": access.study, "participant": participant, "fields": fields},
                  status=status)
