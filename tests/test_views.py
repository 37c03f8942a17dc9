"""Pages: what each persona sees, blind coding, escaping, query counts, the analysis run flow."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analysis.models import AnalysisRun
from codebook.models import Code, Coding
from codebook.services import code_create, coding_apply
from interviews import services
from interviews.models import Membership


def page(client, name, *args, **query):
    return client.get(reverse(name, args=args), query)


def test_study_list_shows_only_my_studies(login, world):
    content = page(login(world.users["coder"]), "study_list").content.decode()
    assert world.study.name in content and world.other_study.name not in content


def test_study_home_lists_transcripts_codebook_and_members(login, world):
    content = page(login(world.users["pi"]), "study_home", world.study.slug).content.decode()
    assert "Interview 1" in content and "P01" in content
    assert "Social networks" in content and "Kinship" in content
    for username in ("pi", "coder", "other_coder", "viewer"):
        assert username in content
    assert "Manage members" in content


def test_transcript_page_highlights_codings_for_the_pi(login, world):
    response = page(login(world.users["pi"]), "transcript", world.study.slug, world.transcript.pk)
    content = response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert f'data-codings="{world.coding_a.pk}"' in content
    assert f'data-codings="{world.coding_b.pk}"' in content
    assert '<span class="speaker"><span data-o="0">I: </span></span>' in content
    assert "Gender" in content and "Female" in content


def test_blind_coder_sees_only_their_own_codings(login, world):
    client = login(world.users["coder"])
    content = page(client, "transcript", world.study.slug, world.transcript.pk).content.decode()
    assert f'data-codings="{world.coding_a.pk}"' in content
    assert f'data-codings="{world.coding_b.pk}"' not in content
    assert "other_coder" not in content
    # Asking for the other layer explicitly changes nothing.
    content = page(client, "transcript", world.study.slug, world.transcript.pk,
                   layer="coder:other_coder").content.decode()
    assert f'data-codings="{world.coding_b.pk}"' not in content
    content = page(client, "transcript", world.study.slug, world.transcript.pk, layer="all").content.decode()
    assert f'data-codings="{world.coding_b.pk}"' not in content
    home = page(client, "study_home", world.study.slug).content.decode()
    assert "other_coder: " not in home


def test_without_blind_coding_coders_see_each_other(login, world):
    world.study.blind_coding = False
    world.study.save()
    content = page(login(world.users["coder"]), "transcript", world.study.slug, world.transcript.pk).content.decode()
    assert f'data-codings="{world.coding_b.pk}"' in content


def test_pi_can_pick_one_layer(login, world):
    content = page(login(world.users["pi"]), "transcript", world.study.slug, world.transcript.pk,
                   layer="coder:other_coder").content.decode()
    assert f'data-codings="{world.coding_b.pk}"' in content
    assert f'data-codings="{world.coding_a.pk}"' not in content


def test_hostile_text_is_rendered_as_text(login, world):
    hostile = '<img src=x onerror=alert(1)></script><script>alert(2)</script> &amp; שלום 你好'
    participant = services.participant_create(study=world.study, label="<b>P99</b>")
    transcript = services.transcript_create(study=world.study, participant=participant, title="<script>t</script>",
                                            text=f"R: {hostile}\n")
    code = code_create(study=world.study, name="<svg onload=alert(3)>")
    coding_apply(transcript=transcript, code=code, coder=world.users["pi"], start=3, end=3 + len(hostile))
    client = login(world.users["pi"])
    for response in (page(client, "transcript", world.study.slug, transcript.pk),
                     page(client, "study_home", world.study.slug)):
        content = response.content.decode()
        assert "<script>alert" not in content and "<img src=x" not in content and "<svg onload" not in content
        assert "<b>P99</b>" not in content
    content = page(client, "transcript", world.study.slug, transcript.pk).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in content and "&amp;amp;" in content and "你好" in content


def test_transcript_page_query_count_does_not_grow_with_codings(login, world):
    client = login(world.users["pi"])
    url = reverse("transcript", args=[world.study.slug, world.transcript.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    codes = list(Code.objects.filter(study=world.study, parent__isnull=False))
    text = world.transcript.text
    for i in range(60):
        start = i % (len(text) - 5)
        coding_apply(transcript=world.transcript, code=codes[i % len(codes)], coder=world.users["coder"],
                     start=start, end=start + 5)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert response.status_code == 200
    assert Coding.objects.filter(transcript=world.transcript).count() > 60
    assert len(many) == len(few)


def test_study_home_query_count_does_not_grow_with_transcripts(login, world):
    client = login(world.users["pi"])
    url = reverse("study_home", args=[world.study.slug])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for i in range(15):
        participant = services.participant_create(study=world.study, label=f"Q{i}")
        transcript = services.transcript_create(study=world.study, participant=participant, title=f"T{i}",
                                                text="R: words here\n", tags=["wave-1"])
        coding_apply(transcript=transcript, code=world.kinship, coder=world.users["coder"], start=3, end=8)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)


def test_pi_adds_and_changes_members_through_the_page(login, world):
    client = login(world.users["pi"])
    url = reverse("members", args=[world.study.slug])
    response = client.post(url, {"action": "set", "username": "outsider", "role": "viewer"})
    assert response.status_code == 302
    assert Membership.objects.get(study=world.study, user=world.users["outsider"]).role == "viewer"
    response = client.post(url, {"action": "set", "username": "ghost", "role": "viewer"})
    assert response.status_code == 400 and b"no user called" in response.content
    response = client.post(url, {"action": "remove", "username": "pi"})
    assert response.status_code == 409 and b"at least one principal investigator" in response.content
    response = client.post(url, {"action": "set", "username": "coder", "role": "owner"})
    assert response.status_code == 400


def test_analysis_run_flow_in_process(login, world, django_capture_on_commit_callbacks):
    client = login(world.users["pi"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("analysis_home", args=[world.study.slug]), {"kind": "drivers"})
    run = AnalysisRun.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/runs/{run.pk}/")
    assert run.status == "done" and run.attempts == 1
    data = client.get(reverse("run_detail", args=[world.study.slug, run.pk]), {"format": "json"}).json()
    rows = {tuple(r["path"]): r for r in data["result"]["rows"] if r["kind"] == "code"}
    assert data["result"]["n"] == 1
    assert rows[("Social networks",)]["participants"] == 1 and rows[("Social networks",)]["segments"] == 2
    assert rows[("Social networks", "Kinship")]["segments"] == 1
    html = client.get(reverse("run_detail", args=[world.study.slug, run.pk])).content.decode()
    assert "distinct union" in html and "Kinship" in html and "none of these" in html


def test_unknown_analysis_kind_is_refused(login, world):
    client = login(world.users["pi"])
    response = client.post(reverse("analysis_home", args=[world.study.slug]), {"kind": "astrology"})
    assert response.status_code == 302 and not AnalysisRun.objects.exists()


@pytest.mark.parametrize("path", ["/studies/demo/transcripts/abc/", "/studies/Not A Slug/"])
def test_malformed_urls_are_404(login, world, path):
    assert login(world.users["pi"]).get(path).status_code == 404
