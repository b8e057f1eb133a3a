"""Shared fixtures: a tiny, seeded, easily separable classification problem and small FF networks.

Everything here is CPU-only and deterministic. Torch is pinned to one thread: the tiny tensors of these tests
gain nothing from more, and on a busy machine thread contention makes them ~40x slower.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from forwardforward import FFNetwork
from forwardforward.data import ArrayDataset

torch.set_num_threads(1)

NUM_CLASSES = 4
INPUT_DIM = 16
HIDDEN = [32, 32]


def make_blobs(n: int, seed: int, spread: float = 1.0) -> ArrayDataset:
    """``n`` samples of 4 Gaussian blobs in 16-D: fixed centres (norm ~12), unit noise, balanced classes."""
    centres = torch.randn(NUM_CLASSES, INPUT_DIM, generator=torch.Generator().manual_seed(123)) * 3
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % NUM_CLASSES
    x = centres[y] + spread * torch.randn(n, INPUT_DIM, generator=gen)
    return ArrayDataset.from_tensors(x, y, NUM_CLASSES, name="blobs")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def blobs_train() -> ArrayDataset:
    return make_blobs(256, seed=1)


@pytest.fixture
def blobs_test() -> ArrayDataset:
    return make_blobs(256, seed=2)


@pytest.fixture
def make_net() -> Callable[..., FFNetwork]:
    """A seeded tiny FF MLP ``[16, 32, 32]`` for the blobs; keyword arguments go to ``FFNetwork.mlp``."""

    def build(seed: int = 0, dims: list[int] | None = None, **kwargs: object) -> FFNetwork:
        torch.manual_seed(seed)
        opts: dict[str, object] = {
            "num_classes": NUM_CLASSES,
            "labels": "append",
            "goodness": "meansq",
            "loss": "symba",
            "label_strength": 3.0,  # a label code as large as the features: layer 1 learns in a few epochs
        }
        opts.update(kwargs)
        return FFNetwork.mlp(dims or [INPUT_DIM, *HIDDEN], **opts)  # type: ignore[arg-type]

    return build
