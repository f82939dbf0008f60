"""The model's dictionary words are held embedded, so that a question's words are looked up, not embedded."""

from __future__ import annotations

import numpy as np

from rag.service import RagService
from rag.word_vectors import dictionary_file, dictionary_vectors


def _counting(calls: list[list[str]]):
    def embed(words: list[str]) -> list[list[float]]:
        calls.append(words)
        return [[float(len(w)), 1.0] for w in words]
    return embed


def test_dictionary_vectors_are_embedded_once_then_read_and_a_damaged_file_is_redone(tmp_path) -> None:
    path, calls = tmp_path / "dictionary-x.npz", []
    first = dictionary_vectors(["apple", "kiwi"], _counting(calls), path)
    assert path.is_file() and calls == [["apple", "kiwi"]]
    again = dictionary_vectors(["kiwi"], _counting(calls), path)
    assert len(calls) == 1 and np.array_equal(again["kiwi"], first["kiwi"])
    dictionary_vectors(["apple", "kiwi", "plum"], _counting(calls), path)  # a word the file lacks
    assert calls[-1] == ["apple", "kiwi", "plum"]
    path.write_bytes(b"not a zip")
    assert dictionary_vectors(["plum"], _counting(calls), path)["plum"].tolist() == [4.0, 1.0]
    assert calls[-1] == ["plum"] and not list(tmp_path.glob(".*.part"))


def test_dictionary_file_is_keyed_by_the_weights_and_kept_beside_them(tmp_path) -> None:
    model, fallback = tmp_path / "model", tmp_path / "data"
    model.mkdir()
    weights = model / "model.safetensors"
    weights.write_bytes(b"1")
    torch = dictionary_file(str(model), "HuggingFaceEmbedding", fallback)
    assert torch.parent == model and torch != dictionary_file(str(model), "OnnxEmbedding", fallback)
    weights.write_bytes(b"22")  # new weights: a new file, never the old vectors
    assert dictionary_file(str(model), "HuggingFaceEmbedding", fallback) != torch
    onnx = model / "onnx" / "model.onnx"
    onnx.parent.mkdir()
    onnx.write_bytes(b"3")
    assert dictionary_file(str(onnx), "OnnxEmbedding", fallback).parent == onnx.parent
    assert dictionary_file("hash-384", "HashEmbedding", fallback).parent == fallback  # no weights on disk


def test_the_service_holds_the_models_dictionary_as_embedded_alone(seeded, embedder) -> None:
    held = seeded.snapshot().held.words
    corpus = {w for p in seeded.store.passages() for w in p.text.lower().split()}
    words = [w for w in ("banana", "volcano", "orchestra") if w not in corpus]
    assert len(words) == 3 and not held.missing(set(words))
    alone = np.array(embedder.get_text_embedding_batch(words))
    got = held.get(words)
    assert (np.sum(alone * np.array([got[w] for w in words]), axis=1) > 0.999).all()


def test_words_of_the_dictionary_are_not_stored_and_an_unchanged_reingest_loads_no_model(service) -> None:
    service.ingest()
    stored = service.store.words.count()
    assert 0 < stored < len({w for p in service.store.passages() for w in p.text.lower().split()})
    fresh = RagService(service.settings)  # no model given: loaded only if something must be embedded
    report = fresh.ingest()
    assert len(report.unchanged) == 5 and not report.changed and fresh._embedder is None
