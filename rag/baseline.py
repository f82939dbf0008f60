"""The stock LlamaIndex pipeline, for side-by-side evaluation (`rag eval --baseline llamaindex`).

SentenceSplitter defaults, the same embedding model, an in-memory Chroma
collection, top-k retrieval, the top chunk as the answer, never abstaining.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rag.models import Answer, Citation

if TYPE_CHECKING:
    from rag.service import RagService


def llamaindex_ask(service: "RagService", top_k: int = 5) -> Callable[[str], Answer]:
    import chromadb
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.vector_stores.chroma import ChromaVectorStore

    docs = {d.doc_id: service.document(d.doc_id) for d in service.documents()}
    collection = chromadb.EphemeralClient().get_or_create_collection("baseline")
    storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
    index = VectorStoreIndex.from_documents(
        [Document(text=d.text, id_=doc_id) for doc_id, d in docs.items()],
        storage_context=storage, embed_model=service.embedder, transformations=[SentenceSplitter()])
    retriever = index.as_retriever(similarity_top_k=top_k)

    def ask(question: str) -> Answer:
        citations = []
        for n in retriever.retrieve(question):
            doc = docs[n.node.ref_doc_id]
            start, end = n.node.start_char_idx or 0, n.node.end_char_idx or 0
            citations.append(Citation(doc_id=doc.doc_id, title=doc.title, outlet=doc.outlet, date=doc.date,
                                      url=doc.url, quote=n.node.get_content(), start=start, end=end,
                                      score=float(n.score or 0.0)))
        top = citations[0].quote if citations else ""
        return Answer(question=question, answer=top, abstained=False, confidence=1.0, citations=citations)

    return ask
