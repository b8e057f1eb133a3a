"""The fair comparison: the same architecture trained end to end with backpropagation.

Same hidden sizes, activation, optimiser, learning rate, batch size, epochs and data as the FF run; the
only differences are the ones that define backprop: no label in the input, a softmax output layer, and one
cross-entropy loss whose gradient crosses every layer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..activations import build_activation
from ..training.optimization import build_optimizer, cooldown_factor
from ..training.trainer import NonFiniteLossError
from ..training.update import apply_update


class BackpropMLP(nn.Sequential):
    """``input -> [Linear -> activation] * n -> Linear(classes)``.

    ``between={i: box}`` puts the same black boxes an FF network can have after hidden layer ``i``, so the
    comparison shows what backprop does with them: ``blackbox_mode="autograd"`` (what it really gets: no
    gradient through NumPy, zero through rounding) or ``"ste"`` (straight-through estimator). See
    :mod:`forwardforward.hardware.blackbox`.

    ``dims`` are ``[input_dim, hidden_1, ..., hidden_n]`` as for the FF MLP; ``num_classes`` is the output
    layer's width; ``activation`` a registered name; ``bias`` the hidden layers' biases (the output layer
    always has one).
    """

    def __init__(
        self,
        dims: Sequence[int],
        num_classes: int,
        activation: str = "relu",
        bias: bool = True,
        between: dict[int, Any] | None = None,
        blackbox_mode: str = "autograd",
    ):
        from ..hardware.blackbox import BlackBoxModule

        between = dict(between or {})
        bad = [i for i in between if not 0 <= i < len(dims) - 2]
        if bad:
            raise ValueError(f"between: boxes sit after hidden layers 0..{len(dims) - 3}; got indices {bad}")
        mods: list[nn.Module] = [nn.Flatten()]
        ins = list(dims[:-1])
        for i, b in enumerate(dims[1:]):
            mods += [nn.Linear(ins[i], b, bias=bias), build_activation(activation)]
            if i in between:
                mods.append(BlackBoxModule(between[i], blackbox_mode))
                ins[i + 1] = getattr(between[i], "out_features", None) or ins[i + 1]
        mods.append(nn.Linear(dims[-1], num_classes))
        super().__init__(*mods)


def train_backprop(
    model: nn.Module,
    train: Any,
    epochs: int,
    batch_size: int,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer_kwargs: dict[str, Any] | None = None,
    eval_data: Any = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    cooldown_start: float = 1.0,
    augment: Any = None,
) -> list[dict[str, float]]:
    """Plain supervised training of ``model`` with cross-entropy; returns per-epoch rows (loss, cumulative
    training seconds without the evaluation, eval accuracy).

    ``cooldown_start`` applies the same constant-then-linear learning-rate schedule as the FF Trainer, so
    a comparison differs in the learning rule alone. ``augment(x, generator)`` transforms each training
    batch, drawing from the same seeded generator as the shuffling (as the FF Trainer does).

    Args:
        model: the network to train (moved to ``device``); its output is the class logits.
        train: the training data (``.x``, ``.y``).
        epochs: passes over ``train``.
        batch_size: examples per step.
        optimizer: a ``torch.optim`` name or a registered one (``smoothed_sgd``).
        lr: the peak learning rate.
        weight_decay: the optimiser's weight decay.
        optimizer_kwargs: further optimiser arguments.
        eval_data: data (``.x``, ``.y``) whose accuracy is reported after every epoch, or ``None``.
        seed: seeds the shuffling and the augmentation.
        device: where to train.
        cooldown_start: the fraction of training after which the rate decays linearly to 0.
        augment: the augmentation, or ``None``.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite.
    """
    model = model.to(device)
    opt = build_optimizer(
        [{"params": list(model.parameters())}], optimizer, lr, weight_decay, **(optimizer_kwargs or {})
    )
    gen = torch.Generator().manual_seed(seed)
    history: list[dict[str, float]] = []
    wall = 0.0
    total_steps = epochs * math.ceil(len(train.y) / batch_size)
    step = 0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        total, batches = 0.0, torch.randperm(len(train.y), generator=gen).split(batch_size)
        model.train()
        for idx in batches:
            for g in opt.param_groups:
                g["lr"] = lr * cooldown_factor(step, total_steps, cooldown_start)
            step += 1
            x = train.x[idx].to(device)
            if augment is not None:
                x = augment(x, gen)
            loss = F.cross_entropy(model(x), train.y[idx].to(device))
            if not torch.isfinite(loss):
                raise NonFiniteLossError(f"backprop loss became {loss.item()} at epoch {epoch}; lower the lr")
            apply_update(opt, loss, zero=opt)
            total += loss.item()
        wall += time.perf_counter() - t0
        row = {"epoch": epoch, "loss": total / len(batches), "train_seconds": wall}
        if eval_data is not None:
            row["eval/accuracy"] = accuracy(model, eval_data, device)
        history.append(row)
    return history


@torch.no_grad()
def accuracy(
    model: nn.Module, data: Any, device: str | torch.device = "cpu", batch_size: int = 2000
) -> float:
    """The fraction of ``data`` (``.x``, ``.y``) that ``model`` classifies right by its argmax, computed on
    ``device`` in batches of ``batch_size``; leaves ``model`` in eval mode."""
    model.eval()
    correct = sum(
        int(
            (
                model(data.x[s : s + batch_size].to(device)).argmax(1)
                == data.y[s : s + batch_size].to(device)
            ).sum()
        )
        for s in range(0, len(data.y), batch_size)
    )
    return correct / len(data.y)


def frozen_readout(
    net: Any, train: Any, test: Any, device: str | torch.device = "cpu", **budget: Any
) -> list[dict]:
    """The baseline a trained FF network must beat: ``net``'s layers as they are (e.g. at their random
    initialisation) and only a linear softmax readout trained on top; returns per-epoch rows.

    The readout sees what an FF network's linear head sees: the concatenated normalised activities of its
    head layers for a neutral-label input (:meth:`FFNetwork.features`), computed once since nothing below
    it learns. ``budget`` is :func:`train_backprop`'s (epochs, batch_size, optimizer, lr, ...), so the
    readout has the FF run's optimiser, schedule, epochs and seed. It trains on ``train``, reports accuracy
    on ``test`` every epoch, and runs on ``device``.
    """
    from types import SimpleNamespace

    net = net.to(device).eval()

    @torch.no_grad()
    def features(data: Any) -> Any:
        x = torch.cat([net.features(data.x[s : s + 2048].to(device)) for s in range(0, len(data.y), 2048)])
        return SimpleNamespace(x=x, y=data.y)

    feats_train, feats_test = features(train), features(test)
    torch.manual_seed(budget.get("seed", 0))
    readout = nn.Linear(feats_train.x.shape[1], train.num_classes)
    return train_backprop(readout, feats_train, eval_data=feats_test, device=device, **budget)
