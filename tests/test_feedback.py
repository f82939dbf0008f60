"""Feedback from the chat becomes a test set that `rag eval` scores (the round trip, end to end)."""

from __future__ import annotations

import json

from rag import cli
from rag.conversations import Conversations, owner_id, feedback_testset
from rag.evaluate import load_testset, run_cli
from tests.conftest import HELD_OUT_ANSWER, HELD_OUT_Q

OFF_TOPIC = "Who won the 2022 FIFA World Cup?"
UN_COUNT_Q = "How many countries approved the UN resolution?"


def test_feedback_export_round_trips_through_rag_eval(seeded, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    store = Conversations(f"sqlite:///{data / 'conversations.sqlite3'}")
    me = owner_id("browser-1")
    cid = store.create(me)["id"]
    up = store.add_turn(me, cid, HELD_OUT_Q, seeded.ask(HELD_OUT_Q))
    refused = seeded.ask(OFF_TOPIC)
    assert refused.abstained
    right_refusal = store.add_turn(me, cid, OFF_TOPIC, refused)
    count = seeded.ask(UN_COUNT_Q)
    corrected = store.add_turn(me, cid, UN_COUNT_Q, count)
    unknown = store.add_turn(me, cid, "Who chairs the junta?", seeded.ask("Who chairs the junta?"))
    store.add_feedback(me, up, 1)
    store.add_feedback(me, right_refusal, 1)
    store.add_feedback(me, corrected, -1, "119 countries", count.citations[0].doc_id)
    store.add_feedback(me, unknown, -1)  # says too little to become a row
    store.add_feedback(me, up, 1)  # a second vote replaces the first

    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    out = tmp_path / "feedback.jsonl"
    assert cli.main(["feedback", "export", "--out", str(out)]) == 0
    assert "3 test-set rows" in capsys.readouterr().err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["question"] for r in rows] == [HELD_OUT_Q, OFF_TOPIC, UN_COUNT_Q]
    assert rows[0]["answers"] == [HELD_OUT_ANSWER] and rows[0]["answerable"]
    assert rows[1] == {"id": rows[1]["id"], "question": OFF_TOPIC, "answers": [], "sources": [], "answerable": False}
    assert rows[2]["answers"] == ["119 countries"] and rows[2]["sources"] == [count.citations[0].doc_id]
    assert len(load_testset(out)) == 3  # the format rag eval reads

    args = cli.build_parser().parse_args(["eval", str(out), "--json", "--min", "answer_accuracy=1",
                                          "--min", "abstention_recall=1"])
    assert run_cli(args, seeded) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 3 and report["answerable"] == 2 and report["unanswerable"] == 1
    assert [r["answer_correct"] for r in report["per_question"]] == [True, False, True]


def test_feedback_testset_skip_unhelpful_votes():
    fb = {"id": 1, "question": "q?", "rating": -1, "correct_answer": None, "doc_id": None,
          "answer": {"answer": "a", "abstained": False, "citations": [], "highlight": None}}
    assert feedback_testset([fb]) == ([], 1)
