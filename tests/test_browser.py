"""In a real browser: log in, open the demo study, read a transcript with its codings highlighted."""
from __future__ import annotations

import pytest

from interviews.demo import DEMO_PASSWORD, demo_load

from .browser import needs_chromium

pytestmark = [needs_chromium, pytest.mark.django_db(transaction=True)]


def log_in(page, base: str, username: str) -> None:
    page.goto(base + "/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Your studies')")


def test_coder_reads_a_coded_transcript(live_server, browser_page):
    study, _ = demo_load()
    page = browser_page
    log_in(page, live_server.url, "demo-coder-a")
    page.click(f"text={study.name}")
    page.wait_for_selector("#transcripts")
    page.click("text=Interview 1: materials scientist")
    page.wait_for_selector("#transcript-text")
    marks = page.locator("#transcript-text mark.hl")
    assert marks.count() >= 3
    # The highlight is painted in the code's colour, not left transparent.
    background = marks.first.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")
    assert "Kinship" in page.locator("#coding-list").inner_text()
    # Blind coding: the other coder's name appears nowhere on the page.
    assert "demo-coder-b" not in page.content()
    # Speaker turns are set apart.
    assert page.locator("#transcript-text .turn .speaker").count() >= 10
    assert page.errors == []


def test_pi_switches_layers(live_server, browser_page):
    demo_load()
    page = browser_page
    log_in(page, live_server.url, "demo-pi")
    page.goto(live_server.url + "/studies/demo/")
    page.click("text=Interview 4: imaging company founder")
    page.wait_for_selector("#transcript-text")
    all_layers = page.locator("#coding-list li").count()
    page.select_option("#layer", "coder:demo-coder-b")
    page.click(".layer-picker button")
    page.wait_for_url("**layer=coder%3Ademo-coder-b**")
    one_layer = page.locator("#coding-list li").count()
    assert 0 < one_layer < all_layers
    assert "demo-coder-a" not in page.locator("#coding-list").inner_text()


def test_wrong_password_is_refused(live_server, browser_page):
    demo_load()
    page = browser_page
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "demo-pi")
    page.fill("#id_password", "not-the-password")
    page.click("button[type=submit]")
    assert "did not match" in page.locator(".error").inner_text()


def test_upload_review_accept_then_a_coder_reads_pseudonyms_only(live_server, browser_page):
    from pathlib import Path

    from interviews.models import Transcript

    demo_load()
    samples = Path(__file__).resolve().parent / "samples" / "import"
    page = browser_page
    log_in(page, live_server.url, "demo-pi")
    page.goto(live_server.url + "/studies/demo/import/")
    page.set_input_files("#files", [str(samples / "P01_interview.docx"), str(samples / "P02_访谈.txt")])
    page.set_input_files("#replacements", str(samples / "key.csv"))
    page.fill("#tags", "wave-9")
    page.click("#upload-form button.primary")
    page.wait_for_selector("#review-form")
    assert "Wang Lei" in page.locator("#item-0 .raw-text").inner_text()  # the PI reviews the raw text
    # Select a word in the raw text: the add-a-replacement form picks it up.
    page.evaluate("""() => {
        const block = document.querySelector('#item-0 .raw-text');
        const node = [...block.childNodes].find(n => n.nodeType === 3 && n.textContent.includes('pleasure'));
        const start = node.textContent.indexOf('pleasure');
        const range = document.createRange();
        range.setStart(node, start); range.setEnd(node, start + 8);
        const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
        block.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
    }""")
    assert page.input_value("#add-original") == "pleasure"
    page.fill("#add-pseudonym", "[feeling]")
    page.click("#add-entry button")
    page.wait_for_selector("text=Added to the replacement list")
    page.fill("input[name=participant-0]", "P51")
    page.fill("input[name=participant-1]", "P52")
    page.click("#review-form button.primary")
    page.wait_for_selector("#outcomes")
    assert page.locator("#outcomes .status-done").count() == 2

    page.context.clear_cookies()
    log_in(page, live_server.url, "demo-coder-a")
    transcript = Transcript.objects.get(study__slug="demo", participant__label="P51")
    page.goto(f"{live_server.url}/studies/demo/transcripts/{transcript.pk}/")
    text = page.locator("#transcript-text").inner_text()
    assert "[P01]" in text and "[feeling]" in text and "[email]" in text
    for planted in ("Wang Lei", "Huawei", "Hangzhou", "wang.lei@example.com", "pleasure"):
        assert planted not in page.content()
    assert page.errors == []


def test_pi_creates_moves_and_merges_a_code(live_server, browser_page):
    from codebook.models import Code, Coding

    demo_load()
    page = browser_page
    log_in(page, live_server.url, "demo-pi")
    page.goto(live_server.url + "/studies/demo/codebook/")
    page.fill("#new-name", "Family ties")
    page.click("#create-code button.primary")
    page.wait_for_selector("text=Created the code")
    page.click("#codebook-tree >> text=Family ties")
    page.wait_for_selector("#move-code")
    page.select_option("#m-parent", label="Social networks")
    page.click("#move-code button")
    page.wait_for_selector("text=Moved “Family ties”")
    assert "Social networks › Family ties" in page.locator("p.small").first.inner_text()

    kinship = Code.objects.get(study__slug="demo", name="Kinship")
    before = Coding.objects.filter(code=kinship).count()
    page.goto(f"{live_server.url}/studies/demo/codes/{kinship.pk}/")
    page.select_option("#merge-code select", label="Social networks › Family ties")
    page.click("#merge-code button")
    page.wait_for_selector("#confirm")
    assert f"{before} coding(s) move" in page.locator("#confirm").inner_text()
    page.click("#confirm button.primary")
    page.wait_for_selector("text=Merged “Kinship” into “Family ties”")
    family = Code.objects.get(study__slug="demo", name="Family ties")
    assert Coding.objects.filter(code=family).count() == before
    assert not Code.objects.filter(study__slug="demo", name="Kinship").exists()
    assert page.errors == []
