"""The ablation script's levers still exist (each patch targets a real attribute)."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from bench.ablation import VARIANTS


@pytest.mark.parametrize("name", list(VARIANTS))
def test_ablation_lever_exists(name: str) -> None:
    with ExitStack() as stack:
        for patch in VARIANTS[name]:
            stack.enter_context(patch)  # mock.patch raises AttributeError for a lever that is gone
