"""``ff plot`` and the sweep figures: every value visible, titles and labels, integer epochs, readable
receptive fields with a colour bar, every run kind drawn or refused in one line, and one line without
matplotlib."""

from __future__ import annotations

import builtins
import json
import sys
from pathlib import Path

import pytest
import torch

from forwardforward.experiment import plots
from forwardforward.experiment.cli import main
from forwardforward.experiment.results import FinishedRun, Group

QUICK = ["trainer.epochs=2", "trainer.batch_size=64", "trainer.progress=false", "trainer.threads=1"]
TEXT = "The cat sat on the mat; the dog sat on the log. " * 40


def _group(name: str, goodness: list[float], head: list[float | None]) -> Group:
    runs = [
        FinishedRun(Path(name), {}, s, "ff", {"test_accuracy_goodness": g, "test_accuracy_head": h}, {})
        for s, (g, h) in enumerate(zip(goodness, head))
    ]
    return Group({"model.loss": name}, runs)


def test_sweep_bar_chart_fits_every_bar_the_heads_too() -> None:
    groups = [_group("symba", [0.90, 0.92], [0.40, 0.50]), _group("softplus", [0.88, 0.89], [0.95, 0.97])]
    fig = plots.accuracy_figure(groups, ["symba", "softplus"])
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    tops = [100 * (sum(v) / 2) for v in ([0.40, 0.50], [0.95, 0.97], [0.90, 0.92], [0.88, 0.89])]
    assert low <= min(tops) - 4 and high >= max(tops) + 1  # error bars (std) included
    assert low >= 0 and high <= 100
    assert ax.get_title("left") and ax.get_xlabel() and ax.get_ylabel()
    fig.canvas.draw()  # the legend sits above the axes, where it hides no bar
    renderer = fig.canvas.get_renderer()
    legend, axes = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert legend.y0 >= axes.y1 - 1


def test_run_curves_have_integer_epoch_ticks_titles_and_labels() -> None:
    history = [{"epoch": e, "eval/accuracy": 0.5 + e / 100, "eval/head_accuracy": 0.6} for e in range(1, 4)]
    ax = plots.history_figure(history).axes[0]
    ax.figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert ax.get_title() and ax.get_xlabel() == "epoch" and "accuracy" in ax.get_ylabel()
    unsup = plots.history_figure([{"epoch": 1, "loss/0": 0.5, "loss/1": 0.4}, {"epoch": 2, "loss/0": 0.3}])
    assert len(unsup.axes[0].lines) == 2 and "loss" in unsup.axes[0].get_ylabel()


def test_curves_of_sparsely_scored_runs_plot_the_scored_epochs_only() -> None:
    """trainer.eval_every=2 over 5 epochs scores epochs 2, 4 and 5: the lines have those points, at
    those epochs, in the run's figure and in a sweep's mean curve."""
    history = [
        {"epoch": e, "train_seconds": float(e), "loss/0": 1 / e}
        | ({"eval/accuracy": e / 10, "eval/layer_accuracy/0": e / 20} if e in (2, 4, 5) else {})
        for e in range(1, 6)
    ]
    ax = plots.history_figure(history).axes[0]
    by_label = {line.get_label(): line for line in ax.lines}
    assert list(by_label["goodness"].get_xdata()) == [2, 4, 5]
    assert list(by_label["goodness"].get_ydata()) == pytest.approx([20, 40, 50])
    assert list(by_label["layer 0 alone"].get_xdata()) == [2, 4, 5]
    assert "accuracy" in ax.get_ylabel()
    epochs, values, seconds = plots._mean_curve([history, history[:4]], "eval/accuracy")
    assert (epochs, values, seconds) == ([2, 4], pytest.approx([0.2, 0.4]), [2.0, 4.0])


def test_receptive_fields_are_readable_and_have_a_colour_bar(tmp_path: Path) -> None:
    fig = plots.receptive_field_figure(torch.randn(40, 64 + 10), (1, 8, 8))
    image_axes, bar_axes = fig.axes  # the mosaic and its colour bar
    assert image_axes.get_title() and bar_axes.get_ylabel()
    path = plots.plot_receptive_fields(torch.randn(40, 74), (1, 8, 8), tmp_path / "rf.png")
    from PIL import Image

    assert min(Image.open(path).size) >= 500  # 8x8 digits drawn large enough to see


def _train(argv: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *argv, *QUICK, "--out", str(out)]) == 0
    capsys.readouterr()


def _plot(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["plot", str(run_dir)]) == 0, capsys.readouterr().err
    return sorted(Path(f).name for f in json.loads(capsys.readouterr().out)["figures"])


def test_ff_plot_draws_a_sequence_run_without_receptive_fields(tmp_path: Path, capsys) -> None:
    (tmp_path / "tiny.txt").write_text(TEXT)
    seq = [
        "data.name=text",
        f"data.root={tmp_path / 'tiny.txt'}",
        "model.kind=sequence",
        "model.hidden=[32,32]",
    ]
    seq += [
        "model.head=false",
        "model.loss=softplus",
        "trainer.negatives=hard",
        "trainer.hard_source=goodness",
    ]
    seq += [
        "sequence.context=4",
        "sequence.num_strings=12",
        "sequence.string_length=40",
        "sequence.eval_strings=4",
    ]
    _train(seq, tmp_path / "run", capsys)
    assert _plot(tmp_path / "run", capsys) == ["curves.png", "goodness_hist.png"]


def test_ff_plot_draws_an_unsupervised_run_without_label_histograms(tmp_path: Path, capsys) -> None:
    unsup = ["model.labels=none", "trainer.negatives=hybrid", "unsup.blur_steps=2", "model.hidden=[32,32]"]
    _train([*unsup, "probe.epochs=1"], tmp_path / "run", capsys)
    assert _plot(tmp_path / "run", capsys) == ["curves.png", "receptive_fields.png"]


def test_ff_plot_refuses_a_sweep_or_a_comparison_in_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "sweep" / "runs").mkdir(parents=True)
    (tmp_path / "compare" / "ff").mkdir(parents=True)
    (tmp_path / "compare" / "ff" / "checkpoint.pt").write_bytes(b"")
    for folder, says in (("sweep", "ff sweep draws its figures"), ("compare", "ff plot ")):
        assert main(["plot", str(tmp_path / folder)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and says in err and "no checkpoint at" in err


def test_ff_plot_without_matplotlib_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: object, **kwargs: object) -> object:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "forwardforward.experiment.plots")
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert main(["plot", "anywhere"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"ff: error: {plots.MISSING}"
