"""Draws docs/figures/ff-concept.svg, the figure of docs/concepts.md: how a Forward-Forward network learns
(positive and negative data through the same layers, one local loss per layer, no gradient between layers)
and the two ways it predicts (goodness over every label, or a linear head on one neutral-label pass).

Run it from the repository root after changing it (matplotlib, the ``viz`` extra)::

    python docs/figures/ff_concept.py            # writes docs/figures/ff-concept.svg
    python docs/figures/ff_concept.py out.png    # any format matplotlib writes, e.g. to look at it
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

POS, NEG, LOSS, GREY, INK = "#2e7d32", "#c62828", "#ef6c00", "#eceff1", "#263238"
LAYER, NORM, HEAD = "#e3f2fd", "#fff8e1", "#f3e5f5"


def box(ax, x, y, w, h, text, face, edge=INK, size=9.5, weight="normal", color=INK, lw=1.2):
    ax.add_patch(
        FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12", fc=face, ec=edge, lw=lw)
    )
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, weight=weight, color=color)


def arrow(ax, a, b, color=INK, style="-|>", lw=1.4, ls="-", rad=0.0, mut=12):
    ax.add_patch(
        FancyArrowPatch(a, b, arrowstyle=style, color=color, lw=lw, ls=ls, mutation_scale=mut,
                        connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=0)
    )  # fmt: skip


def training(ax):
    """Panel (a): two streams through shared layers; a local loss under each layer; detach between them."""
    ax.text(0.1, 9.55, "(a) Training: every layer learns alone", fontsize=12, weight="bold", color=INK)
    box(
        ax,
        0.1,
        6.9,
        2.35,
        1.2,
        "positive\nimage + its label\n(x, y = 3)",
        "#e8f5e9",
        POS,
        color=POS,
        size=8.5,
    )
    box(
        ax,
        0.1,
        4.9,
        2.35,
        1.2,
        "negative\nimage + wrong label\n(x, y = 7)",
        "#ffebee",
        NEG,
        color=NEG,
        size=8.5,
    )
    xs = [3.1, 6.5, 9.9]  # the layers' left edges
    for k, x in enumerate(xs):
        box(ax, x, 4.6, 1.7, 3.8, f"layer {k + 1}\n\nh =\nrelu(Wx + b)", LAYER, size=9.5)
        box(ax, x - 0.05, 2.45, 1.8, 1.25, "goodness\ng = mean(h²)\ng⁺ and g⁻", "white", size=9)
        box(ax, x - 0.05, 0.25, 1.8, 1.5, "local loss\ng⁺ up, g⁻ down\n(e.g. SymBa)", "#fff3e0", LOSS, size=9)
        arrow(ax, (x + 0.85, 4.6), (x + 0.85, 3.7))
        arrow(ax, (x + 0.85, 2.45), (x + 0.85, 1.75))
        # the loss's gradient goes back into its own layer only
        arrow(ax, (x + 1.75, 1.0), (x + 1.7, 5.0), color=LOSS, ls="--", rad=0.35, lw=1.3)
    arrow(ax, (2.4, 7.5), (xs[0], 7.5), POS)
    arrow(ax, (2.4, 5.5), (xs[0], 5.5), NEG)
    for left, right in zip(xs, xs[1:]):
        gap = left + 1.7
        box(ax, gap + 0.2, 5.55, 1.3, 1.9, "normalise\n(pass on\ndirection\nonly)", NORM, size=8.5)
        arrow(ax, (gap, 7.5), (gap + 0.2, 7.1), POS)
        arrow(ax, (gap, 5.5), (gap + 0.2, 5.9), NEG)
        arrow(ax, (gap + 1.5, 7.1), (right, 7.5), POS)
        arrow(ax, (gap + 1.5, 5.9), (right, 5.5), NEG)
        ax.plot([gap + 1.6, gap + 1.6], [4.7, 8.6], color=INK, ls=(0, (2, 2)), lw=1.2)
        ax.text(gap + 1.6, 8.75, "detach", fontsize=8.5, ha="center", color=INK, style="italic")
    ax.text(xs[-1] + 1.85, 6.5, "...", fontsize=14, color=INK, va="center")
    ax.text(
        0.1, 3.3, "Both streams pass\nthrough the same\nweights. No gradient\never crosses a\ndashed line.",
        fontsize=9, color=INK, va="center",
    )  # fmt: skip
    arrow(ax, (0.15, 1.3), (0.95, 1.3), color=LOSS, ls="--", lw=1.3)
    ax.text(0.1, 0.75, "a loss's gradient:\nto its own layer only", fontsize=8.5, color=LOSS, va="center")


def prediction(ax):
    """Panel (b): all-label goodness (a bar per label) against the linear head on a neutral-label pass."""
    ax.text(13.3, 9.55, "(b) Prediction: two ways", fontsize=12, weight="bold", color=INK)
    box(ax, 13.3, 7.35, 2.0, 1.2, "image + label c\nfor every c\n(0 ... 9)", GREY, size=9)
    box(ax, 15.8, 7.35, 1.5, 1.2, "the layers", LAYER, size=9)
    arrow(ax, (15.3, 7.95), (15.8, 7.95))
    arrow(ax, (17.3, 7.95), (17.75, 7.95))
    ax.text(17.8, 8.75, "goodness summed over\nthe scoring layers", fontsize=8.5, color=INK)
    heights = [0.25, 0.35, 0.3, 1.15, 0.45, 0.2, 0.3, 0.6, 0.4, 0.3]
    for c, height in enumerate(heights):
        ax.add_patch(
            Rectangle((17.85 + 0.22 * c, 7.2), 0.16, height, fc=POS if c == 3 else "#90a4ae", ec="none")
        )
        ax.text(17.93 + 0.22 * c, 7.0, str(c), fontsize=7, ha="center", va="top", color=INK)
    ax.text(20.15, 7.55, "argmax:\nlabel 3", fontsize=9, color=POS, weight="bold", va="center")
    ax.text(13.3, 6.55, "FF's own answer: one pass per label (batched).", fontsize=8.5, color=INK)

    box(ax, 13.3, 4.25, 2.0, 1.2, "image + neutral\nlabel (1/C in\nevery slot)", GREY, size=9)
    box(ax, 15.8, 4.25, 1.5, 1.2, "the layers", LAYER, size=9)
    box(ax, 17.8, 4.25, 1.6, 1.2, "softmax\nclassifier\n(linear head)", HEAD, size=9)
    arrow(ax, (15.3, 4.85), (15.8, 4.85))
    arrow(ax, (17.3, 4.85), (17.8, 4.85))
    arrow(ax, (19.4, 4.85), (19.95, 4.85))
    ax.text(20.05, 4.85, "class\nscores", fontsize=9, color=INK, va="center")
    ax.text(
        13.3, 3.35, "One pass. The head reads the normalised,\ndetached activities and learns by\n"
        "cross-entropy alongside; no gradient\nreaches the layers.", fontsize=8.5, color=INK, va="center",
    )  # fmt: skip
    ax.text(
        13.3, 1.2, "The library reports both: test accuracy\nby goodness and by the head.",
        fontsize=9, color=INK, va="center", weight="bold",
    )  # fmt: skip


def main(out: Path) -> None:
    plt.rcParams["svg.fonttype"] = "path"  # the same drawing in every browser, no font needed
    fig, ax = plt.subplots(figsize=(12.6, 5.7))
    ax.set_xlim(0, 21.4)
    ax.set_ylim(0, 10)
    ax.axis("off")
    training(ax)
    ax.plot([12.95, 12.95], [0.2, 9.8], color="#b0bec5", lw=1)
    prediction(ax)
    fig.subplots_adjust(0.005, 0.005, 0.995, 0.995)
    fig.savefig(out, dpi=110, metadata={"Date": None} if out.suffix == ".svg" else None)
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("ff-concept.svg"))
