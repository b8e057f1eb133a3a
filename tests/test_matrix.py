"""The contract matrix: every model kind x every kind of negatives x both schedules x {1, 2 processes}.

Each cell either trains and, on two data-parallel processes, ends with the weights one process ends with
(the same batches, augmentation and negatives are drawn on every rank), or is refused before any data are
read with a one-line ConfigError. No cell may crash mid-run or silently train something else.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from forwardforward.experiment.checks import check_launch
from forwardforward.experiment.config import ConfigError, load_config
from forwardforward.experiment.run import run
from forwardforward.training.checkpoint import load_checkpoint
from forwardforward.training.strategies import DataParallel, free_port, init

TEXT = "The cat sat on the mat; the dog sat on the log. " * 15

KINDS = {
    "mlp": ["model.hidden=[16,16]"],
    "cnn": ["model.kind=cnn", "model.labels=spatial", "model.conv=[{channels: 4, kernel: 3, pool: max}]"],
    "recurrent": [
        "model.kind=recurrent",
        "model.hidden=[16,16]",
        "recurrent.iterations=4",
        "recurrent.score_to=4",
    ],
    "sequence": [
        "model.kind=sequence",
        "data.name=text",
        "model.hidden=[16,16]",
        "model.loss=softplus",
        "model.head=false",
        "sequence.context=4",
        "sequence.string_length=40",
        "sequence.num_strings=10",
        "sequence.eval_strings=4",
    ],
}
UNSUPERVISED = ["model.labels=none", "model.head=false", "probe.epochs=1"]
NEGATIVES = {
    "random": ["trainer.negatives=random"],
    "hard": ["trainer.negatives=hard"],
    "hybrid": ["trainer.negatives=hybrid", *UNSUPERVISED],
    "scff": ["trainer.negatives=scff", *UNSUPERVISED],
    "sleep": ["sequence.negatives=sleep"],
}
SCHEDULES = ["all", "greedy"]
CELLS = list(itertools.product(KINDS, NEGATIVES, SCHEDULES))


def overrides(kind: str, negatives: str, schedule: str, root: Path) -> list[str]:
    extra = [f"data.root={root / 'tiny.txt'}"] if kind == "sequence" else ["data.train_subset=64"]
    if kind == "cnn" and negatives in ("hybrid", "scff"):
        extra.append("model.labels=none")
    return [
        *KINDS[kind],
        *NEGATIVES[negatives],
        *extra,
        f"trainer.schedule={schedule}",
        "trainer.epochs=1",
        "trainer.batch_size=32",
        "trainer.progress=false",
        "trainer.threads=1",
        "trainer.device=cpu",  # both sides on the CPU, also where `auto` would put one process on a GPU
    ]


def config_or_refusal(cell: tuple[str, str, str], root: Path, nproc: int) -> tuple[object, str | None]:
    """The cell's config, or the one-line reason it is refused (before any data are read)."""
    try:
        cfg = load_config(None, overrides(*cell, root))
        check_launch(cfg, nproc, pipeline=False)
    except ConfigError as err:
        message = str(err)
        assert "\n" not in message and len(message) < 400, message
        return None, message
    return cfg, None


def name(cell: tuple[str, str, str]) -> str:
    return "-".join(cell)


def _data_parallel_worker(rank: int, world: int, init_method: str, root: str) -> None:
    torch.set_num_threads(1)
    init(rank, world, init_method, backend="gloo", timeout_s=60)
    try:
        for cell in CELLS:
            cfg, _ = config_or_refusal(cell, Path(root), world)
            if cfg is not None:
                run(cfg, Path(root) / "dp" / name(cell), strategy=DataParallel())
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Every cell once on one process and once on two (all two-process cells in one process group)."""
    root = tmp_path_factory.mktemp("matrix")
    (root / "tiny.txt").write_text(TEXT)
    outcome: dict[str, object] = {}
    for cell in CELLS:
        cfg, refused = config_or_refusal(cell, root, 1)
        if cfg is None:
            outcome[name(cell)] = ("refused", refused)
            continue
        run(cfg, root / "one" / name(cell))
        outcome[name(cell)] = ("trained", None)
    mp.start_processes(
        _data_parallel_worker,
        args=(2, f"tcp://127.0.0.1:{free_port()}", str(root)),
        nprocs=2,
        start_method="fork",
    )
    outcome["root"] = root
    return outcome


@pytest.mark.parametrize("cell", CELLS, ids=name)
def test_each_cell_trains_alike_on_two_processes_or_is_refused_up_front(matrix: dict, cell: tuple) -> None:
    status, refusal = matrix[name(cell)]
    root = matrix["root"]
    if status == "refused":
        assert refusal  # a one-line reason, checked where it was raised
        assert not (root / "dp" / name(cell)).exists()  # refused on two processes too, before running
        return
    one = load_checkpoint(root / "one" / name(cell) / "checkpoint.pt")["model"]
    two = load_checkpoint(root / "dp" / name(cell) / "checkpoint.pt")["model"]
    for (k, a), b in zip(one.items(), two.values()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=lambda m, k=k: f"{name(cell)} {k}: {m}")
    assert (root / "dp" / name(cell) / "results.json").exists()


def test_the_matrix_trains_what_it_should() -> None:
    """The cells that must train: every kind with label negatives, image negatives for the feed-forward
    kinds, the sleep phase for sequences, the greedy schedule for the kinds that declare it."""
    root = Path("/nonexistent")
    must_train = [
        ("mlp", "hard", "greedy"),
        ("mlp", "hybrid", "greedy"),
        ("cnn", "scff", "all"),
        ("recurrent", "hard", "all"),
        ("sequence", "sleep", "all"),
        ("sequence", "hard", "greedy"),
    ]
    must_refuse = [
        ("recurrent", "hard", "greedy"),
        ("recurrent", "hybrid", "all"),
        ("sequence", "hybrid", "all"),
        ("mlp", "sleep", "all"),
        ("sequence", "sleep", "greedy"),
    ]
    for cell in must_train:
        assert config_or_refusal(cell, root, 2)[1] is None, cell
    for cell in must_refuse:
        assert config_or_refusal(cell, root, 1)[1] is not None, cell
