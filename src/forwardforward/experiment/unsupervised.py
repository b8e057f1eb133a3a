"""Unsupervised FF from a config: the user's bad data (``unsup.*``) and the linear probe (``probe.*``).

The training itself is the ordinary Trainer's: a network without a label embedding and negatives that are
other images (:mod:`forwardforward.negatives.images`). What the layers learned is measured afterwards by a
linear probe on their frozen, normalised activities (:mod:`forwardforward.evaluation.probe`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from .. import data as ffdata
from ..evaluation.probe import probe_network, probe_pixels
from ..negatives import NEGATIVES, NegativeSourceError, PixelNoise
from ..network import FFNetwork
from ..training.devices import resolve_device


def is_unsupervised(cfg: DictConfig) -> bool:
    """Whether the config ``cfg`` trains without labels (its negatives are other inputs, not wrong
    labels)."""
    return bool(NEGATIVES.get(cfg.trainer.negatives).label_free)


def user_source(cfg: DictConfig, like: torch.Tensor) -> Any:
    """The bad data ``unsup.user_source`` of the config ``cfg`` names, shaped like the real images
    ``like`` ``[N, C, H, W]``.

    ``noise`` (:class:`PixelNoise`); a dataset name (its training images, from ``unsup.user_root``); or a
    ``.pt`` / ``.npy`` file holding an ``[N, ...]`` array. ``unsup.user_resize`` resizes images to the data's
    height and width; with ``data.center`` they are centred the same way, with their own statistics.
    """
    u = cfg.unsup
    name = u.user_source
    if name == "noise":
        return PixelNoise(like)
    path = Path(name)
    if path.suffix in (".pt", ".npy"):
        if not path.is_file():
            raise FileNotFoundError(f"unsup.user_source: no file {path}")
        arr = np.load(path) if path.suffix == ".npy" else torch.load(path, weights_only=True)
        images = torch.as_tensor(arr).float()
        if images.dim() == 3:
            images = images.unsqueeze(1)
    else:
        try:
            images = ffdata.load(name, root=u.user_root, download=cfg.data.download).train.x
        except (KeyError, ValueError) as err:  # an unknown name, or a dataset's files not found
            msg = err.args[0] if isinstance(err, KeyError) and err.args else err
            raise NegativeSourceError(
                f"unsup.user_source={name!r} is not 'noise', a .pt/.npy file or a usable dataset: {msg}"
            ) from None
    if u.user_resize and images.dim() == 4 and images.shape[2:] != like.shape[2:]:
        images = F.interpolate(images, size=tuple(like.shape[2:]), mode="bilinear", align_corners=False)
    if images.dim() == 4 and images.shape[1] != like.shape[1] and images.shape[1] == 1:
        images = images.expand(-1, like.shape[1], -1, -1)
    if cfg.data.center:
        images = (images - images.mean(0, keepdim=True)) / images.std().clamp_min(1e-6)
    if images[0].numel() != like[0].numel():
        raise NegativeSourceError(
            f"unsup.user_source={name!r} has images of shape {tuple(images.shape[1:])}, the data "
            f"{tuple(like.shape[1:])}; set unsup.user_resize=true to resize them"
        )
    return images


def probe_from_config(
    cfg: DictConfig, net: FFNetwork, splits: Any, layers: Sequence[int] | None = None, raw: bool | None = None
) -> dict[str, Any]:
    """The linear probe (and, with ``probe.raw``, the raw-pixel one) the config ``cfg`` describes, of
    ``net``'s frozen features, trained on ``splits.train`` (or its ``probe.labels`` subset) and tested on
    ``splits.test``, as a dict. ``layers`` and ``raw`` override ``probe.layers`` and ``probe.raw``."""
    p = cfg.probe
    chosen = layers if layers is not None else (list(p.layers) if p.layers is not None else None)
    kwargs = {
        "epochs": p.epochs,
        "lr": p.lr,
        "batch_size": p.batch_size,
        "weight_decay": p.weight_decay,
        "seed": cfg.trainer.seed,
        "device": resolve_device(cfg.trainer.device),
    }
    train = labelled_subset(splits.train, p.labels, cfg.trainer.seed)
    probed = probe_network(net, train, splits.test, chosen, **kwargs)
    result: dict[str, Any] = {"probe": probed.as_dict(), "probe_labels": len(train)}
    if p.raw if raw is None else raw:
        result["probe_raw_pixels"] = probe_pixels(train, splits.test, **kwargs).as_dict()
    return result


def labelled_subset(train: Any, labels: int | None, seed: int) -> Any:
    """The ``labels`` images of ``train`` (a draw seeded by ``seed``) a probe may learn from; all of them
    for ``None``.

    Raises:
        ValueError: ``labels`` is not between 1 and the number of training images.
    """
    if labels is None:
        return train
    if not 0 < labels <= len(train):
        raise ValueError(
            f"probe.labels={labels}: the probe needs between 1 and the {len(train)} training images; "
            "use null for all of them"
        )
    g = torch.Generator().manual_seed(int(seed))
    return train.subset(torch.randperm(len(train), generator=g)[:labels])


__all__ = ["is_unsupervised", "labelled_subset", "probe_from_config", "user_source"]
