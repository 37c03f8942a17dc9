"""The coding page in headless Chromium: mouse and keyboard coding, memos, removal, in-vivo, search, blindness."""
from __future__ import annotations

import pytest

from codebook.models import Code, Coding
from interviews import services
from interviews.demo import DEMO_PASSWORD, demo_load
from interviews.models import Transcript

from .browser import needs_chromium

pytestmark = [needs_chromium, pytest.mark.django_db(transaction=True)]


def log_in(page, base, username):
    page.context.clear_cookies()
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Your studies')")


def select_text(page, needle, occurrence=0):
    """Select the n-th occurrence of ``needle`` in the transcript as a user's mouse would, then release."""
    page.evaluate(
        """([needle, occurrence]) => {
            const walker = document.createTreeWalker(document.getElementById('transcript-text'), NodeFilter.SHOW_TEXT);
            let seen = 0, node;
            while ((node = walker.nextNode())) {
                let at = node.textContent.indexOf(needle);
                while (at !== -1) {
                    if (seen === occurrence) {
                        const range = document.createRange();
                        range.setStart(node, at); range.setEnd(node, at + needle.length);
                        const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
                        node.parentElement.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
                        return true;
                    }
                    seen++; at = node.textContent.indexOf(needle, at + 1);
                }
            }
            throw new Error('text not found: ' + needle);
        }""",
        [needle, occurrence],
    )


def open_transcript(page, base, transcript):
    page.goto(f"{base}/studies/{transcript.study.slug}/transcripts/{transcript.pk}/")
    page.wait_for_selector("#transcript-text")


def test_utf16_to_code_point_conversion(live_server, browser_page):
    demo_load()
    page = browser_page
    log_in(page, live_server.url, "demo-coder-a")
    open_transcript(page, live_server.url, Transcript.objects.get(study__slug="demo", participant__label="P01"))
    samples = ["plain ascii", "emoji 😀 and 👩‍👩‍👧 family", "combining e\u0301 and a\u0308", "中文字符和 mixed 中文",
               "𠀀 astral CJK 𠀁", "RTL שלום עולם ok", "\U0001F600\U0001F600"]
    for text in samples:
        utf16 = text.encode("utf-16-le")
        for cp in range(len(text) + 1):
            units = len(text[:cp].encode("utf-16-le")) // 2
            got_cp = page.evaluate("([t, u]) => WorkbenchOffsets.utf16ToCodePoints(t, u)", [text, units])
            got_units = page.evaluate("([t, c]) => WorkbenchOffsets.codePointsToUtf16(t, c)", [text, cp])
            assert (got_cp, got_units) == (cp, units), (text, cp)
        assert page.evaluate("t => WorkbenchOffsets.codePointLength(t)", text) == len(text)
        assert len(utf16) // 2 == page.evaluate("t => t.length", text)


def test_coder_codes_by_mouse_and_keyboard_then_memo_and_remove(live_server, browser_page):
    demo_load()
    transcript = Transcript.objects.get(study__slug="demo", participant__label="P01")
    page = browser_page
    log_in(page, live_server.url, "demo-coder-a")
    open_transcript(page, live_server.url, transcript)
    needle = "I am the only child"
    select_text(page, needle)
    page.wait_for_selector("#picker:not([hidden])")
    page.keyboard.type("partner")
    page.keyboard.press("Enter")
    page.wait_for_selector("#toast:has-text('Coded with “Partnership”')")
    page.keyboard.press("Escape")
    coding = Coding.objects.get(transcript=transcript, code__name="Partnership", coder__username="demo-coder-a")
    assert coding.quote == needle and transcript.text[coding.start : coding.end] == needle
    # Reload: still there, on the same words.
    open_transcript(page, live_server.url, transcript)
    mark = page.locator(f'mark[data-codings~="{coding.pk}"]')
    assert mark.count() >= 1 and needle in "".join(mark.all_inner_texts())
    # Click it: add a memo.
    mark.first.click()
    page.wait_for_selector("#popover:not([hidden])")
    box = page.locator(f'#popover .coding-box[data-coding="{coding.pk}"]')
    box.locator("textarea").fill("Caring for the mother")
    box.locator("button:has-text('Save')").click()
    page.wait_for_selector("#toast:has-text('Saved.')")
    coding.refresh_from_db()
    assert coding.memo == "Caring for the mother" and coding.version == 2
    # Remove it.
    page.locator(f'mark[data-codings~="{coding.pk}"]').first.click()
    page.locator(f'#popover .coding-box[data-coding="{coding.pk}"] button:has-text("Remove")').click()
    page.wait_for_selector("#toast:has-text('Coding removed.')")
    assert not Coding.objects.filter(pk=coding.pk).exists()
    assert page.errors == []


def test_a_whole_turn_by_keyboard_alone_with_word_steps_and_pinned_keys(live_server, browser_page):
    demo_load()
    alumni = Code.objects.get(study__slug="demo", name="Alumni")
    alumni.shortcut = 3
    alumni.save()
    transcript = Transcript.objects.get(study__slug="demo", participant__label="P05")
    page = browser_page
    log_in(page, live_server.url, "demo-coder-b")
    open_transcript(page, live_server.url, transcript)
    page.focus("#transcript-text")
    for _ in range(2):
        page.keyboard.press("j")  # to the second turn (the respondent's first answer)
    page.keyboard.press("Enter")
    page.wait_for_selector("#picker:not([hidden])")
    page.keyboard.press("Shift+ArrowLeft")  # drop the last word of the turn from the selection
    page.keyboard.press("3")  # the pinned code
    page.wait_for_selector("#toast:has-text('Coded with “Alumni”')")
    page.keyboard.press("Escape")
    made = Coding.objects.filter(transcript=transcript, code=alumni, coder__username="demo-coder-b").order_by("-id")[0]
    paragraphs = [line for line in transcript.text.split("\n") if line]
    second = paragraphs[1]
    body = second[second.index(":") + 1 :].strip()
    assert body.startswith(made.quote) and len(made.quote) < len(body)
    assert made.quote == transcript.text[made.start : made.end]
    assert page.errors == []


def test_in_vivo_code_from_the_selection(live_server, browser_page):
    demo_load()
    transcript = Transcript.objects.get(study__slug="demo", participant__label="P06")
    page = browser_page
    log_in(page, live_server.url, "demo-coder-a")
    open_transcript(page, live_server.url, transcript)
    select_text(page, "board game cafés")
    page.wait_for_selector("#picker:not([hidden])")
    page.click("#picker-list li:has-text('In-vivo code')")
    page.wait_for_selector("#toast:has-text('Coded with “board game cafés”')")
    code = Code.objects.get(study__slug="demo", name="board game cafés")
    assert Coding.objects.get(code=code).quote == "board game cafés"


def test_a_refused_coding_rolls_back_with_a_message(live_server, browser_page):
    demo_load()
    transcript = Transcript.objects.get(study__slug="demo", participant__label="P06")
    page = browser_page
    log_in(page, live_server.url, "demo-coder-a")
    open_transcript(page, live_server.url, transcript)
    # The stored text changes under the open page (as if another tab re-imported it): the quote no longer matches.
    Transcript.objects.filter(pk=transcript.pk).update(text=transcript.text.replace("Rent", "Cost"))
    select_text(page, "Rent")
    page.wait_for_selector("#picker:not([hidden])")
    page.keyboard.type("salary")
    page.keyboard.press("Enter")
    page.wait_for_selector("#toast:has-text('reload the page')")
    assert page.locator("mark.hl:not(.pending)", has_text="Rent").count() == 0
    assert not Coding.objects.filter(transcript=transcript, quote="Rent").exists()


def test_code_all_hits_from_search(live_server, browser_page):
    demo_load()
    page = browser_page
    log_in(page, live_server.url, "demo-coder-a")
    page.goto(live_server.url + "/studies/demo/search/?q=hukou")
    page.wait_for_selector("#hits")
    hits = page.locator("#hits input[name=hit]").count()
    assert hits >= 4
    page.select_option("#hits-code", label="Preferential policies › Hukou")
    page.click("#code-hits button.primary")
    page.wait_for_selector("text=Applied “Hukou”")
    quotes = Coding.objects.filter(code__name="Hukou", coder__username="demo-coder-a", quote__iexact="hukou")
    assert quotes.count() == hits  # one new coding on exactly the word, per hit
    # A hit opens its passage, selected.
    page.locator("#hits a").first.click()
    page.wait_for_selector("mark.pending")
    assert page.locator("mark.pending").first.inner_text().lower() == "hukou"


def test_blind_coder_never_sees_the_other_coders_codings_but_the_pi_does(live_server, browser_page):
    demo_load()
    transcript = Transcript.objects.get(study__slug="demo", participant__label="P04")
    b_only = Coding.objects.filter(transcript=transcript, coder__username="demo-coder-b")
    a_codings = Coding.objects.filter(transcript=transcript, coder__username="demo-coder-a")
    a_ids = set(a_codings.values_list("pk", flat=True))
    page = browser_page
    log_in(page, live_server.url, "demo-coder-a")
    open_transcript(page, live_server.url, transcript)
    shown = set(page.evaluate("() => Object.keys(WorkbenchCoding.codings).map(Number)"))
    assert shown == a_ids and not shown & set(b_only.values_list("pk", flat=True))
    assert "demo-coder-b" not in page.content()
    api = page.evaluate(f"() => fetch('/api/studies/demo/transcripts/{transcript.pk}/codings/?layer=all')"
                        ".then(r => r.json())")
    assert {c["coder"] for c in api["codings"]} == {"demo-coder-a"}
    log_in(page, live_server.url, "demo-pi")
    open_transcript(page, live_server.url, transcript)
    stripes = page.locator("#stripes .stripe")
    page.wait_for_function("() => document.querySelectorAll('#stripes .stripe').length > 0")
    assert stripes.count() == Coding.objects.filter(transcript=transcript).count()


def test_hostile_text_shows_as_text_and_runs_nothing(live_server, browser_page):
    demo_load()
    study = Transcript.objects.filter(study__slug="demo").first().study
    participant = services.participant_create(study=study, label="P99")
    hostile = "R: <img src=x onerror=\"window.__pwned=1\"></script><script>window.__pwned=2</script> &amp; שלום 你好\n"
    transcript = services.transcript_create(study=study, participant=participant, title="<b>bold</b>", text=hostile)
    page = browser_page
    log_in(page, live_server.url, "demo-coder-a")
    open_transcript(page, live_server.url, transcript)
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.locator("#transcript-text").inner_text().strip().endswith("&amp; שלום 你好")
    assert "<script>" in page.locator("#transcript-text").inner_text()
    select_text(page, "שלום")
    page.keyboard.type("kinship")
    page.keyboard.press("Enter")
    page.wait_for_selector("#toast:has-text('Coded with')")
    assert Coding.objects.get(transcript=transcript).quote == "שלום"
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.errors == []


def test_pi_settles_disagreements_and_the_consensus_driver_table_counts_them(live_server, browser_page):
    from analysis import services as analysis_services

    demo_load()
    page = browser_page
    log_in(page, live_server.url, "demo-pi")
    page.goto(live_server.url + "/studies/demo/agreement/")
    page.click("#agreement-form button.primary")
    page.wait_for_selector("#agreement")
    # A code with disagreements: Kinship.
    page.click("#agreement >> text=Kinship")
    page.wait_for_selector("#disagreements")
    cards = page.locator("#disagreements > li.card")
    assert cards.count() >= 2
    first_text = cards.nth(0).locator("mark.region").inner_text()
    with page.expect_navigation():
        cards.nth(0).locator("button[value=union]").click()
    assert page.locator("#disagreements > li.card.settled").count() == 1
    with page.expect_navigation():
        page.locator("#disagreements > li.card:not(.settled)").first.locator("button[value=union]").click()
    assert "Settled" in page.locator(".messages").inner_text()
    consensus = Coding.objects.filter(layer="consensus", code__name="Kinship")
    assert consensus.count() >= 2
    assert any(first_text.startswith(c.quote) or c.quote in first_text for c in consensus)
    # The consensus layer shows them on the transcript page...
    transcript = consensus.first().transcript
    page.goto(f"{live_server.url}/studies/demo/transcripts/{transcript.pk}/?layer=consensus")
    shown = set(page.evaluate("() => Object.keys(WorkbenchCoding.codings).map(Number)"))
    assert shown == set(Coding.objects.filter(layer="consensus", transcript=transcript).values_list("pk", flat=True))
    # ...and the driver table on the consensus layer counts them.
    page.goto(live_server.url + "/studies/demo/analysis/")
    page.select_option("select[name=layer]", "consensus")
    page.click("#analysis-form button.primary")
    page.wait_for_selector("#result")
    study = transcript.study
    params = analysis_services.clean_parameters(study, "drivers", {"layer": "consensus"})
    expected = {r["path"][-1]: r for r in analysis_services.compute(study, "drivers", params)["rows"]
                if r["kind"] == "code"}
    assert expected["Kinship"]["participants"] == len({c.transcript.participant_id for c in consensus})
    row = page.locator("#result tr", has_text="Kinship").first.inner_text()
    assert str(expected["Kinship"]["participants"]) in row
    assert page.errors == []


def test_a_long_codings_list_arrives_as_the_reader_scrolls_to_its_end(live_server, browser_page):
    from codebook.models import Layer
    from interviews.rendering import LIST_IN_PAGE

    study, _ = demo_load()
    participant = services.participant_create(study=study, label="P98")
    text = "R: " + " ".join(f"word{i}" for i in range(3000)) + "\n"
    transcript = services.transcript_create(study=study, participant=participant, title="Long list", text=text)
    code = Code.objects.get(study=study, name="Kinship")
    coder = transcript.study.memberships.get(user__username="demo-coder-a").user
    Coding.objects.bulk_create([Coding(transcript=transcript, code=code, coder=coder, layer=Layer.CODER,
                                       start=3 + 10 * i, end=8 + 10 * i, quote=text[3 + 10 * i:8 + 10 * i])
                                for i in range(420)])
    page = browser_page
    log_in(page, live_server.url, "demo-coder-a")
    open_transcript(page, live_server.url, transcript)
    page.wait_for_selector("#coding-list-more")
    assert page.locator("#coding-list li[data-coding]").count() == LIST_IN_PAGE
    for _ in range(10):
        if page.locator("#coding-list[data-complete]").count():
            break
        page.locator("#coding-list").evaluate("list => { list.scrollTop = list.scrollHeight; }")
        page.wait_for_timeout(200)
    assert page.locator("#coding-list[data-complete]").count() == 1
    ids = page.locator("#coding-list li[data-coding]").evaluate_all("items => items.map(i => +i.dataset.coding)")
    assert sorted(ids) == sorted(Coding.objects.filter(transcript=transcript).values_list("pk", flat=True))
    assert len(ids) == len(set(ids)) == 420
    assert page.errors == []
