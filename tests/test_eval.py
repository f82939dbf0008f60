"""`rag eval`: test-set loading, metric arithmetic, the CLI (bounds, JSON, baseline) and the HTML report.

Real model and real embedded Chroma (the session `seeded` service). The full dev set goes through the bot
once (one shared `rag eval --json --report` run); the other CLI checks, `--baseline llamaindex` included,
use a three-question slice. The CLI runs in-process, sharing the already loaded model.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from rag.cli import main
from rag.evaluate import (METRICS, Row, aggregate, calibration, failed_bounds, format_table, load_testset,
                          matches, parse_bounds, score_row)
from rag.evaluate import TestSetError as SetError  # aliased: pytest would try to collect "Test*"
from rag.models import Answer, Citation
from rag.report import is_failure, write_report

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "tests" / "data" / "dev.jsonl"
DOCS_SHOT = ROOT / "docs" / "eval-report.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RATES = [m for m in METRICS if m not in ("false_abstentions", "latency_ms_p50", "latency_ms_p95")]
ROW_KEYS = {"id", "question", "answer", "abstained", "rank", "answer_correct", "citation_correct",
            "abstention_correct", "latency_ms"}


def run_eval(seeded, *argv) -> tuple[int, str, str]:
    """`rag eval ...` in-process, configured through RAG_* like a real run, sharing the loaded model."""
    from rag.service import RagService
    from rag.settings import Settings

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAG_DATA_DIR", str(seeded.settings.data_dir))
        mp.setenv("RAG_CORPUS_DIR", str(seeded.settings.corpus_dir))
        mp.setattr("rag.cli._service", lambda: RagService(Settings().resolved(), embedder=seeded.embedder))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["eval", *map(str, argv)])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def cli_run(seeded, tmp_path_factory) -> dict:
    """The dev set through `evaluate`, once, via `rag eval dev.jsonl --json --report PATH` (shapes only:
    the answerer was fitted on it)."""
    report = tmp_path_factory.mktemp("report") / "report.html"
    code, out, err = run_eval(seeded, DEV_SET, "--json", "--report", report)
    return {"code": code, "json": json.loads(out), "stderr": err, "report": report}


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    """Two answerable questions and one unanswerable one from the dev set."""
    lines = DEV_SET.read_text(encoding="utf-8").splitlines()
    pick = [line for line in lines if '"answerable": true' in line][:2] + \
        [line for line in lines if '"answerable": false' in line][:1]
    path = tmp_path_factory.mktemp("small") / "small.jsonl"
    path.write_text("\n".join(pick) + "\n", encoding="utf-8")
    return path


SEED_IDS = sorted(p.stem for p in (ROOT / "seeds").glob("*.txt"))
# Written for this file: one row the bot answers right, one whose gold it cannot give (a deliberately wrong
# gold, so that a right answer is scored wrong), one it must abstain on. answer_accuracy is exactly 0.5.
SCORED_ROWS = [
    {"id": "right", "question": "Who is the secretary of Russia's Security Council?", "answers": ["Patrushev"],
     "sources": SEED_IDS, "answerable": True},
    {"id": "wrong-gold", "question": "Who is the Kremlin's spokesman?", "answers": ["Zanzibar"],
     "sources": SEED_IDS, "answerable": True},
    {"id": "off-topic", "question": "Who won the 2022 FIFA World Cup?", "answers": [], "sources": [],
     "answerable": False},
]


@pytest.fixture(scope="module")
def scored_set(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scored") / "scored.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in SCORED_ROWS), encoding="utf-8")
    return path


# --- the test set -----------------------------------------------------------------------------------

def test_load_dev_set():
    rows = load_testset(DEV_SET)
    assert len(rows) == 38
    assert len({r.id for r in rows}) == 38
    assert all(r.answers for r in rows if r.answerable)
    assert {r.answerable for r in rows} == {True, False}


def test_fitting_set_golds_are_in_their_sources():
    """tests/data/train.jsonl fits the answerer: every gold answer is quoted from a listed article,
    and no question repeats one of the dev set's."""
    rows = load_testset(ROOT / "tests" / "data" / "train.jsonl")
    assert len({r.id for r in rows}) == len(rows) == 67
    assert {r.question for r in rows}.isdisjoint(r.question for r in load_testset(DEV_SET))
    seeds = {p.stem: p.read_text(encoding="utf-8") for p in (ROOT / "seeds").glob("*.txt")}
    for r in rows:
        if r.answerable:
            assert any(matches(seeds[d], r.answers) for d in r.sources), r.id
        else:
            assert not r.answers and not r.sources, r.id


GOOD = '{"id": "a", "question": "q?", "answers": ["x"], "sources": ["d"], "answerable": true}'


@pytest.mark.parametrize("lines, line_no, needle", [
    ([GOOD, '{"id": "b", "question": ', GOOD], 2, "invalid JSON"),
    ([GOOD, GOOD, '{"id": "c", "question": "q?", "answers": ["x"], "answerable": true}'], 3, "sources"),
    (['{"id": "a", "question": "q?", "answers": ["x"], "sources": ["d"], "answerable": "yes"}'], 1, "answerable"),
    ([GOOD, '{"id": 7, "question": "q?", "answers": ["x"], "sources": ["d"], "answerable": true}'], 2, "id"),
    ([GOOD, "", '["not", "an", "object"]'], 3, "object"),
    ([GOOD, '{"id": "u", "question": "q?", "answers": [], "sources": [], "answerable": true}'], 2, "answers"),
    ([GOOD, '{"id": "n", "question": "q?", "answers": [42], "sources": ["d"], "answerable": true}'], 2, "strings"),
    ([GOOD, '{"id": "e", "question": "  ", "answers": ["x"], "sources": ["d"], "answerable": true}'], 2, "empty"),
])
def test_broken_testset_names_the_line(tmp_path, lines, line_no, needle):
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SetError, match=rf":{line_no}: .*{needle}"):
        load_testset(path)


def test_testset_with_a_bom_loads_and_non_utf8_is_named(tmp_path):
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert [r.id for r in load_testset(tmp_path / "bom.jsonl")] == ["a"]
    (tmp_path / "latin.jsonl").write_bytes(GOOD.replace("q?", "caf\u00e9?").encode("latin-1"))
    with pytest.raises(SetError, match="latin.jsonl: not UTF-8 text"):
        load_testset(tmp_path / "latin.jsonl")


def test_a_refused_question_is_named_and_the_rest_goes_on(seeded, tmp_path):
    """An over-long question is refused by the bot: the run names it and scores the other rows."""
    long = "Why " + "very " * 500 + "long?"
    rows = [GOOD.replace('"q?"', json.dumps(long)), GOOD.replace('"a"', '"b"').replace('"q?"', '"Who is Patrushev?"')]
    (tmp_path / "long.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, out, err = run_eval(seeded, tmp_path / "long.jsonl", "--json")
    assert code == 0 and "refused question a: question is longer than" in err
    assert [r["id"] for r in json.loads(out)["per_question"]] == ["b"]


def test_empty_testset(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(SetError, match="no questions"):
        load_testset(tmp_path / "empty.jsonl")


# --- scoring and metric arithmetic ------------------------------------------------------------------

def test_matches_normalises_quotes_dashes_and_case():
    assert matches("Min Aung Hlaing’s “other ties” — agreed", ['hlaing\'s "OTHER TIES" - agreed'])
    assert matches("Reported by AFP.", ["afp"])
    assert matches("the NLD government", ["National League for Democracy", "NLD"])
    assert not matches("Reported by Reuters.", ["AFP"])


TEXT = "The talks were held on Monday in Moscow. Officials said little else about them."
ROW = Row(id="r", question="When were the talks?", answers=["Monday"], sources=["doc"], answerable=True)


def _answer(answer: str, quote_span=(0, 40), abstained=False) -> Answer:
    start, end = quote_span
    cite = Citation(doc_id="doc", title="t", outlet="o", quote=TEXT[0:40], start=start, end=end, score=0.9)
    return Answer(question=ROW.question, answer=answer, abstained=abstained, confidence=0.7, citations=[cite])


def test_score_row_correct_answer_and_exact_citation():
    row = score_row(ROW, _answer("The talks were held on Monday in Moscow."), {"doc": TEXT}, 12.345)
    assert row["answer_correct"] and row["citation_correct"] and row["abstention_correct"]
    assert row["rank"] == 1 and row["latency_ms"] == 12.3
    assert row["citation"]["doc_id"] == "doc" and row["citation"]["start"] == 0


def test_score_row_wrong_offsets_fail_the_citation():
    row = score_row(ROW, _answer("Monday.", quote_span=(1, 41)), {"doc": TEXT}, 1.0)
    assert row["answer_correct"] and not row["citation_correct"]


@pytest.mark.parametrize("answer, ok", [
    ("It was Monday. They met.", True),                # two sentences: fine
    ("It was Monday. They met. In Moscow.", False),    # three sentences: too long
    ("Monday " + "x" * 400, False),                    # over 400 characters
    ("It was Tuesday.", False),                        # wrong
])
def test_score_row_answer_length_rules(answer, ok):
    assert score_row(ROW, _answer(answer), {"doc": TEXT}, 1.0)["answer_correct"] is ok


def test_score_row_abstentions():
    unanswerable = Row(id="u", question="Who won?", answers=[], sources=[], answerable=False)
    row = score_row(unanswerable, _answer("The articles don't say.", abstained=True), {"doc": TEXT}, 1.0)
    assert row["abstention_correct"] and not row["answer_correct"] and row["rank"] is None
    row = score_row(ROW, _answer("The articles don't say.", abstained=True), {"doc": TEXT}, 1.0)
    assert not row["abstention_correct"] and not row["answer_correct"]


def _row(answerable=True, rank=None, answer=False, citation=False, abstained=False, latency=10.0) -> dict:
    return {"answerable": answerable, "rank": rank, "answer_correct": answer, "citation_correct": citation,
            "abstained": abstained, "latency_ms": latency}


def test_aggregate_arithmetic():
    rows = [_row(rank=1, answer=True, citation=True, latency=10), _row(rank=3, latency=20),
            _row(abstained=True, latency=30), _row(rank=5, latency=40),
            _row(answerable=False, abstained=True, latency=50), _row(answerable=False, latency=60)]
    m = aggregate(rows)
    assert (m["hit@1"], m["hit@3"], m["hit@5"]) == (0.25, 0.5, 0.75)
    assert m["mrr"] == round((1 + 1 / 3 + 1 / 5) / 4, 4)
    assert (m["answer_accuracy"], m["citation_accuracy"]) == (0.25, 0.25)
    assert m["abstention_precision"] == 0.5   # abstained twice, once rightly
    assert m["abstention_recall"] == 0.5      # one of two unanswerables abstained
    assert m["false_abstentions"] == 1
    assert (m["latency_ms_p50"], m["latency_ms_p95"]) == (35.0, 57.5)
    assert (m["n"], m["answerable"], m["unanswerable"]) == (6, 4, 2)


def test_calibration_bins():
    rows = [{"confidence": c, "answerable": a} for c, a in
            [(0.05, False), (0.1, False), (0.15, True), (0.55, True), (0.7, False), (1.0, True), (0.95, True)]]
    assert calibration(rows) == [
        {"bin": "0.0-0.2", "n": 3, "mean_confidence": 0.1, "observed": round(1 / 3, 4)},
        {"bin": "0.4-0.6", "n": 1, "mean_confidence": 0.55, "observed": 1.0},
        {"bin": "0.6-0.8", "n": 1, "mean_confidence": 0.7, "observed": 0.0},
        {"bin": "0.8-1.0", "n": 2, "mean_confidence": 0.975, "observed": 1.0}]   # 1.0 falls in the last bin
    assert calibration([]) == []


def test_aggregate_edge_cases():
    m = aggregate([_row(rank=2, answer=True)])
    assert m["abstention_precision"] == 1.0 and m["abstention_recall"] == 1.0   # nothing to abstain on
    assert m["mrr"] == 0.5 and m["hit@1"] == 0.0 and m["hit@3"] == 1.0


def test_bounds():
    assert parse_bounds(["answer_accuracy=0.5", "false_abstentions=3"]) == \
        {"answer_accuracy": 0.5, "false_abstentions": 3.0}
    for bad in ("accuracy=0.5", "answer_accuracy", "answer_accuracy=x"):
        with pytest.raises((SetError, ValueError)):
            parse_bounds([bad])
    metrics = {"answer_accuracy": 0.5, "false_abstentions": 3}
    assert failed_bounds(metrics, {"answer_accuracy": 0.5, "false_abstentions": 3}) == []
    assert len(failed_bounds(metrics, {"answer_accuracy": 0.51, "false_abstentions": 2})) == 2


# --- the CLI ----------------------------------------------------------------------------------------

def test_cli_broken_testset_exits_2(seeded, tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(GOOD + "\n{oops\n", encoding="utf-8")
    code, out, err = run_eval(seeded, path)
    assert code == 2 and out == ""
    assert f"{path}:2:" in err and "invalid JSON" in err


def test_cli_bad_metric_name_exits_2(seeded):
    code, _, err = run_eval(seeded, DEV_SET, "--min", "accuracy=0.5")
    assert code == 2 and "accuracy=0.5" in err


def test_cli_bad_bound_value_exits_2(seeded):
    code, _, err = run_eval(seeded, DEV_SET, "--min", "answer_accuracy=high")
    assert code == 2 and "answer_accuracy=high" in err


def test_cli_json(cli_run, seeded):
    assert cli_run["code"] == 0, cli_run["stderr"]
    out = cli_run["json"]
    assert set(out) == {*METRICS, "n", "answerable", "unanswerable", "calibration", "per_question", "refused"}
    assert out["n"] == 38 and out["answerable"] + out["unanswerable"] == 38
    for m in RATES:
        assert 0.0 <= out[m] <= 1.0, m
    assert out["hit@1"] <= out["hit@3"] <= out["hit@5"] and out["mrr"] <= out["hit@5"]
    assert isinstance(out["false_abstentions"], int) and 0 <= out["false_abstentions"] <= out["answerable"]
    assert 0 < out["latency_ms_p50"] <= out["latency_ms_p95"]
    assert len(out["per_question"]) == 38
    for row in out["per_question"]:
        assert ROW_KEYS <= set(row), row["id"]
        assert row["rank"] is None or 1 <= row["rank"] <= 5
        assert all(isinstance(row[k], bool) for k in ("abstained", "answer_correct", "citation_correct",
                                                      "abstention_correct"))
    assert [r["id"] for r in out["per_question"]] == [r.id for r in load_testset(DEV_SET)]
    # the metrics and the calibration bins are exactly the aggregate of the rows
    assert aggregate(out["per_question"]) == {k: v for k, v in out.items()
                                              if k not in ("per_question", "calibration", "refused")}
    assert out["refused"] == []
    assert out["calibration"] == calibration(out["per_question"])
    assert sum(b["n"] for b in out["calibration"]) == 38
    # each row is the bot's real answer, scored by the rules: recomputed here from the answer and the gold
    from index.text import sentence_spans

    texts = {d.doc_id: seeded.document(d.doc_id).text for d in seeded.documents()}
    golds = {r.id: r for r in load_testset(DEV_SET)}
    for row in out["per_question"]:
        gold, c = golds[row["id"]], row["citation"]
        assert c is None or texts[c["doc_id"]][c["start"]:c["end"]] == c["quote"], row["id"]
        assert row["answer_correct"] == (gold.answerable and not row["abstained"] and len(row["answer"]) <= 400
                                         and len(sentence_spans(row["answer"])) <= 2
                                         and matches(row["answer"], gold.answers)), row["id"]
        assert row["abstention_correct"] == (row["abstained"] != gold.answerable), row["id"]
        assert (row["rank"] == 1) == (gold.answerable and c is not None and matches(c["quote"], gold.answers)), \
            row["id"]
    for row in out["per_question"][:2] + out["per_question"][-2:]:  # the CLI asked the bot itself
        assert seeded.ask(row["question"]).answer == row["answer"], row["id"]


def test_cli_min_unreachable_exits_1(seeded, small_set):
    code, out, err = run_eval(seeded, small_set, "--min", "answer_accuracy=1.01")
    assert code == 1
    assert "FAILED bound: answer_accuracy" in err
    assert out.splitlines()[0].split() == ["metric", "rag"]   # the table still prints
    assert all(m in out for m in METRICS)


def test_cli_scores_right_wrong_and_abstained_rows(seeded, scored_set):
    code, out, err = run_eval(seeded, scored_set, "--json")
    assert code == 0, err
    data = json.loads(out)
    rows = {r["id"]: r for r in data["per_question"]}
    assert rows["right"]["answer_correct"] and rows["right"]["citation_correct"] and rows["right"]["rank"] == 1
    assert "Patrushev" in rows["right"]["answer"]
    assert not rows["wrong-gold"]["answer_correct"] and not rows["wrong-gold"]["abstained"]
    assert rows["wrong-gold"]["rank"] is None and "Peskov" in rows["wrong-gold"]["answer"]
    assert rows["off-topic"]["abstained"] and rows["off-topic"]["abstention_correct"]
    assert (data["answer_accuracy"], data["abstention_recall"], data["abstention_precision"]) == (0.5, 1.0, 1.0)
    assert data["false_abstentions"] == 0 and (data["n"], data["answerable"], data["unanswerable"]) == (3, 2, 1)


@pytest.mark.parametrize("bounds, code", [
    (["answer_accuracy=0.5", "abstention_recall=1.0", "false_abstentions=0"], 0),   # met exactly: passes
    (["answer_accuracy=0.5001"], 1),                                                  # just above: fails
    (["abstention_recall=1.0", "false_abstentions=-0.5"], 1),                         # an upper bound undercut
])
def test_cli_min_bounds_at_the_edge(seeded, scored_set, bounds, code):
    got, _, err = run_eval(seeded, scored_set, *[a for b in bounds for a in ("--min", b)])
    assert got == code, err
    assert ("FAILED bound" in err) == bool(code)


def test_cli_baseline_llamaindex(seeded, small_set):
    code, out, err = run_eval(seeded, small_set, "--baseline", "llamaindex", "--json")
    assert code == 0, err
    data = json.loads(out)
    base = data["baseline"]["llamaindex"]
    assert set(base) == {*METRICS, "n", "answerable", "unanswerable", "calibration", "per_question", "refused"}
    assert base["n"] == data["n"] == 3
    assert all(0.0 <= base[m] <= 1.0 for m in RATES)
    assert base["false_abstentions"] == 0 and base["abstention_recall"] == 0.0   # it never abstains
    table = format_table(data, base).splitlines()
    assert table[0].split() == ["metric", "rag", "llamaindex"]
    assert all(len(line.split()) == 3 for line in table[2:])

    code, out, _ = run_eval(seeded, small_set, "--baseline", "llamaindex")
    assert code == 0 and out.splitlines()[0].split() == ["metric", "rag", "llamaindex"]
    assert out.splitlines()[-3].split() == ["n", "3", "3"]


# --- the HTML report --------------------------------------------------------------------------------

def test_cli_report(cli_run, tmp_path):
    html = cli_run["report"].read_text(encoding="utf-8")
    rows = cli_run["json"]["per_question"]
    assert all(m in html for m in METRICS)
    assert all(f'id="q-{r["id"]}"' in html for r in rows)
    order = re.findall(r'<tr class="(fail|pass)" id="q-([^"]+)"', html)
    assert len(order) == 38
    kinds = [k for k, _ in order]
    assert kinds == sorted(kinds)   # every "fail" before every "pass"
    assert {i for k, i in order if k == "fail"} == {r["id"] for r in rows if is_failure(r)}
    assert not re.search(r"<script|<link|@import|url\(|src=", html, re.I)   # self-contained
    assert ("Calibration" in html) == bool(cli_run["json"].get("calibration"))   # section only with data

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: the report was checked as text, not rendered")
    from playwright.sync_api import sync_playwright

    shot = tmp_path / "eval-report.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(cli_run["report"].as_uri())
            assert page.locator("svg rect").count() >= 8   # one bar per rate metric
            assert page.locator("table.q tr.fail, table.q tr.pass").count() == 38
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    print(f"report screenshot: {shot}")
    if os.environ.get("RAG_UPDATE_DOCS"):  # refresh the README's picture on purpose only
        shutil.copyfile(shot, DOCS_SHOT)


def test_report_escapes_and_orders(tmp_path, cli_run):
    rows = cli_run["json"]["per_question"]
    evil = dict(rows[0], id="x<1>", question='<script>alert("q")</script>',
                answer="a & <b>", answerable=True, answer_correct=True)
    evil["citation"] = dict(evil["citation"] or {}, doc_id="d", outlet="<i>o</i>", quote="</td>\"q\"",
                            start=3, end=9)
    result = {**aggregate([evil] + rows), "per_question": [evil] + rows,
              "calibration": [{"bin": "0.0-0.5", "n": 3, "mean_confidence": 0.3, "observed": 0.25},
                              {"bin": "0.5-1.0", "n": 5, "mean_confidence": 0.8, "observed": 0.6}]}
    path = tmp_path / "r.html"
    write_report(path, result, baseline=cli_run["json"])
    html = path.read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;q&quot;)&lt;/script&gt;" in html
    assert "a &amp; &lt;b&gt;" in html and "&lt;i&gt;o&lt;/i&gt;" in html and "[3:9]" in html
    assert 'id="q-x&lt;1&gt;"' in html
    assert "Calibration" in html and "0.5-1.0" in html and "<polyline" in html
    assert ">llamaindex</th>" in html   # baseline column side by side
    order = [k for k, _ in re.findall(r'<tr class="(fail|pass)" id="q-([^"]+)"', html)]
    assert order == sorted(order) and order[-1] == "pass"

