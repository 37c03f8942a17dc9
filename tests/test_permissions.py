"""The permission walk: every URL the project serves, for every persona, gets the expected status.

A URL added to ``workbench/urls.py`` without an entry here fails ``test_every_url_is_walked``.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from analysis.models import AnalysisRun
from analysis.services import analysis_request, run_execute
from codebook.models import Coding
from interviews.imports import import_stage
from interviews.models import AuditEvent, Membership

PERSONAS = ("anonymous", "pi", "coder", "other_coder", "viewer", "outsider")
MEMBERS = ("pi", "coder", "other_coder", "viewer")


def statuses(anonymous: int, members: int | dict[str, int], outsider: int) -> dict[str, int]:
    result = {"anonymous": anonymous, "outsider": outsider}
    for persona in MEMBERS:
        result[persona] = members[persona] if isinstance(members, dict) else members
    return result


@dataclass
class Check:
    url: Callable  # world -> url
    get: dict[str, int] | None
    post: dict[str, int] | None = None
    post_data: Callable = field(default=lambda world: {})
    json: bool = False  # the endpoint takes a JSON body
    patch: dict[str, int] | None = None
    delete: dict[str, int] | None = None


LOGIN_REDIRECT = 302
API_ANON = 403  # JSON endpoints answer 403 to anonymous callers instead of redirecting to the login page
STEWARD_ONLY = {"pi": 200, "coder": 403, "other_coder": 403, "viewer": 403}
# Agreement figures: the PI and viewers; coders only once blind coding is off.
REVIEWERS = {"pi": 200, "coder": 403, "other_coder": 403, "viewer": 200}

CHECKS: dict[str, Check] = {
    "study_list": Check(lambda w: reverse("study_list"), get=statuses(LOGIN_REDIRECT, 200, 200),
                        post=statuses(LOGIN_REDIRECT, 405, 405)),
    "healthz": Check(lambda w: reverse("healthz"), get=statuses(200, 200, 200), post=statuses(405, 405, 405)),
    "login": Check(lambda w: reverse("login"), get=statuses(200, 302, 302)),
    "logout": Check(lambda w: reverse("logout"), get=statuses(405, 405, 405), post=statuses(302, 302, 302)),
    "study_home": Check(lambda w: reverse("study_home", args=[w.study.slug]),
                        get=statuses(LOGIN_REDIRECT, 200, 404), post=statuses(LOGIN_REDIRECT, 405, 405)),
    "members": Check(
        lambda w: reverse("members", args=[w.study.slug]),
        get=statuses(LOGIN_REDIRECT, {"pi": 200, "coder": 403, "other_coder": 403, "viewer": 403}, 404),
        post=statuses(LOGIN_REDIRECT, {"pi": 302, "coder": 403, "other_coder": 403, "viewer": 403}, 404),
        post_data=lambda w: {"action": "set", "username": "viewer", "role": "viewer"},
    ),
    "transcript": Check(lambda w: reverse("transcript", args=[w.study.slug, w.transcript.pk]),
                        get=statuses(LOGIN_REDIRECT, 200, 404), post=statuses(LOGIN_REDIRECT, 405, 405)),
    "analysis_home": Check(
        lambda w: reverse("analysis_home", args=[w.study.slug]),
        get=statuses(LOGIN_REDIRECT, 200, 404),
        post=statuses(LOGIN_REDIRECT, 302, 404),
        post_data=lambda w: {"kind": "drivers"},
    ),
    "participants": Check(
        lambda w: reverse("participants", args=[w.study.slug]),
        get=statuses(LOGIN_REDIRECT, 200, 404),
        post=statuses(LOGIN_REDIRECT, {"pi": 400, "coder": 403, "other_coder": 403, "viewer": 403}, 404),
    ),
    "participant_edit": Check(
        lambda w: reverse("participant_edit", args=[w.study.slug, w.participant.pk]),
        get=statuses(LOGIN_REDIRECT, 200, 404),
        post=statuses(LOGIN_REDIRECT, {"pi": 302, "coder": 403, "other_coder": 403, "viewer": 403}, 404),
        post_data=lambda w: {},
    ),
    "import_upload": Check(
        lambda w: reverse("import_upload", args=[w.study.slug]),
        get=statuses(LOGIN_REDIRECT, STEWARD_ONLY, 404),
        post=statuses(LOGIN_REDIRECT, {**STEWARD_ONLY, "pi": 302}, 404),
        post_data=lambda w: {"pasted": "I: hello\nR: hi", "pasted_title": "P05"},
    ),
    "import_review": Check(
        lambda w: reverse("import_review", args=[w.study.slug, w.batch.pk]),
        get=statuses(LOGIN_REDIRECT, STEWARD_ONLY, 404),
        post=statuses(LOGIN_REDIRECT, {**STEWARD_ONLY, "pi": 302}, 404),
        post_data=lambda w: {"action": "add", "original": "hello", "pseudonym": "[greeting]"},
    ),
    "import_status": Check(
        lambda w: reverse("import_status", args=[w.study.slug, w.batch.pk]),
        get=statuses(LOGIN_REDIRECT, STEWARD_ONLY, 404),
        post=statuses(LOGIN_REDIRECT, 405, 405),
    ),
    "import_key": Check(
        lambda w: reverse("import_key", args=[w.study.slug, w.batch.pk]),
        get=statuses(LOGIN_REDIRECT, 405, 405),
        # Nothing to download for a batch still under review: the PI is sent back to the status page.
        post=statuses(LOGIN_REDIRECT, {**STEWARD_ONLY, "pi": 302}, 404),
    ),
    "pseudonym_key": Check(
        lambda w: reverse("pseudonym_key", args=[w.study.slug]),
        get=statuses(LOGIN_REDIRECT, {"pi": 200, "coder": 403, "other_coder": 403, "viewer": 403}, 404),
        post=statuses(LOGIN_REDIRECT, {"pi": 302, "coder": 403, "other_coder": 403, "viewer": 403}, 404),
        post_data=lambda w: {"action": "download"},
    ),
    "codebook": Check(
        lambda w: reverse("codebook", args=[w.study.slug]),
        get=statuses(LOGIN_REDIRECT, 200, 404),
        post=statuses(LOGIN_REDIRECT, {"pi": 302, "coder": 403, "other_coder": 403, "viewer": 403}, 404),
        post_data=lambda w: {"action": "create", "name": "Walked"},
    ),
    "codebook_export": Check(
        lambda w: reverse("codebook_export", args=[w.study.slug]) + "?format=csv",
        # Under blind coding the CSV holds everyone's counts: PI and viewer only.
        get=statuses(LOGIN_REDIRECT, {"pi": 200, "coder": 403, "other_coder": 403, "viewer": 200}, 404),
        post=statuses(LOGIN_REDIRECT, 405, 405),
    ),
    "codebook_history": Check(
        lambda w: reverse("codebook_history", args=[w.study.slug]),
        get=statuses(LOGIN_REDIRECT, {"pi": 200, "coder": 403, "other_coder": 403, "viewer": 403}, 404),
        post=statuses(LOGIN_REDIRECT, 405, 405),
    ),
    "code_detail": Check(
        lambda w: reverse("code_detail", args=[w.study.slug, w.kinship.pk]),
        get=statuses(LOGIN_REDIRECT, 200, 404),
        post=statuses(LOGIN_REDIRECT, 405, 405),
    ),
    "code_action": Check(
        lambda w: reverse("code_action", args=[w.study.slug, w.kinship.pk]),
        get=statuses(LOGIN_REDIRECT, 405, 405),
        post=statuses(LOGIN_REDIRECT, {"pi": 302, "coder": 403, "other_coder": 403, "viewer": 403}, 404),
        post_data=lambda w: {"action": "update", "name": "Kinship", "color": "#123456"},
    ),
    "search": Check(
        lambda w: reverse("search", args=[w.study.slug]) + "?q=mother",
        get=statuses(LOGIN_REDIRECT, 200, 404),
        post=statuses(LOGIN_REDIRECT, {"pi": 200, "coder": 200, "other_coder": 200, "viewer": 403}, 404),
        post_data=lambda w: {"q": "mother", "code": w.kinship.pk, "hit": f"{w.transcript.pk}:{w.coding_a.start}:"
                             f"{w.coding_a.start + 9}"},
    ),
    "api_transcript_codings": Check(
        lambda w: reverse("api_transcript_codings", args=[w.study.slug, w.transcript.pk]),
        get=statuses(API_ANON, 200, 404),
        post=statuses(API_ANON, {"pi": 201, "coder": 201, "other_coder": 201, "viewer": 403}, 404),
        post_data=lambda w: {"code": w.alumni.pk, "start": 0, "end": 2, "quote": "I:"},
        json=True,
    ),
    "api_coding": Check(
        lambda w: reverse("api_coding", args=[w.study.slug, w.coding_a.pk]),
        # coding_a is the coder's own: blind coding hides it from the other coder (404); the PI and the viewer
        # see it but may not change it (403).
        get=statuses(API_ANON, {"pi": 200, "coder": 200, "other_coder": 404, "viewer": 200}, 404),
        patch=statuses(API_ANON, {"pi": 403, "coder": 200, "other_coder": 404, "viewer": 403}, 404),
        delete=statuses(API_ANON, {"pi": 403, "coder": 204, "other_coder": 404, "viewer": 403}, 404),
        post=statuses(405, 405, 405),
        post_data=lambda w: {"memo": "walked"},
        json=True,
    ),
    "api_codes": Check(
        lambda w: reverse("api_codes", args=[w.study.slug]),
        get=statuses(405, 405, 405),
        post=statuses(API_ANON, {"pi": 201, "coder": 201, "other_coder": 201, "viewer": 403}, 404),
        post_data=lambda w: {"name": "In vivo words"},
        json=True,
    ),
    "api_progress": Check(
        lambda w: reverse("api_progress", args=[w.study.slug, w.transcript.pk]),
        get=statuses(405, 405, 405),
        post=statuses(API_ANON, {"pi": 200, "coder": 200, "other_coder": 200, "viewer": 403}, 404),
        post_data=lambda w: {"status": "done"},
        json=True,
    ),
    "api_settings": Check(
        lambda w: reverse("api_settings"),
        get=statuses(405, 405, 405),
        post=statuses(API_ANON, 200, 200),
        post_data=lambda w: {"snap_to_words": True},
        json=True,
    ),
    "run_download": Check(
        lambda w: reverse("run_download", args=[w.study.slug, w.run.pk]) + "?format=xlsx",
        get=statuses(LOGIN_REDIRECT, {"pi": 200, "coder": 404, "other_coder": 404, "viewer": 200}, 404),
        post=statuses(LOGIN_REDIRECT, 405, 405),
    ),
    "run_cell": Check(
        lambda w: reverse("run_cell", args=[w.study.slug, w.cooc.pk]) + f"?a={w.kinship.pk}&b={w.alumni.pk}",
        get=statuses(LOGIN_REDIRECT, {"pi": 200, "coder": 404, "other_coder": 404, "viewer": 200}, 404),
        post=statuses(LOGIN_REDIRECT, 405, 405),
    ),
    "agreement_home": Check(
        lambda w: reverse("agreement_home", args=[w.study.slug]),
        get=statuses(LOGIN_REDIRECT, REVIEWERS, 404),
        post=statuses(LOGIN_REDIRECT, {**REVIEWERS, "pi": 302, "viewer": 302}, 404),
        post_data=lambda w: {"coders": ["coder", "other_coder"], "unit": "transcript"},
    ),
    "agreement_run": Check(
        lambda w: reverse("agreement_run", args=[w.study.slug, w.agree.pk]),
        get=statuses(LOGIN_REDIRECT, REVIEWERS, 404), post=statuses(LOGIN_REDIRECT, 405, 405),
    ),
    "agreement_download": Check(
        lambda w: reverse("agreement_download", args=[w.study.slug, w.agree.pk]) + "?format=xlsx",
        get=statuses(LOGIN_REDIRECT, REVIEWERS, 404), post=statuses(LOGIN_REDIRECT, 405, 405),
    ),
    "disagreements": Check(
        lambda w: reverse("disagreements", args=[w.study.slug, w.agree.pk, w.kinship.pk]),
        get=statuses(LOGIN_REDIRECT, REVIEWERS, 404), post=statuses(LOGIN_REDIRECT, 405, 405),
    ),
    "consensus_decision": Check(
        lambda w: reverse("consensus_decision", args=[w.study.slug, w.agree.pk, w.kinship.pk]),
        get=statuses(LOGIN_REDIRECT, 405, 405),
        post=statuses(LOGIN_REDIRECT, {"pi": 302, "coder": 403, "other_coder": 403, "viewer": 403}, 404),
        post_data=lambda w: {"transcript": w.transcript.pk, "start": w.coding_a.start, "end": w.coding_a.end,
                             "choice": "keep:coder"},
    ),
    "export": Check(
        lambda w: reverse("export", args=[w.study.slug]) + "?download=1&format=csv",
        get=statuses(LOGIN_REDIRECT, 200, 404), post=statuses(LOGIN_REDIRECT, 405, 405),
    ),
    "project_import": Check(
        lambda w: reverse("project_import"),
        get=statuses(LOGIN_REDIRECT, 200, 200),
        # An empty upload is refused with a message.
        post=statuses(LOGIN_REDIRECT, 400, 400),
    ),
    "project_import_status": Check(
        lambda w: reverse("project_import_status", args=[w.project_import.pk]),
        # Only the user who uploaded it (the PI here) sees an import.
        get=statuses(LOGIN_REDIRECT, {"pi": 200, "coder": 404, "other_coder": 404, "viewer": 404}, 404),
        post=statuses(LOGIN_REDIRECT, 405, 405),
    ),
    "audit_log": Check(
        lambda w: reverse("audit_log", args=[w.study.slug]),
        get=statuses(LOGIN_REDIRECT, {"pi": 200, "coder": 403, "other_coder": 403, "viewer": 403}, 404),
        post=statuses(LOGIN_REDIRECT, 405, 405),
    ),
    "run_detail": Check(
        lambda w: reverse("run_detail", args=[w.study.slug, w.run.pk]),
        # The PI's run covers every coder's layer: under blind coding coders do not see it.
        get=statuses(LOGIN_REDIRECT, {"pi": 200, "coder": 404, "other_coder": 404, "viewer": 200}, 404),
        post=statuses(LOGIN_REDIRECT, 405, 405),
    ),
}


def _named_patterns(patterns, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for p in patterns:
        if isinstance(p, URLResolver):
            if p.namespace == "admin":
                continue  # Django's admin checks staff status itself; see test_admin_requires_staff
            names |= _named_patterns(p.url_patterns, prefix)
        elif isinstance(p, URLPattern) and p.name:
            names.add(p.name)
    return names


def test_every_url_is_walked():
    assert _named_patterns(get_resolver().url_patterns) == set(CHECKS)


@pytest.fixture
def walk_world(world):
    with_run = world
    with_run.run = analysis_request(study=world.study, kind="drivers", parameters={}, user=world.users["pi"])
    run_execute(run_id=with_run.run.pk)
    with_run.cooc = analysis_request(study=world.study, kind="cooccurrence", parameters={}, user=world.users["pi"])
    run_execute(run_id=with_run.cooc.pk)
    with_run.agree = analysis_request(study=world.study, kind="agreement", user=world.users["pi"],
                                      parameters={"coders": ["coder", "other_coder"], "resamples": 0})
    run_execute(run_id=with_run.agree.pk)
    from analysis.models import ProjectImport

    with_run.project_import = ProjectImport.objects.create(created_by=world.users["pi"])
    with_run.batch = import_stage(study=world.study, user=world.users["pi"], pasted=[("P02", "R: words")])
    return with_run


def _client_for(client, world, persona):
    client.logout()
    if persona != "anonymous":
        client.force_login(world.users[persona])
    return client


@pytest.mark.parametrize("name", sorted(CHECKS))
@pytest.mark.parametrize("persona", PERSONAS)
def test_get_status(client, walk_world, name, persona):
    check = CHECKS[name]
    if check.get is None:
        pytest.skip("no GET")
    response = _client_for(client, walk_world, persona).get(check.url(walk_world))
    assert response.status_code == check.get[persona], (name, persona, response.status_code)


def _send(client, check, world, method):
    data = check.post_data(world)
    call = getattr(client, method)
    if check.json:
        return call(check.url(world), json.dumps(data), content_type="application/json")
    return call(check.url(world), data)


@pytest.mark.parametrize("name", sorted(n for n, c in CHECKS.items() if c.post))
@pytest.mark.parametrize("persona", PERSONAS)
def test_post_status(client, walk_world, name, persona):
    check = CHECKS[name]
    response = _send(_client_for(client, walk_world, persona), check, walk_world, "post")
    assert response.status_code == check.post[persona], (name, persona, response.status_code)


@pytest.mark.parametrize(("name", "method"), sorted(
    [(n, "patch") for n, c in CHECKS.items() if c.patch] + [(n, "delete") for n, c in CHECKS.items() if c.delete]))
@pytest.mark.parametrize("persona", PERSONAS)
def test_patch_and_delete_status(client, walk_world, name, method, persona):
    check = CHECKS[name]
    response = _send(_client_for(client, walk_world, persona), check, walk_world, method)
    assert response.status_code == getattr(check, method)[persona], (name, method, persona, response.status_code)


def test_anonymous_is_sent_to_login_with_next(client, world):
    url = reverse("study_home", args=[world.study.slug])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login")) and "next=" in response["Location"]


def test_another_studys_transcript_is_404_even_for_the_pi(login, world):
    client = login(world.users["pi"])
    response = client.get(reverse("transcript", args=[world.study.slug, world.other_transcript.pk]))
    assert response.status_code == 404
    assert b"Confidential" not in response.content


def test_another_studys_run_is_404(login, world):
    foreign_run = analysis_request(study=world.other_study, kind="drivers", parameters={},
                                   user=world.users["outsider"])
    client = login(world.users["pi"])
    assert client.get(reverse("run_detail", args=[world.study.slug, foreign_run.pk])).status_code == 404


def test_non_member_404_does_not_leak_existence(login, world):
    client = login(world.users["outsider"])
    existing = client.get(reverse("study_home", args=[world.study.slug]))
    missing = client.get(reverse("study_home", args=["no-such-study"]))
    assert existing.status_code == missing.status_code == 404


def test_coder_cannot_change_members(login, world):
    client = login(world.users["coder"])
    response = client.post(reverse("members", args=[world.study.slug]),
                           {"action": "set", "username": "coder", "role": "pi"})
    assert response.status_code == 403
    assert Membership.objects.get(study=world.study, user=world.users["coder"]).role == "coder"


def test_removed_member_loses_access_on_next_request(login, world):
    client = login(world.users["coder"])
    url = reverse("study_home", args=[world.study.slug])
    assert client.get(url).status_code == 200
    pi = login(world.users["pi"])
    pi.post(reverse("members", args=[world.study.slug]), {"action": "remove", "username": "coder"})
    client.force_login(world.users["coder"])
    assert client.get(url).status_code == 404
    assert AuditEvent.objects.filter(study=world.study, action="member.remove").count() == 1


def test_admin_requires_staff(login, world):
    client = login(world.users["pi"])
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_run_requested_by_coder_is_their_own_layer(login, world):
    client = login(world.users["coder"])
    client.post(reverse("analysis_home", args=[world.study.slug]), {"kind": "drivers", "layer": "consensus"})
    run = AnalysisRun.objects.get(requested_by=world.users["coder"])
    assert (run.parameters["layer"], run.parameters["coders"]) == ("coder", ["coder"])


def test_data_steward_may_import_but_not_manage(login, world):
    from interviews.services import membership_set_steward

    membership_set_steward(study=world.study, user=world.users["coder"], steward=True, actor=world.users["pi"])
    client = login(world.users["coder"])
    assert client.get(reverse("import_upload", args=[world.study.slug])).status_code == 200
    assert client.get(reverse("members", args=[world.study.slug])).status_code == 403
    assert AuditEvent.objects.filter(action="member.steward").count() == 1


def test_another_studys_import_batch_is_404(login, world):
    foreign = import_stage(study=world.other_study, user=world.users["outsider"], pasted=[("X", "R: secret words")])
    client = login(world.users["pi"])
    for name in ("import_review", "import_status"):
        response = client.get(reverse(name, args=[world.study.slug, foreign.pk]))
        assert response.status_code == 404 and b"secret words" not in response.content
    assert client.post(reverse("import_key", args=[world.study.slug, foreign.pk])).status_code == 404


def test_coder_sees_only_own_excerpts_on_a_code_page(login, world):
    client = login(world.users["other_coder"])
    page = client.get(reverse("code_detail", args=[world.study.slug, world.kinship.pk])).content.decode()
    assert "My mother was alone." not in page  # the other coder's Kinship coding
    assert client.get(reverse("codebook_export", args=[world.study.slug]) + "?format=qdc").status_code == 200


def test_another_studys_code_is_404(login, world):
    client = login(world.users["pi"])
    assert client.get(reverse("code_detail", args=[world.study.slug, world.other_code.pk])).status_code == 404


def test_bulk_coding_of_search_hits_is_scoped_to_the_study_and_all_or_nothing(login, world):
    """Code-all-hits with one hit in another study's transcript: 404, and none of the hits is coded."""
    client = login(world.users["coder"])
    before = Coding.objects.count()
    mine = f"{world.transcript.pk}:3:10"
    foreign = f"{world.other_transcript.pk}:0:12"
    response = client.post(reverse("search", args=[world.study.slug]),
                           {"q": "mother", "code": world.kinship.pk, "hit": [mine, foreign]})
    assert response.status_code == 404
    assert Coding.objects.count() == before
    # Another study's code is not accepted either.
    response = client.post(reverse("search", args=[world.study.slug]),
                           {"q": "mother", "code": world.other_code.pk, "hit": [mine]})
    assert response.status_code == 400 and Coding.objects.count() == before


def test_consensus_bulk_copy_touches_only_this_study(login, world):
    """Copying agreements into the consensus layer for a code of another study: 404, nothing written."""
    from analysis.models import AnalysisRun as Run

    run = Run.objects.create(study=world.study, kind="agreement", status="done", parameters={}, result={})
    before = Coding.objects.filter(layer="consensus").count()
    client = login(world.users["pi"])
    response = client.post(reverse("consensus_decision", args=[world.study.slug, run.pk, world.other_code.pk]),
                           {"action": "copy_agreements"})
    assert response.status_code == 404
    assert Coding.objects.filter(layer="consensus").count() == before


def _table_counts() -> dict[str, int]:
    from django.apps import apps

    return {m._meta.label: m.objects.count() for m in apps.get_models()
            if m._meta.app_label in {"interviews", "codebook", "analysis", "auth"}}


@pytest.mark.parametrize(("name", "method"), sorted(
    [(n, "post") for n, c in CHECKS.items() if c.post] + [(n, "patch") for n, c in CHECKS.items() if c.patch]
    + [(n, "delete") for n, c in CHECKS.items() if c.delete]))
def test_every_state_changing_request_needs_the_csrf_token(walk_world, name, method):
    """Sent by someone allowed to make it, but without the CSRF token (another site's form or script): 403, and no
    row anywhere changed."""
    from django.test import Client

    check = CHECKS[name]
    statuses = getattr(check, method)
    allowed = [p for p in PERSONAS if p != "anonymous" and statuses.get(p, 999) < 400] or ["pi"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(walk_world.users[allowed[0]])
    before = _table_counts()
    response = _send(strict, check, walk_world, method)
    assert response.status_code == 403, (name, method, response.status_code)
    assert _table_counts() == before
