"""One typed settings object for the whole product (env prefix ``RAG_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Built once (CLI, server, tests) and passed down explicitly."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    corpus_dir: Path = Field(Path("seeds"), description="Folder of articles (.txt/.md).")
    data_dir: Path = Field(Path(".rag"), description="Where the embedded Chroma index lives.")
    embed_model: str = Field(DEFAULT_MODEL, description="sentence-transformers model name or path.")
    embed_batch_size: int = Field(32, ge=1)
    device: str | None = Field(None, description="Device for embeddings (cpu, cuda, cuda:N); auto when unset.")
    embed_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx", description="Run the embedding model on ONNX Runtime (exported locally at first use, beside the "
        "model or into data_dir/onnx; same vectors as torch, faster on CPU) or on torch; onnx-int8 also quantises "
        "the weights to int8 (about twice as fast again; seed dev abstention recall below its gate, so not the default).")
    sentence_vectors: Literal["int8", "alone", "pooled"] = Field(
        "int8", description="How ingest embeds each passage's sentences for answering: each alone on the model's int8 "
        "export (the default: the same dev-set figures as alone, for about two thirds of that model work; under torch "
        "or on a GPU, on the model itself), each alone on the model itself, or pooled from the passage's own forward "
        "pass (no extra model work; seed dev answer_accuracy 0.867 instead of 0.900, NewsQA dev 0.640 either way).")
    chroma_url: str | None = Field(None, description="Chroma server URL; embedded store when unset.")
    collection: str = Field("articles", description="Chroma collection name.")
    top_k: int = Field(5, ge=1, le=50, description="Citations returned per answer.")
    chunk_chars: int = Field(400, ge=80, le=2000, description="Largest passage, in characters.")
    max_question_chars: int = Field(2000, ge=10)
    max_upload_bytes: int = Field(2_000_000, ge=1)
    max_file_bytes: int = Field(10_000_000, ge=1, description="Larger corpus files are skipped, with a reason.")
    conversations_url: str | None = Field(None, description="Database of saved conversations and feedback, "
                                          "sqlite:///PATH; default: conversations.sqlite3 in data_dir.")
    api_key: str | None = Field(None, description="Bearer key required on write routes when set.")
    api_key_reads: bool = Field(False, description="Require the key on read routes too.")
    host: str = "127.0.0.1"
    port: int = 8000
    feeds: str = Field("", description="RSS/Atom feed URLs `rag serve` polls, separated by spaces.")
    feed_interval: float = Field(1800.0, ge=10, description="Seconds between feed polls.")
    fetch_timeout: float = Field(20.0, gt=0, description="Seconds one fetch may take, whole body included.")
    fetch_max_bytes: int = Field(5_000_000, ge=1, description="Largest page or feed fetched, in bytes.")
    fetch_max_redirects: int = Field(5, ge=0)
    fetch_allow_networks: str = Field("", description="CIDR blocks of non-public addresses that may be fetched "
                                      "(e.g. `127.0.0.0/8`), separated by spaces; none by default.")
    dump_batch_rows: int = Field(500, ge=1, description="Dump rows written and indexed per batch.")

    def resolved(self) -> "Settings":
        """Absolute paths, so that later chdir calls cannot move the data."""
        return self.model_copy(
            update={"corpus_dir": self.corpus_dir.resolve(), "data_dir": self.data_dir.resolve()}
        )
