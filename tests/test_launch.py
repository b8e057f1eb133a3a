"""Several processes write the same run folder as one: data parallel, the layer pipeline, torchrun."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from forwardforward.experiment.checks import check_launch
from forwardforward.experiment.cli import main
from forwardforward.experiment.config import ConfigError, load_config
from forwardforward.experiment.launch import run_distributed
from forwardforward.training.strategies import free_port, init

# On the CPU (gloo) even where `trainer.device=auto` would find a GPU for each process.
TINY = [
    "trainer.epochs=2",
    "model.hidden=[16,16]",
    "data.train_subset=128",
    "trainer.progress=false",
    "trainer.device=cpu",
]
PIPE = [*TINY, "trainer.negatives=random", "model.head=false"]


def _worker(rank: int, world: int, init_method: str, root: str) -> None:
    torch.set_num_threads(1)
    init(rank, world, init_method, backend="gloo", timeout_s=60)
    try:
        run_distributed(load_config(None, TINY), Path(root) / "dp")
        run_distributed(load_config(None, PIPE), Path(root) / "pipe", pipeline=True)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("launch")
    mp.start_processes(
        _worker, args=(2, f"tcp://127.0.0.1:{free_port()}", str(root)), nprocs=2, start_method="fork"
    )
    return root


@pytest.mark.parametrize("mode", ["dp", "pipe"])
def test_several_processes_write_the_run_folder_ff_eval_reads(runs: Path, mode: str, capsys) -> None:
    run = runs / mode
    assert {"config.yaml", "checkpoint.pt", "metrics.jsonl", "results.json"} <= {
        p.name for p in run.iterdir()
    }
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and all("eval/accuracy" in r for r in rows)
    results = json.loads((run / "results.json").read_text())
    assert results["mode"] == ("data-parallel" if mode == "dp" else "pipeline") and results["nproc"] == 2
    assert len(results["history"]) == 2
    capsys.readouterr()
    assert main(["eval", str(run / "checkpoint.pt")]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["test_accuracy_goodness"] == pytest.approx(results["test_accuracy_goodness"])


def _torchrun_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    os.environ.update(LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    assert main(["train", *TINY, "--out", out]) == 0


def test_ff_train_under_torchrun_joins_the_group_from_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "run"
    mp.start_processes(_torchrun_worker, args=(2, free_port(), str(out)), nprocs=2, start_method="fork")
    results = json.loads((out / "results.json").read_text())
    assert results["mode"] == "data-parallel" and results["nproc"] == 2


def test_what_several_processes_cannot_do_is_refused_in_one_line(capsys) -> None:
    with pytest.raises(ConfigError, match=r"set trainer\.negatives=random model\.head=false") as err:
        check_launch(load_config(None, TINY), 2, pipeline=True)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"model\.kind=cnn does not support the layer pipeline"):
        check_launch(
            load_config(None, ["model.kind=cnn", "model.labels=spatial", "model.conv=[{channels: 4}]"]),
            2,
            True,
        )
    assert main(["train", *PIPE, "--pipeline"]) == 2
    assert "give --nproc N" in capsys.readouterr().err
