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
