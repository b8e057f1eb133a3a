"""``ff sweep`` and ``ff plot``: grids, resumption after an interrupt, the table and the figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forwardforward.experiment import results, sweep
from forwardforward.experiment.cli import main
from forwardforward.experiment.config import ConfigError

# Tiny runs: 300 digits, one small hidden layer pair, one epoch each (~0.2 s a run).
RESULTS = "results.json"
TINY = ["data.train_subset=300", "model.hidden=[32,32]", "trainer.epochs=2", "trainer.batch_size=50"]


def test_split_top_level_keeps_lists_whole() -> None:
    assert sweep.split_top_level("[500,500],[1000]") == ["[500,500]", "[1000]"]
    assert sweep.split_top_level("adam") == ["adam"]
    assert sweep.split_top_level("'a,b',c") == ["'a,b'", "c"]


def test_parse_grid_axes_fixed_and_points() -> None:
    grid = sweep.parse_grid(None, [*TINY, "trainer.negatives=hard,random", "model.loss=symba,softplus"], 2, 7)
    assert grid.axes == [("trainer.negatives", ["hard", "random"]), ("model.loss", ["symba", "softplus"])]
    assert grid.fixed == TINY and grid.seeds == [7, 8]
    assert len(grid.points()) == 4
    assert {"trainer.negatives": "random", "model.loss": "softplus"} in grid.points()


@pytest.mark.parametrize(
    ("items", "match"),
    [
        (["model.los=symba,softplus"], "unknown config key 'model.los'.*model.loss"),
        (["trainer.epochs=1,two"], "bad value"),
        (["method=ff,sgd"], "method values must be among ff, backprop"),
        (["trainer.seed=1,2"], "set by --seeds"),
        (["model.loss=symba,,softplus"], "empty value"),
        (["model.loss=symba,symba"], "repeats a value"),
        (["model.loss=symba,softplus", "model.loss=sigmoid_diff,symba"], "given twice"),
        (["epochs"], "must look like key=v1,v2"),
    ],
)
def test_parse_grid_rejects_bad_items_before_running_anything(items: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        sweep.parse_grid(None, items, 1)


def test_backprop_twin_runs_once_per_setting_it_can_see(tmp_path: Path) -> None:
    grid = sweep.parse_grid(None, ["model.loss=symba,softplus", "method=ff,backprop"], 2)
    specs = sweep.plan(grid, tmp_path)
    methods = [s.method for s in specs]
    assert methods.count("ff") == 4 and methods.count("backprop") == 2  # not one twin per FF loss
    assert all("model.loss" not in s.point for s in specs if s.method == "backprop")


def _table_rows(md: str) -> list[list[str]]:
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


def test_two_by_two_grid_end_to_end_writes_table_and_plots(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sweep"
    argv = [
        "sweep",
        *TINY,
        "trainer.negatives=hard,random",
        "model.loss=symba,softplus",
        "--seeds",
        "2",
        "--out",
        str(out),
    ]
    assert main(argv) == 0, capsys.readouterr().err
    runs = sorted(out.glob("runs/*/seed*/results.json"))
    assert len(runs) == 8
    md = (out / "results.md").read_text()
    assert f"Command: `ff sweep {' '.join(TINY[:1])}" in md and f"--seeds 2 --out {out}`" in md
    header, *rows = _table_rows(md)
    assert header[:3] == ["trainer.negatives", "model.loss", "seeds"]
    assert sorted((r[0], r[1]) for r in rows) == [
        ("hard", "softplus"),
        ("hard", "symba"),
        ("random", "softplus"),
        ("random", "symba"),
    ]
    assert all(r[2] == "2" for r in rows)
    # The table's numbers are the runs' numbers: mean of the two seeds' goodness accuracy.
    point = out / "runs" / "trainer.negatives=hard__model.loss=symba"
    accs = [
        json.loads((point / f"seed{s}" / "results.json").read_text())["test_accuracy_goodness"]
        for s in (0, 1)
    ]
    row = next(r for r in rows if r[:2] == ["hard", "symba"])
    assert row[3].startswith(f"{100 * sum(accs) / 2:.2f} ± ")
    for png in ("accuracy.png", "curves.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        assert f"]({png})" in (out / "results.md").read_text()


def test_interrupted_sweep_resumes_without_repeating_finished_runs(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "sweep"
    grid = sweep.parse_grid(None, [*TINY, "model.loss=symba,softplus"], 2)
    specs = sweep.plan(grid, out)
    real_run_one = sweep.run_one
    started: list[Path] = []

    def interrupted_on_third(spec: sweep.RunSpec) -> dict:
        started.append(spec.directory)
        if len(started) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the grid
        return real_run_one(spec)

    monkeypatch.setattr(sweep, "run_one", interrupted_on_third)
    with pytest.raises(KeyboardInterrupt):
        sweep.run_grid(specs)
    finished = {s.directory for s in specs if s.finished}
    assert finished == set(started[:2])
    stamps = {d: (d / "results.json").stat().st_mtime_ns for d in finished}

    started.clear()
    monkeypatch.setattr(sweep, "run_one", lambda spec: (started.append(spec.directory), real_run_one(spec)))
    sweep.run_grid(specs)
    assert set(started) == {s.directory for s in specs} - finished  # nothing finished ran again
    assert {d: (d / "results.json").stat().st_mtime_ns for d in finished} == stamps
    sweep.write_summary(out, plots=False)
    _, *rows = _table_rows((out / "results.md").read_text())
    assert len(rows) == 2 and all(r[1] == "2" for r in rows)


def test_unfinished_ff_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    grid = sweep.parse_grid(None, TINY, 1)
    (spec,) = sweep.plan(grid, tmp_path)
    # A run killed after its first epoch: checkpoint written, no results.json.
    short = sweep.RunSpec(spec.directory, None, [*spec.overrides, "trainer.epochs=1"], {}, spec.seed)
    sweep.run_one(short)
    (spec.directory / "results.json").unlink()
    first_epoch = json.loads((spec.directory / "metrics.jsonl").read_text().splitlines()[0])
    result = json.loads(json.dumps(sweep.run_one(spec)))
    history = json.loads((spec.directory / "results.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[0]["train_seconds"] == first_epoch["train_seconds"]  # epoch 1 was kept, not retrained
    uninterrupted = sweep.RunSpec(tmp_path / "whole", None, spec.overrides, {}, spec.seed)
    assert sweep.run_one(uninterrupted)["test_accuracy_goodness"] == result["test_accuracy_goodness"]


def test_ff_plot_writes_curves_receptive_fields_and_histograms(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(run_dir)]) == 0
    capsys.readouterr()
    assert main(["plot", str(run_dir)]) == 0
    figures = json.loads(capsys.readouterr().out)["figures"]
    names = sorted(Path(f).name for f in figures)
    assert names == ["curves.png", "goodness_hist.png", "receptive_fields.png"]
    for f in figures:
        assert Path(f).read_bytes()[:4] == b"\x89PNG"
    # The receptive fields: each unit's own weights (not a blank or uniform image), drawn large
    from PIL import Image

    image = Image.open(run_dir / "receptive_fields.png")
    assert min(image.size) >= 500
    assert len(image.convert("RGB").getcolors(maxcolors=100_000) or []) > 20


def test_ff_plot_on_a_directory_without_checkpoint_says_so(tmp_path: Path, capsys) -> None:
    assert main(["plot", str(tmp_path)]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


def test_sweeps_sharing_a_directory_show_config_values_for_keys_they_left_alone(tmp_path: Path) -> None:
    one = ["data.train_subset=100", "model.hidden=[16]", "trainer.epochs=1"]
    sweep.run_grid(sweep.plan(sweep.parse_grid(None, [*one, "model.loss=symba,softplus"], 1), tmp_path))
    sweep.run_grid(
        sweep.plan(
            sweep.parse_grid(None, [*one, "model.threshold=0.5,1.0", "model.loss=sigmoid_diff"], 1), tmp_path
        )
    )
    sweep.write_summary(tmp_path, plots=False)
    header, *rows = _table_rows((tmp_path / "results.md").read_text())
    assert header[:2] == ["model.loss", "model.threshold"]
    assert sorted((r[0], r[1]) for r in rows) == [
        ("sigmoid_diff", "0.5"),
        ("sigmoid_diff", "1.0"),
        ("softplus", "2.0"),
        ("symba", "2.0"),
    ]  # 2.0 is the schema's default threshold, which the first sweep never set


def test_backprop_rows_show_their_own_settings_but_not_ff_only_ones(tmp_path: Path) -> None:
    one = ["data.train_subset=100", "model.hidden=[16]", "trainer.epochs=1"]
    sweep.run_grid(
        sweep.plan(
            sweep.parse_grid(None, [*one, "trainer.lr=0.001,0.01", "model.loss=softplus"], 1), tmp_path
        )
    )
    sweep.run_grid(
        sweep.plan(sweep.parse_grid(None, [*one, "method=backprop", "trainer.optimizer=sgd"], 1), tmp_path)
    )
    sweep.write_summary(tmp_path, plots=False)
    header, *rows = _table_rows((tmp_path / "results.md").read_text())
    table = {
        r[header.index("method")]: dict(zip(header, r))
        for r in rows
        if r[header.index("method")] == "backprop"
    }
    twin = table["backprop"]
    assert twin["trainer.optimizer"] == "sgd" and twin["trainer.lr"] != "-"  # the lr it trained with
    assert twin["model.loss"] == "-"  # an FF-only key: a backprop run has no loss to show
    ff_rows = [dict(zip(header, r)) for r in rows if r[header.index("method")] == "ff"]
    assert sorted(r["trainer.lr"] for r in ff_rows) == ["0.001", "0.01"]


def test_parallel_runs_equal_serial_runs(tmp_path: Path) -> None:
    """``--jobs 2`` runs in spawned processes; seeded runs must give the serial numbers exactly."""
    grid = sweep.parse_grid(None, [*TINY, "trainer.threads=1", "model.loss=symba,softplus"], 1)
    results = {}
    for jobs in (1, 2):
        specs = sweep.plan(grid, tmp_path / f"jobs{jobs}")
        sweep.run_grid(specs, jobs=jobs)
        root = tmp_path / f"jobs{jobs}"
        results[jobs] = {
            s.directory.relative_to(root): json.loads((s.directory / RESULTS).read_text()) for s in specs
        }
    assert len(results[2]) == 2
    for key, serial in results[1].items():
        parallel = results[2][key]
        assert parallel["test_accuracy_goodness"] == serial["test_accuracy_goodness"]
        assert parallel["layer_accuracy"] == serial["layer_accuracy"]


def test_sigterm_stops_the_workers_and_leaves_runs_unfinished(tmp_path: Path) -> None:
    """Killing ``ff sweep --jobs 2`` must not leave workers finishing runs behind the user's back."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "sweep"
    slow = ["data.train_subset=1000", "model.hidden=[256,256]", "trainer.epochs=200", "trainer.threads=1"]
    cmd = [sys.executable, "-m", "forwardforward.experiment.cli", "sweep", *slow, "model.loss=symba,softplus"]
    proc = subprocess.Popen([*cmd, "--jobs", "2", "--out", str(out)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(list(out.glob("runs/*/seed0/metrics.csv"))) < 2:  # both workers are training
            err = "" if proc.poll() is None or proc.stderr is None else proc.stderr.read()
            assert proc.poll() is None and time.monotonic() < deadline, err
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) != 0
    finally:
        proc.kill()
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/seed0/*")}
    time.sleep(2.0)  # a surviving worker would keep writing its metrics and checkpoints
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/seed0/*")} == stamps
    assert not list(out.glob("runs/*/seed0/results.json"))


def test_table_rows_follow_numeric_order() -> None:
    def run(value: str, seed: int) -> results.FinishedRun:
        setting = {"model.label_strength": value}
        return results.FinishedRun(Path(value), setting, seed, "ff", {}, setting)

    runs = [run(v, s) for v in ("1.0", "10.0", "2.0", "5.0") for s in (0, 1)]
    keys, groups = results.group_runs(runs)
    assert keys == ["model.label_strength"]
    assert [g.settings["model.label_strength"] for g in groups] == ["1.0", "2.0", "5.0", "10.0"]
    assert all(len(g.runs) == 2 for g in groups)


def test_a_diverging_setting_is_a_row_not_a_crash(tmp_path: Path) -> None:
    """A learning rate that blows the loss up must not stop the grid: the run is recorded as diverged,
    the other settings run, the table says which diverged, and a rerun does not retry it."""
    out = tmp_path / "sweep"
    grid = sweep.parse_grid(
        None, [*TINY, "method=backprop", "trainer.optimizer=sgd", "trainer.lr=0.1,1e9"], 1
    )
    specs = sweep.plan(grid, out)
    sweep.run_grid(specs)
    results = {s.point["trainer.lr"]: json.loads((s.directory / RESULTS).read_text()) for s in specs}
    assert "diverged" not in results["0.1"] and 0.0 <= results["0.1"]["test_accuracy"] <= 1.0
    assert "lower the lr" in results["1e9"]["diverged"]
    assert all(s.finished for s in specs)  # nothing left for a rerun to repeat
    sweep.write_summary(out)
    _, *rows = _table_rows((out / "results.md").read_text())
    assert [r[0] for r in rows] == ["0.1", "1e9"]
    assert rows[1][2] == "diverged (1/1)" and not rows[0][2].startswith("diverged")
    assert (out / "accuracy.png").exists() and (out / "curves.png").exists()
