"""Agreement on real studies: selection of transcripts, units, the review pages, decisions into consensus."""
from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from analysis import consensus, services
from analysis.models import AnalysisRun
from codebook.models import Coding, Layer
from codebook.services import coding_apply
from interviews import services as study_services
from interviews.models import AuditEvent


@pytest.fixture
def double(world):
    """Both coders code Kinship on the same transcript: identical on one passage, different on another."""
    t, text = world.transcript, world.transcript.text
    s = text.index("My mother")
    coding_apply(transcript=t, code=world.kinship, coder=world.users["other_coder"], start=s, end=s + 21)
    c = text.index("classmates")
    coding_apply(transcript=t, code=world.kinship, coder=world.users["coder"], start=c, end=c + 10)
    coding_apply(transcript=t, code=world.kinship, coder=world.users["other_coder"], start=c - 3, end=c + 10)
    return world


def compute(world, **raw):
    params = services.clean_parameters(world.study, "agreement", {"coders": ["coder", "other_coder"], **raw})
    return services.compute(world.study, "agreement", params)


def test_character_agreement_on_a_study(double):
    result = compute(double, resamples=200)
    rows = {tuple(r["path"]): r for r in result["codes"]}
    kin = rows[("Social networks", "Kinship")]
    text_length = len(double.transcript.text)
    assert kin["units"] == text_length
    assert kin["units_coded"] == {"coder": 31, "other_coder": 34}
    assert kin["coded_agreement"] == pytest.approx(31 / 34)
    assert kin["percent_agreement"] == pytest.approx((text_length - 3) / text_length)
    assert 0.9 < kin["alpha"] <= 1 and kin["kappa"] == pytest.approx(kin["alpha"], abs=0.01)
    # The parent row includes the children: alumni was coded by one coder only.
    assert rows[("Social networks",)]["units_coded"]["other_coder"] > kin["units_coded"]["other_coder"]
    unused = rows[("Amenities", "Climate")]
    assert unused["percent_agreement"] == 1.0 and unused["alpha"] is None and unused["kappa"] is None
    assert result["overall"]["pairs"][0]["a"] == "coder"


def test_turn_transcript_and_segment_units(double):
    rows = {tuple(r["path"]): r for r in compute(double, unit="turn", resamples=0)["codes"]}
    assert rows[("Social networks", "Kinship")]["units"] == 2  # two speaker turns
    rows = {tuple(r["path"]): r for r in compute(double, unit="transcript", resamples=0)["codes"]}
    assert rows[("Social networks", "Kinship")]["percent_agreement"] == 1.0
    rows = {tuple(r["path"]): r for r in compute(double, unit="segment", threshold=0.9)["codes"]}
    kin = rows[("Social networks", "Kinship")]
    assert kin["matched"] == pytest.approx(2 / 4)  # the identical pair matches; 10/13 < 0.9 does not
    assert len(kin["unmatched"]) == 2
    rows = {tuple(r["path"]): r for r in compute(double, unit="segment", threshold=0.7)["codes"]}
    assert rows[("Social networks", "Kinship")]["matched"] == 1.0


def test_only_transcripts_both_coders_coded_by_default(double):
    other = study_services.transcript_create(study=double.study, participant=double.participant, title="Solo",
                                             text="R: only one coder here\n")
    coding_apply(transcript=other, code=double.kinship, coder=double.users["coder"], start=3, end=7)
    assert compute(double, resamples=0)["transcripts"] == 1


@pytest.mark.parametrize(("raw", "message"), [
    ({"coders": ["coder"]}, "at least two"),
    ({"coders": ["coder", "ghost"]}, "Unknown coder"),
    ({"coders": ["coder", "other_coder"], "unit": "word"}, "unit must be"),
    ({"coders": ["coder", "other_coder"], "threshold": 2}, "threshold"),
])
def test_bad_agreement_parameters(world, raw, message):
    with pytest.raises(ValidationError, match=message):
        services.clean_parameters(world.study, "agreement", raw)


def test_regions_and_decisions_write_only_the_consensus_layer(double):
    w = double
    params = services.clean_parameters(w.study, "agreement", {"coders": ["coder", "other_coder"], "resamples": 0})
    material = consensus.gather(w.study, params)
    found = consensus.regions(material, w.kinship.pk)
    assert [r.agreed for r in found] == [True, False]
    disputed = found[1]
    own_before = sorted(Coding.objects.filter(layer=Layer.CODER).values_list("pk", "start", "end"))
    made = consensus.consensus_decide(study=w.study, code=w.kinship, transcript=w.transcript,
                                      start=disputed.start, end=disputed.end, choice="keep", keep="coder",
                                      actor=w.users["pi"], coders=["coder", "other_coder"])
    assert [(c.start, c.end) for c in made] == disputed.spans["coder"]
    # Deciding again replaces the earlier decision.
    made = consensus.consensus_decide(study=w.study, code=w.kinship, transcript=w.transcript,
                                      start=disputed.start, end=disputed.end, choice="union",
                                      actor=w.users["pi"], coders=["coder", "other_coder"])
    assert [(c.start, c.end) for c in made] == [(disputed.start, disputed.end)]
    assert Coding.objects.filter(layer=Layer.CONSENSUS).count() == 1
    made = consensus.consensus_decide(study=w.study, code=w.kinship, transcript=w.transcript,
                                      start=disputed.start, end=disputed.end, choice="intersection",
                                      actor=w.users["pi"], coders=["coder", "other_coder"])
    assert [(c.start, c.end) for c in made] == disputed.spans["coder"]
    consensus.consensus_decide(study=w.study, code=w.kinship, transcript=w.transcript, start=disputed.start,
                               end=disputed.end, choice="neither", actor=w.users["pi"],
                               coders=["coder", "other_coder"])
    assert not Coding.objects.filter(layer=Layer.CONSENSUS).exists()
    assert sorted(Coding.objects.filter(layer=Layer.CODER).values_list("pk", "start", "end")) == own_before
    assert AuditEvent.objects.filter(action="consensus.decide").count() == 4
    written = consensus.consensus_copy_agreements(study=w.study, code=w.kinship, actor=w.users["pi"],
                                                  coders=["coder", "other_coder"])
    assert written == 1 and Coding.objects.get(layer=Layer.CONSENSUS).start == found[0].start
    with pytest.raises(ValidationError):
        consensus.consensus_decide(study=w.study, code=w.kinship, transcript=w.transcript, start=0, end=10 ** 6,
                                   choice="union", actor=w.users["pi"], coders=["coder", "other_coder"])


def test_review_pages_and_permissions(login, double, django_capture_on_commit_callbacks):
    w = double
    pi = login(w.users["pi"])
    with django_capture_on_commit_callbacks(execute=True):
        response = pi.post(reverse("agreement_home", args=[w.study.slug]),
                           {"coders": ["coder", "other_coder"], "unit": "character"})
    run = AnalysisRun.objects.get(kind="agreement")
    assert response.status_code == 302 and run.status == "done", run.error
    page = pi.get(reverse("agreement_run", args=[w.study.slug, run.pk])).content.decode()
    assert "Kinship" in page and "band-" in page and "Coder pair" in page
    url = reverse("disagreements", args=[w.study.slug, run.pk, w.kinship.pk])
    page = pi.get(url).content.decode()
    assert page.count('class="card') == 1 and "Keep coder's" in page
    decide = reverse("consensus_decision", args=[w.study.slug, run.pk, w.kinship.pk])
    text = w.transcript.text
    c = text.index("classmates")
    assert pi.post(decide, {"transcript": w.transcript.pk, "start": c - 3, "end": c + 10,
                            "choice": "keep:other_coder"}).status_code == 302
    assert Coding.objects.get(layer=Layer.CONSENSUS).quote == text[c - 3 : c + 10]
    assert pi.post(decide, {"transcript": w.other_transcript.pk, "start": 0, "end": 5,
                            "choice": "union"}).status_code == 404
    csv_text = pi.get(url, {"format": "csv"}).content.decode()
    assert csv_text.startswith('"transcript","start","end","agreed"')
    for fmt in ("csv", "xlsx"):
        assert pi.get(reverse("agreement_download", args=[w.study.slug, run.pk]), {"format": fmt}).status_code == 200
    # Coders see no agreement while the study is blind; the viewer reads but cannot decide.
    coder = login(w.users["coder"])
    assert coder.get(reverse("agreement_home", args=[w.study.slug])).status_code == 403
    assert coder.get(url).status_code == 403
    viewer = login(w.users["viewer"])
    assert viewer.get(url).status_code == 200
    assert viewer.post(decide, {"transcript": w.transcript.pk, "start": 0, "end": 5,
                                "choice": "union"}).status_code == 403
    w.study.blind_coding = False
    w.study.save()
    assert login(w.users["coder"]).get(url).status_code == 200


def test_cli_json_interface(double):
    out = io.StringIO()
    call_command("agreement", double.study.slug, "--coders", "coder", "other_coder", "--code",
                 "Social networks > Kinship", "--format", "json", "--resamples", "100", stdout=out)
    data = json.loads(out.getvalue())
    assert data["unit"] == "character" and data["coders"] == ["coder", "other_coder"]
    assert [c["path"] for c in data["codes"]] == [["Social networks", "Kinship"]]
    assert set(data["codes"][0]) >= {"percent_agreement", "coded_agreement", "kappa", "alpha", "alpha_ci",
                                     "units_coded"}
    # One transcript: a bootstrap over transcripts cannot give an interval.
    assert data["codes"][0]["alpha_ci"] is None and "pooled" in data["overall"] and "mean" in data["overall"]


def test_demo_agreement_is_high_but_not_perfect(db):
    from interviews.demo import demo_load

    study, _ = demo_load()
    params = services.clean_parameters(study, "agreement", {"coders": ["demo-coder-a", "demo-coder-b"],
                                                             "resamples": 0})
    result = services.compute(study, "agreement", params)
    alphas = [r["alpha"] for r in result["codes"] if r["alpha"] is not None]
    assert result["transcripts"] == 14 and min(alphas) < 1 and min(alphas) > 0.3
    with_ci = services.compute(study, "agreement", {**params, "resamples": 200})
    kinship = next(r for r in with_ci["codes"] if r["path"][-1] == "Kinship")
    assert kinship["alpha_ci"][0] <= kinship["alpha"] <= kinship["alpha_ci"][1]
