"""Answer-quality ablation: switch each lever off in turn and score the test set.

    python bench/ablation.py [TESTSET]        (default tests/data/dev.jsonl)
    RAG_CORPUS_DIR=../shared/newsqa/corpus RAG_DATA_DIR=.rag-newsqa python bench/ablation.py ../shared/newsqa/dev.jsonl

Nothing is refitted per row: each row shows what the lever adds to the system as shipped.
The index is the one RAG_CORPUS_DIR / RAG_DATA_DIR name (built first if empty; a temporary folder when
RAG_DATA_DIR is unset).
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from unittest import mock

import rag.retrieve
import rag.service
from rag.abstention import AnswerModel
from rag.answer import FEATURES
from rag.evaluate import evaluate, load_testset
from rag.retrieve import LexicalIndex
from rag.service import RagService
from rag.settings import Settings

KEYS = ("answer_accuracy", "hit@1", "citation_accuracy", "abstention_recall", "false_abstentions")


def _weight(name: str) -> AbstractContextManager:
    ranker = AnswerModel.default().ranker
    if name not in ranker:
        raise KeyError(f"no sentence weight {name!r}")
    return mock.patch.dict(ranker, {name: 0.0})


VARIANTS: dict[str, list[AbstractContextManager]] = {
    "full": [],
    "without outlet/role words": [mock.patch("rag.retrieve.field_words", lambda *a: "")],
    "without role lines (found by article, named by its title)": [
        mock.patch("rag.retrieve.role_stems", lambda text: frozenset())],
    "without small-to-big (the best articles' own nearest passages)": [
        mock.patch.object(rag.retrieve, "EXPAND_ARTICLES", 0)],
    "without each retriever's best 3 in the pool": [mock.patch.object(rag.service, "KEEP_EACH", 0)],
    "answer pool 5 passages (not 12)": [mock.patch.object(rag.service, "ANSWER_POOL", 5)],
    "without answer-type cues": [mock.patch("rag.answer.answer_type", lambda q: None)],
    **{f"without sentence feature {name}": [_weight(name)] for name in FEATURES},
    "without the keyword-form dense query": [mock.patch("rag.retrieve.query_forms", lambda q: [q])],
    "without typo correction": [mock.patch.object(LexicalIndex, "correct", lambda self, q: q)],
    "dense only (no BM25)": [mock.patch.object(LexicalIndex, "search", lambda self, q, k: [])],
    "BM25 only (no dense)": [mock.patch.object(RagService, "_dense", lambda self, q, k, where=None: [])],
}


def main() -> None:
    testset = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("tests/data/dev.jsonl")
    rows = load_testset(testset)
    with tempfile.TemporaryDirectory() as tmp:
        service = RagService(Settings(**({} if os.environ.get("RAG_DATA_DIR") else {"data_dir": Path(tmp)})).resolved())
        service.ensure_ingested()
        texts = {d.doc_id: service.document(d.doc_id).text for d in service.documents()}
        print("| variant | " + " | ".join(KEYS) + " |")
        print("|---" * (len(KEYS) + 1) + "|")
        for name, patches in VARIANTS.items():
            with ExitStack() as stack:
                for p in patches:
                    stack.enter_context(p)
                service._snapshot = None  # rebuild the retriever under the patches
                result = evaluate(rows, service.ask, texts)
            print(f"| {name} | " + " | ".join(str(result[k]) for k in KEYS) + " |", flush=True)
        service._snapshot = None


if __name__ == "__main__":
    main()
