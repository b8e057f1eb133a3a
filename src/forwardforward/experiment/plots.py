"""Figures for sweeps and single runs (matplotlib, the optional ``viz`` extra).

* :func:`plot_sweep`: accuracy per setting (mean ± std over seeds) and learning curves (held-out error against
  epochs and against training wall time), as in the poster's "backpropagation vs Forward-Forward" panel.
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

try:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed on servers and CI
    import matplotlib.pyplot as plt
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("plots need matplotlib: pip install 'forwardforward[viz]'") from err

if TYPE_CHECKING:
    from .results import FinishedRun


def _mean_curve(histories: Sequence[list[dict[str, Any]]], key: str) -> tuple[list[float], list[float]]:
    """Mean of ``key`` and of cumulative wall time per epoch, over the seeds that reached that epoch."""
    length = min(len(h) for h in histories)
    values = [statistics.fmean(h[i][key] for h in histories) for i in range(length)]
    walls = [statistics.fmean(_train_seconds(h[i]) for h in histories) for i in range(length)]
    return values, walls


def _train_seconds(row: dict[str, Any]) -> float:
    """Cumulative training seconds of a history row (``wall`` in runs written before the rename)."""
    return row["train_seconds"] if "train_seconds" in row else row["wall"]


def _head_accuracy(result: dict[str, Any]) -> float | None:
    return result.get("test_accuracy_head")


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_sweep(runs: Sequence[FinishedRun], out: Path) -> list[Path]:
    """``accuracy.png`` and ``curves.png`` in ``out``; returns the paths written."""
    from .results import group_runs, primary_accuracy

    keys, groups = group_runs(runs)
    labels = [g.label(keys) for g in groups]
    paths = []

    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(groups) + 2), 3.6))
    xs = range(len(groups))
    series = [("FF goodness / backprop", primary_accuracy), ("FF linear head", _head_accuracy)]
    for offset, (name, get) in enumerate(series):
        means, stds, pos = [], [], []
        for i, g in enumerate(groups):
            vals = [100 * v for v in (get(r.result) for r in g.runs) if v is not None]
            if vals:
                means.append(statistics.fmean(vals))
                stds.append(statistics.stdev(vals) if len(vals) > 1 else 0.0)
                pos.append(i + (offset - 0.5) * 0.35)
        ax.bar(pos, means, width=0.35, yerr=stds, capsize=3, label=name)
    finite = [100 * a for a in (primary_accuracy(r.result) for r in runs) if a is not None] or [0.0, 100.0]
    ax.set_ylim(max(0.0, min(finite) - 10), min(100.0, max(finite) + 3))
    ax.set_xticks(list(xs), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    paths.append(_save(fig, out / "accuracy.png"))

    fig, (by_epoch, by_wall) = plt.subplots(1, 2, figsize=(9, 3.6))
    for label, g in zip(labels, groups):
        histories = [r.result.get("history") or [] for r in g.runs if "diverged" not in r.result]
        if not histories or not all(histories) or "eval/accuracy" not in histories[0][0]:
            continue
        acc, wall = _mean_curve(histories, "eval/accuracy")
        err = [100 * (1 - a) for a in acc]
        by_epoch.plot(range(1, len(err) + 1), err, marker=".", label=label)
        by_wall.plot(wall, err, marker=".", label=label)
    for ax, xlabel in ((by_epoch, "epoch"), (by_wall, "training wall time (s)")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("held-out error (%)")  # the validation split when the run has one, else test
        ax.grid(alpha=0.3)
    by_epoch.legend(fontsize=7)
    paths.append(_save(fig, out / "curves.png"))
    return paths


# ----------------------------------------------------------------------------- one run


def plot_run(
    run_dir: Path, out: Path | None = None, root: str | None = None, samples: int = 2000
) -> list[Path]:
    """``curves.png``, ``receptive_fields.png`` and ``goodness_hist.png`` for one ``ff train`` run.

    The network is rebuilt from the checkpoint's config; ``root`` overrides ``data.root`` for the
    histograms, which score ``samples`` test images with their true label (positive) and one random wrong
    label (negative).
    """
    from ..training.checkpoint import load_checkpoint
    from .build import build_network, load_data, sample_shape
    from .config import apply_overrides, from_dict

    run_dir = Path(run_dir)
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
    if weights is not None:
        paths.append(plot_receptive_fields(weights, splits.test.image_shape, out / "receptive_fields.png"))
    paths.append(plot_goodness_histograms(net, splits.test, out / "goodness_hist.png", samples))
    return paths


def _history_from_results(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "results.json"
    return json.loads(path.read_text()).get("history", []) if path.exists() else []


def plot_history(history: list[dict[str, Any]], path: Path) -> Path:
    """Per-epoch test (or validation) accuracy, by goodness, by the head and per layer."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    epochs = [row["epoch"] for row in history]
    for key, label in (("eval/accuracy", "goodness"), ("eval/head_accuracy", "linear head")):
        if key in history[0]:
            ax.plot(epochs, [100 * row[key] for row in history], marker=".", label=label)
    layer = 0
    while f"eval/layer_accuracy/{layer}" in history[0]:
        ax.plot(
            epochs,
            [100 * row[f"eval/layer_accuracy/{layer}"] for row in history],
            linestyle="--",
            alpha=0.7,
            label=f"layer {layer} alone",
        )
        layer += 1
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def first_layer_weights(net: Any) -> torch.Tensor | None:
    """The first layer's weight matrix ``[units, inputs]`` when it is a plain linear map, else ``None``."""
    block = getattr(net.layers[0], "block", None)
    weight = getattr(block, "weight", None)
    return weight.detach().cpu() if isinstance(weight, torch.Tensor) and weight.dim() == 2 else None


def plot_receptive_fields(
    weights: torch.Tensor, image_shape: tuple[int, int, int], path: Path, count: int = 64
) -> Path:
    """The incoming image weights of the ``count`` units with the largest weight norm, as a grid of images
    (red positive, blue negative, each unit on its own symmetric scale). Label inputs are left out."""
    c, h, w = image_shape
    pixels = weights[:, : c * h * w]
    order = pixels.norm(dim=1).argsort(descending=True)[:count]
    side = int(len(order) ** 0.5 + 0.999)
    gap, zoom = 2, 2
    # One mosaic at the images' own resolution, saved pixel for pixel (nearest-neighbour zoom): a few tens of
    # kB instead of the half megabyte of a grid of matplotlib axes.
    mosaic = torch.full((side * (h + gap) - gap, side * (w + gap) - gap), float("nan"))
    for k, unit in enumerate(order.tolist()):
        img = pixels[unit].reshape(c, h, w).mean(0)
        img = img / (float(img.abs().max()) or 1.0)  # each unit on its own symmetric scale
        r, q = divmod(k, side)
        mosaic[r * (h + gap) : r * (h + gap) + h, q * (w + gap) : q * (w + gap) + w] = img
    big = mosaic.repeat_interleave(zoom, 0).repeat_interleave(zoom, 1).numpy()
    levels = 64  # a 64-colour palette image: small enough to commit beside the docs
    cmap = plt.get_cmap("RdBu_r", levels).with_extremes(bad="white")
    rgb = (cmap((big + 1.0) / 2.0)[..., :3] * 255).round().astype("uint8")
    from PIL import Image  # matplotlib's own dependency

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).quantize(levels + 1).save(path, optimize=True)
    return path


@torch.no_grad()
def plot_goodness_histograms(net: Any, data: Any, path: Path, samples: int = 2000, seed: int = 0) -> Path:
    """Per layer: goodness of test images with their true label vs with a random wrong label."""
    n = min(samples, len(data.y))
    x, y = data.x[:n], data.y[:n]
    g = net.label_goodness(x)  # [n, classes, layers]
    c = g.shape[1]
    gen = torch.Generator().manual_seed(seed)
    wrong = (y + torch.randint(1, c, y.shape, generator=gen)) % c
    rows = torch.arange(n)
    layers = g.shape[2]
    fig, axes = plt.subplots(1, layers, figsize=(3.2 * layers, 3.0), squeeze=False)
    for i, ax in enumerate(axes[0]):
        pos, neg = g[rows, y, i].numpy(), g[rows, wrong, i].numpy()
        bins = torch.linspace(float(min(pos.min(), neg.min())), float(max(pos.max(), neg.max())), 50).numpy()
        ax.hist(pos, bins=bins, alpha=0.6, label="true label (positive)")
        ax.hist(neg, bins=bins, alpha=0.6, label="wrong label (negative)")
        ax.set_title(f"layer {i}", fontsize=9)
        ax.set_xlabel("goodness")
    axes[0][0].legend(fontsize=7)
    return _save(fig, path)
