"""Black boxes between FF layers: any callable, even outside torch, that backprop cannot see through.

FF never differentiates through what sits between two layers (each layer detaches its input), so
``FFNetwork(..., between={i: box})`` trains through a NumPy function, rounding, a lookup table, a random
hash or a call to another process unchanged. :class:`BlackBox` adapts such a function (a tensor goes in
as an ``ndarray`` and comes back as a tensor on the input's device and dtype) and names it in errors;
:func:`check_output` is the validation every ``between`` transform gets, wrapped or not, so a box that
changes the batch size, returns the wrong width or returns something that is not an array fails at the
first batch with a message saying which box, what it returned and what was expected.

For the backprop comparison, :class:`BlackBoxModule` puts the same box inside an ``nn.Sequential``:
``mode="autograd"`` is what backprop really gets (a NumPy call cuts the graph: the layers below receive no
gradient; rounding or ``sign`` in torch give a zero gradient), ``mode="ste"`` is the straight-through
estimator (the box's value forward, a differentiable surrogate's gradient backward; identity by default),
which exists only when someone knows a surrogate for the box.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..boxes import BlackBoxError, call_box, check_output, describe


class BlackBox:
    """Adapts a function, NumPy or torch, for use between FF layers.

    Args:
        fn: the function. With ``numpy=True`` it receives a detached CPU ``ndarray`` and may return an
            ``ndarray`` or a tensor; otherwise it receives a detached tensor.
        name: how errors name it (default: the function's name).
        numpy: convert the input to an ``ndarray`` first.
        out_features: the width it promises; checked on every call when given.
        surrogate: a differentiable torch function with the same output shape, used only by
            :class:`BlackBoxModule` in ``"ste"`` mode (the straight-through estimator's backward path).
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        name: str | None = None,
        numpy: bool = True,
        out_features: int | None = None,
        surrogate: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"BlackBox needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", None) or repr(fn)
        self.numpy = numpy
        self.out_features = out_features
        self.surrogate = surrogate

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        inp = x.detach().cpu().numpy() if self.numpy else x.detach()
        return check_output(self, self.fn(inp), x, self.out_features)

    def __repr__(self) -> str:
        return f"BlackBox({self.name!r}, numpy={self.numpy})"


BACKPROP_MODES = ("autograd", "ste")


class BlackBoxModule(nn.Module):
    """A black box inside a backprop model (e.g. :class:`~forwardforward.evaluation.baselines.BackpropMLP`).

    ``mode="autograd"``: the box is called as is; whatever gradient autograd finds is what the layers below
    get (none through NumPy, zero through rounding). ``mode="ste"``: the straight-through estimator:
    forward the box's value, backward the gradient of ``surrogate`` (the box's own ``surrogate`` if it has
    one, else the identity, which needs the box to keep the width).
    """

    def __init__(
        self,
        box: Callable[[torch.Tensor], Any],
        mode: str = "autograd",
        surrogate: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        if mode not in BACKPROP_MODES:
            raise ValueError(f"unknown black-box mode {mode!r}; valid: {', '.join(BACKPROP_MODES)}")
        self.box = box
        self.mode = mode
        self.surrogate = surrogate or getattr(box, "surrogate", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The box's value for ``x``, with the gradient the mode gives.

        Raises:
            BlackBoxError: the box's output is invalid, or the surrogate's shape differs from it.
        """
        if self.mode == "autograd":
            return check_output(self.box, self.box(x), x)
        with torch.no_grad():
            value = check_output(self.box, self.box(x), x)
        s = self.surrogate(x) if self.surrogate is not None else x
        if s.shape != value.shape:
            raise BlackBoxError(
                f"black box {describe(self.box)}: the straight-through surrogate gives shape "
                f"{tuple(s.shape)} but the box gives {tuple(value.shape)}; pass one of the box's shape"
            )
        return s + (value - s).detach()

    def extra_repr(self) -> str:
        """The box's name and the mode in the module's repr."""
        return f"{describe(self.box)}, mode={self.mode!r}"


__all__ = [
    "BACKPROP_MODES",
    "BlackBox",
    "BlackBoxError",
    "BlackBoxModule",
    "call_box",
    "check_output",
    "describe",
]
