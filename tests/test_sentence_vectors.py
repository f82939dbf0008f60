"""Ingest stores a vector for every sentence and word the answerer scores, so answering embeds no article text."""

from __future__ import annotations

import numpy as np

from rag.service import RagService
from index.text import content_words, sentence_spans
from tests.conftest import HELD_OUT_ANSWER, HELD_OUT_Q, make_settings


def _sentences(svc: RagService) -> dict[tuple[str, tuple[int, int]], str]:
    return {(p.passage_id, span): p.text[slice(*span)] for p in svc.store.passages() for span in sentence_spans(p.text)}


def _passages_with_sentences(svc: RagService) -> int:
    """How many records the sentence collection should hold: one per passage, packing its sentences' vectors."""
    return len({pid for pid, _ in _sentences(svc)})


def _stored(svc: RagService) -> dict:
    sentences = _sentences(svc)
    return {k: np.array(v) for k, v in svc.store.sentence_vectors(list(sentences)).items()}


def test_every_sentence_is_stored_as_embedded_alone_and_answering_embeds_no_article_text(service, embedder,
                                                                                          monkeypatch) -> None:
    service.ingest()
    sentences = _sentences(service)
    stored = _stored(service)
    assert len(sentences) > 60 and stored.keys() == sentences.keys()
    assert service.store.sentences.count() == _passages_with_sentences(service)  # nothing else in the collection
    sample = sorted(sentences)[::7]
    alone = np.array(embedder.get_text_embedding_batch([sentences[k] for k in sample]))
    assert (np.sum(alone * np.array([stored[k] for k in sample]), axis=1) > 0.999).all()

    vocabulary = {w for p in service.store.passages() for w in content_words(p.text)}
    dictionary = service._dictionary()  # held from the model's own file by every process (rag.word_vectors)
    rare = vocabulary - dictionary
    assert len(rare) > 30 and "hlaing" in rare and "belarus" in vocabulary & dictionary
    words = service.store.word_vectors(sorted(vocabulary))
    assert words.keys() == rare and service.store.words.count() == len(rare)
    sample = sorted(rare)[::20]
    alone = np.array(embedder.get_text_embedding_batch(sample))
    assert (np.sum(alone * np.array([words[w] for w in sample]), axis=1) > 0.999).all()

    embedded: list[str] = []
    semantics = service.snapshot().semantics  # built by the ingest (it changed every article)
    plain = semantics._embed_texts
    monkeypatch.setattr(semantics, "_embed_texts", lambda texts: embedded.extend(texts) or plain(texts))
    reply = service.ask(HELD_OUT_Q)
    assert HELD_OUT_ANSWER in reply.answer and not reply.abstained
    # only words neither an article nor the model's dictionary holds: the question's, or the words naming a
    # passage's outlet and role ("the moscow times", "photo credit"), a small set each process caches
    fields = {w for f in service.snapshot().retriever.lexical.fields.values() for w in content_words(f)}
    known = vocabulary | service._dictionary()
    assert set(embedded) <= (set(content_words(HELD_OUT_Q)) | fields) - known, embedded
    semantics._embed_texts(["zyxwvut"])
    assert embedded[-1] == "zyxwvut"  # the spy sees the model's calls


def test_an_index_without_sentence_and_word_vectors_answers_the_same(service) -> None:
    """An index written before sentence and word vectors were stored: the answerer embeds them as it goes."""
    service.ingest()
    before = service.ask(HELD_OUT_Q)
    for collection in (service.store.sentences, service.store.words):
        collection.delete(ids=collection.get(include=[])["ids"])
        assert collection.count() == 0
    after = RagService(service.settings, embedder=service.embedder).ask(HELD_OUT_Q)
    assert after.answer == before.answer and after.confidence == before.confidence
    assert HELD_OUT_ANSWER in after.answer


def test_sentence_vectors_follow_edits_deletes_and_rebuilds(service) -> None:
    service.ingest()
    corpus = service.settings.corpus_dir
    path = sorted(corpus.glob("*.txt"))[0]
    doc_id = path.stem
    text = path.read_text(encoding="utf-8")
    middle = text.index(" the ", len(text) // 2)  # an edit inside a passage: its old sentences must go
    path.write_text(text[:middle] + " this " + text[middle + 5:] + "\n\nThe harbour master Ravensworth said the ferry was late.\n",
                    encoding="utf-8")
    before = set(_sentences(service))
    service.ingest()
    assert before - set(_sentences(service)), "the edit changed no passage"
    assert _stored(service).keys() == _sentences(service).keys()
    assert service.store.sentences.count() == _passages_with_sentences(service)  # the edited article's old ones went
    assert any("harbour master" in s for s in _sentences(service).values())
    # a new word is stored; one of the model's dictionary is held from the model's own file instead
    assert service.store.word_vectors(["ravensworth", "harbour"]).keys() == {"ravensworth"}
    words = service.store.words.count()
    assert not service.ingest().changed and service.store.words.count() == words

    service.delete_document(doc_id)
    assert not service.store.sentences.get(where={"doc_id": doc_id}, include=[])["ids"]
    assert service.store.sentences.count() == _passages_with_sentences(service)

    old = service.store.sentences.name
    older = [service.store.client.get_or_create_collection(f"{service.store.live}{suffix}").name
             for suffix in (".sentences", ".words")]  # where indexes written before packed vectors kept them
    service.rebuild()
    names = {c if isinstance(c, str) else c.name for c in service.store.client.list_collections()}
    assert old not in names and service.store.sentences.name in names and not names & set(older)
    assert _stored(service).keys() == _sentences(service).keys()


def test_each_distinct_text_goes_to_the_model_once(tmp_path, embedder, monkeypatch) -> None:
    """A passage that is one sentence is its own sentence: embedded once, both vectors the same."""
    svc = RagService(make_settings(tmp_path), embedder=embedder)
    inputs: list[str] = []
    encode = embedder._model.encode
    monkeypatch.setattr(embedder._model, "encode", lambda texts, **kw: inputs.extend(texts) or encode(texts, **kw))
    svc.ingest()
    monkeypatch.undo()
    assert len(inputs) == len(set(inputs))
    passages = {p.passage_id: p.text for p in svc.store.passages()}
    whole = {(pid, span): text for (pid, span), text in _sentences(svc).items() if text == passages[pid]}
    assert len(whole) > 20  # the seeds' one-sentence paragraphs
    assert set(passages.values()) | set(_sentences(svc).values()) <= set(inputs)
    stored = _stored(svc)
    records = svc.store.collection.get(ids=[pid for pid, _ in whole], include=["embeddings"])
    by_id = dict(zip(records["ids"], records["embeddings"]))
    for key in whole:
        assert np.allclose(stored[key], by_id[key[0]], atol=1e-5)


def test_pooled_sentence_vectors_cost_no_extra_model_work(tmp_path, embedder, monkeypatch) -> None:
    """``RAG_SENTENCE_VECTORS=pooled``: each sentence's vector is pooled from its passage's forward pass
    (one model input per passage, none per sentence), close to the sentence embedded alone."""
    svc = RagService(make_settings(tmp_path, sentence_vectors="pooled"), embedder=embedder)
    model = embedder._model
    inputs: list[int] = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda texts, **kw: inputs.append(len(texts)) or encode(texts, **kw))
    report = svc.ingest()
    monkeypatch.undo()
    assert sum(inputs) == report.passages_embedded + svc.store.words.count()  # passages and words, no sentence
    sentences = _sentences(svc)
    stored = _stored(svc)
    assert stored.keys() == sentences.keys()
    keys = sorted(sentences)
    alone = np.array(embedder.get_text_embedding_batch([sentences[k] for k in keys]))
    cosines = np.sum(alone * np.array([stored[k] for k in keys]), axis=1)
    assert cosines.mean() > 0.85 and cosines.min() > 0.5
    assert HELD_OUT_ANSWER in svc.ask(HELD_OUT_Q).answer


def test_records_of_another_layout_count_as_not_stored(service) -> None:
    """A record without its packed vectors (an index another version wrote, until its next ingest) is treated as
    missing, and the answerer embeds what it needs."""
    service.ingest()
    store = service.store
    pid = store.sentences.get(limit=1, include=[])["ids"][0]
    word = store.words.get(limit=1, include=[])["ids"][0]
    store.sentences.update(ids=[pid], metadatas=[{"vectors": None, "spans": None}])  # None removes the key
    store.words.update(ids=[word], metadatas=[{"vector": None, "layout": "other"}])
    span = next((p, s) for p, s in _sentences(service) if p == pid)[1]
    assert store.sentence_vectors([(pid, span)]) == {} and store.word_vectors([word]) == {}
    assert HELD_OUT_ANSWER in RagService(service.settings, embedder=service.embedder).ask(HELD_OUT_Q).answer
