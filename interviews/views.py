"""Pages for studies, members and transcripts. Thin: access check, selector or service, template."""
from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from codebook.highlight import Span, runs_for_ranges
from codebook.models import Code, CodingStatus
from codebook.selectors import (
    choose_layer,
    code_tree,
    coding_page_data,
    layer_choices,
    my_progress,
    next_transcript,
    transcript_codings,
)
from workbench.errors import Conflict

from . import selectors, services
from .access import access_study, access_transcript
from .models import LoginFailure, Role
from .rendering import Names, code_styles, codings_list_html, transcript_html
from .turns import paragraphs


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness and database reachability for the container health check."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_required
@require_GET
def study_list(request: HttpRequest) -> HttpResponse:
    return render(request, "interviews/study_list.html", {"memberships": selectors.studies_for_user(request.user)})


@login_required
@require_GET
def study_home(request: HttpRequest, slug: str) -> HttpResponse:
    access = access_study(request.user, slug)
    return render(
        request,
        "interviews/study_home.html",
        {
            "access": access,
            "study": access.study,
            "transcripts": selectors.study_transcripts(access),
            "tree": code_tree(access),
            "members": selectors.study_members(access),
            "next_transcript": next_transcript(access),
        },
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def members(request: HttpRequest, slug: str) -> HttpResponse:
    access = access_study(request.user, slug, manage=True)
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            user = services.user_by_username(request.POST.get("username", "").strip())
            if action == "remove":
                services.membership_remove(study=access.study, user=user, actor=request.user)
                messages.success(request, f"{user.get_username()} was removed from the study.")
            elif action == "steward":
                steward = request.POST.get("steward") == "1"
                services.membership_set_steward(study=access.study, user=user, steward=steward, actor=request.user)
                state = "is" if steward else "is no longer"
                messages.success(request, f"{user.get_username()} {state} a data steward.")
            elif action == "set":
                role = request.POST.get("role", "")
                services.membership_set(study=access.study, user=user, role=role, actor=request.user)
                messages.success(request, f"{user.get_username()} is now {Role(role).label.lower()}.")
            else:
                raise ValidationError("Unknown action.")
        except (ValidationError, Conflict, ValueError) as exc:
            messages.error(request, _message(exc))
            return render(
                request,
                "interviews/members.html",
                {"access": access, "study": access.study, "members": selectors.study_members(access),
                 "roles": Role.choices},
                status=409 if isinstance(exc, Conflict) else 400,
            )
        return redirect("members", slug=access.study.slug)
    return render(
        request,
        "interviews/members.html",
        {"access": access, "study": access.study, "members": selectors.study_members(access), "roles": Role.choices},
    )


@login_required
@never_cache
@require_GET
def transcript_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access = access_study(request.user, slug)
    transcript = access_transcript(access, pk)
    if access.role != Role.CODER:
        # Coders read the transcripts they code all day; anyone else reading a participant's words is recorded.
        services.audit_record(study=access.study, actor=request.user, action="transcript.view", obj=transcript,
                              details={"role": access.role})
    layer = choose_layer(access, request.GET.get("layer"))
    # The quotes are slices of the text the page already carries: not loaded again for thousands of codings.
    codings = list(transcript_codings(access, transcript, layer).select_related(None).defer("quote", "updated_at"))
    names = Names(
        codes={c.pk: c for c in Code.objects.filter(study=access.study)},
        coders=dict(get_user_model().objects.filter(pk__in={c.coder_id for c in codings})
                    .values_list("pk", "username")),
    )
    by_id = {c.pk: c for c in codings}
    paras = paragraphs(transcript.text)
    ranges: list[tuple[int, int]] = []
    for p in paras:
        if p.speaker is not None:
            ranges.append((p.start, p.body_start))
        ranges.append((p.body_start, p.end))
    runs = runs_for_ranges(ranges, (Span(c.pk, c.start, c.end) for c in codings))
    text_html = transcript_html(transcript.text, paras, runs, by_id)
    return render(
        request,
        "interviews/transcript.html",
        {
            "access": access,
            "study": access.study,
            "transcript": transcript,
            "attributes": selectors.participant_attributes(transcript.participant),
            "text_html": text_html,
            "codings_html": codings_list_html(transcript.text, codings, names),
            "code_styles": code_styles(names.codes.values()),
            "codings": codings,
            "layer": layer,
            "layers": layer_choices(access, transcript),
            "page_data": coding_page_data(access, transcript, layer, codings, names.coders),
            "progress": my_progress(access, transcript),
            "next_transcript": next_transcript(access, transcript),
            "statuses": CodingStatus.choices,
        },
    )


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def search(request: HttpRequest, slug: str) -> HttpResponse:
    """Find in study: keyword-in-context lines across every transcript; the coder can code all (or some) hits."""
    access = access_study(request.user, slug, write=request.method == "POST")
    query = (request.POST.get("q") if request.method == "POST" else request.GET.get("q", "")) or ""
    query = query.strip()
    status = 200
    if request.method == "POST":
        try:
            code = Code.objects.filter(study=access.study, pk=int(request.POST.get("code", "0"))).first()
            if code is None:
                raise ValidationError("Choose the code to apply.")
            chosen = request.POST.getlist("hit")
            if not chosen:
                raise ValidationError("Tick at least one hit.")
            created, existing = search_code_hits(access, code, chosen)
            messages.success(request, f"Applied “{code.name}” to {created} passage(s)"
                                      f"{f'; {existing} already had it' if existing else ''}.")
        except (ValidationError, ValueError) as exc:
            messages.error(request, _message(exc) if isinstance(exc, ValidationError) else "Choose the code.")
            status = 400
        except Conflict as exc:
            messages.error(request, str(exc))
            status = 409
    hits, truncated = selectors.search_hits(access, query) if query else ([], False)
    codes = Code.objects.filter(study=access.study, codable=True).order_by("parent__name", "position", "name")
    return render(request, "interviews/search.html", {
        "access": access, "study": access.study, "query": query, "hits": hits, "truncated": truncated,
        "codes": codes,
    }, status=status)


def search_code_hits(access, code, chosen: list[str]) -> tuple[int, int]:
    """Apply ``code`` to each chosen hit (``transcript:start:end``) in the caller's layer. All or nothing."""
    from django.db import transaction

    from codebook.services import coding_apply

    created = existing = 0
    with transaction.atomic():
        for value in chosen:
            try:
                transcript_id, start, end = (int(part) for part in value.split(":"))
            except ValueError:
                raise ValidationError("A hit could not be read; search again.") from None
            transcript = access_transcript(access, transcript_id)
            _, made = coding_apply(transcript=transcript, code=code, coder=access.user, start=start, end=end)
            created += made
            existing += not made
    return created, existing


class ThrottledLoginView(LoginView):
    """The login page, refusing further attempts for a while after repeated failures for one username (5 in 15
    minutes) or from one address (20 in 15 minutes)."""

    redirect_authenticated_user = True
    window = timedelta(minutes=15)

    def _ip(self) -> str | None:
        return self.request.META.get("REMOTE_ADDR") or None

    def _blocked(self, username: str) -> bool:
        since = timezone.now() - self.window
        recent = LoginFailure.objects.filter(created_at__gte=since)
        return (recent.filter(username__iexact=username).count() >= 5
                or (self._ip() is not None and recent.filter(ip=self._ip()).count() >= 20))

    def post(self, request, *args, **kwargs):
        username = (request.POST.get("username") or "").strip()[:150]
        if self._blocked(username):
            form = self.get_form()
            form.errors.clear()
            response = self.render_to_response(self.get_context_data(form=form, throttled=True))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        username = (self.request.POST.get("username") or "").strip()[:150]
        LoginFailure.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).delete()
        LoginFailure.objects.create(username=username, ip=self._ip())
        return super().form_invalid(form)

    def form_valid(self, form):
        LoginFailure.objects.filter(username__iexact=form.get_user().get_username()).delete()
        return super().form_valid(form)
