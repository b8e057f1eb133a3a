"""What passes from one layer to the next: the *direction* of activity, not its length.

If layer i+1 saw layer i's raw activity, it could tell positive from negative data by its length alone
(the very goodness layer i was trained to produce) and would learn nothing new. Normalising removes that.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import Registry

NORMALIZE: Registry[nn.Module] = Registry("normalize")


class RowScaling(nn.Module):
    """A normaliser that multiplies each sample by one number computed from its squared length.

    Knowing that number from the squared length alone is what lets all-label scoring stay one matrix
    product when the *input* is normalised (Hinton's code normalises the image with its label pixels): for
    ``x_c = base + code_c``, ``|x_c|^2 = |base|^2 + 2 base.code_c + |code_c|^2``, so every label's scale is
    known without building the ``C`` inputs (see ``FFNetwork``).
    """

    def scale(self, sq_norm: torch.Tensor, dim: int) -> torch.Tensor:
        """The factor a sample of ``dim`` values with squared length ``sq_norm`` is multiplied by."""
        raise NotImplementedError


@NORMALIZE.register("rms")
class RMSNormalize(RowScaling):
    """Scale each sample so the mean of its squared values is 1 (Hinton's code).

    The sum of squares then equals the width, which is why ``threshold="width"`` pairs with it. ``eps``
    keeps an all-zero sample finite.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def scale(self, sq_norm: torch.Tensor, dim: int) -> torch.Tensor:
        return sq_norm.div(dim).add(self.eps).rsqrt()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each sample of ``x`` ``[batch, ...]`` divided by its root mean square; same shape."""
        flat = x.flatten(1)
        rms = flat.pow(2).mean(1, keepdim=True).add(self.eps).sqrt()
        return (flat / rms).view_as(x)


@NORMALIZE.register("length", "unit", "l2")
class UnitLengthNormalize(RowScaling):
    """Scale each sample to unit Euclidean length (the common PyTorch ports); ``eps`` is added to the
    length so an all-zero sample stays finite."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def scale(self, sq_norm: torch.Tensor, dim: int) -> torch.Tensor:
        return 1.0 / (sq_norm.sqrt() + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each sample of ``x`` ``[batch, ...]`` divided by its Euclidean length; same shape."""
        flat = x.flatten(1)
        return (flat / (flat.norm(dim=1, keepdim=True) + self.eps)).view_as(x)


@NORMALIZE.register("centered", "centered_rms")
class CenteredRMSNormalize(nn.Module):
    """Subtract each sample's mean activity, then scale to unit RMS.

    ReLU activity is non-negative, so after ``rms`` every next-layer input shares a large common component.
    In unsupervised FF (docs/unsupervised.md) a layer fed that way let a few units take all the goodness and
    the rest die; removing the per-sample mean kept every unit of the next layer alive. ``eps`` keeps a
    constant sample finite.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each sample of ``x`` ``[batch, ...]`` minus its mean, divided by the RMS of what is left; same
        shape."""
        flat = x.flatten(1)
        flat = flat - flat.mean(1, keepdim=True)
        rms = flat.pow(2).mean(1, keepdim=True).add(self.eps).sqrt()
        return (flat / rms).view_as(x)


@NORMALIZE.register("none", "identity")
class NoNormalize(nn.Identity):
    """Pass activity on unchanged (for the first layer, whose input is the data itself)."""


def build_normalize(spec: str | nn.Module | None, **kwargs: object) -> nn.Module:
    """A normaliser from ``spec``: a registered name (built with ``kwargs``), ``None`` (no normalisation),
    or an instance, passed through unchanged."""
    if spec is None:
        return NoNormalize()
    return NORMALIZE.build(spec, **kwargs)
