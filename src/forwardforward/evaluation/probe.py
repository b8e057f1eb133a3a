"""Linear probe: how much a frozen network's activities say about the labels it never saw.

The standard measure of an unsupervised representation (Hinton 2022, section 3.1: a softmax classifier on the
normalised activities of the last three hidden layers). The probe is a multinomial logistic regression
trained with Adam on mini-batches of *frozen* features; the network is never touched. Features are
standardised with the training set's mean and standard deviation first: a linear map the classifier
could learn itself (so it changes nothing it can express) that makes the optimiser's job the same for
every layer and for raw pixels, so the raw-pixel baseline is measured exactly the same way.

Works for any :class:`~forwardforward.network.FFNetwork`, supervised (features of a neutral-label input)
or unsupervised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..network import FFNetwork
from ..training.update import apply_update


@dataclass
class ProbeResult:
    """A probe's outcome: test and train accuracy, what it was trained on, and how long it took.

    Attributes:
        accuracy: the test accuracy.
        train_accuracy: the accuracy on the probe's own training set.
        features: what the probe read (``"layers [1, 2]"``, ``"raw pixels"``).
        feature_dim: the number of features.
        epochs: the probe's training epochs.
        seconds: the wall time of fitting and scoring (features extracted before are not counted).
    """

    accuracy: float
    train_accuracy: float
    features: str
    feature_dim: int
    epochs: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for JSON)."""
        return asdict(self)


def default_probe_layers(num_layers: int) -> list[int]:
    """Hinton's choice for a network of ``num_layers`` layers: the last three, or all of them when there
    are fewer."""
    return list(range(max(0, num_layers - 3), num_layers))


@torch.no_grad()
def extract(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    batch_size: int = 2048,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``fn`` applied to ``x`` in chunks of ``batch_size`` (each moved to ``device`` first, when given),
    results gathered on the CPU as float32."""
    out = []
    for s in range(0, x.shape[0], batch_size):
        xb = x[s : s + batch_size]
        out.append(fn(xb.to(device) if device is not None else xb).float().cpu())
    return torch.cat(out)


@torch.no_grad()
def network_features(
    net: FFNetwork, x: torch.Tensor, layers: Sequence[int] | None = None, batch_size: int = 2048
) -> torch.Tensor:
    """The frozen, normalised activities of ``net``'s ``layers`` (default: :func:`default_probe_layers`)
    for the raw samples ``x``, in chunks of ``batch_size``; ``net``'s train/eval mode is restored."""
    chosen = default_probe_layers(len(net.layers)) if layers is None else list(layers)
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    try:
        return extract(lambda xb: net.features(xb, chosen), x, batch_size, device)
    finally:
        net.train(was_training)


def fit_linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int | None = None,
    epochs: int = 20,
    lr: float = 1e-3,
    batch_size: int = 256,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: torch.device | str = "cpu",
    features: str = "features",
) -> ProbeResult:
    """Train a softmax classifier on ``train_x`` (``[N, D]``, frozen) and report its test accuracy.

    Seeded: initialisation and shuffling come from ``seed``, so the same inputs give the same result.
    Features are standardised with the training set's mean and standard deviation first.

    Args:
        train_x: the training features ``[N, D]``.
        train_y: their labels ``[N]``.
        test_x: the test features ``[M, D]``.
        test_y: their labels ``[M]``.
        num_classes: the classifier's outputs; default ``max(train_y) + 1``.
        epochs: passes over the training features.
        lr: Adam's learning rate.
        batch_size: examples per step.
        weight_decay: Adam's weight decay.
        seed: seeds initialisation and shuffling.
        device: where the probe trains.
        features: a description of the features, kept in the result.

    Raises:
        ValueError: the shapes do not match, or the settings are out of range.
        FloatingPointError: the loss became non-finite.
    """
    if train_x.dim() != 2 or test_x.dim() != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(
            f"probe features must be [N, D] with the same D for train and test; got {tuple(train_x.shape)} "
            f"and {tuple(test_x.shape)}"
        )
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ValueError("probe features and labels must have one row per sample")
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(
            f"probe needs epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}"
        )
    t0 = time.perf_counter()
    c = int(num_classes if num_classes is not None else int(train_y.max()) + 1)
    mean = train_x.mean(0)
    std = train_x.std(0).clamp_min(1e-6)  # a constant feature stays 0 instead of dividing by 0
    xtr = ((train_x - mean) / std).to(device)
    xte = ((test_x - mean) / std).to(device)
    ytr, yte = train_y.to(device), test_y.to(device)
    gen = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(xtr.shape[1], c).to(device)
    with torch.no_grad():  # seeded initialisation that does not touch the global RNG
        bound = 1.0 / xtr.shape[1] ** 0.5
        head.weight.copy_((torch.rand(head.weight.shape, generator=gen) * 2 - 1) * bound)
        head.bias.zero_()
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    with torch.enable_grad():  # the probe trains even when called under no_grad
        _train_head(head, opt, xtr, ytr, epochs, batch_size, gen, device)
    with torch.no_grad():
        acc = float((head(xte).argmax(1) == yte).float().mean())
        train_acc = float((head(xtr).argmax(1) == ytr).float().mean())
    return ProbeResult(acc, train_acc, features, int(xtr.shape[1]), epochs, time.perf_counter() - t0)


def _train_head(
    head: torch.nn.Linear,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    batch_size: int,
    gen: torch.Generator,
    device: torch.device | str,
) -> None:
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=gen).split(batch_size):
            idx = idx.to(device)
            loss = F.cross_entropy(head(x[idx]), y[idx])
            if not torch.isfinite(loss):
                raise FloatingPointError("the probe's loss became non-finite; lower probe.lr")
            apply_update(opt, loss, zero=opt)


def probe_network(
    net: FFNetwork,
    train: Any,
    test: Any,
    layers: Sequence[int] | None = None,
    **probe_kwargs: Any,
) -> ProbeResult:
    """The linear probe on ``net``'s frozen features of ``layers``; ``train``/``test`` have ``.x``, ``.y``."""
    chosen = default_probe_layers(len(net.layers)) if layers is None else net._check_indices(layers, "layers")
    ftr = network_features(net, train.x, chosen)
    fte = network_features(net, test.x, chosen)
    probe_kwargs.setdefault("num_classes", getattr(train, "num_classes", None))
    probe_kwargs.setdefault("features", f"layers {chosen}")
    return fit_linear_probe(ftr, train.y, fte, test.y, **probe_kwargs)


def probe_pixels(train: Any, test: Any, **probe_kwargs: Any) -> ProbeResult:
    """The same probe on the raw pixels of ``train`` and ``test`` (``.x``, ``.y``): the baseline a
    representation must beat to add information. ``probe_kwargs`` go to :func:`fit_linear_probe`."""
    probe_kwargs.setdefault("num_classes", getattr(train, "num_classes", None))
    probe_kwargs.setdefault("features", "raw pixels")
    return fit_linear_probe(
        train.x.flatten(1).float(), train.y, test.x.flatten(1).float(), test.y, **probe_kwargs
    )


__all__ = [
    "ProbeResult",
    "default_probe_layers",
    "extract",
    "fit_linear_probe",
    "network_features",
    "probe_network",
    "probe_pixels",
]
