"""Meaning, on questions written for this file only: no fitted part (ranker, abstainer, rules) has seen
them, and none is copied from tests/data/*.jsonl. Each names a fact the articles state; the test asks that
the fact be in the answer or in the first citation, not for one exact wording. The answerer may change
how it phrases; it may not lose the fact, quote text the article lacks, or answer what the articles don't say.
"""

from __future__ import annotations

import re

import pytest

from rag.service import RagService
from tests.conftest import make_settings
from tests.test_service_edges import SMALL_CORPUS, small_corpus

def MISS(what: str) -> pytest.MarkDecorator:  # noqa: N802 - reads as a label in the tables below
    """A held-out miss of the answerer as committed in ceb578f (rag/answer.py, rag/answerer.json; the lead's):
    strict, so that the fix shows up as XPASS and the mark must go."""
    return pytest.mark.xfail(strict=True, reason=f"answerer miss at ceb578f: {what}")


SEED_FACTS = [
    pytest.param("Which country alone voted against the UN resolution on arms for Myanmar?", "Belarus",
                 marks=MISS("answers with the sentence about the resolution, not the one naming the lone no vote")),
    ("Who is the secretary of Russia's Security Council?", "Patrushev"),
    ("Which Russian state-owned news agency justified the coup?", "RIA Novosti"),
    ("Who heads Russia's state arms exporter?", "Mikheyev"),
    ("Besides army training, what does Moscow give thousands of Burmese soldiers?", "university scholarships"),
    ("Who is Russia's defence minister?", "Shoigu"),
    pytest.param("How many countries abstained on the General Assembly resolution?", "36", marks=pytest.mark.xfail(
        strict=True, reason="rare-name rule (issue 11): the answer's passage never says 'General Assembly', so it abstains")),
    ("How many civilians had been killed by the time of the ASEAN summit in Indonesia?", "800"),
    ("Who is the Kremlin's spokesman?", "Peskov"),
    pytest.param("What did Russian deputy defence minister Alexander Fomin call Myanmar?", "reliable ally",
                 marks=MISS("answers with the sentence introducing Fomin, not the next one quoting him")),
]

OFF_TOPIC = ["What is the capital of Australia?",
             "Who is the prime minister of Japan?",
             "How long should sourdough bread prove before baking?", "Which team won the 2019 Super Bowl?"]

_SENTENCE_END = re.compile(r"[.!?][\"”’)]*(?=\s+[\"“‘(]*[A-Z0-9])")


def sentences(text: str) -> int:
    """Sentences counted by terminal punctuation followed by a capital (independent of index.text)."""
    return len(_SENTENCE_END.findall(text.strip())) + 1


def assert_grounded(svc: RagService, result, gold: str) -> None:
    assert not result.abstained, result.answer
    first = result.citations[0]
    assert gold in result.answer or gold in first.quote, (result.answer, first.quote)
    assert any(result.answer in svc.document(c.doc_id).text for c in result.citations)  # verbatim, cited
    assert len(result.answer) <= 400 and sentences(result.answer) <= 2
    for c in result.citations:
        assert svc.document(c.doc_id).text[c.start:c.end] == c.quote


@pytest.mark.parametrize("question, gold", SEED_FACTS)
def test_seed_fact_is_answered(seeded, question: str, gold: str) -> None:
    assert_grounded(seeded, seeded.ask(question), gold)


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_question_abstains(seeded, question: str) -> None:
    result = seeded.ask(question)
    assert result.abstained, result.answer
    assert result.answer.startswith("The articles don't say") and result.answer.endswith(question)


@pytest.fixture(scope="module")
def other_corpus(tmp_path_factory, embedder) -> RagService:
    """Three short stories written for the tests (no seed among them)."""
    base = tmp_path_factory.mktemp("other")
    small_corpus(base)
    svc = RagService(make_settings(base), embedder=embedder)
    assert len(svc.ingest().added) == len(SMALL_CORPUS)
    return svc


@pytest.mark.parametrize("question, gold", [
    ("How much did the Oakridge library renovation cost?", "6 million dollars"),  # in the answer's second sentence
    ("Who chairs the Port Vellum regatta?", "Tomas Eberle"),
    ("How many books does the new reading room hold?", "12,000"),
    ("Who rang the fog bell at the Lindqvist festival?", "Freja Holm"),
    pytest.param("How strong were the gusts over the bay at Port Vellum?", "90 kilometres an hour",
                 marks=MISS("answers with the headline")),
])
def test_another_corpus_is_answered(other_corpus, question: str, gold: str) -> None:
    assert_grounded(other_corpus, other_corpus.ask(question), gold)


@pytest.mark.parametrize("question", [
    pytest.param("Who won the Lindqvist sailing races?", marks=MISS("answers who started the races")),
    "What is the capital of Australia?"])
def test_another_corpus_says_what_it_does_not_know(other_corpus, question: str) -> None:
    assert other_corpus.ask(question).abstained
