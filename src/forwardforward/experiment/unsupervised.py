"""Unsupervised and self-supervised FF: layers learn real images from negative images, with no label.

:class:`UnsupervisedTrainer` is the :class:`~forwardforward.train.Trainer` with one change: a negative is a
different *input* drawn from an :class:`~forwardforward.image_negatives.ImageNegatives` source (hybrid
images, self-contrastive pairs, the user's bad data), not the same input with a wrong label. The optimiser,
learning-rate schedule, schedules (``all`` and ``greedy``), NaN guard, progress bar, callbacks, atomic
checkpoints and resume are the Trainer's own. Labels in the training set are never read: the network has
no label embedding, and the trainer drops ``y`` before anything reaches a layer.

What the layers learned is measured afterwards by a linear probe (:mod:`forwardforward.probe`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from ..negatives.images import ImageNegatives, NegativeSourceError, build_image_negatives
from ..network import FFNetwork
from ..training.trainer import Trainer
from .config import IMAGE_NEGATIVE_SOURCES


class UnsupervisedTrainer(Trainer):
    """Trains an unsupervised :class:`FFNetwork` (no label embedding) on real vs negative images.

    Args:
        net: a network built with ``labels=None`` (``FFNetwork.mlp(..., labels=None, num_classes=None)``).
        negatives: an image negative source, by name (``"hybrid"``, ``"scff"``, ``"user"``) or instance.
        source_kwargs: arguments for a source given by name (e.g. ``{"blur_steps": 8}``,
            ``{"source": bad_images}``).
        kwargs: everything else :class:`Trainer` takes (optimizer, lr, schedule, seed, out_dir...).

    ``eval_data`` given to :meth:`fit` is not used per epoch: an unsupervised network has no prediction of
    its own; probe it afterwards (:func:`forwardforward.probe.probe_network`).
    """

    def __init__(
        self,
        net: FFNetwork,
        negatives: str | ImageNegatives = "hybrid",
        source_kwargs: dict[str, Any] | None = None,
        source_from_data: Callable[[torch.Tensor], dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        if net.labels is not None:
            raise ValueError(
                "unsupervised training needs a network without a label embedding; build it with labels=None "
                "(config: model.labels=none)"
            )
        kwargs.pop("hard_source", None)
        kwargs.pop("hard_warmup_epochs", None)
        super().__init__(net, negatives="random", **kwargs)
        self._source_spec, self._source_from_data = negatives, source_from_data
        # A source that needs the training images (e.g. noise with their pixel statistics) is built by fit().
        self.source: ImageNegatives | None = None
        if source_from_data is None:
            self.source = build_image_negatives(negatives, **(source_kwargs or {}))

    def fit(self, train: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """:meth:`Trainer.fit` on real images ``train.x``; ``train.y`` is never read for learning."""
        if self.source is None:
            assert self._source_from_data is not None
            self.source = build_image_negatives(self._source_spec, **self._source_from_data(train.x))
        return super().fit(train, *args, **kwargs)

    # ------------------------------------------------------------------ the "all" schedule
    def train_step(self, x: torch.Tensor, y: Any = None, layers: Sequence[int] | None = None) -> dict:
        """One optimiser step on a batch of real images ``x``. ``y`` is accepted and ignored: no label
        ever reaches a layer."""
        del y
        if self.autocast is None:
            return self._unsup_step(x, layers)
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            return self._unsup_step(x, layers)

    def _unsup_step(self, x: torch.Tensor, layers: Sequence[int] | None) -> dict:
        self._set_lr()
        assert self.source is not None, "call fit() first, or pass the source itself"
        x_pos, x_neg = self.source(x, self.generator)
        x_pos, x_neg = x_pos.flatten(1), x_neg.flatten(1)
        if self.layerwise_step:
            stats = self._layerwise_step(x_pos, x_neg, None, layers)
            return self._step_row(stats, None, layers)
        losses, stats = self.net.local_losses(x_pos, x_neg, layers)
        self._check_finite(losses, None, layers)
        self.optimizer.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        self._before_step()
        self.optimizer.step()
        return self._step_row(stats, None, layers)

    # ------------------------------------------------------------------ the greedy schedule
    # The Trainer's greedy loop asks for "negative labels" for the whole set, then for the frozen layers'
    # outputs on inputs carrying them. Here the "labels" are the negative images themselves.
    def _greedy_negatives(self, data: Any, k: int, block: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + k * 10_007 + block)
        assert self.source is not None
        return torch.cat(
            [self.source.negatives(data.x[s : s + 2048], gen).cpu() for s in range(0, len(data.x), 2048)]
        )

    @torch.no_grad()
    def _frozen_inputs(self, data: Any, k: int, labels: torch.Tensor) -> torch.Tensor:
        images = labels if labels.is_floating_point() else data.x  # integer "labels": the positives
        out = []
        for s in range(0, len(images), 2048):
            h = images[s : s + 2048].to(self.device).flatten(1)
            for i, layer in enumerate(self.net.layers[:k]):
                h = self.net.hand_over(i, layer(h))
            out.append(h)
        return torch.cat(out)

    def _end_epoch(self, sums: dict[str, float], batches: int, seconds: float, eval_data: Any) -> None:
        super()._end_epoch(sums, batches, seconds, None)


# ---------------------------------------------------------------------- from a config
def is_unsupervised(cfg: DictConfig) -> bool:
    """Whether a config trains without labels (its negatives are images)."""
    return cfg.trainer.negatives in IMAGE_NEGATIVE_SOURCES


class PixelNoise:
    """Gaussian noise with each pixel's mean and standard deviation from the real images: bad data whose
    every pixel looks right alone but whose pixels are independent, so telling it from real images takes
    the correlations between pixels (shapes, edges)."""

    def __init__(self, images: torch.Tensor) -> None:
        self.mean = images.mean(0)
        self.std = images.std(0)

    def __call__(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn((n, *self.mean.shape), generator=generator)
        return self.mean + self.std * noise


def user_source(cfg: DictConfig, like: torch.Tensor) -> Any:
    """The bad data ``unsup.user_source`` names, shaped like the real images ``like`` ``[N, C, H, W]``.

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
        from .. import data as ffdata

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


def source_options(cfg: DictConfig) -> dict[str, Any]:
    """The :class:`UnsupervisedTrainer` arguments that build the negative source ``unsup.*`` describes."""
    name = cfg.trainer.negatives
    if name == "user":  # needs the training images (their shape, their pixel statistics): built by fit()
        label = f"unsup.user_source={cfg.unsup.user_source!r}"
        return {"source_from_data": lambda x: {"source": user_source(cfg, x), "name": label}}
    return {"source_kwargs": {"blur_steps": cfg.unsup.blur_steps} if name == "hybrid" else {}}


def build_unsupervised_trainer(
    cfg: DictConfig, net: FFNetwork, out_dir: str | Path | None = None
) -> UnsupervisedTrainer:
    """The :class:`UnsupervisedTrainer` a config describes (what ``build_trainer`` gives such a config)."""
    from .build import build_trainer

    trainer = build_trainer(cfg, net, out_dir)
    assert isinstance(trainer, UnsupervisedTrainer)
    return trainer


def probe_from_config(
    cfg: DictConfig, net: FFNetwork, splits: Any, layers: Sequence[int] | None = None, raw: bool | None = None
) -> dict[str, Any]:
    """The linear probe (and, with ``probe.raw``, the raw-pixel one) a config describes, as a dict."""
    from ..evaluation.probe import probe_network, probe_pixels

    p = cfg.probe
    chosen = layers if layers is not None else (list(p.layers) if p.layers is not None else None)
    kwargs = {
        "epochs": p.epochs,
        "lr": p.lr,
        "batch_size": p.batch_size,
        "weight_decay": p.weight_decay,
        "seed": cfg.trainer.seed,
        "device": cfg.trainer.device,
    }
    train = labelled_subset(splits.train, p.labels, cfg.trainer.seed)
    probed = probe_network(net, train, splits.test, chosen, **kwargs)
    result: dict[str, Any] = {"probe": probed.as_dict(), "probe_labels": len(train)}
    if p.raw if raw is None else raw:
        result["probe_raw_pixels"] = probe_pixels(train, splits.test, **kwargs).as_dict()
    return result


def labelled_subset(train: Any, labels: int | None, seed: int) -> Any:
    """The ``labels`` training images (a seeded draw) a probe may learn from; all of them for ``None``."""
    if labels is None:
        return train
    if not 0 < labels <= len(train):
        raise ValueError(
            f"probe.labels={labels}: the probe needs between 1 and the {len(train)} training images; "
            "use null for all of them"
        )
    g = torch.Generator().manual_seed(int(seed))
    return train.subset(torch.randperm(len(train), generator=g)[:labels])


def fit_unsupervised(cfg: DictConfig, out: Path | None, resume: bool = False, splits: Any = None) -> dict:
    """Train the unsupervised FF network a config describes, then probe it: what ``ff train`` runs for
    ``trainer.negatives`` in (hybrid, scff, user). With ``out``, writes ``config.yaml`` and
    ``results.json``."""
    import json

    from omegaconf import OmegaConf

    from ..training.checkpoint import write_text_atomic
    from .build import build_network, load_data, resume_checkpoint

    splits = load_data(cfg) if splits is None else splits
    train = splits.train
    # An impossible probe.labels (more than the training images) fails here, not after training.
    labelled_subset(train, cfg.probe.labels, cfg.trainer.seed)
    net = build_network(cfg, train.input_dim, train.num_classes)
    trainer = build_unsupervised_trainer(cfg, net, out)
    ckpt = resume_checkpoint(out, resume)
    t0 = time.perf_counter()
    history = trainer.fit(train, cfg.trainer.epochs, cfg.trainer.batch_size, None, resume=ckpt)
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    probed = probe_from_config(cfg, net, splits)
    result = {
        "dataset": cfg.data.name,
        "negatives": cfg.trainer.negatives,
        "test_accuracy_probe": probed["probe"]["accuracy"],
        **probed,
        "epochs": cfg.trainer.epochs,
        "train_seconds": round(seconds, 2),
        "probe_seconds": round(time.perf_counter() - t1, 2),
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
        write_text_atomic(out / "results.json", json.dumps({**result, "history": history}, indent=2))
    return result


__all__ = [
    "PixelNoise",
    "UnsupervisedTrainer",
    "build_unsupervised_trainer",
    "fit_unsupervised",
    "is_unsupervised",
    "labelled_subset",
    "probe_from_config",
    "source_options",
    "user_source",
]
