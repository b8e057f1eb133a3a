"""Label embeddings for convolutional FF: the label as a 2-D plane every receptive field sees.

A one-hot label in the first pixels is washed out by convolution and pooling: most receptive fields never
see it. The embeddings here spread the label over the whole image, as an extra input *channel* or on the
image itself:

- ``spatial``: a fixed, class-specific 2-D pattern (oriented gratings: class ``c`` has its own orientation
  and phase), after Scodellaro et al.'s spatially extended labels. Patterns are smooth enough to survive
  a 3x3 convolution and 2x2 pooling, and distinct per class (tested).
- ``planes``: a learned plane per class (Trifecta's learned label embedding), trained by the first layer's
  local loss (the network lets the first layer's gradient reach its label embedding and no further).
- ``spatial_overlay``: the form Scodellaro et al. describe, class-specific 2-D strips the size of the image
  *mapped onto the image* (added to its pixels in every image channel): no extra channel, so the first layer
  sees the label and the image mixed in the same values.

All are additive codes (``base(x)`` = the image, with an empty label channel where there is one;
``codes[c]`` = the label alone), so they keep the :class:`~forwardforward.labels.LabelEmbedding`
contract: the network's all-label scoring computes the first convolution of the image once and of the C
codes once.

The image shape is ``shape=(C, H, W)``; without it a single-channel image as close to square as the input
size allows is assumed (784 -> 1x28x28). The label channel has the image's height and width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .embeddings import LABELS, LabelEmbedding


def image_shape(input_dim: int, shape: Sequence[int] | None) -> tuple[int, int, int]:
    """``shape`` (``(C, H, W)`` or ``(H, W)``) checked against ``input_dim`` values, or without it the most
    square single-channel factorisation of ``input_dim``."""
    if shape is not None:
        s = tuple(int(v) for v in shape)
        if len(s) == 2:
            s = (1, *s)
        if len(s) != 3 or math.prod(s) != input_dim:
            raise ValueError(f"label embedding shape {tuple(shape)} does not hold {input_dim} input values")
        return s  # type: ignore[return-value]
    h = max(d for d in range(1, math.isqrt(input_dim) + 1) if input_dim % d == 0)
    return (1, h, input_dim // h)


def grating_patterns(num_classes: int, height: int, width: int, cycles: float = 3.0) -> torch.Tensor:
    """``[C, H, W]`` patterns in [-1, 1] for ``num_classes`` classes, each ``height`` by ``width``: class
    ``c`` is a cosine grating at orientation ``pi * c / C`` with ``cycles`` periods across the image and
    phase ``2 pi c / C``.

    Orientation alone tells classes apart in any receptive field a few pixels wide (a period is
    ``max(H, W) / cycles`` pixels, so 2x2 pooling keeps it); the phase keeps opposite-orientation pairs
    apart in global statistics.
    """
    i = torch.arange(height, dtype=torch.float64).unsqueeze(1) / max(height, width)
    j = torch.arange(width, dtype=torch.float64).unsqueeze(0) / max(height, width)
    out = []
    for c in range(num_classes):
        theta = math.pi * c / num_classes
        phase = 2 * math.pi * c / num_classes
        out.append(torch.cos(2 * math.pi * cycles * (i * math.cos(theta) + j * math.sin(theta)) + phase))
    return torch.stack(out).float()


def strip_patterns(num_classes: int, height: int, width: int, cycles: float = 3.0) -> torch.Tensor:
    """``[num_classes, height, width]`` binary strips in {0, 1}: the positive half-periods of
    :func:`grating_patterns`.

    Class ``c``'s strips run at orientation ``pi * c / C`` with ``cycles`` strips across the image, shifted
    by its own phase, so every region a few pixels wide holds part of a strip and its edge, whose direction
    names the class.
    """
    return (grating_patterns(num_classes, height, width, cycles) > 0).float()


@LABELS.register("spatial_overlay", "strips")
class SpatialOverlay(LabelEmbedding):
    """Class-specific strips added onto the image (Scodellaro et al.'s spatially extended labels).

    ``embed(x, c) = x + strength * strips[c]`` in every image channel: the embedded input has the image's own
    shape ``(C, H, W)``, with no label channel (compare :class:`SpatialPatterns`). Args: ``num_classes``
    (how many classes, one strip pattern each), ``strength`` (the strips' amplitude on the pixel scale),
    ``shape`` (the image's ``(C, H, W)``; without it the most square single-channel shape) and ``cycles``
    (strips across the image).
    """

    def __init__(
        self, num_classes: int, strength: float = 1.0, shape: Sequence[int] | None = None, cycles: float = 3.0
    ) -> None:
        super().__init__(num_classes, strength)
        self.shape = tuple(int(s) for s in shape) if shape is not None else None
        self.cycles = float(cycles)

    def output_dim(self, input_dim: int) -> int:
        """``input_dim``, the image's own size: the strips take no room of their own."""
        return input_dim

    def output_shape(self, input_dim: int) -> tuple[int, int, int]:
        """The ``(C, H, W)`` of an image of ``input_dim`` values: what the first conv layer sees."""
        return image_shape(input_dim, self.shape)

    def base(self, x: torch.Tensor) -> torch.Tensor:
        """The images ``x`` themselves, flattened (no pixel is cleared: the strips are added on top)."""
        image_shape(x[0].numel(), self.shape)  # a wrong shape fails here, with the sizes
        return x.flatten(1)

    def codes(self, input_dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """``[C, input_dim]`` on ``device`` in ``dtype``: class ``c``'s strips, scaled by ``strength``, in
        every image channel."""
        c, h, w = image_shape(input_dim, self.shape)
        strips = strip_patterns(self.num_classes, h, w, self.cycles).to(device, dtype)
        return (self.strength * strips).unsqueeze(1).expand(-1, c, -1, -1).flatten(1)

    def extra_repr(self) -> str:
        """The classes, strength, strips and image shape in the module's repr."""
        shape = f", shape={self.shape}" if self.shape else ""
        return super().extra_repr() + f", cycles={self.cycles}" + shape


class LabelChannel(LabelEmbedding):
    """Base class: the image plus one label channel; ``planes(h, w)`` gives the ``[C, H, W]`` channel.

    ``num_classes`` and ``strength`` as in :class:`~forwardforward.labels.LabelEmbedding`; ``shape`` is
    the image's ``(C, H, W)`` (default: a single channel, as square as the input size allows).
    """

    def __init__(self, num_classes: int, strength: float = 1.0, shape: Sequence[int] | None = None) -> None:
        super().__init__(num_classes, strength)
        self.shape = tuple(int(s) for s in shape) if shape is not None else None

    def output_dim(self, input_dim: int) -> int:
        _, h, w = image_shape(input_dim, self.shape)
        return input_dim + h * w

    def output_shape(self, input_dim: int) -> tuple[int, int, int]:
        """``(C + 1, H, W)`` for raw inputs of ``input_dim`` values: what the first conv layer sees."""
        c, h, w = image_shape(input_dim, self.shape)
        return (c + 1, h, w)

    def planes(self, height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Each class's label plane, ``[C, height, width]`` on ``device`` in ``dtype``, before the
        strength is applied."""
        raise NotImplementedError

    def base(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = image_shape(x[0].numel(), self.shape)
        img = x.reshape(x.shape[0], c, h, w)
        return torch.cat([img, img.new_zeros(x.shape[0], 1, h, w)], 1).flatten(1)

    def codes(self, input_dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        c, h, w = image_shape(input_dim, self.shape)
        planes = self.strength * self.planes(h, w, device, dtype).unsqueeze(1)  # [C, 1, H, W]
        zeros = planes.new_zeros(self.num_classes, c, h, w)
        return torch.cat([zeros, planes], 1).flatten(1)

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", shape={self.shape}" if self.shape else "")


@LABELS.register("spatial", "grating")
class SpatialPatterns(LabelChannel):
    """Fixed class-specific gratings as a label channel (see :func:`grating_patterns`, which ``cycles``
    goes to); ``num_classes``, ``strength`` and ``shape`` as in :class:`LabelChannel`."""

    def __init__(
        self, num_classes: int, strength: float = 1.0, shape: Sequence[int] | None = None, cycles: float = 3.0
    ) -> None:
        super().__init__(num_classes, strength, shape)
        self.cycles = float(cycles)

    def planes(self, height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        return grating_patterns(self.num_classes, height, width, self.cycles).to(device, dtype)


@LABELS.register("planes", "learned_planes")
class LearnedPlanes(LabelChannel):
    """A learned plane per class as a label channel (Trifecta).

    The planes are ``[C, grid, grid]`` parameters, bilinearly resized to the image: ``grid`` equal to the
    image size is a free plane per pixel; a coarser grid learns smooth planes with fewer parameters and
    needs no image size at construction. Initialised as the gratings, so labels differ from the first step.
    ``num_classes``, ``strength`` and ``shape`` as in :class:`LabelChannel`.
    """

    def __init__(
        self, num_classes: int, strength: float = 1.0, shape: Sequence[int] | None = None, grid: int = 7
    ) -> None:
        super().__init__(num_classes, strength, shape)
        if grid < 1:
            raise ValueError(f"label plane grid must be >= 1, got {grid}")
        self.grid = int(grid)
        self.weight = nn.Parameter(grating_patterns(num_classes, grid, grid, cycles=max(1.0, grid / 4)))

    def planes(self, height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        w = self.weight.to(device, dtype)
        if (height, width) == (self.grid, self.grid):
            return w
        return F.interpolate(
            w.unsqueeze(1), size=(height, width), mode="bilinear", align_corners=True
        ).squeeze(1)
