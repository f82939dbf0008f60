"""The Gradio chat: rendering, through gradio_client, and in headless Chromium, against one real server."""

from __future__ import annotations

import html
import json
import logging
import re
from pathlib import Path

import httpx
import pytest
from tests.conftest import HELD_OUT_ANSWER, HELD_OUT_Q, ROOT, make_settings

from rag import cli
from rag.models import Answer, Citation
from rag.service import RagService
from ui.api import create_app
from ui.chat import to_history
from ui.render import render_answer
from ui.server import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCS = ROOT / "docs"
PATRUSHEV_Q = "Who is Nikolai Patrushev?"
OFF_TOPIC = "Who won the 2022 FIFA World Cup?"
UN_COUNT_Q = "How many countries approved the UN resolution?"
FURNITURE = re.compile(r"\*\*|\]\(#\)")
EXTRA = ("glimmerfen.txt", "# Glimmerfen Lantern Festival sets a record\n\nBy Nordic Wire\n\nMarch 3, 2024\n\n"
         "Organisers said that 48,213 paper lanterns were released over Lake Vessamir.\n")


@pytest.fixture(scope="module")
def ui_service(tmp_path_factory, embedder) -> RagService:
    """Its own corpus and index: the article-list test writes through the API."""
    svc = RagService(make_settings(tmp_path_factory.mktemp("ui")), embedder=embedder)
    svc.ingest()
    return svc


@pytest.fixture(scope="module")
def base_url(ui_service):
    with serve_in_thread(create_app(ui_service.settings, service=ui_service)) as url:
        yield url


@pytest.fixture
def chat_client(base_url):
    from gradio_client import Client

    client = Client(base_url + "/", verbose=False, download_files=False)
    yield client
    client.close()


def last_reply(out) -> str:
    chat = out[1]
    return chat[-1]["content"] if isinstance(chat[-1]["content"], str) else chat[-1]["content"][0]["text"]


def ask(client, question: str) -> str:
    return last_reply(client.predict(question, [], [], None, "test-client", [], api_name="/ask"))


# --- rendering ------------------------------------------------------------------------------------------------

def cite(doc_id="d", quote="quote", start=0, end=5, score=1.0, **kw) -> Citation:
    return Citation(doc_id=doc_id, title=kw.get("title", "T"), outlet="O", quote=quote, start=start, end=end,
                    score=score, url=kw.get("url"))


def test_answer_first_one_card_rest_folded_far_below_dropped():
    text = "0123456789" * 10
    cites = [cite(quote=text[i:i + 5], start=i, end=i + 5, score=s) for i, s in [(0, 0.05), (10, 0.045), (20, 0.04),
                                                                                   (30, 0.01)]]
    out = render_answer(Answer(question="q", answer="Only Belarus.", abstained=False, confidence=0.9,
                               citations=cites, highlight=[5, 12]), {"d": text})
    assert out.index("rag-answer") < out.index("rag-sources")  # answer first
    assert '<mark class="rag-hl">Belarus</mark>' in out
    head, more = out.split('<details class="rag-more">')
    assert head.count('class="rag-cite"') == 1 and "<summary>2 more sources</summary>" in more
    assert more.count('class="rag-cite"') == 2  # the fourth (a fifth of the best) is dropped
    assert "rag-w10" in head and "characters 0–5" in head.split('<details class="rag-ids">')[1]


def test_reader_text_is_clean_but_offsets_stay_raw(caplog):
    raw = "By [AFP](#)\n\n**Mikhail Klimentyev/TASS** took the photo."
    quote = raw[13:]
    ok = cite(quote=quote, start=13, end=len(raw))
    out = render_answer(Answer(question="q", answer=quote, abstained=False, confidence=0.9, citations=[ok]),
                        {"d": raw})
    assert not FURNITURE.search(html.unescape(out)) and "Mikhail Klimentyev/TASS" in out and "By AFP" in out
    assert f"characters 13–{len(raw)}" in out and "rag-mismatch" not in out
    bad = cite(quote=quote, start=12, end=len(raw) - 1)  # an offset slip must show and be logged
    with caplog.at_level(logging.WARNING, logger="ui.render"):
        out = render_answer(Answer(question="q", answer=quote, abstained=False, confidence=0.9, citations=[bad]),
                            {"d": raw})
    assert "rag-mismatch" in out and "not the article's text at characters 12–" in out
    assert any("citation mismatch" in r.message for r in caplog.records)


def test_refusal_shows_closest_passages_folded():
    cites = [cite(quote=f"passage {i}", start=0, end=9, score=0.03) for i in range(5)]
    out = render_answer(Answer(question="q", answer="The articles don't say.", abstained=True, confidence=0.2,
                               citations=cites), {"d": "passage 0"})
    assert "Not found in the articles. Closest passages:" in out and "2 more passages" in out
    assert out.count('class="rag-cite"') == 3


def test_article_text_is_escaped_and_links_are_http_only():
    hostile = '<img src=x onerror="alert(1)"> $$x$$'
    fake = Answer(question="q", answer=hostile, abstained=False, confidence=0.5,
                  citations=[cite(title=hostile, quote=hostile, start=0, end=3, url="javascript:alert(1)")])
    out = render_answer(fake, {"d": None})
    assert "<img" not in out and "&lt;img" in out and "javascript:" not in out and "$$" not in out
    assert "\n\n" not in out and "since been deleted" in out  # one raw-HTML block: Markdown never parses it


# --- through gradio_client ------------------------------------------------------------------------------------

def test_chat_event_answers_with_cards_and_history(chat_client, ui_service):
    reply = ask(chat_client, HELD_OUT_Q)
    assert f'<mark class="rag-hl">{HELD_OUT_ANSWER}</mark>' in reply and reply.count('class="rag-cite"') >= 2
    refusal = ask(chat_client, OFF_TOPIC)
    assert "Not found in the articles. Closest passages:" in refusal and "rag-cite" in refusal
    history = to_history([{"role": "user", "content": HELD_OUT_Q},
                          {"role": "assistant", "content": [{"type": "text", "text": reply}]}])
    assert history[1]["content"].startswith(f"{HELD_OUT_ANSWER}, the secretary") and "<" not in history[1]["content"]


def test_conversations_survive_a_server_restart(ui_service):
    me = {"X-Client-Id": "restart-browser"}
    with serve_in_thread(create_app(ui_service.settings, service=ui_service)) as url:
        conv = httpx.post(url + "/api/conversations", json={}, headers=me).json()
        turn = httpx.post(f"{url}/api/conversations/{conv['id']}/ask", json={"question": HELD_OUT_Q}, headers=me,
                          timeout=120).json()
    fresh = RagService(ui_service.settings, embedder=ui_service.embedder)  # a new process's view
    with serve_in_thread(create_app(ui_service.settings, service=fresh)) as url:
        saved = httpx.get(f"{url}/api/conversations/{conv['id']}", headers=me).json()
    assert saved["title"] == HELD_OUT_Q and saved["messages"][1]["answer"] == turn["answer"]


# --- in headless Chromium -------------------------------------------------------------------------------------

def _in_viewport_top(page, selector: str) -> bool:
    return page.eval_on_selector_all(selector, """els => { const r = els[els.length - 1].getBoundingClientRect();
        return r.top >= 0 && r.top < window.innerHeight; }""")


def _visible_quotes(page) -> int:
    return page.eval_on_selector_all(".rag-final", """els => [...els[els.length - 1]
        .querySelectorAll('.rag-cite blockquote')].filter(b => b.checkVisibility()).length""")


def _ask_in_browser(page, question: str, count: int) -> None:
    from playwright.sync_api import expect

    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    expect(page.locator(".rag-final")).to_have_count(count, timeout=90_000)
    page.wait_for_timeout(600)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_browser_desktop(browser, base_url, ui_service):
    from playwright.sync_api import expect

    DOCS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(base_url + "/", wait_until="domcontentloaded")
    docs = page.locator("#rag-doc-list .rag-docs li")
    expect(docs).to_have_count(len(ui_service.documents()), timeout=30_000)
    _ask_in_browser(page, PATRUSHEV_Q, 1)
    _ask_in_browser(page, HELD_OUT_Q, 2)
    assert _in_viewport_top(page, ".rag-final"), "the new answer's top is not in view"
    assert _visible_quotes(page) == 1
    expect(page.locator(".rag-final").last.locator(".rag-hl")).to_have_text(HELD_OUT_ANSWER)
    page.screenshot(path=str(DOCS / "chat-desktop.png"))
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    text = page.inner_text("#rag-chatbot")
    assert not FURNITURE.search(text), FURNITURE.search(text)
    assert "Patrushev" in text and "By AFP" in text  # the article context, cleaned
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = false)")
    _ask_in_browser(page, OFF_TOPIC, 3)
    refusal = page.locator(".rag-refusal").last
    expect(refusal).to_contain_text("Not found in the articles. Closest passages:")
    assert refusal.locator(".rag-cite").count() >= 2 and _visible_quotes(page) == 1
    assert _in_viewport_top(page, ".rag-final")
    page.screenshot(path=str(DOCS / "chat-refusal.png"))

    # the conversation survives a reload (saved server-side, keyed to this browser)
    page.reload(wait_until="domcontentloaded")
    expect(page.locator(".rag-final")).to_have_count(3, timeout=30_000)
    expect(page.locator("#rag-convs")).to_contain_text(PATRUSHEV_Q)

    # the article list follows changes made through the API by anyone
    n = docs.count()
    with httpx.Client(base_url=base_url, timeout=120) as c:
        assert c.post("/api/documents", files={"file": (EXTRA[0], EXTRA[1].encode(), "text/plain")}).status_code == 200
        expect(docs).to_have_count(n + 1, timeout=20_000)
        assert c.delete("/api/documents/glimmerfen").status_code == 200
    expect(docs).to_have_count(n, timeout=20_000)
    page.close()


def test_question_box_opens_only_once_the_page_knows_the_browser(browser, base_url):
    """Until the page load has given this browser its id, a question would be saved under no one's id, and its
    thumbs down would then name an answer the browser does not own: the box starts closed, the load opens it."""
    from playwright.sync_api import expect

    config = httpx.get(base_url + "/config", timeout=30).json()
    box = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "question")
    assert box["props"]["interactive"] is False
    page = browser.new_page()
    page.goto(base_url + "/", wait_until="domcontentloaded")
    expect(page.locator("#question textarea")).to_be_editable(timeout=30_000)
    page.close()


def test_browser_phone(browser, base_url):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(base_url + "/", wait_until="domcontentloaded")
    expect(page.locator("#question textarea")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(800)
    assert page.locator(".sidebar.open").count() == 0, "the sidebar covers the chat on a phone"
    _ask_in_browser(page, HELD_OUT_Q, 1)
    assert _in_viewport_top(page, ".rag-final") and _visible_quotes(page) == 1
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 391, f"page is {width}px wide on a 390px phone"
    page.screenshot(path=str(DOCS / "chat-phone.png"))
    page.close()


def test_browser_feedback_names_the_passage_by_a_click_on_its_card(browser, base_url, ui_service, tmp_path,
                                                                   monkeypatch):
    """Thumbs down, type the right answer, click the card of the passage holding it, send: the row that
    `rag feedback export` writes holds that answer and that card's article."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(base_url + "/", wait_until="domcontentloaded")
    _ask_in_browser(page, UN_COUNT_Q, 1)
    answer = page.locator(".rag-final").last
    assert answer.locator(".rag-cite[role=button]").count() == 0  # cards are plain until a thumbs down
    page.locator("#rag-chatbot button[aria-label=Dislike]").last.click()
    expect(page.locator("#rag-fb-panel")).to_be_visible(timeout=10_000)
    expect(answer.locator(".rag-cite[role=button]")).to_have_count(answer.locator(".rag-cite").count())
    page.locator("#rag-fb-right textarea").fill("119 countries")
    if answer.locator(".rag-more").count():
        answer.locator(".rag-more > summary").click()
    card = answer.locator(".rag-cite").last  # not the first: the click, not a default, must choose it
    doc_id = re.search(r"article (\S+), characters", card.locator(".rag-ids span").text_content()).group(1)
    card.locator("blockquote").click()
    expect(card).to_have_class(re.compile(r"\brag-picked\b"))
    expect(page.locator("#rag-fb-picked")).to_contain_text("Passage chosen", timeout=10_000)
    assert card.locator("blockquote").inner_text()[:40] in page.inner_text("#rag-fb-picked")
    page.locator("#rag-fb-send").click()
    expect(page.locator("#rag-fb-status")).to_contain_text("Thanks: saved for the test set.", timeout=10_000)
    expect(page.locator("#rag-fb-panel")).to_be_hidden()
    assert page.locator(".rag-cite[role=button]").count() == 0
    page.close()

    monkeypatch.setenv("RAG_DATA_DIR", str(ui_service.settings.data_dir))
    out = tmp_path / "feedback.jsonl"
    assert cli.main(["feedback", "export", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {"question": UN_COUNT_Q, "answers": ["119 countries"], "sources": [doc_id], "answerable": True} in \
        [{k: v for k, v in r.items() if k != "id"} for r in rows], rows


def test_docs_render_with_the_network_blocked(browser, base_url):
    """/docs uses only assets this server serves: every non-loopback request is refused."""
    context = browser.new_context()
    refused: list[str] = []

    def only_loopback(route):
        if route.request.url.startswith(base_url):
            return route.continue_()
        refused.append(route.request.url)
        return route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.goto(base_url + "/docs", wait_until="domcontentloaded")
    page.locator(".swagger-ui .opblock").first.wait_for(timeout=30_000)
    assert page.locator(".swagger-ui .opblock").count() >= 8 and not refused, refused
    context.close()
