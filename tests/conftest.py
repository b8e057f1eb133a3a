"""Shared fixtures: a tiny, seeded, easily separable classification problem and small FF networks.

Everything here is CPU-only and deterministic. Torch is pinned to one thread: the tiny tensors of these tests
gain nothing from more, and on a busy machine thread contention makes them ~40x slower.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from forwardforward import FFNetwork
from forwardforward.data import ArrayDataset

torch.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--data-dir``: where the slow tests find the real datasets (``mnist/``, ``fashion-mnist/``...)."""
    parser.addoption(
        "--data-dir",
        default=os.environ.get("FF_DATA_DIR") or None,
        help="folder holding the real datasets (mnist/, fashion-mnist/) for the slow tests; "
        "default: $FF_DATA_DIR; without either they skip",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Unit tests never see the user's ``FF_DATA_DIR`` (read into ``--data-dir``'s default above): what
    they load is what they wrote themselves, so the suite gives the same answer on every machine, fixtures
    of every scope and the processes the tests start included. The slow tests get the folder from
    :func:`real_data`."""
    os.environ.pop("FF_DATA_DIR", None)


@pytest.fixture(scope="session")
def real_data(pytestconfig: pytest.Config) -> Callable[[str], Path]:
    """``real_data(name)``: the folder of the real dataset ``name`` under ``--data-dir`` (or
    ``$FF_DATA_DIR``); the test skips, saying what to set, when there is none."""
    base = pytestconfig.getoption("--data-dir")

    def find(name: str) -> Path:
        if not base:
            pytest.skip(f"real {name} not given: set FF_DATA_DIR (or --data-dir) to a folder holding {name}/")
        folder = Path(base) / name
        if not folder.is_dir():
            pytest.skip(f"real {name} not found: no folder {folder}")
        return folder

    return find


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``ff ARGV`` in this process: the exit status a shell would see (``sys.exit("msg")`` is 1), stdout and
    stderr."""
    from forwardforward.experiment.cli import main

    try:
        rc = main(argv)
    except SystemExit as exit_:
        rc = 1 if isinstance(exit_.code, str) else int(exit_.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


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
