"""The study's audit log for the PI: read and filter; nothing here (or anywhere) edits past events."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .access import access_study
from .models import AuditEvent


@login_required
@never_cache
@require_GET
def audit_log(request: HttpRequest, slug: str) -> HttpResponse:
    access = access_study(request.user, slug, manage=True)
    events = AuditEvent.objects.filter(study=access.study)
    action = request.GET.get("action", "").strip()
    actor = request.GET.get("actor", "").strip()
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        events = events.filter(actor_name=actor)
    page = Paginator(events, 100).get_page(request.GET.get("page"))
    actions = sorted(set(AuditEvent.objects.filter(study=access.study).values_list("action", flat=True)))
    return render(request, "interviews/audit.html", {"access": access, "study": access.study, "page": page,
                                                     "actions": actions, "action": action, "actor": actor})
