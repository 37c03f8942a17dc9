"""Stored XSS, in a real browser: script-shaped text in every field a user can fill (study name, code names and
definitions, memos, participant labels and attribute values, transcript titles and text, file names) is shown as
text on every page that shows it, and no script runs: not the injected ones (each would set ``window.__pwned``), and
no Content-Security-Policy violation is reported either."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from analysis.services import analysis_request
from codebook.services import code_create, coding_apply, memo_create
from interviews import imports, services
from interviews.demo import DEMO_PASSWORD

from .browser import needs_chromium
from .test_coding_page import log_in, open_transcript

pytestmark = [needs_chromium, pytest.mark.django_db(transaction=True)]

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
SHORT = "<svg onload=__pwned=3>"  # fits a participant label (50 characters)
BREAKOUT = '"></script><script>window.__pwned=4</script>'  # for values that end up in json_script data


def test_script_shaped_text_everywhere_is_shown_as_text_and_runs_nothing(live_server, browser_page):
    pi = get_user_model().objects.create_user("xss-pi", password=DEMO_PASSWORD)
    study = services.study_create(name=f"Study {HOSTILE}", template="migration-drivers", pi=pi)
    services.attribute_define(study=study, name=f"Gender {SHORT}", type="text")
    participant = services.participant_create(study=study, label=SHORT, values={f"Gender {SHORT}": HOSTILE})
    text = f"I: {HOSTILE}\nR: {BREAKOUT} and an ordinary answer.\n"
    transcript = services.transcript_create(study=study, participant=participant, title=f"T {HOSTILE}", text=text)
    code = code_create(study=study, name=f"Code {HOSTILE}"[:100], description=HOSTILE)
    coding, _ = coding_apply(transcript=transcript, code=code, coder=pi, start=3, end=3 + len(HOSTILE),
                             memo=BREAKOUT)
    memo_create(study=study, author=pi, title=f"Memo {HOSTILE}", body=BREAKOUT, code=code)
    batch = imports.import_stage(study=study, user=pi, uploads=[(f"{SHORT}.txt", b"R: a harmless answer.\n")])
    drivers = analysis_request(study=study, kind="drivers", parameters={}, user=pi)
    crosstab = analysis_request(study=study, kind="crosstab", parameters={"attribute": f"Gender {SHORT}"}, user=pi)

    page = browser_page
    log_in(page, live_server.url, "xss-pi")
    base = f"{live_server.url}/studies/{study.slug}"
    pages = ["/", "/codebook/", f"/codes/{code.pk}/", "/participants/", f"/participants/{participant.pk}/",
             "/members/", f"/import/{batch.pk}/", "/analysis/", f"/analysis/runs/{drivers.pk}/",
             f"/analysis/runs/{crosstab.pk}/", "/agreement/", "/export/", "/audit/", "/codebook/history/"]
    for path in pages:
        response = page.goto(base + path if path != "/" else base + "/")
        assert response.status == 200, path
        assert page.evaluate("() => window.__pwned === undefined"), path
    page.goto(live_server.url + "/")
    assert "Study <img" in page.locator("main").inner_text()  # the study list shows the name as text

    open_transcript(page, live_server.url, transcript)
    assert HOSTILE in page.locator("#transcript-text").inner_text()
    assert f"T {HOSTILE}" in page.locator("h1").inner_text()
    # The coding's popover shows the code name as text and the memo (the break-out attempt) in its editor.
    page.locator(f'mark[data-codings~="{coding.pk}"]').first.click()
    page.wait_for_selector("#popover:not([hidden])")
    assert f"Code {HOSTILE}" in page.locator("#popover").inner_text()
    assert page.locator("#popover textarea").first.input_value() == BREAKOUT
    # The tooltip made on hover names the code as text.
    page.locator(f'mark[data-codings~="{coding.pk}"]').first.hover()
    assert page.locator(f'mark[data-codings~="{coding.pk}"]').first.get_attribute("title").startswith("Code <img")
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.errors == []
