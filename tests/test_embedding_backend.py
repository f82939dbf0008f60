"""The ONNX backend (exported locally from the bundled model) embeds as the torch model does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.embedding import backend_for, embed_queries, load_embedder, model_words, onnx_file, resolve_model
from rag.settings import Settings

SENTENCES = ["Myanmar's junta leader met a senior Russian security official in Moscow on Monday.",
             "Floodwater cut the coastal road, and the ferry stayed in harbour.",
             "Who took the photograph?",
             "short"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx(cache):
    return load_embedder(Settings().embed_model, backend="onnx", cache_dir=cache)


def test_onnx_matches_torch(embedder, onnx) -> None:
    torch_vectors = np.array(embedder.get_text_embedding_batch(SENTENCES))
    onnx_vectors = np.array(onnx.get_text_embedding_batch(SENTENCES))
    assert onnx_vectors.shape == torch_vectors.shape == (len(SENTENCES), 384)
    assert (np.sum(torch_vectors * onnx_vectors, axis=1) > 0.99).all()
    query = "Where did the junta leader travel?"
    assert float(np.dot(embedder.get_query_embedding(query), onnx.get_query_embedding(query))) > 0.99
    # not a constant: different sentences stay apart, and the related pair is nearest
    sims = onnx_vectors @ onnx_vectors.T
    assert sims[0, 1] < 0.5
    assert float(np.dot(onnx.get_query_embedding(query), onnx_vectors[0])) > float(
        np.dot(onnx.get_query_embedding(query), onnx_vectors[1]))


def test_int8_stays_close_to_the_float_model(onnx, cache) -> None:
    """Quantised per output channel, the int8 export keeps each vector within a few degrees of the float one
    (per tensor, the first export of this backend drifted to cosine ~0.95 and lost seed dev answers)."""
    int8 = load_embedder(Settings().embed_model, backend="onnx-int8", cache_dir=cache)
    assert Path(int8.model_name).name == "model-int8-per-channel.onnx"
    cosines = np.sum(np.array(onnx.get_text_embedding_batch(SENTENCES))
                     * np.array(int8.get_text_embedding_batch(SENTENCES)), axis=1)
    assert (cosines > 0.98).all(), cosines


def test_int8_sentence_vectors_take_only_the_sentences_to_the_int8_export(embedder, onnx) -> None:
    """``RAG_SENTENCE_VECTORS=int8`` (the default): passages, and a passage's one sentence, on the float model;
    the sentences of longer passages on the int8 export, near their float vectors; torch has no int8 export, so
    it embeds them itself."""
    from index.embedding import embed_with_spans, sentence_inputs
    from index.text import sentence_spans

    texts = [" ".join(SENTENCES[:2]), SENTENCES[2]]
    spans = [sentence_spans(t) for t in texts]
    assert sentence_inputs(texts, spans) == sorted(SENTENCES[:2], key=len)
    float_vectors, float_spans = embed_with_spans(onnx, texts, spans, "alone")
    vectors, sentence_vectors = embed_with_spans(onnx, texts, spans, "int8")
    assert np.allclose(vectors, float_vectors, atol=1e-6)
    assert np.allclose(sentence_vectors[1][0], vectors[1], atol=1e-6)  # the passage is its own sentence
    cosines = np.sum(np.array(float_spans[0]) * np.array(sentence_vectors[0]), axis=1)
    assert ((cosines > 0.98) & (cosines < 0.99999)).all(), cosines  # the int8 export's vectors, near the float ones
    on_torch = embed_with_spans(embedder, texts, spans, "int8")
    assert np.allclose(on_torch[1][0], embed_with_spans(embedder, texts, spans, "alone")[1][0], atol=1e-6)
    # one text at a time: a sentence's vector does not depend on what it was embedded with, nor on whether
    # another passage happens to be that sentence
    assert np.allclose(onnx.encode_int8(SENTENCES)[0], onnx.encode_int8(SENTENCES[:1])[0], atol=1e-6)
    beside = embed_with_spans(onnx, texts + [SENTENCES[0]], spans + [sentence_spans(SENTENCES[0])], "int8")
    assert np.allclose(beside[1][0], sentence_vectors[0], atol=1e-6)
    with pytest.raises(ValueError, match="unknown sentence vectors"):
        embed_with_spans(onnx, texts, spans, "float16")


def test_ingest_on_onnx_stores_the_int8_exports_sentence_vectors(tmp_path, onnx) -> None:
    """The default settings reach ingest: on the ONNX backend, a sentence of a longer passage is stored as the
    int8 export embeds it, and a passage that is one sentence keeps its float vector."""
    from index.text import sentence_spans
    from rag.service import RagService
    from tests.conftest import make_settings

    svc = RagService(make_settings(tmp_path), embedder=onnx)
    assert svc.settings.sentence_vectors == "int8"
    svc.ingest()
    passages = {p.passage_id: p.text for p in svc.store.passages()}
    sentences = {(pid, span): text[slice(*span)] for pid, text in passages.items() for span in sentence_spans(text)}
    stored = svc.store.sentence_vectors(list(sentences))
    longer = sorted(k for k, text in sentences.items() if text != passages[k[0]])[:8]
    single = sorted(k for k, text in sentences.items() if text == passages[k[0]])[:4]
    assert len(longer) == 8 and len(single) == 4
    texts = [sentences[k] for k in longer + single]
    expected = np.array(onnx.encode_int8(texts[:8]) + onnx.get_text_embedding_batch(texts[8:]))
    assert (np.sum(expected * np.array([stored[k] for k in longer + single]), axis=1) > 0.9999).all()


def test_onnx_batch_order_and_vocabulary(embedder, onnx) -> None:
    """Sorting by length inside a batch must not reorder the results; the typo dictionary is the same."""
    one_by_one = np.array([onnx.get_text_embedding(s) for s in SENTENCES])
    assert np.allclose(one_by_one, np.array(onnx.get_text_embedding_batch(SENTENCES)), atol=1e-5)
    assert model_words(onnx) == model_words(embedder)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_queries_embedded_together_are_what_each_gives_alone(embedder, onnx, backend) -> None:
    """A question and its keyword form go to the model in one call (rag.service): same vectors as one by one."""
    model = onnx if backend == "onnx" else embedder
    queries = ["Where did the junta leader travel?", "junta leader travel"]
    together = np.array(embed_queries(model, queries))
    assert np.allclose(together, np.array([model.get_query_embedding(q) for q in queries]), atol=1e-5)


def test_export_is_made_once_and_reused(onnx, cache, tmp_path) -> None:
    import time

    model = Path(resolve_model(Settings().embed_model))
    assert Path(onnx.model_name) in (onnx_file(model, cache), onnx_file(model, None))
    assert Path(onnx.model_name).is_file()
    t0 = time.perf_counter()
    again = load_embedder(Settings().embed_model, backend="onnx", cache_dir=tmp_path)  # another data folder
    assert again.model_name == onnx.model_name, "exported again instead of reusing the export"
    print(f"\nONNX load with the export present: {time.perf_counter() - t0:.2f}s")


def test_unknown_backend_and_device_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown embedding backend"):
        load_embedder(Settings().embed_model, backend="tensorflow")
    with pytest.raises(RuntimeError, match="cpu or cuda"):
        load_embedder(Settings().embed_model, backend="onnx", device="mps", cache_dir=tmp_path)


def test_cuda_runs_on_torch_where_onnxruntime_has_no_cuda_provider() -> None:
    """RAG_DEVICE=cuda works with the default (ONNX) backend: the installed onnxruntime is the CPU wheel."""
    import onnxruntime

    assert "CUDAExecutionProvider" not in onnxruntime.get_available_providers()
    with pytest.warns(UserWarning, match="runs on torch"):
        assert backend_for("onnx", "cuda") == "torch" and backend_for("onnx-int8", "cuda:1") == "torch"
    assert backend_for("onnx", None) == backend_for("onnx", "cpu") == "onnx"
    assert backend_for("torch", "cuda") == "torch"


def test_pooled_span_vectors_agree_across_backends(embedder, onnx) -> None:
    """A sentence's vector pooled from its passage's forward pass is the same under torch and ONNX, and
    the passage's own vector is what embedding it alone gives."""
    from index.embedding import embed_with_spans
    from index.text import sentence_spans

    texts = [" ".join(SENTENCES[:2]), SENTENCES[2]]
    spans = [sentence_spans(t) for t in texts]
    assert [len(s) for s in spans] == [2, 1]
    torch_vectors, torch_spans = embed_with_spans(embedder, texts, spans, "pooled")
    onnx_vectors, onnx_spans = embed_with_spans(onnx, texts, spans, "pooled")
    assert (np.sum(np.array(torch_vectors) * np.array(onnx.get_text_embedding_batch(texts)), axis=1) > 0.99).all()
    flat_torch = np.array([v for row in torch_spans for v in row])
    flat_onnx = np.array([v for row in onnx_spans for v in row])
    assert (np.sum(flat_torch * flat_onnx, axis=1) > 0.99).all()
    alone = np.array(onnx.get_text_embedding_batch([t[s:e] for t, sp in zip(texts, spans) for s, e in sp]))
    assert float(alone[2] @ flat_onnx[2]) > 0.999  # a passage of one sentence: the sentence alone
    # in a passage of two, the context colours each sentence's vector (why pooling is not the default)
    assert np.argmax(alone @ flat_onnx[0]) == 0 and float(alone[1] @ flat_onnx[1]) < 0.9
