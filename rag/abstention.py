"""The fitted answerer: sentence-ranking weights and a calibrated abstention model.

Both live in ``answerer.json``, written by ``python -m rag.calibrate fit --save``. They are
fitted on SQuAD 2.0 (Wikipedia questions; see ``rag.squad``), not on the news sets the product is
judged on; ``rag.calibrate`` prints the cross-domain held-out figures.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

MODEL_FILE = Path(__file__).with_name("answerer.json")


@dataclass(frozen=True)
class Abstainer:
    """Logistic model: the probability that the best sentence answers the question."""

    weights: dict[str, float]
    bias: float
    threshold: float = 0.5

    def probability(self, features: dict[str, float]) -> float:
        z = self.bias + sum(w * features.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class AnswerModel:
    ranker: dict[str, float]  # sentence feature -> weight (a listwise softmax fit)
    abstainer: Abstainer
    fitted_on: str = ""
    extra: dict = field(default_factory=dict)  # held-out figures recorded at fit time

    @staticmethod
    @lru_cache(maxsize=1)
    def default() -> "AnswerModel":
        return AnswerModel.load(MODEL_FILE)

    @staticmethod
    def load(path: Path) -> "AnswerModel":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        a = data["abstainer"]
        return AnswerModel(data["ranker"], Abstainer(a["weights"], a["bias"], a.get("threshold", 0.5)),
                           data.get("fitted_on", ""), data.get("held_out", {}))

    def save(self, path: Path = MODEL_FILE) -> None:
        a = self.abstainer
        data = {"fitted_on": self.fitted_on, "ranker": self.ranker,
                "abstainer": {"weights": a.weights, "bias": a.bias, "threshold": a.threshold},
                "held_out": self.extra}
        Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
