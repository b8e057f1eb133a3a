"""Negative *images* for unsupervised FF: where bad data comes from when no label enters the network.

Supervised FF makes a negative by pairing a real image with a wrong label
(:mod:`forwardforward.negatives.labels`). Without labels, a negative must be a different *input*. A source
here maps a batch of real images to a batch of positive and a batch of negative inputs of the same shape; the
Trainer feeds them to the layers through the same :class:`~.base.Negatives` interface as wrong labels, and
never looks at a label.

Registered sources (in ``NEGATIVES``, beside the label samplers):

- ``hybrid``: Hinton's hybrid images. A random bit image is blurred repeatedly with ``[1/4, 1/2, 1/4]`` in
  both directions and thresholded at 0.5, giving a mask of large blobs; the negative is
  ``mask * x1 + (1 - mask) * x2`` for two different images. Short-range statistics stay those of real
  images, long-range shape is wrong, so a layer must learn long-range correlations to tell them apart.
- ``scff``: self-contrastive pairs (Chen et al., arXiv 2409.11593). A positive is an image paired with
  itself, a negative an image paired with a different one. With ``pairs="mean"`` (ours) the pair enters as
  its *mean*: the method's concatenation ``[x_a, x_b]`` fed to a layer whose two weight halves are tied
  (``W/2`` each), so the positive is the image itself and the network needs no special input at test
  time. With ``pairs="concat"`` (the method as described) the two images enter side by side, each half of
  the first layer with its own weights; the network is built for twice the input
  (``FFNetwork(pair_inputs=D)``) and pairs a single image with itself at test time.
- ``user``: any bad data the user has: a tensor or dataset (sampled with replacement, never runs out), a
  callable ``(n, generator) -> images`` (e.g. a generator network), or an iterable of batches (consumed in
  order; running out is an error that says how to fix it).

Every source takes a ``torch.Generator``, so a seeded run draws the same negatives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

from .base import NEGATIVES, Negatives, Scores


class NegativeSourceError(ValueError):
    """A negative source that cannot deliver: ran out, or gave data of the wrong shape or type."""


class ImageNegatives(Negatives):
    """Base class: ``positives(x)`` and ``negatives(x)`` for a batch of real images ``x`` ``[B, ...]``.

    Sources hold no learnable parameters; they are modules so they print and compose like the other pieces.
    """

    label_free = True

    def pair(
        self,
        net: Any,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        scores: Scores | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``net``'s inputs for real images ``x`` and for the negative images drawn for them with
        ``generator``; the labels ``y`` and the ``scores`` are never read."""
        positives, negatives = self(x, generator)
        return net.embed(positives), net.embed(negatives)

    def draw_all(
        self,
        net: Any,
        x: torch.Tensor,
        y: torch.Tensor | None,
        scores: Scores | None,
        generator: torch.Generator,
        first_layer: bool = False,
    ) -> torch.Tensor:
        """Negative images for every image of ``x``, drawn chunk by chunk with ``generator`` and kept on
        the CPU. ``net``, ``y``, ``scores`` and ``first_layer`` are not needed for images."""
        return torch.cat([self.negatives(x[s : s + 2048], generator).cpu() for s in range(0, len(x), 2048)])

    def embed_all(self, net: Any, x: torch.Tensor, y: Any, drawn: torch.Tensor | None) -> torch.Tensor:
        return net.embed(x if drawn is None else drawn)

    def positives(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The positive inputs for real images ``x``: the images themselves unless a source says otherwise
        (drawing, if it must, from ``generator``)."""
        return x

    def negatives(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:  # pragma: no cover - abstract
        """Negative inputs, one per image in ``x``, with the shape of ``x``, drawn from ``generator``."""
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(positives, negatives)`` for the batch ``x``, drawn from ``generator``."""
        return self.positives(x, generator), self.negatives(x, generator)


def partner_shift(n: int, generator: torch.Generator | None = None) -> int:
    """A random offset ``k`` in ``1..n-1`` (for a batch of ``n``, drawn from ``generator``):
    ``x.roll(k, 0)`` pairs every image with a *different* one.

    A roll by a nonzero offset is a permutation without fixed points, which a random permutation is not.
    """
    if n < 2:
        raise NegativeSourceError(
            f"pairing two different images needs a batch of at least 2, got {n}; use a larger batch_size "
            f"(a last batch of 1 happens when the set size is 1 more than a multiple of batch_size)"
        )
    return int(torch.randint(1, n, (1,), generator=generator))


def _blur_kernels(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    k = torch.tensor([0.25, 0.5, 0.25], device=device, dtype=dtype)
    return k.view(1, 1, 1, 3), k.view(1, 1, 3, 1)


def hybrid_masks(
    n: int,
    height: int,
    width: int,
    blur_steps: int = 6,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``n`` binary masks ``[n, 1, height, width]`` of large blobs (Hinton's hybrid-image masks).

    Start from random bits, blur ``blur_steps`` times with ``[1/4, 1/2, 1/4]`` horizontally and vertically
    (edges replicated, so the border is not biased towards 0), threshold at 0.5. More steps, larger blobs.
    The bits are drawn on the CPU from ``generator`` so the masks are the same on every device; the masks
    are then on ``device`` in ``dtype``.
    """
    if blur_steps < 0:
        raise ValueError(f"blur_steps must be >= 0, got {blur_steps}")
    bits = torch.randint(0, 2, (n, 1, height, width), generator=generator).to(device=device, dtype=dtype)
    horizontal, vertical = _blur_kernels(bits.device, dtype)
    m = bits
    for _ in range(blur_steps):
        m = F.conv2d(F.pad(m, (1, 1, 0, 0), mode="replicate"), horizontal)
        m = F.conv2d(F.pad(m, (0, 0, 1, 1), mode="replicate"), vertical)
    return (m > 0.5).to(dtype)


def _as_images(x: torch.Tensor, what: str) -> torch.Tensor:
    if x.dim() != 4:
        raise NegativeSourceError(
            f"{what} needs images [batch, channels, height, width], got shape {tuple(x.shape)}; "
            f"keep the dataset's image shape (ArrayDataset.x is [N, C, H, W])"
        )
    return x


@NEGATIVES.register("hybrid")
class HybridNegatives(ImageNegatives):
    """``mask * x1 + (1 - mask) * x2``: two different images joined along blob-shaped regions (Hinton).

    One mask per negative, shared by all channels. ``x2`` is ``x1``'s batch rolled by a random nonzero
    offset, so no image is mixed with itself. ``blur_steps`` sets the blob size (see :func:`hybrid_masks`).
    """

    def __init__(self, blur_steps: int = 6) -> None:
        super().__init__()
        if blur_steps < 0:
            raise ValueError(f"hybrid blur_steps must be >= 0, got {blur_steps}")
        self.blur_steps = int(blur_steps)

    def negatives(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = _as_images(x, "hybrid negatives")
        b, _, h, w = x.shape
        other = x.roll(partner_shift(b, generator), 0)
        mask = hybrid_masks(b, h, w, self.blur_steps, generator, x.device, x.dtype)
        return mask * x + (1 - mask) * other

    def extra_repr(self) -> str:
        """``blur_steps`` in the module's repr."""
        return f"blur_steps={self.blur_steps}"


@NEGATIVES.register("scff", "self_contrastive")
class SelfContrastivePairs(ImageNegatives):
    """Self-contrastive FF: positive = an image paired with itself, negative = two different images.

    Args:
        pairs: how a pair enters the network. ``"mean"``: as its mean (concatenation into tied weight
            halves): the positive ``(x + x) / 2`` is ``x``, the negative ``(x_a + x_b) / 2`` with ``x_b`` a
            different image of the batch. ``"concat"``: the flattened images side by side, ``[x_a, x_b]``
            (for a conv net: stacked as channels), for a network built with ``pair_inputs`` so each half
            has its own weights; the positive is then ``[x, x]``, which the network makes from ``x``
            itself (:meth:`~forwardforward.network.FFNetwork.embed`), so positives stay single images.
    """

    def __init__(self, pairs: str = "mean") -> None:
        super().__init__()
        if pairs not in PAIR_MODES:
            raise ValueError(f"scff pairs must be one of {PAIR_MODES}, got {pairs!r}")
        self.pairs = pairs

    def negatives(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Each image of ``x`` paired with a different image of the batch (drawn with ``generator``)."""
        other = x.roll(partner_shift(x.shape[0], generator), 0)
        if self.pairs == "concat":
            return torch.cat([x.flatten(1), other.flatten(1)], 1)
        return 0.5 * (x + other)

    def extra_repr(self) -> str:
        """How pairs enter, in the module's repr."""
        return f"pairs={self.pairs!r}"


#: How a self-contrastive pair enters the network (:class:`SelfContrastivePairs`).
PAIR_MODES = ("mean", "concat")


@NEGATIVES.register("user")
class UserNegatives(ImageNegatives):
    """Bad data supplied by the user, with no label at all.

    Args:
        source: a tensor ``[N, ...]`` or an object with ``.x`` (a dataset), whose batches are draws of
            its rows with replacement, so it never runs out; or a callable ``(n, generator) -> tensor
            [n, ...]`` (e.g. noise, or a generator network's output); or an iterable or iterator of batches
            (tensors, or tuples whose first item is the tensor), consumed in order with rows carried over
            between batches, an error when it runs out.
        name: how error messages call the source.

    Every batch must have the real images' per-sample shape (or at least their number of values, for
    flat data); anything else is an error naming both shapes.
    """

    def __init__(self, source: Any, name: str = "the user negative source") -> None:
        super().__init__()
        self.name = name
        self._pool: torch.Tensor | None = None
        self._call: Callable[..., Any] | None = None
        self._iter: Iterator[Any] | None = None
        self._carry: torch.Tensor | None = None
        self.delivered = 0
        data = getattr(source, "x", source)
        if isinstance(data, torch.Tensor):
            if data.dim() < 2 or data.shape[0] == 0:
                raise NegativeSourceError(
                    f"{name}: a tensor of bad data must be [N, ...] with N >= 1, "
                    f"got shape {tuple(data.shape)}"
                )
            self._pool = data
        elif callable(source) and not isinstance(source, Iterable):
            self._call = source
        elif isinstance(source, Iterable):
            self._iter = iter(source)
        else:
            raise NegativeSourceError(
                f"{name} must be a tensor, a dataset with .x, a callable (n, generator) -> tensor, or an "
                f"iterable of batches; got {type(source).__name__}"
            )

    def negatives(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n = x.shape[0]
        if self._pool is not None:
            idx = torch.randint(0, self._pool.shape[0], (n,), generator=generator)
            batch = self._pool[idx]
        elif self._call is not None:
            batch = self._tensor(self._call(n, generator))
            if batch.shape[0] != n:
                raise NegativeSourceError(
                    f"{self.name} was asked for {n} negatives and returned {batch.shape[0]}"
                )
        else:
            batch = self._take(n)
        batch = self._fit_shape(batch, x)
        self.delivered += n
        return batch.to(device=x.device, dtype=x.dtype)

    def _take(self, n: int) -> torch.Tensor:
        assert self._iter is not None
        parts = [self._carry] if self._carry is not None else []
        have = sum(p.shape[0] for p in parts)
        while have < n:
            try:
                item = next(self._iter)
            except StopIteration:
                raise NegativeSourceError(
                    f"{self.name} ran out after {self.delivered + have} negatives (needed {n} more for this "
                    f"batch, had {have}). Give a dataset or tensor (sampled with replacement), a callable, "
                    f"or an endless iterator (e.g. itertools.cycle over your batches)"
                ) from None
            part = self._tensor(item)
            parts.append(part)
            have += part.shape[0]
        batch = torch.cat(parts, 0) if len(parts) > 1 else parts[0]
        self._carry = batch[n:] if batch.shape[0] > n else None
        return batch[:n]

    def _tensor(self, item: Any) -> torch.Tensor:
        if isinstance(item, (tuple, list)) and item:
            item = item[0]
        item = getattr(item, "x", item)
        if not isinstance(item, torch.Tensor):
            raise NegativeSourceError(
                f"{self.name} yielded a {type(item).__name__}; it must yield tensors "
                f"[n, ...] (or (tensor, ...) tuples)"
            )
        if item.dim() < 2:
            raise NegativeSourceError(
                f"{self.name} yielded shape {tuple(item.shape)}; a batch must be "
                f"[n, ...] with one row per negative"
            )
        return item

    def _fit_shape(self, batch: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if batch.shape[1:] == x.shape[1:]:
            return batch
        if batch[0].numel() == x[0].numel():
            return batch.reshape(x.shape)
        raise NegativeSourceError(
            f"{self.name} gave negatives of per-sample shape {tuple(batch.shape[1:])}, but the data's is "
            f"{tuple(x.shape[1:])}; bad data must have the real images' shape (resize or crop it first)"
        )

    def extra_repr(self) -> str:
        """The kind of source and how many negatives it has delivered, in the module's repr."""
        kind = "tensor" if self._pool is not None else "callable" if self._call is not None else "iterator"
        return f"{kind}, delivered={self.delivered}"


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
