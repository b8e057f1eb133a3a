"""Label embeddings: how the label enters the input in supervised FF.

The embeddings here are *additive label codes*: ``embed(x, c) = base(x) + code[c]``. The overlay writes a
scaled one-hot over the first C input values (``base`` zeroes them), the append variant concatenates it
(``base`` pads with zeros). Because the code is added, a linear first layer sees ``W base(x) + W code[c]``,
which lets :class:`~forwardforward.network.FFNetwork` score all C labels with one matrix product plus a
broadcast add instead of C forward passes.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import Registry

LABELS: Registry[nn.Module] = Registry("label embedding")


class LabelEmbedding(nn.Module):
    """Base class: ``base(x)`` (the input with room for a label) plus ``codes()[y]``.

    ``num_classes`` (at least 2) is the number of labels; ``strength`` scales every code (the one-hot's
    value): how loud the label is next to the input.
    """

    def __init__(self, num_classes: int, strength: float = 1.0) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"a label embedding needs num_classes >= 2, got {num_classes}")
        self.num_classes = int(num_classes)
        self.strength = float(strength)

    def output_dim(self, input_dim: int) -> int:
        """The flattened size of an embedded input whose flattened raw size is ``input_dim``."""
        raise NotImplementedError

    def base(self, x: torch.Tensor) -> torch.Tensor:
        """The samples ``x`` flattened to ``[B, output_dim]``, with the label slots cleared."""
        raise NotImplementedError

    def codes(self, input_dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """``[C, output_dim]`` on ``device`` in ``dtype``: what each label adds to ``base(x)`` for raw
        inputs of ``input_dim`` values."""
        raise NotImplementedError

    def neutral_code(self, input_dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The neutral label's code ``[output_dim]`` for raw inputs of ``input_dim`` values, on ``device`` in
        ``dtype``: the mean of all codes, 1/C of the strength in every slot."""
        return self.codes(input_dim, device, dtype).mean(0)

    def _check(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"labels must be a 1-D tensor with one entry per sample; got shape {tuple(y.shape)} "
                f"for {x.shape[0]} samples"
            )
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ValueError(
                f"labels must be in [0, {self.num_classes}); got min {int(y.min())}, max {int(y.max())}"
            )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Embed label ``y[i]`` into sample ``x[i]``; returns ``[B, output_dim]``."""
        self._check(x, y)
        d = x[0].numel()
        return self.base(x) + self.codes(d, x.device, x.dtype)[y]

    def neutral(self, x: torch.Tensor) -> torch.Tensor:
        """The samples ``x`` with the neutral label embedded (for features fed to a linear head)."""
        return self.base(x) + self.neutral_code(x[0].numel(), x.device, x.dtype)

    def all_labels(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, output_dim]``: every sample of ``x`` with every label."""
        codes = self.codes(x[0].numel(), x.device, x.dtype)
        return self.base(x).unsqueeze(1) + codes.unsqueeze(0)

    def extra_repr(self) -> str:
        """The number of classes and the strength in the module's repr."""
        return f"num_classes={self.num_classes}, strength={self.strength}"


@LABELS.register("overlay", "onehot")
class Overlay(LabelEmbedding):
    """Hinton's embedding: replace the first C input values by ``strength`` times the one-hot label."""

    def output_dim(self, input_dim: int) -> int:
        if input_dim <= self.num_classes:
            raise ValueError(
                f"overlay needs more than {self.num_classes} input values to write the label over, "
                f"got {input_dim}; use labels='append' for tiny inputs"
            )
        return input_dim

    def base(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1).clone()
        flat[:, : self.num_classes] = 0
        return flat

    def codes(self, input_dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        codes = torch.zeros(self.num_classes, input_dim, device=device, dtype=dtype)
        codes[:, : self.num_classes] = self.strength * torch.eye(self.num_classes, device=device, dtype=dtype)
        return codes


@LABELS.register("append", "concat")
class Append(LabelEmbedding):
    """Concatenate ``strength`` times the one-hot label: no pixel is overwritten.

    Fashion-MNIST items reach the image border more often than MNIST digits, so the overlay can destroy
    information the append variant keeps.
    """

    def output_dim(self, input_dim: int) -> int:
        return input_dim + self.num_classes

    def base(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return torch.cat([flat, flat.new_zeros(flat.shape[0], self.num_classes)], 1)

    def codes(self, input_dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        codes = torch.zeros(self.num_classes, input_dim + self.num_classes, device=device, dtype=dtype)
        codes[:, input_dim:] = self.strength * torch.eye(self.num_classes, device=device, dtype=dtype)
        return codes


def build_labels(spec: str | nn.Module, num_classes: int, strength: float = 1.0) -> LabelEmbedding:
    """A label embedding from ``spec``: a registered name (``"append"``, ``"overlay"``...), built for
    ``num_classes`` labels at ``strength``, or an instance, passed through unchanged."""
    return LABELS.build(spec, num_classes=num_classes, strength=strength)  # type: ignore[return-value]
