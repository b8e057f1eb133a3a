"""Figures for sweeps and single runs (matplotlib, the optional ``viz`` extra).

* :func:`plot_sweep`: accuracy per setting (mean ± std over seeds) and learning curves (held-out error against
  epochs and against training time, evaluation excluded), as in the poster's "backpropagation vs
  Forward-Forward" panel.
* :func:`plot_run`: one run directory's learning curves, the first layer's receptive fields (the poster's
  Figure 5: do the units learn stroke- or part-like features?) and per-layer histograms of positive vs
  negative goodness (how well each layer separates them).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

#: The one line ``ff plot`` (and ``ff sweep``'s table) gives when the optional extra is missing.
MISSING = (
    "plots need matplotlib, which is not installed: pip install 'forwardforward[viz]' "
    """(from a source checkout: pip install -e ".[viz]")"""
)

try:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed on servers and CI
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
except ImportError as err:  # exercised by simulating its absence (tests/test_plots.py)
    raise ImportError(MISSING) from err

if TYPE_CHECKING:
    from .results import FinishedRun


def _mean_curve(
    histories: Sequence[list[dict[str, Any]]], key: str
) -> tuple[list[int], list[float], list[float]]:
    """The epochs (1-based) every seed reached and scored (``trainer.eval_every`` may skip some), with the
    mean of ``key`` and of the cumulative training seconds at each, over the seeds."""
    length = min(len(h) for h in histories)
    rows = [i for i in range(length) if all(key in h[i] for h in histories)]
    values = [statistics.fmean(h[i][key] for h in histories) for i in rows]
    seconds = [statistics.fmean(_train_seconds(h[i]) for h in histories) for i in rows]
    return [i + 1 for i in rows], values, seconds


def _train_seconds(row: dict[str, Any]) -> float:
    """Cumulative training seconds of a history row (``wall`` in runs written before the rename)."""
    return row["train_seconds"] if "train_seconds" in row else row["wall"]


def _head_accuracy(result: dict[str, Any]) -> float | None:
    return result.get("test_accuracy_head")


def _save(fig: Any, path: Path, dpi: int = 90) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_sweep(runs: Sequence[FinishedRun], out: Path) -> list[Path]:
    """``accuracy.png`` and ``curves.png`` in ``out`` for the finished ``runs`` of a sweep, grouped by
    setting (seeds pooled); returns the paths written."""
    from .results import group_runs

    keys, groups = group_runs(runs)
    labels = [g.label(keys) for g in groups]
    return [
        _save(accuracy_figure(groups, labels), out / "accuracy.png"),
        _save(curves_figure(groups, labels), out / "curves.png"),
    ]


def accuracy_figure(groups: Sequence[Any], labels: Sequence[str]) -> Any:
    """One pair of bars per setting (FF goodness or backprop, and FF's linear head), mean ± std over seeds,
    on a y-axis that fits every bar and its error bar (the head's too), zoomed in on them. ``groups`` are
    the settings' runs (:class:`~forwardforward.experiment.results.Group`), ``labels`` their tick labels."""
    from .results import primary_accuracy

    fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(groups) + 2), 3.8))
    series = [("FF goodness / backprop", primary_accuracy), ("FF linear head", _head_accuracy)]
    lows, highs = [], []
    for offset, (name, get) in enumerate(series):
        means, stds, pos = [], [], []
        for i, g in enumerate(groups):
            vals = [100 * v for v in (get(r.result) for r in g.runs) if v is not None]
            if vals:
                means.append(statistics.fmean(vals))
                stds.append(statistics.stdev(vals) if len(vals) > 1 else 0.0)
                pos.append(i + (offset - 0.5) * 0.35)
        ax.bar(pos, means, width=0.35, yerr=stds, capsize=3, label=name)
        lows += [m - s for m, s in zip(means, stds)]
        highs += [m + s for m, s in zip(means, stds)]
    low, high = (min(lows), max(highs)) if lows else (0.0, 100.0)
    margin = max(1.0, 0.1 * (high - low))
    ax.set_ylim(max(0.0, low - 3 * margin), min(100.0, high + margin))
    ax.set_xticks(range(len(groups)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_xlabel("setting")
    ax.set_title("Test accuracy per setting (mean ± std over seeds)", fontsize=10, loc="left", pad=18)
    # above the axes, never over a bar: with many settings every corner of the plot holds one
    ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False)
    return fig


def curves_figure(groups: Sequence[Any], labels: Sequence[str]) -> Any:
    """Held-out error against epochs and against training time, one line per setting (mean over seeds):
    ``groups`` are the settings' runs, ``labels`` the legend's names for them."""
    fig, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(9, 3.8))
    for label, g in zip(labels, groups):
        histories = [r.result.get("history") or [] for r in g.runs if "diverged" not in r.result]
        if not histories or not all(histories):
            continue
        epochs, acc, seconds = _mean_curve(histories, "eval/accuracy")
        if not epochs:  # unsupervised runs: no held-out accuracy to draw
            continue
        err = [100 * (1 - a) for a in acc]
        by_epoch.plot(epochs, err, marker=".", label=label)
        by_time.plot(seconds, err, marker=".", label=label)
    by_epoch.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax, xlabel in ((by_epoch, "epoch"), (by_time, "training time (s, evaluation excluded)")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("held-out error (%)")  # the validation split when the run has one, else test
        ax.grid(alpha=0.3)
    by_epoch.set_title("Held-out error by epoch", fontsize=10)
    by_time.set_title("Held-out error by training time", fontsize=10)
    if by_epoch.lines:
        by_epoch.legend(fontsize=7)
    return fig


# ----------------------------------------------------------------------------- one run


def plot_run(
    run_dir: Path, out: Path | None = None, root: str | None = None, samples: int = 2000
) -> list[Path]:
    """``curves.png``, ``receptive_fields.png`` and ``goodness_hist.png`` for one ``ff train`` run: each
    figure the run has data for (receptive fields need a dense first layer on images; the histograms
    need labels to score, so an unsupervised run has none).

    The network is rebuilt from the checkpoint's config in ``run_dir``; ``root`` overrides ``data.root``
    for the histograms, which score ``samples`` test images with their true label (positive) and one random
    wrong label (negative). The figures go to ``out`` (default: ``run_dir``). A folder that is not one run
    (a sweep, an ``ff compare``, a backprop twin's run) is refused with a line saying what to plot instead.
    """
    from ..training.checkpoint import load_checkpoint
    from .build import build_network, load_data, sample_shape
    from .config import apply_overrides, from_dict
    from .unsupervised import is_unsupervised

    run_dir = Path(run_dir)
    check_run_dir(run_dir)
    out = run_dir if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    cfg = from_dict(ckpt["config"])
    if root is not None:
        cfg = apply_overrides(cfg, [f"data.root={root}"])
    history = ckpt.get("history") or _history_from_results(run_dir)
    splits = load_data(cfg)
    net = build_network(cfg, sample_shape(splits.test), splits.test.num_classes)
    net.load_state_dict(ckpt["model"])
    net.eval()
    paths = []
    if history:
        paths.append(plot_history(history, out / "curves.png"))
    weights = first_layer_weights(net)
    shape = splits.test.image_shape if splits.test.x.dim() == 4 else None  # not text windows, tables
    if weights is not None and shape is not None:
        paths.append(plot_receptive_fields(weights, shape, out / "receptive_fields.png"))
    if not is_unsupervised(cfg):
        paths.append(plot_goodness_histograms(net, splits.test, out / "goodness_hist.png", samples))
    return paths


def check_run_dir(run_dir: Path) -> None:
    """Refuse, in one line, a folder ``run_dir`` that ``ff plot`` cannot draw as one run (no checkpoint),
    naming what to do instead.

    Raises:
        FileNotFoundError: ``run_dir`` holds no ``checkpoint.pt``.
    """
    if (run_dir / "checkpoint.pt").exists():
        return
    if (run_dir / "runs").is_dir():
        hint = f"it is an ff sweep: ff sweep draws its figures ({run_dir / 'accuracy.png'}, curves.png)"
    elif (run_dir / "ff" / "checkpoint.pt").exists():
        hint = f"it is an ff compare: plot its FF run, ff plot {run_dir / 'ff'}"
    elif (run_dir / "results.json").exists():
        hint = "it is a run without a checkpoint (a backprop twin, or a diverged run): nothing to rebuild"
    else:
        hint = "give a run directory written by ff train"
    raise FileNotFoundError(f"no checkpoint at {run_dir / 'checkpoint.pt'}; {hint}")


def _history_from_results(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "results.json"
    return json.loads(path.read_text()).get("history", []) if path.exists() else []


def plot_history(history: list[dict[str, Any]], path: Path) -> Path:
    """Write :func:`history_figure` of the per-epoch rows ``history`` to ``path``; returns the path."""
    return _save(history_figure(history), path)


def history_figure(history: list[dict[str, Any]]) -> Any:
    """Per-epoch held-out accuracy by goodness, by the head and per layer, from the rows ``history``; a run
    with no held-out accuracy (unsupervised) shows each layer's training loss instead."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    x = list(range(1, len(history) + 1))  # epochs in training order (greedy: layer after layer)
    scored = [(i, row) for i, row in zip(x, history) if "eval/accuracy" in row]  # trainer.eval_every
    if scored:

        def curve(key: str, **style: Any) -> None:
            points = [(i, 100 * row[key]) for i, row in scored if key in row]
            if points:
                ax.plot(*zip(*points), **style)

        curve("eval/accuracy", marker=".", label="goodness")
        curve("eval/head_accuracy", marker=".", label="linear head")
        keys = {k for _, row in scored for k in row if k.startswith("eval/layer_accuracy/")}
        layers = sorted(int(k.rsplit("/", 1)[1]) for k in keys)
        for layer in layers:
            curve(f"eval/layer_accuracy/{layer}", linestyle="--", alpha=0.7, label=f"layer {layer} alone")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title("Held-out accuracy after each epoch", fontsize=10)
    else:
        layers = sorted({int(k[5:]) for row in history for k in row if k[:5] == "loss/" and k[5:].isdigit()})
        for i in layers:
            ax.plot(
                x, [row.get(f"loss/{i}", float("nan")) for row in history], marker=".", label=f"layer {i}"
            )
        ax.set_ylabel("training loss (mean over the epoch)")
        ax.set_title("Each layer's FF loss per epoch (no labels to test)", fontsize=10)
    ax.set_xlabel("epoch" if "layer" not in history[0] else "epoch (greedy: all layers' epochs in turn)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7)
    return fig


def first_layer_weights(net: Any) -> torch.Tensor | None:
    """The weight matrix ``[units, inputs]`` of ``net``'s first layer when it is a plain linear map, else
    ``None``."""
    block = getattr(net.layers[0], "block", None)
    weight = getattr(block, "weight", None)
    return weight.detach().cpu() if isinstance(weight, torch.Tensor) and weight.dim() == 2 else None


def plot_receptive_fields(
    weights: torch.Tensor, image_shape: tuple[int, int, int], path: Path, count: int = 64
) -> Path:
    """Write :func:`receptive_field_figure` of the first layer's ``weights`` for images of
    ``image_shape`` ``(C, H, W)``, showing ``count`` units, to ``path``; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return _save(receptive_field_figure(weights, image_shape, count), path, dpi=100)


def receptive_field_figure(weights: torch.Tensor, image_shape: tuple[int, int, int], count: int = 64) -> Any:
    """The incoming image weights (of ``weights`` ``[units, inputs]``, the first ``C * H * W`` inputs of
    ``image_shape``) of the ``count`` units with the largest weight norm (red positive, blue negative, each
    unit on its own symmetric scale, channels averaged), large enough to see strokes, with a colour bar.
    Label inputs are left out."""
    c, h, w = image_shape
    pixels = weights[:, : c * h * w]
    order = pixels.norm(dim=1).argsort(descending=True)[:count]
    side = int(len(order) ** 0.5 + 0.999)
    gap = max(1, h // 8)
    # One mosaic in one axes (not a grid of axes): a small file, and one colour bar for all units.
    mosaic = torch.full((side * (h + gap) - gap, side * (w + gap) - gap), float("nan"))
    for k, unit in enumerate(order.tolist()):
        img = pixels[unit].reshape(c, h, w).mean(0)
        img = img / (float(img.abs().max()) or 1.0)  # each unit on its own symmetric scale
        r, q = divmod(k, side)
        mosaic[r * (h + gap) : r * (h + gap) + h, q * (w + gap) : q * (w + gap) + w] = img
    fig, ax = plt.subplots(figsize=(6.4, 5.8))
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="white")
    image = ax.imshow(mosaic.numpy(), cmap=cmap, vmin=-1.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"First layer: the {len(order)} units with the largest incoming weights", fontsize=10)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("weight / the unit's largest |weight|")
    return fig


@torch.no_grad()
def plot_goodness_histograms(net: Any, data: Any, path: Path, samples: int = 2000, seed: int = 0) -> Path:
    """Write :func:`goodness_figure` of ``net`` on ``data`` (``samples`` images, wrong labels drawn with
    ``seed``) to ``path``; returns the path."""
    return _save(goodness_figure(net, data, samples, seed), path)


@torch.no_grad()
def goodness_figure(net: Any, data: Any, samples: int = 2000, seed: int = 0) -> Any:
    """Per layer of ``net``: histograms of the goodness of the first ``samples`` images of ``data``
    (``.x``, ``.y``) with their true label vs with a random wrong label (drawn from ``seed``)."""
    n = min(samples, len(data.y))
    x, y = data.x[:n], data.y[:n]
    g = net.label_goodness(x)  # [n, classes, layers]
    c = g.shape[1]
    gen = torch.Generator().manual_seed(seed)
    wrong = (y + torch.randint(1, c, y.shape, generator=gen)) % c
    rows = torch.arange(n)
    layers = g.shape[2]
    fig, axes = plt.subplots(1, layers, figsize=(3.2 * layers, 3.2), squeeze=False)
    for i, ax in enumerate(axes[0]):
        pos, neg = g[rows, y, i].numpy(), g[rows, wrong, i].numpy()
        bins = torch.linspace(float(min(pos.min(), neg.min())), float(max(pos.max(), neg.max())), 50).numpy()
        ax.hist(pos, bins=bins, alpha=0.6, label="true label (positive)")
        ax.hist(neg, bins=bins, alpha=0.6, label="wrong label (negative)")
        ax.set_title(f"layer {i}", fontsize=9)
        ax.set_xlabel("goodness")
    axes[0][0].set_ylabel("test images")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"Goodness of {n} test images with their true and a random wrong label", fontsize=10)
    return fig
