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

import numpy as np
import torch
from torch import nn


class BlackBoxError(RuntimeError):
    """A black box returned something the next layer cannot take."""


def describe(transform: Any) -> str:
    """How errors name a transform: its ``name`` if it has one, else its function name, else its repr."""
    name = getattr(transform, "name", None)
    if isinstance(name, str) and name:
        return repr(name)
    qual = getattr(transform, "__qualname__", None) or getattr(transform, "__name__", None)
    return qual if isinstance(qual, str) and qual != "<lambda>" else repr(transform)


def check_output(
    transform: Any, out: Any, x: torch.Tensor, width: int | None = None, where: str = ""
) -> torch.Tensor:
    """Validate (and convert) what ``transform`` returned for input ``x``.

    NumPy arrays become tensors on ``x``'s device and dtype; tensors move to ``x``'s device (floating ones
    take its dtype). The batch size must be kept, and when ``width`` (what the next layer takes) is known
    the output must be ``[B, width]``. Errors name the transform, ``where`` it sits, what it returned and
    what was expected.
    """
    at = f" ({where})" if where else ""
    who = f"black box {describe(transform)}{at}"
    if isinstance(out, np.ndarray):
        if out.dtype == object:
            raise BlackBoxError(f"{who} returned an object array; expected a numeric array of shape [B, W]")
        out = torch.from_numpy(np.ascontiguousarray(out)).to(device=x.device, dtype=x.dtype)
    elif isinstance(out, torch.Tensor):
        out = out.to(device=x.device, dtype=x.dtype if out.is_floating_point() else out.dtype)
    else:
        raise BlackBoxError(
            f"{who} returned a {type(out).__module__}.{type(out).__name__}; expected a torch.Tensor or "
            f"numpy.ndarray of shape [{x.shape[0]}, ...]"
        )
    if out.dim() == 0 or out.shape[0] != x.shape[0]:
        raise BlackBoxError(
            f"{who} returned shape {tuple(out.shape)} for an input of shape {tuple(x.shape)}: the batch size "
            f"must stay {x.shape[0]} (one output row per sample)"
        )
    if width is not None and (out.dim() != 2 or out.shape[1] != width):
        raise BlackBoxError(
            f"{who} returned shape {tuple(out.shape)}; the next layer takes [{x.shape[0]}, {width}]"
        )
    return out


def call_box(transform: Any, x: torch.Tensor, width: int | None = None, where: str = "") -> torch.Tensor:
    """Call ``transform`` on ``x`` without gradients and validate the result (see :func:`check_output`).

    A :class:`BlackBoxError` raised inside (a :class:`BlackBox` checks itself) gains ``where`` the box sits.
    """
    try:
        with torch.no_grad():
            out = transform(x)
    except BlackBoxError as err:
        raise BlackBoxError(f"{err} [{where}]" if where else str(err)) from None
    return check_output(transform, out, x, width, where)


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
    """A black box inside a backprop model (e.g. :class:`~forwardforward.baselines.BackpropMLP`).

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
