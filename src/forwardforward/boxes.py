"""What sits between two FF layers and is not a layer: the checked call of a black box.

FF never differentiates through the transform between two layers, so it may be anything that maps a batch
to a batch. The network checks what it returns at every call (cheap), so a box that changes the batch size
or the width fails at the first batch with an error naming the box and where it sits.
:mod:`forwardforward.hardware.blackbox` adapts NumPy functions and gives backprop's view of the same boxes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


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
    """Validate (and convert) ``out``, what ``transform`` returned for the input batch ``x``.

    NumPy arrays become tensors on ``x``'s device and dtype; tensors move to ``x``'s device (floating ones
    take its dtype). The batch size must be kept, and when ``width`` (what the next layer takes) is known
    the output must be ``[B, width]``. Errors name the transform, ``where`` it sits, what it returned and
    what was expected.

    Args:
        transform: the box that was called; only used to name it in errors.
        out: what it returned.
        x: the batch it was given, whose batch size, device and dtype the output must match.
        width: the input width of the next layer, or ``None`` to check only the batch size.
        where: where the box sits (the network says ``"between layer 0 and layer 1"``), for the error message.

    Returns:
        ``out`` as a tensor on ``x``'s device.

    Raises:
        BlackBoxError: ``out`` is not an array or tensor, or has the wrong batch size or width.
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

    ``width`` is what the next layer takes (``None``: check the batch size only). A :class:`BlackBoxError`
    raised inside (a :class:`BlackBox` checks itself) gains ``where`` the box sits.
    """
    try:
        with torch.no_grad():
            out = transform(x)
    except BlackBoxError as err:
        raise BlackBoxError(f"{err} [{where}]" if where else str(err)) from None
    return check_output(transform, out, x, width, where)


__all__ = ["BlackBoxError", "call_box", "check_output", "describe"]
