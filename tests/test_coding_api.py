"""The coding endpoints: every refusal with its status, never a 500; blind coding on the server."""
from __future__ import annotations

import json

import pytest
from django.urls import reverse

from codebook.models import Code, CoderSettings, Coding, TranscriptProgress
from codebook.selectors import next_transcript
from interviews import services
from interviews.access import access_study


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def urls(world):
    slug = world.study.slug
    return {
        "codings": reverse("api_transcript_codings", args=[slug, world.transcript.pk]),
        "coding_a": reverse("api_coding", args=[slug, world.coding_a.pk]),
        "coding_b": reverse("api_coding", args=[slug, world.coding_b.pk]),
        "codes": reverse("api_codes", args=[slug]),
    }


def test_create_returns_the_coding_and_a_retry_creates_no_second_row(login, world, urls):
    client = login(world.users["coder"])
    text = world.transcript.text
    body = {"code": world.alumni.pk, "start": 3, "end": 26, "quote": text[3:26]}
    first = post(client, urls["codings"], body)
    assert first.status_code == 201
    data = first.json()
    assert (data["start"], data["end"], data["quote"], data["coder"], data["layer"]) == (3, 26, text[3:26], "coder",
                                                                                          "coder")
    again = post(client, urls["codings"], body)
    assert again.status_code == 200 and again.json()["id"] == data["id"]
    assert Coding.objects.filter(code=world.alumni, coder=world.users["coder"]).count() == 1
    assert TranscriptProgress.objects.get(transcript=world.transcript, coder=world.users["coder"]).status == \
        "in_progress"


@pytest.mark.parametrize(("body", "message"), [
    ({"code": "x", "start": 0, "end": 2}, "code must be a code id"),
    ({"start": 0, "end": 2}, "code must be a code id"),
    ({"code": 0, "end": 2}, "start is required"),
    ({"code": 0, "start": "0", "end": 2}, "start must be a whole number"),
    ({"code": 0, "start": 1.5, "end": 2}, "start must be a whole number"),
    ({"code": 0, "start": True, "end": 2}, "start must be a whole number"),
    ({"code": 0, "start": 5, "end": 5}, "not inside the text"),
    ({"code": 0, "start": 5, "end": 3}, "not inside the text"),
    ({"code": 0, "start": -1, "end": 3}, "not inside the text"),
    ({"code": 0, "start": 0, "end": 100000}, "not inside the text"),
    ({"code": 0, "start": 0, "end": 2, "quote": 5}, "quote must be text"),
    ({"code": 0, "start": 0, "end": 2, "memo": ["x"]}, "memo must be text"),
    ({"code": 0, "start": 0, "end": 2, "layer": "draft"}, "Unknown layer"),
])
def test_bad_input_is_400_with_a_message(login, world, urls, body, message):
    if body.get("code") == 0:
        body["code"] = world.alumni.pk
    response = post(login(world.users["coder"]), urls["codings"], body)
    assert response.status_code == 400 and message in response.json()["error"]


def test_not_json_is_400(login, world, urls):
    client = login(world.users["coder"])
    for raw in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        response = client.post(urls["codings"], raw, content_type="application/json")
        assert response.status_code == 400


def test_stale_quote_is_409_and_nothing_is_stored(login, world, urls):
    before = Coding.objects.count()
    response = post(login(world.users["coder"]), urls["codings"],
                    {"code": world.alumni.pk, "start": 3, "end": 6, "quote": "Who"})
    assert response.status_code == 409 and "reload" in response.json()["error"]
    assert Coding.objects.count() == before


def test_foreign_ids_are_404(login, world, urls):
    client = login(world.users["pi"])
    response = post(client, urls["codings"], {"code": world.other_code.pk, "start": 0, "end": 2})
    assert response.status_code == 404
    foreign = reverse("api_transcript_codings", args=[world.study.slug, world.other_transcript.pk])
    assert client.get(foreign).status_code == 404
    assert post(client, foreign, {"code": world.kinship.pk, "start": 0, "end": 2}).status_code == 404
    from codebook.services import coding_apply

    theirs, _ = coding_apply(transcript=world.other_transcript, code=world.other_code, coder=world.users["outsider"],
                             start=0, end=5)
    url = reverse("api_coding", args=[world.study.slug, theirs.pk])
    assert client.get(url).status_code == 404
    assert patch(client, url, {"memo": "x"}).status_code == 404
    assert client.delete(url).status_code == 404
    theirs.refresh_from_db()
    assert theirs.memo == ""


def test_folder_codes_cannot_be_applied(login, world, urls):
    folder = Code.objects.get(study=world.study, name="Social networks")
    folder.codable = False
    folder.save()
    response = post(login(world.users["coder"]), urls["codings"], {"code": folder.pk, "start": 0, "end": 2})
    assert response.status_code == 400 and "folder" in response.json()["error"]


def test_blind_coding_on_the_endpoints(login, world, urls):
    other = login(world.users["other_coder"])
    listed = other.get(urls["codings"]).json()["codings"]
    assert [c["id"] for c in listed] == [world.coding_b.pk]
    assert other.get(urls["codings"] + "?layer=coder:coder").json()["codings"] == listed
    assert other.get(urls["coding_a"]).status_code == 404
    assert patch(other, urls["coding_a"], {"memo": "peek"}).status_code == 404
    assert other.delete(urls["coding_a"]).status_code == 404
    pi = login(world.users["pi"])
    assert {c["id"] for c in pi.get(urls["codings"]).json()["codings"]} == {world.coding_a.pk, world.coding_b.pk}


def test_coders_change_only_their_own_codings(login, world, urls):
    world.study.blind_coding = False
    world.study.save()
    other = login(world.users["other_coder"])
    assert other.get(urls["coding_a"]).status_code == 200
    assert patch(other, urls["coding_a"], {"memo": "mine now"}).status_code == 403
    assert other.delete(urls["coding_a"]).status_code == 403
    assert Coding.objects.get(pk=world.coding_a.pk).memo == ""


def test_viewer_reads_but_cannot_code(login, world, urls):
    viewer = login(world.users["viewer"])
    assert viewer.get(urls["codings"]).status_code == 200
    assert post(viewer, urls["codings"], {"code": world.alumni.pk, "start": 0, "end": 2}).status_code == 403
    assert post(viewer, urls["codes"], {"name": "New"}).status_code == 403


def test_consensus_layer_is_the_pis(login, world, urls):
    body = {"code": world.alumni.pk, "start": 0, "end": 2, "layer": "consensus"}
    assert post(login(world.users["coder"]), urls["codings"], body).status_code == 403
    made = post(login(world.users["pi"]), urls["codings"], body)
    assert made.status_code == 201 and made.json()["layer"] == "consensus"


def test_update_memo_code_and_boundaries_with_versions(login, world, urls):
    client = login(world.users["coder"])
    text = world.transcript.text
    a = world.coding_a
    response = patch(client, urls["coding_a"], {"version": 1, "memo": "mother alone", "code": world.alumni.pk})
    assert response.status_code == 200 and response.json()["version"] == 2
    wider = patch(client, urls["coding_a"], {"version": 2, "start": a.start, "end": a.end + 9,
                                             "quote": text[a.start : a.end + 9]})
    assert wider.status_code == 200 and wider.json()["quote"] == text[a.start : a.end + 9]
    stale = patch(client, urls["coding_a"], {"version": 1, "memo": "overwrite?"})
    assert stale.status_code == 409
    current = stale.json()["current"]
    assert current["memo"] == "mother alone" and current["version"] == 3
    assert Coding.objects.get(pk=a.pk).memo == "mother alone"
    bad = patch(client, urls["coding_a"], {"start": 50, "end": 40})
    assert bad.status_code == 400
    assert patch(client, urls["coding_a"], {"start": a.start, "end": a.end, "quote": "nope"}).status_code == 409


def test_update_to_an_identical_coding_is_409(login, world, urls):
    from codebook.services import coding_apply

    twin, _ = coding_apply(transcript=world.transcript, code=world.alumni, coder=world.users["coder"],
                           start=world.coding_a.start, end=world.coding_a.end)
    response = patch(login(world.users["coder"]), urls["coding_a"], {"code": world.alumni.pk})
    assert response.status_code == 409 and "identical" in response.json()["error"]
    assert Coding.objects.get(pk=world.coding_a.pk).code == world.kinship and twin.pk


def test_delete_is_audited_and_gone(login, world, urls):
    client = login(world.users["coder"])
    assert client.delete(urls["coding_a"]).status_code == 204
    assert not Coding.objects.filter(pk=world.coding_a.pk).exists()
    assert client.delete(urls["coding_a"]).status_code == 404


def test_in_vivo_codes(login, world, urls):
    client = login(world.users["coder"])
    made = post(client, urls["codes"], {"name": "  looking   after mother "})
    assert made.status_code == 201 and made.json()["name"] == "looking after mother"
    again = post(client, urls["codes"], {"name": "Looking after mother"})
    assert again.status_code == 200 and again.json()["id"] == made.json()["id"]
    assert post(client, urls["codes"], {"name": ""}).status_code == 400
    assert post(client, urls["codes"], {"name": 5}).status_code == 400
    world.study.coders_add_codes = False
    world.study.save()
    assert post(client, urls["codes"], {"name": "Other"}).status_code == 403
    assert post(login(world.users["pi"]), urls["codes"], {"name": "Other"}).status_code == 201


def test_progress_settings_and_next_transcript(login, world):
    client = login(world.users["coder"])
    second = services.transcript_create(study=world.study, participant=world.participant, title="Interview 2",
                                        text="R: more words\n")
    access = access_study(world.users["coder"], world.study.slug)
    assert next_transcript(access, world.transcript) == second
    url = reverse("api_progress", args=[world.study.slug, second.pk])
    assert post(client, url, {"status": "done"}).status_code == 200
    assert next_transcript(access, world.transcript) is None
    assert post(client, url, {"status": "finished"}).status_code == 400
    assert post(client, url, {"status": "not_started"}).status_code == 200
    assert not TranscriptProgress.objects.filter(transcript=second, coder=world.users["coder"]).exists()
    settings_url = reverse("api_settings")
    assert post(client, settings_url, {"snap_to_words": True}).status_code == 200
    assert CoderSettings.objects.get(user=world.users["coder"]).snap_to_words is True
    assert post(client, settings_url, {"snap_to_words": "yes"}).status_code == 400


def test_csrf_is_required(world, client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.users["coder"])
    url = reverse("api_transcript_codings", args=[world.study.slug, world.transcript.pk])
    response = strict.post(url, json.dumps({"code": world.alumni.pk, "start": 0, "end": 2}),
                           content_type="application/json")
    assert response.status_code == 403


def test_search_finds_cjk_and_codes_all_hits(login, world):
    zh = services.transcript_create(study=world.study, participant=world.participant, title="中文",
                                    text="受访者：我想念母亲。母亲一个人住。\n")
    client = login(world.users["coder"])
    page = client.get(reverse("search", args=[world.study.slug]), {"q": "母亲"}).content.decode()
    assert page.count('name="hit"') == 2 and "#sel=7-9" in page
    english = client.get(reverse("search", args=[world.study.slug]), {"q": "MOTHER"}).content.decode()
    assert "My <mark>mother</mark>" not in english and "<mark>mother</mark>" in english
    response = client.post(reverse("search", args=[world.study.slug]),
                           {"q": "母亲", "code": world.kinship.pk, "hit": [f"{zh.pk}:7:9", f"{zh.pk}:10:12"]})
    assert response.status_code == 200 and "Applied “Kinship” to 2 passage(s)" in response.content.decode()
    assert sorted(Coding.objects.filter(transcript=zh).values_list("quote", flat=True)) == ["母亲", "母亲"]
    bad = client.post(reverse("search", args=[world.study.slug]),
                      {"q": "x", "code": world.kinship.pk, "hit": [f"{world.other_transcript.pk}:0:5"]})
    assert bad.status_code == 404
    assert Coding.objects.filter(transcript=world.other_transcript).count() == 0


def test_study_home_shows_statuses_blind_for_coders(login, world):
    from codebook.services import progress_set

    progress_set(transcript=world.transcript, coder=world.users["other_coder"], status="done")
    progress_set(transcript=world.transcript, coder=world.users["coder"], status="in_progress")
    coder_page = login(world.users["coder"]).get(reverse("study_home", args=[world.study.slug])).content.decode()
    assert "In progress" in coder_page and "Done" not in coder_page and "other_coder:" not in coder_page
    pi_page = login(world.users["pi"]).get(reverse("study_home", args=[world.study.slug])).content.decode()
    assert "other_coder: Done" in pi_page and "coder: In progress" in pi_page
