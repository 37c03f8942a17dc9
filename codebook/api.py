"""JSON endpoints for the coding page: list, create, update and delete codings; add codes; progress; settings.

Every refusal is JSON ``{"error": message}`` with 400 (bad input), 403 (no right), 404 (not in this study, or not
visible under blind coding) or 409 (stale page or a concurrent change; the body then carries ``current``).
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from interviews.access import StudyAccess, access_study, access_transcript
from interviews.selectors import visible_codings
from workbench.errors import Conflict

from . import services
from .models import Code, CoderSettings, Coding, Layer
from .selectors import choose_layer, transcript_codings


def json_endpoint(methods: tuple[str, ...]) -> Callable:
    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        @never_cache
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return JsonResponse({"error": f"{request.method} is not allowed here."}, status=405)
            if not request.user.is_authenticated:
                return JsonResponse({"error": "Log in first."}, status=403)
            try:
                return view(request, *args, **kwargs)
            except Http404 as exc:
                return JsonResponse({"error": str(exc) or "Not found."}, status=404)
            except PermissionDenied as exc:
                return JsonResponse({"error": str(exc) or "You may not do this."}, status=403)
            except ValidationError as exc:
                return JsonResponse({"error": " ".join(exc.messages)}, status=400)
            except Conflict as exc:
                body: dict[str, Any] = {"error": str(exc)}
                current = getattr(exc, "current", None)
                if current is not None:
                    body["current"] = current
                return JsonResponse(body, status=409)

        return wrapper

    return decorator


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationError("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ValidationError("The request body must be a JSON object.")
    return data


def _int(data: dict[str, Any], key: str, *, required: bool = True) -> int | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ValidationError(f"{key} is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{key} must be a whole number.")
    return value


def _code(access: StudyAccess, code_id: Any) -> Code:
    if isinstance(code_id, bool) or not isinstance(code_id, int):
        raise ValidationError("code must be a code id.")
    code = Code.objects.filter(study=access.study, pk=code_id).first()
    if code is None:
        raise Http404("No such code in this study.")
    return code


def _own_coding(access: StudyAccess, pk: int) -> Coding:
    """A coding the caller may change: their own (coder layer), or any consensus coding for the PI."""
    coding = visible_codings(access).select_related("transcript", "code", "coder").filter(pk=pk).first()
    if coding is None:
        raise Http404("No such coding in this study.")
    mine = coding.layer == Layer.CODER and coding.coder_id == access.user.pk
    if not (mine or (coding.layer == Layer.CONSENSUS and access.is_pi)):
        raise PermissionDenied("You can change only your own codings.")
    return coding


@json_endpoint(("GET", "POST"))
def transcript_codings_api(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    if request.method == "GET":
        access = access_study(request.user, slug)
        transcript = access_transcript(access, pk)
        layer = choose_layer(access, request.GET.get("layer"))
        codings = transcript_codings(access, transcript, layer)
        return JsonResponse({"layer": layer, "codings": [services.coding_as_dict(c) for c in codings]})
    access = access_study(request.user, slug, write=True)
    transcript = access_transcript(access, pk)
    data = _body(request)
    layer = data.get("layer", Layer.CODER)
    if layer == Layer.CONSENSUS and not access.is_pi:
        raise PermissionDenied("Only the PI writes into the consensus layer.")
    memo = data.get("memo", "")
    if not isinstance(memo, str) or len(memo) > services.MAX_MEMO:
        raise ValidationError("memo must be text of at most 20,000 characters.")
    quote = data.get("quote")
    if quote is not None and not isinstance(quote, str):
        raise ValidationError("quote must be text.")
    coding, created = services.coding_apply(
        transcript=transcript, code=_code(access, data.get("code")), coder=request.user,
        start=_int(data, "start"), end=_int(data, "end"), layer=layer, memo=memo, quote=quote,
    )
    return JsonResponse(services.coding_as_dict(coding), status=201 if created else 200)


@json_endpoint(("GET", "PATCH", "DELETE"))
def coding_api(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    if request.method == "GET":
        access = access_study(request.user, slug)
        coding = visible_codings(access).select_related("coder").filter(pk=pk).first()
        if coding is None:
            raise Http404("No such coding in this study.")
        return JsonResponse(services.coding_as_dict(coding))
    access = access_study(request.user, slug, write=True)
    coding = _own_coding(access, pk)
    if request.method == "DELETE":
        services.coding_remove(coding=coding, actor=request.user)
        return HttpResponse(status=204)
    data = _body(request)
    memo = data.get("memo")
    if memo is not None and not isinstance(memo, str):
        raise ValidationError("memo must be text.")
    quote = data.get("quote")
    if quote is not None and not isinstance(quote, str):
        raise ValidationError("quote must be text.")
    try:
        updated = services.coding_update(
            coding=coding, version=_int(data, "version", required=False), memo=memo,
            code=_code(access, data["code"]) if "code" in data else None,
            start=_int(data, "start", required=False), end=_int(data, "end", required=False), quote=quote,
        )
    except Conflict as exc:
        current = Coding.objects.select_related("coder").filter(pk=coding.pk).first()
        exc.current = services.coding_as_dict(current) if current else None
        raise
    return JsonResponse(services.coding_as_dict(updated))


@json_endpoint(("POST",))
def code_create_api(request: HttpRequest, slug: str) -> HttpResponse:
    access = access_study(request.user, slug, write=True)
    if not (access.is_pi or access.study.coders_add_codes):
        raise PermissionDenied("In this study only the PI adds codes.")
    data = _body(request)
    parent = _code(access, data["parent"]) if data.get("parent") is not None else None
    name = data.get("name")
    if not isinstance(name, str):
        raise ValidationError("name must be text.")
    existing = Code.objects.filter(study=access.study, parent=parent, name__iexact=" ".join(name.split())).first()
    if existing is not None:  # in-vivo coding with a name that exists: use that code
        code, status = existing, 200
    else:
        code = services.code_create(study=access.study, name=name, parent=parent,
                                    color=data.get("color") or "#0ea5e9", actor=request.user)
        status = 201
    return JsonResponse({"id": code.pk, "name": code.name, "parent": code.parent_id, "color": code.color,
                         "codable": code.codable, "shortcut": code.shortcut}, status=status)


@json_endpoint(("POST",))
def progress_api(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access = access_study(request.user, slug, write=True)
    transcript = access_transcript(access, pk)
    status = _body(request).get("status")
    if not isinstance(status, str):
        raise ValidationError("status is required.")
    services.progress_set(transcript=transcript, coder=request.user, status=status)
    return JsonResponse({"status": status})


@json_endpoint(("POST",))
def settings_api(request: HttpRequest) -> HttpResponse:
    data = _body(request)
    snap = data.get("snap_to_words")
    if not isinstance(snap, bool):
        raise ValidationError("snap_to_words must be true or false.")
    CoderSettings.objects.update_or_create(user=request.user, defaults={"snap_to_words": snap})
    return JsonResponse({"snap_to_words": snap})
