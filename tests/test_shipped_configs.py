"""Every config in configs/ loads against the strict schema and builds its network for its data's shape: a
shipped config with a misspelt key, a value the schema refuses or a layout that does not fit its images (a
locally connected grid, a pooling stack) fails here, not after a user has waited for the data."""

from __future__ import annotations

from pathlib import Path

import pytest

from forwardforward.data.text import ALPHABET
from forwardforward.experiment.build import build_network
from forwardforward.experiment.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
#: Each image dataset's (shape of one image, classes).
IMAGES = {
    "digits": ((1, 8, 8), 10),
    "mnist": ((1, 28, 28), 10),
    "fashion-mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
    "cifar100": ((3, 32, 32), 100),
}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_config_loads_and_builds_for_its_images(path: Path) -> None:
    cfg = load_config(path)
    if cfg.model.kind == "sequence":  # a window of one-hot characters; the next character is the class
        shape, classes = cfg.sequence.context * len(ALPHABET), len(ALPHABET)
    else:
        shape, classes = IMAGES[cfg.data.name]
    net = build_network(cfg, shape, classes)
    assert len(net.layers) == len(cfg.model.conv if cfg.model.kind == "cnn" else cfg.model.hidden)
    assert sum(p.numel() for p in net.parameters()) > 0


def test_every_image_dataset_named_by_a_config_has_a_shape_here() -> None:
    names = {load_config(p).data.name for p in CONFIGS}
    assert names - {"aesop"} <= set(IMAGES), names
