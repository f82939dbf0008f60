"""Calibrated abstention: a logistic model over answer-evidence features.

The weights in ``abstention.json`` are fitted by ``python -m rag.calibrate`` on the
development set (its printed figures are leave-one-out, i.e. held out).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

WEIGHTS_FILE = Path(__file__).with_name("abstention.json")


@dataclass(frozen=True)
class Abstainer:
    weights: dict[str, float]
    bias: float
    threshold: float = 0.5
    # A question naming something this rare (rarity 0..1) that the answer's context never mentions
    # is not answered by it, whatever the other evidence; None: no such rule.
    rare_name: float | None = None

    def probability(self, features: dict[str, float]) -> float:
        if self.rare_name is not None and features.get("missing_name", 0.0) >= self.rare_name:
            return 0.0
        z = self.bias + sum(w * features.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @staticmethod
    @lru_cache(maxsize=1)
    def default() -> "Abstainer":
        data = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
        return Abstainer(data["weights"], data["bias"], data["threshold"], data.get("rare_name"))

    def save(self, path: Path = WEIGHTS_FILE) -> None:
        data = {"weights": self.weights, "bias": self.bias, "threshold": self.threshold, "rare_name": self.rare_name}
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
