"""Fast all-label prediction that keeps the exact network's answers: screen cheaply, re-score close calls.

A fast scorer (by default the int8 copy from :func:`forwardforward.inference.int8.quantize_int8`) scores
every label. Where its best label leads the runner-up by at least ``margin``, its error cannot have
changed the winner (if every score is off by less than ``margin / 2``) and its answer stands. Where the
lead is smaller, the ``keep`` best labels are re-scored exactly by the float network, and the exact scores
decide. Re-scoring costs ``keep / C`` of a full float pass for those rows only, so the cost is close to
the fast scorer's.

``margin`` is in score units (goodness summed over the scoring layers), which differ between networks:
:meth:`CascadeScorer.calibrate` measures the fast scorer's error on a few inputs (training images, never
the test set) and sets the margin to twice a high quantile of it.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any

import torch

from ..network import FFNetwork
from .int8 import quantize_int8


@contextlib.contextmanager
def _eval_mode(net: torch.nn.Module) -> Iterator[None]:
    """``net`` in eval mode for the block, then back in the mode it was in."""
    was_training = net.training
    net.eval()
    try:
        yield
    finally:
        net.train(was_training)


class CascadeScorer:
    """All-label scores from a fast copy of ``net``, with the close calls re-scored exactly by ``net``.

    ``fast`` defaults to ``quantize_int8(net)``, a snapshot of ``net``'s weights taken here: after training
    ``net`` further, build a new scorer (and calibrate it again). Any module with a ``scores(x)`` method
    returning ``[B, C]`` serves; :class:`~forwardforward.inference.fused.FusedInt8Scorer` is the faster
    and more accurate one for MLPs (its smaller error gives a smaller margin, so fewer rows re-scored).
    ``margin=None`` must be set by :meth:`calibrate` before scoring; ``margin=float("inf")`` re-scores
    every row (only the shortlist then comes from ``fast``). Both networks score in eval mode (BatchNorm
    uses its running statistics); the mode ``net`` was in is restored afterwards. ``keep`` (2..C) is the
    shortlist of the fast scorer's best labels that a close call re-scores exactly.
    """

    def __init__(
        self, net: FFNetwork, fast: torch.nn.Module | None = None, keep: int = 2, margin: float | None = None
    ) -> None:
        c = net.num_classes
        if net.labels is None or c is None or net.one_pass:
            raise ValueError("CascadeScorer needs a supervised network that scores one label per pass")
        if not 2 <= keep <= c:
            raise ValueError(f"keep must be in [2, {c}] (a shortlist to re-score), got {keep}")
        if margin is not None and not margin >= 0:
            raise ValueError(f"margin must be >= 0 (score units), got {margin}")
        self.net = net
        self.fast = quantize_int8(net) if fast is None else fast
        self.keep = keep
        self.margin = margin
        self.rescored = 0  # rows re-scored exactly so far, and rows scored: the cascade's hit rate
        self.seen = 0

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor, quantile: float = 0.999, chunk: int = 1000) -> float:
        """Set ``margin`` to twice the ``quantile`` of ``|fast - exact|`` over every score of ``x`` (every
        finite one: labels a pruning fast scorer dropped score ``-inf`` and are left out).

        Two labels' scores each off by less than ``margin / 2`` cannot swap order when they differ by
        more than ``margin``. Use held-out training images: calibrating on the test set would leak it.
        ``chunk`` is the number of inputs scored per pass. Returns the new margin.
        """
        if not 0 < quantile <= 1:
            raise ValueError(f"quantile must be in (0, 1], got {quantile}")
        if x.shape[0] == 0:
            raise ValueError("calibrate needs at least one input (a few thousand training images are plenty)")
        errors = []
        with _eval_mode(self.net), _eval_mode(self.fast):
            for xb in x.split(chunk):
                fast = self.fast.scores(xb)
                kept = torch.isfinite(fast)  # a pruning fast scorer's -inf labels are never compared
                errors.append((fast - self.net.scores(xb))[kept].abs())
        err = torch.cat(errors).float()
        # torch.quantile refuses very large inputs; the order statistic is the same thing.
        rank = min(err.numel() - 1, max(0, math.ceil(quantile * err.numel()) - 1))
        self.margin = 2 * float(err.sort().values[rank])
        return self.margin

    @torch.no_grad()
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C]`` scores of the raw samples ``x`` whose argmax is the prediction: the fast scores, except
        in re-scored rows, where the shortlisted labels carry their exact scores and the others ``-inf``.

        Raises:
            ValueError: ``margin`` is not set yet.
        """
        if self.margin is None:
            raise ValueError("CascadeScorer.margin is not set: call calibrate(x_train) or pass margin=")
        with _eval_mode(self.net), _eval_mode(self.fast):
            s = self.fast.scores(x)
            top = s.topk(self.keep, dim=1)
            close = (top.values[:, 0] - top.values[:, 1]) < self.margin
            self.seen += x.shape[0]
            rows = close.nonzero().squeeze(1)
            if rows.numel():
                self.rescored += rows.numel()
                exact = self.net.candidate_scores(x[rows], top.indices[rows]).to(s.dtype)
                s[rows] = torch.full_like(s[rows], float("-inf")).scatter(1, top.indices[rows], exact)
        return s

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted class of each sample of ``x``: the argmax of :meth:`scores`."""
        return self.scores(x).argmax(1)


@torch.no_grad()
def evaluate_cascade(
    cascade: CascadeScorer, calibration_x: torch.Tensor, test: Any, batch_size: int = 1000
) -> dict[str, Any]:
    """Test accuracy and time of ``cascade.net``'s float all-label scoring and of the cascade, on the same
    batches.

    ``calibration_x``: inputs the margin is calibrated on (training images). ``test`` has ``.x`` and ``.y``.
    The two take turns batch by batch (``batch_size`` samples each), so load changes on a shared machine
    hit both alike.
    """
    net = cascade.net
    device = next(net.parameters()).device
    t0 = time.perf_counter()
    margin = cascade.calibrate(calibration_x.to(device))
    calibrate_s = time.perf_counter() - t0
    seconds = {"float": 0.0, "cascade": 0.0}
    correct = {"float": 0, "cascade": 0}
    same = 0
    with _eval_mode(net):
        for s in range(0, len(test.y), batch_size):
            xb, yb = test.x[s : s + batch_size].to(device), test.y[s : s + batch_size].to(device)
            preds = {}
            for name, score in (("float", net.scores), ("cascade", cascade.scores)):
                t0 = time.perf_counter()
                preds[name] = score(xb).argmax(1)
                seconds[name] += time.perf_counter() - t0
                correct[name] += int((preds[name] == yb).sum())
            same += int((preds["float"] == preds["cascade"]).sum())
    n = len(test.y)
    return {
        "accuracy": correct["cascade"] / n,
        "float_accuracy": correct["float"] / n,
        "agreement_with_float": same / n,
        "seconds": round(seconds["cascade"], 3),
        "float_seconds": round(seconds["float"], 3),
        "speedup": round(seconds["float"] / max(seconds["cascade"], 1e-9), 2),
        "margin": margin,
        "rescored_fraction": cascade.rescored / max(cascade.seen, 1),
        "calibration_inputs": int(calibration_x.shape[0]),
        "calibrate_seconds": round(calibrate_s, 3),
    }
