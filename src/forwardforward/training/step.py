"""The one training step: the head's loss, the batch's positive and negative inputs, every layer's local
loss, and one update (:meth:`~forwardforward.training.trainer.Trainer.update`). Every schedule's batch
goes through :func:`step` (the greedy schedule's through its own layer-only update, the sleep phase's
through :func:`~forwardforward.training.schedules.wake_sleep`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F


def step(trainer: Any, x: torch.Tensor, y: torch.Tensor | None, layers: Sequence[int] | None) -> dict:
    """One optimiser step of ``trainer`` on a batch of raw samples ``x`` with true labels ``y`` (every
    process is given the whole batch and computes its own rows of it), training the ``layers`` (``None``:
    all); returns the step's statistics (:func:`step_row`)."""
    net, local = trainer.net, trainer.strategy.local
    trainer.set_lr()
    head_loss, scores, capture = head_term(trainer, local(x), None if y is None else local(y))
    x_pos, x_neg, y_true = inputs(trainer, x, y, scores)
    x_pos, x_neg = local(x_pos), local(x_neg)
    y_true = None if y_true is None else local(y_true)
    trainer.local_rows = len(x_pos)
    if trainer.layerwise_step:
        return step_row(
            trainer, layerwise(trainer, x_pos, x_neg, head_loss, layers, y_true), head_loss, layers
        )
    losses, stats = net.local_losses(x_pos, x_neg, layers, y=y_true, capture=capture)
    if capture is not None:
        head_loss = captured_head_loss(trainer, capture, local(x), local(y))  # type: ignore[arg-type]
    trainer.check_finite(losses, head_loss, layers)
    total = torch.stack(losses).sum()
    trainer.update(total if head_loss is None else total + head_loss)
    return step_row(trainer, stats, head_loss, layers)


def head_term(
    trainer: Any, x: torch.Tensor, y: torch.Tensor | None
) -> tuple[torch.Tensor | None, torch.Tensor | None, dict[int, torch.Tensor] | None]:
    """The linear head's loss on a neutral-label pass of ``trainer``'s network over this process's samples
    ``x`` and labels ``y``, and its logits as class scores for hard negatives. With no label in the input
    (channel-wise competition) the head's features are the positives' activities: a ``capture`` dict
    asks the local-loss pass for them instead. All ``None`` without a head or labels."""
    net = trainer.net
    if net.head is None or y is None:
        return None, None, None
    if net.labels is None and not net.needs_negatives and not trainer.layerwise_step:
        return None, None, dict.fromkeys(net.head_layers, torch.empty(0))
    with torch.no_grad():
        feats = net.features(x)
    logits = net.head(feats)
    scores = trainer.strategy.gather(logits.detach()) if trainer.hard_source == "head" else None
    return F.cross_entropy(logits, y), scores, None


def captured_head_loss(
    trainer: Any, capture: dict[int, torch.Tensor], x: torch.Tensor, y: torch.Tensor
) -> Any:
    """The head's cross-entropy on labels ``y`` from the features ``capture`` collected during the
    local-loss pass, or, when a head layer was not computed (a closed staggered window), from a fresh
    :meth:`~forwardforward.network.FFNetwork.features` pass of ``trainer``'s network over ``x``."""
    net = trainer.net
    assert net.head is not None
    if any(v.numel() == 0 for v in capture.values()):  # a staggered window left a head layer out
        with torch.no_grad():
            feats = net.features(x)
    else:
        feats = torch.cat([capture[i] for i in net.head_layers], 1)
    return F.cross_entropy(net.head(feats), y)


def inputs(
    trainer: Any, x: torch.Tensor, y: torch.Tensor | None, scores: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The whole batch's positive and negative inputs for ``trainer``'s network, from raw samples ``x``
    and true labels ``y``, and the labels channel-wise competition's losses read instead of negatives.
    ``scores`` are the head's class scores when already computed (else all-label goodness is computed
    if the negatives need scores)."""
    net = trainer.net
    if not net.needs_negatives:
        x_pos = net.embed(x, y)
        return x_pos, x_pos[:0], y

    def class_scores() -> torch.Tensor:
        if scores is not None:
            return scores
        return trainer.strategy.gather(net.scores(trainer.strategy.local(x)))

    x_pos, x_neg = trainer.negatives_now().pair(net, x, y, class_scores, trainer.generator)
    return x_pos, x_neg, None


def layerwise(
    trainer: Any,
    x_pos: torch.Tensor,
    x_neg: torch.Tensor,
    head_loss: torch.Tensor | None,
    layers: Sequence[int] | None,
    y: torch.Tensor | None,
) -> list[Any]:
    """The head (its ``head_loss``, if any), then each of the ``layers`` (``None``: all) on the embedded
    ``x_pos`` and ``x_neg`` (and labels ``y`` for channel-wise competition): back-propagated and stepped
    by ``trainer`` before the next layer's forward, so at most one layer's activations are alive.
    ``torch.optim`` skips parameters whose ``.grad`` is None. Returns the layers' statistics."""
    trainer.net.zero_grad(set_to_none=True)
    if head_loss is not None:
        trainer.check_finite([], head_loss, [])
        trainer.update(head_loss, module=trainer.net.head)
    stats = []
    for i, loss, st in trainer.net.iter_local_losses(x_pos, x_neg, layers, y=y):
        trainer.check_finite([loss], None, [i])
        trainer.update(loss, module=trainer.net.layers[i])
        stats.append(st)
    return stats


def step_row(
    trainer: Any, stats: Sequence[Any], head_loss: torch.Tensor | None, layers: Sequence[int] | None
) -> dict:
    """A step's statistics by name (``loss/i``, ``sep/i``, ``g_pos/i``, ``g_neg/i``, ``loss/head``) from
    the layers' ``stats`` (of ``layers``; ``None``: all) and the ``head_loss``; counts the step in
    ``trainer``."""
    trainer.step_count += 1
    row: dict[str, float] = {}
    for i, st in zip(layers if layers is not None else range(len(trainer.net.layers)), stats):
        row.update({f"loss/{i}": st.loss, f"sep/{i}": st.separation, f"g_pos/{i}": st.g_pos})
        row[f"g_neg/{i}"] = st.g_neg
    if head_loss is not None:
        row["loss/head"] = float(head_loss.detach())
    return row


__all__ = ["step", "step_row"]
