"""The chat's Evaluate tab (through gradio_client and in headless Chromium), the eval report on a 390 px
phone, and progress output on a non-tty: first-start indexing and `rag eval` as a real subprocess.

One server per module, with RAG_API_KEY set: running a test set needs the key like the chat's other writes.
"""

from __future__ import annotations

import json
from html import escape
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.conftest import HELD_OUT_ANSWER, HELD_OUT_Q, ROOT, make_settings
from tests.test_eval import SCORED_ROWS
from tests.test_ui import DOCS, browser  # noqa: F401  (one Chromium for the module)

from rag.evaluate import METRICS
from rag.progress import progress_lines
from ui.api import create_app
from ui.evaluate_tab import bundled_sets
from ui.server import serve_in_thread

KEY = "eval-tab-key-0123456789"
BEARER = {"Authorization": f"Bearer {KEY}"}
# test_eval's written set: one right answer, one scored wrong (a deliberately wrong gold), one abstention.
ROWS = SCORED_ROWS


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def base_url(seeded):
    """The seeded service behind a keyed app (evaluating only reads the index)."""
    settings = seeded.settings.model_copy(update={"api_key": KEY})
    with serve_in_thread(create_app(settings, service=seeded)) as url:
        yield url


@pytest.fixture
def client(base_url):
    from gradio_client import Client

    chat = Client(base_url + "/", verbose=False, download_files=False, headers=BEARER)
    yield chat
    chat.close()


def run_tab(client, path: Path | None, key: str = KEY, choice: str = "dev.jsonl", browser: str = "tab-test"):
    from gradio_client import handle_file

    return client.predict(choice, handle_file(str(path)) if path else None, key, browser, api_name="/evaluate")


def metric_cell(html: str, metric: str) -> str:
    return re.search(rf"<td>{re.escape(metric)}</td><td class=\"num\">([^<]+)</td>", html).group(1)


# --- through gradio_client ------------------------------------------------------------------------------------

def test_evaluate_tab_runs_an_uploaded_set_and_shows_the_report(client, tiny_set, base_url):
    summary, html, download = run_tab(client, tiny_set)
    assert summary.startswith("**tiny.jsonl**: 3 questions in") and "1 failures" in summary, summary
    assert html.startswith('<div class="rag-report">') and all(f"<td>{m}</td>" in html for m in METRICS)
    assert metric_cell(html, "answer_accuracy") == "0.500" and metric_cell(html, "abstention_recall") == "1.000"
    assert metric_cell(html, "false_abstentions") == "0" and metric_cell(html, "n") == "3"
    order = re.findall(r'<tr class="(fail|pass)" id="q-([^"]+)"', html)
    assert order[0] == ("fail", "wrong-gold") and {i for _, i in order} == {r["id"] for r in ROWS}
    right = re.search(r'id="q-right">(.*?)</tr>', html, re.S).group(1)  # a two-sentence answer spans lines
    assert "Patrushev" in right and right.count('class="ok"') >= 3   # status, answer ok, citation ok
    assert "ABSTAINED" in re.search(r'id="q-off-topic">(.*?)</tr>', html, re.S).group(1)
    # the same report as a file to download: a whole page holding the very same block
    page = httpx.get(download["value"]["url"], headers=BEARER, timeout=30).text
    assert page.startswith("<!DOCTYPE html>") and '<tr class="fail" id="q-wrong-gold">' in page
    assert metric_cell(page, "answer_accuracy") == "0.500"


def test_evaluate_tab_needs_the_key_and_a_usable_set(client, tiny_set, tmp_path):
    assert run_tab(client, tiny_set, key="")[0] == "Not run: wrong or missing API key."
    assert run_tab(client, tiny_set, key="wrong")[0] == "Not run: wrong or missing API key."
    bad = tmp_path / "broken.jsonl"
    bad.write_text(json.dumps(ROWS[0]) + "\n{not json\n", encoding="utf-8")
    summary = run_tab(client, bad)[0]
    assert summary.startswith("Not run: broken.jsonl:2: invalid JSON") and str(tmp_path) not in summary
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({k: v for k, v in ROWS[0].items() if k != "answers"}) + "\n", encoding="utf-8")
    assert "missing.jsonl:1: missing key 'answers'" in run_tab(client, missing)[0]
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(json.dumps(ROWS[0], ensure_ascii=False).replace("Russia", "Russi\u00e9").encode("latin-1"))
    assert run_tab(client, latin)[0].startswith("Not run:")


def test_evaluate_tab_reads_no_server_path(base_url, tiny_set):
    """A FileData naming a server file (not sent through Gradio's upload route) is refused."""
    with httpx.Client(base_url=base_url, timeout=60) as c:
        r = c.post("/gradio_api/call/evaluate", json={"data": [
            "dev.jsonl", {"path": str(tiny_set), "orig_name": "tiny.jsonl", "meta": {"_type": "gradio.FileData"}},
            KEY, "raw-client"]})
        out = c.get(f"/gradio_api/call/evaluate/{r.json()['event_id']}").text
    assert "rag-report" not in out and "patrushev" not in out, out


def test_my_feedback_becomes_the_test_set(client, base_url):
    """"My feedback": this browser's thumbs, scored like `rag feedback export` + `rag eval` would."""
    me = {"X-Client-Id": "feedback-browser"}
    assert run_tab(client, None, choice="feedback", browser="feedback-browser")[0].startswith(
        "Not run: no feedback from this browser")
    with httpx.Client(base_url=base_url, timeout=120) as c:
        conv = c.post("/api/conversations", json={}, headers=me).json()
        turn = c.post(f"/api/conversations/{conv['id']}/ask", json={"question": HELD_OUT_Q}, headers=me).json()
        assert c.post("/api/feedback", json={"message_id": turn["message_id"], "rating": 1}, headers=me) \
            .status_code == 201
    summary, html, _ = run_tab(client, None, choice="feedback", browser="feedback-browser")
    assert summary.startswith("**my feedback**: 1 questions") and metric_cell(html, "answer_accuracy") == "1.000"
    assert escape(HELD_OUT_Q) in html and HELD_OUT_ANSWER in html
    # another browser sees none of it
    assert run_tab(client, None, choice="feedback", browser="someone-else")[0].startswith("Not run: no feedback")


def test_bundled_sets_are_the_projects_own():
    sets = bundled_sets()
    assert sets["dev.jsonl"] == ROOT / "tests" / "data" / "dev.jsonl"
    assert bundled_sets(ROOT / "no-such-folder") == {}


# --- the report on a phone, in headless Chromium --------------------------------------------------------------

def scroll_width(page) -> int:
    return page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")


def test_evaluate_tab_on_a_phone(browser, base_url, tiny_set, tmp_path):
    """Upload a set in the Evaluate tab at 390x844, watch the progress bar, read the report: nothing wider
    than the screen, the question table as cards; then the downloaded report file, alone, on the phone."""
    from playwright.sync_api import expect

    DOCS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    assert context.request.post(base_url + "/api/chat-key", headers=BEARER).status == 204  # the key's cookie
    page = context.new_page()
    page.goto(base_url + "/", wait_until="domcontentloaded")
    expect(page.locator("#question textarea")).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#rag-eval-upload input[type=file]").set_input_files(str(tiny_set))
    expect(page.locator("#rag-eval-upload a[href$='/tiny.jsonl']")).to_have_count(1, timeout=20_000)  # uploaded
    page.locator("#rag-eval-run").click()
    expect(page.locator("#rag-eval-report .rag-report")).to_have_count(1, timeout=120_000)
    expect(page.locator("#rag-eval-summary")).to_contain_text("3 questions")
    page.wait_for_timeout(500)
    assert scroll_width(page) <= 390, f"the Evaluate tab is {scroll_width(page)}px wide on a 390px phone"
    first = page.locator("#rag-eval-report table.q tbody tr").first
    assert first.get_attribute("id") == "q-wrong-gold"
    assert first.evaluate("tr => getComputedStyle(tr).display") == "block"   # a card, not a table row
    assert page.locator("#rag-eval-report table.q thead").evaluate("h => getComputedStyle(h).display") == "none"
    page.locator("#rag-eval-report table.q").evaluate("t => t.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(DOCS / "eval-tab-phone.png"))   # the failures first, as cards
    with page.expect_download() as download:
        page.locator("#rag-eval-tab button", has_text="Download the report").click()
    report = tmp_path / download.value.suggested_filename
    download.value.save_as(report)
    assert report.name == "eval-report-tiny.html"
    alone = context.new_page()
    alone.goto(report.as_uri())
    assert alone.locator("table.q tr.fail, table.q tr.pass").count() == 3
    assert scroll_width(alone) <= 390, f"the report is {scroll_width(alone)}px wide on a 390px phone"
    svg = alone.locator("svg").first.bounding_box()
    assert svg["x"] >= 0 and svg["x"] + svg["width"] <= 390
    context.close()


# --- progress on a non-tty ------------------------------------------------------------------------------------

def test_progress_lines_come_about_every_tenth():
    import io

    out = io.StringIO()
    report = progress_lines("eval", out)
    for done in range(1, 235):
        report(done, 234, f"q{done}")
    lines = out.getvalue().splitlines()
    assert lines[0] == "eval: 1/234 q1" and lines[1] == "eval: 23/234 q23" and lines[-1] == "eval: 234/234 q234"
    assert len(lines) == 12


def test_first_start_and_eval_print_progress_lines_on_a_non_tty(tmp_path, tiny_set):
    """`rag eval` as a subprocess, stdout and stderr piped, on an empty index: the first start indexes
    the corpus naming each article, then each question is counted; no progress bar is drawn."""
    settings = make_settings(tmp_path)
    env = {**os.environ, "RAG_CORPUS_DIR": str(settings.corpus_dir), "RAG_DATA_DIR": str(settings.data_dir),
           "HF_HUB_OFFLINE": "1"}
    env.pop("RAG_API_KEY", None)
    done = subprocess.run([sys.executable, "-m", "rag.cli", "eval", str(tiny_set)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in settings.corpus_dir.glob("*.txt"))
    indexing = re.findall(r"^indexing: (\d+)/(\d+) (\S+)$", done.stderr, re.M)
    assert [(int(n), int(t)) for n, t, _ in indexing] == [(i, len(names)) for i in range(1, len(names) + 1)]
    assert sorted(name for *_, name in indexing) == names
    counted = re.findall(r"^eval: (\d+)/3 (\S+)$", done.stderr, re.M)
    assert counted == [(str(i), r["id"]) for i, r in enumerate(ROWS, 1)]
    assert not re.search(r"(indexing|eval|ingest)\S*\s+\d+%\|", done.stderr)   # no tqdm frames in a log
    assert re.search(r"^answer_accuracy\s+0\.5$", done.stdout, re.M), done.stdout
