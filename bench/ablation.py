"""Answer-quality ablation: switch each lever off in turn and score the test set.

    python bench/ablation.py [TESTSET [VARIANT ...]]   (default tests/data/dev.jsonl, every variant;
                                                        about 20 s a row on it)

The corpus is RAG_CORPUS_DIR's (the seeds by default): for NewsQA dev,
``RAG_CORPUS_DIR=../shared/newsqa/corpus python bench/ablation.py ../shared/newsqa/dev.jsonl``.

Nothing is refitted per row: each row shows what the lever adds to the system as shipped.
The index is built once from the default corpus in a temporary folder.
"""

from __future__ import annotations

import sys
import tempfile
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from unittest import mock

import rag.answer
import rag.service
from rag.evaluate import evaluate, load_testset
from rag.lexical_cache import LexicalCache
from rag.retrieve import LexicalIndex
from rag.service import RagService
from rag.settings import Settings

KEYS = ("answer_accuracy", "hit@1", "citation_accuracy", "abstention_recall", "false_abstentions")


def _weight(name: str) -> AbstractContextManager:
    if name not in rag.answer.WEIGHTS:
        raise KeyError(f"no sentence weight {name!r}")
    return mock.patch.dict(rag.answer.WEIGHTS, {name: 0.0})


VARIANTS: dict[str, list[AbstractContextManager]] = {
    "full": [],
    "without outlet/role words": [mock.patch("rag.retrieve.field_words", lambda *a: "")],
    "without role lines (found by article, named by its title)": [
        mock.patch("rag.retrieve.role_stems", lambda text: frozenset())],
    "without each retriever's best 3 in the pool": [mock.patch.object(rag.service, "KEEP_EACH", 0)],
    "answer pool 5 passages (not 12)": [mock.patch.object(rag.service, "ANSWER_POOL", 5)],
    "without answer-type cues": [mock.patch("rag.answer.answer_type", lambda q: None)],
    "without exact coverage": [_weight("coverage")],
    "without soft coverage": [_weight("soft_coverage")],
    "without sentence similarity": [_weight("similarity")],
    "sentence and word vectors for every candidate (not the best 12)": [
        mock.patch.object(rag.answer, "SHORTLIST", 10**6)],
    "without sentence and word vectors": [mock.patch.object(rag.service, "Semantics", lambda *a, **k: None)],
    "without fused passage rank": [_weight("fused")],
    "without passage cosine": [_weight("passage_dense")],
    "without the asked-for name's nearness": [_weight("name_nearness")],
    "without the keyword-form dense query": [mock.patch("rag.retrieve.query_forms", lambda q: [q])],
    "without typo correction": [mock.patch.object(LexicalIndex, "correct", lambda self, q: q)],
    "without the answer's next sentence": [mock.patch("rag.answer._with_next", lambda *a: None)],
    "rare-name context without the article's lead": [mock.patch.object(rag.answer, "LEAD_LINES", 0)],
    "without the rare-name rule": [mock.patch("rag.answer.missing_name", lambda q, c, idf: 0.0)],
    "without the named-slot rule": [mock.patch.object(rag.answer, "NAMED", "-")],
    "dense only (no BM25)": [mock.patch.object(LexicalIndex, "search", lambda *a, **kw: [])],
    "BM25 only (no dense)": [mock.patch.object(RagService, "_dense", lambda self, forms, *a, **kw: [[] for _ in forms])],
}


def main() -> None:
    testset = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("tests/data/dev.jsonl")
    rows = load_testset(testset)
    variants = {name: VARIANTS[name] for name in sys.argv[2:]} or VARIANTS
    with tempfile.TemporaryDirectory() as tmp:
        service = RagService(Settings(data_dir=Path(tmp)).resolved())
        service.ingest()
        texts = {d.doc_id: service.document(d.doc_id).text for d in service.documents()}
        print("| variant | " + " | ".join(KEYS) + " |")
        print("|---" * (len(KEYS) + 1) + "|")
        for name, patches in variants.items():
            with ExitStack() as stack:
                for p in patches:
                    stack.enter_context(p)
                # rebuild the in-memory index under the patches: from the store, not the copy the ingest saved
                stack.enter_context(mock.patch.object(LexicalCache, "load", lambda *a, **k: None))
                service._snapshot = None
                result = evaluate(rows, service.ask, texts)
            print(f"| {name} | " + " | ".join(str(result[k]) for k in KEYS) + " |", flush=True)
        service._snapshot = None


if __name__ == "__main__":
    main()
