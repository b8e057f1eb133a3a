"""Data augmentation with torch ops only, seeded by a ``torch.Generator``.

An augmentation maps a batch ``[B, C, H, W]`` and a generator to a batch of the same shape. The Trainer
(and the backprop twin) call it on every training batch with their own seeded generator, so a run
(and a resumed run) is reproducible; nothing here touches the global RNG.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import Registry

AUGMENT: Registry[nn.Module] = Registry("augmentation")


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image of ``x`` ``[B, C, H, W]`` by its own random offset in ``[-max_shift, max_shift]``
    pixels per axis, filling with zeros (a random crop of the zero-padded image), in one gather, no Python
    loop. The offsets are drawn from ``generator``; ``max_shift <= 0`` returns ``x`` unchanged."""
    if max_shift <= 0:
        return x
    b, _, h, w = x.shape
    s = max_shift
    padded = F.pad(x, (s, s, s, s))
    dy = torch.randint(0, 2 * s + 1, (b,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * s + 1, (b,), generator=generator).to(x.device)
    rows = (dy.unsqueeze(1) + torch.arange(h, device=x.device)).unsqueeze(2)  # [B, H, 1]
    cols = (dx.unsqueeze(1) + torch.arange(w, device=x.device)).unsqueeze(1)  # [B, 1, W]
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Mirror each image of ``x`` ``[B, C, H, W]`` left-right with probability ``p``, drawn from
    ``generator`` (for natural images, never for digits)."""
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)


class Augmentation(nn.Module):
    """Base class: ``forward(x, generator)``; inputs may be flat ``[B, D]`` when ``shape`` (one image's
    ``(C, H, W)``) is given. Subclasses implement :meth:`apply_images`."""

    def __init__(self, shape: tuple[int, int, int] | None = None) -> None:
        super().__init__()
        self.shape = shape

    def _image(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return x
        if self.shape is None:
            raise ValueError(f"augmentation needs images [B, C, H, W] (or shape=...), got {tuple(x.shape)}")
        return x.reshape(x.shape[0], *self.shape)

    def forward(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The augmented batch ``x`` (images ``[B, C, H, W]``, or flat ``[B, D]`` with ``shape``), in the
        shape it came in; random draws come from ``generator`` only."""
        img = self._image(x)
        return self.apply_images(img, generator).reshape(x.shape)

    def apply_images(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:  # pragma: no cover
        """The augmentation itself, on images ``x`` ``[B, C, H, W]`` with random draws from ``generator``."""
        raise NotImplementedError


@AUGMENT.register("shift")
class RandomShift(Augmentation):
    """Random translations up to ``max_shift`` pixels (Fashion-MNIST, MNIST); ``shape`` as in
    :class:`Augmentation`."""

    def __init__(self, max_shift: int = 2, shape: tuple[int, int, int] | None = None) -> None:
        super().__init__(shape)
        self.max_shift = int(max_shift)

    def apply_images(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return random_shift(x, self.max_shift, generator)


@AUGMENT.register("shift_flip", "crop_flip")
class RandomShiftFlip(RandomShift):
    """Random translations (the padded random crop) and left-right flips: the CIFAR standard."""

    def apply_images(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return random_flip(random_shift(x, self.max_shift, generator), generator)


class ShiftViews(nn.Module):
    """Test-time views: each image and its copies translated by up to ``radius`` pixels (zero fill).

    Prediction averages the goodness over the views (``FFNetwork.evaluate(views=)`` /
    ``predict(views=)``), which smooths out the one-pixel jitter a shift-augmented net still has. The
    identity comes first so the one-view result is read off the same pass. ``cross`` keeps the four axis
    shifts per radius step (``4 * radius + 1`` views); otherwise every offset of the square
    (``(2 * radius + 1) ** 2`` views). ``shape`` (one image's ``(C, H, W)``) lets flat ``[B, D]`` inputs
    in. Deterministic: nothing is sampled.
    """

    def __init__(
        self, radius: int = 1, shape: tuple[int, int, int] | None = None, cross: bool = False
    ) -> None:
        super().__init__()
        if radius < 1:
            raise ValueError(f"test-time shift views need radius >= 1 pixel, got {radius}")
        self.radius, self.shape, self.cross = int(radius), shape, bool(cross)
        r = range(-self.radius, self.radius + 1)
        self.offsets = [(0, 0)] + [
            (dy, dx) for dy in r for dx in r if (dy, dx) != (0, 0) and (not cross or dy == 0 or dx == 0)
        ]

    def __len__(self) -> int:
        return len(self.offsets)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The views of the batch ``x``, the unshifted one first, each in ``x``'s shape.

        Raises:
            ValueError: ``x`` is neither images ``[B, C, H, W]`` nor flat inputs matching ``shape``.
        """
        if x.dim() == 4:
            img = x
        elif self.shape is not None and x.dim() == 2 and x.shape[1] == math.prod(self.shape):
            img = x.reshape(x.shape[0], *self.shape)
        else:
            raise ValueError(
                f"shift views need images [B, C, H, W] or flat [B, prod(shape)] inputs with shape=...; "
                f"got {tuple(x.shape)} with shape={self.shape}"
            )
        s, (h, w) = self.radius, img.shape[2:]
        padded = F.pad(img, (s, s, s, s))
        # A view shifted by (dy, dx) shows the pixel (i - dy, j - dx) at (i, j): content moves by (dy, dx).
        return [
            padded[:, :, s - dy : s - dy + h, s - dx : s - dx + w].reshape(x.shape) for dy, dx in self.offsets
        ]

    def extra_repr(self) -> str:
        """The radius, the number of views and ``cross`` in the module's repr."""
        return f"radius={self.radius}, views={len(self)}, cross={self.cross}"


#: ``model.test_views``: the test-time views :func:`build_test_views` makes.
TEST_VIEWS = ("none", "shift", "cross")


def build_test_views(name: str, shape: tuple[int, int, int], radius: int = 1) -> ShiftViews | None:
    """The test-time views named by ``model.test_views``: ``none`` (one view: returns ``None``), ``shift``
    (the 3x3 square of one-pixel shifts, 9 views) or ``cross`` (the image and its four one-pixel axis
    shifts, 5 views). ``shape`` is one image's ``(C, H, W)``; ``radius`` widens the shifts (the counts
    above are for the default 1).

    Raises:
        ValueError: ``name`` is not one of :data:`TEST_VIEWS`.
    """
    if name not in TEST_VIEWS:
        raise ValueError(f"unknown test_views {name!r}; valid: {', '.join(TEST_VIEWS)}")
    return None if name == "none" else ShiftViews(radius, shape, cross=name == "cross")


def build_augment(
    name: str | None, max_shift: int = 2, shape: tuple[int, int, int] | None = None
) -> nn.Module | None:
    """The augmentation registered as ``name`` (``"shift"``, ``"shift_flip"``), shifting by up to
    ``max_shift`` pixels, for images of ``shape`` ``(C, H, W)`` (which lets flat inputs in); ``None`` for
    ``None`` / ``"none"``."""
    if name is None or name == "none":
        return None
    return AUGMENT.build(name, max_shift=max_shift, shape=shape)
