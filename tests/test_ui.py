"""The Gradio chat: through gradio_client and in headless Chromium, against a real server."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from rag.models import Answer, Citation
from ui.api import create_app
from ui.chat import render_answer, to_history
from ui.server import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCROLL_TO = """e => {
    let p = e.parentElement;
    while (p && !(p.scrollHeight > p.clientHeight && /auto|scroll/.test(getComputedStyle(p).overflowY))) p = p.parentElement;
    if (p) p.scrollTop += e.getBoundingClientRect().top - p.getBoundingClientRect().top - 80;
}"""
BELARUS_Q = "Which country voted against the UN resolution?"


@pytest.fixture(scope="module")
def base_url(seeded):
    """The UI only reads, so it can share the session's ingested seeds."""
    with serve_in_thread(create_app(seeded.settings, service=seeded)) as url:
        yield url


@pytest.fixture(scope="module")
def outlets(seeded) -> set[str]:
    return {c.outlet for c in seeded.ask(BELARUS_Q).citations}


@pytest.fixture
def chat_client(base_url):
    from gradio_client import Client

    client = Client(base_url + "/", verbose=False, download_files=False)
    yield client
    client.close()


def test_chat_endpoint_answers_with_rendered_citations(chat_client, outlets):
    reply = chat_client.predict(BELARUS_Q, api_name="/chat")
    assert "Belarus" in reply and "No answer found" not in reply
    assert "<strong>Belarus</strong>" in reply  # the answering phrase is highlighted
    assert reply.count('class="rag-cite"') >= 1 and "<mark>" in reply and "<details>" in reply
    assert any(html.escape(o) in reply for o in outlets)


def test_chat_marks_abstentions(chat_client):
    reply = chat_client.predict("Who won the 2022 FIFA World Cup?", api_name="/chat")
    assert "No answer found" in reply and "The articles don&#x27;t say" in reply
    assert "rag-cite" not in reply


def test_chat_follow_up_uses_history(chat_client, seeded):
    first = chat_client.predict("How many countries approved the UN resolution?", api_name="/chat")
    assert "119" in first
    follow_up = chat_client.predict("and which one voted against it?", api_name="/chat")
    answer_part = follow_up.split('<div class="rag-sources">')[0]
    assert "Belarus" in answer_part
    # the same through the service's history path, as the chat passes it
    history = to_history([{"role": "user", "content": "How many countries approved the UN resolution?"},
                          {"role": "assistant", "content": [{"type": "text", "text": first}]}])
    assert history[1]["role"] == "assistant" and "<" not in history[1]["content"]
    assert "Belarus" in seeded.ask("and which one voted against it?", history=history).answer


def test_article_text_is_escaped(seeded):
    doc = seeded.documents()[0]
    hostile = '<img src=x onerror="alert(1)"> $$x$$ **bold**'
    fake = Answer(question="q", answer=hostile, abstained=False, confidence=0.5, citations=[
        Citation(doc_id=doc.doc_id, title=hostile, outlet=hostile, quote=hostile, start=0, end=3, score=1.0,
                 url='javascript:alert(1)')])
    out = render_answer(fake, seeded)
    assert "<img" not in out and "&lt;img" in out and "javascript:" not in out and "$$" not in out
    assert "\n\n" not in out  # one raw-HTML block: Markdown never parses article text


def test_browser_chat(base_url, outlets, seeded, tmp_path):
    seeded_docs = seeded.documents()
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base_url + "/", wait_until="domcontentloaded")
            box = page.locator("#question textarea")
            box.fill(BELARUS_Q)
            box.press("Enter")
            cite = page.locator(".rag-cite").first
            expect(cite).to_be_visible(timeout=60_000)
            bot = page.locator(".rag-answer").last
            expect(bot).to_contain_text("Belarus")
            expect(bot.locator("strong")).to_have_text("Belarus")  # the highlight, as a person sees it
            sources = page.locator(".rag-sources").last.inner_text()
            assert any(o in sources for o in outlets), sources
            cite.locator("summary").click()
            expect(cite.locator(".rag-article mark")).to_contain_text("Belarus")
            expect(page.locator(".rag-docs li")).to_have_count(len(seeded_docs))
            page.wait_for_timeout(500)
            bot.evaluate(SCROLL_TO)  # the chat autoscrolls to its end: bring the answer back into view
            shot = tmp_path / "chat.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
        finally:
            browser.close()
