"""Convolutional Forward-Forward: FFConv2d blocks, a locally connected layer, and CNN builders.

A conv FF layer is an ordinary :class:`~forwardforward.layers.FFLayer` whose block is a
:class:`ConvBlock` (convolution or locally connected map -> optional normalisation -> optional pooling);
the layer adds the activation, goodness, loss and output normaliser, and detaches its input like every
FF layer, so conv layers stack with everything in the core (all-label scoring, the Trainer, the head).

Blocks know their input shape ``(C, H, W)`` and accept flat ``[B, C*H*W]`` inputs too: label embeddings
and the network's all-label scoring work on flat tensors, and the block restores the image layout.
Because the block's first operation is linear in its input, ``conv(base + code_c) = conv(base) +
conv_nobias(code_c)``: :meth:`ConvBlock.forward_additive` scores all C labels of the first layer with one
convolution of the batch plus one of the C label codes, the same trick the MLP's first layer uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..activations import build_activation
from ..layers import FFLayer

POOLS = ("none", "max", "avg")
NORMS = ("none", "batch", "layer")


class LocallyConnected2d(nn.Module):
    """A convolution whose weights are not shared across positions (Hinton's CIFAR-10 FF layers).

    Every output position ``(i, j)`` has its own ``[out, in * k * k]`` filter. Implemented with
    ``F.unfold`` and one batched matrix product per forward, so it needs no Python loop over positions.

    Args:
        in_channels: the input's channels.
        out_channels: the output's channels.
        in_size: the input's ``(H, W)``; the weights are per output position, so it is fixed.
        kernel_size: the square filter's size.
        stride: the step between positions.
        padding: zero padding on every side.
        bias: a learned bias per output channel and position.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        in_size: tuple[int, int],
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding = int(kernel_size), int(stride), int(padding)
        h, w = in_size
        self.out_size = (
            (h + 2 * padding - kernel_size) // stride + 1,
            (w + 2 * padding - kernel_size) // stride + 1,
        )
        if min(self.out_size) < 1:
            raise ValueError(
                f"locally connected layer: kernel {kernel_size} with padding {padding} does not fit a "
                f"{h}x{w} input"
            )
        positions = self.out_size[0] * self.out_size[1]
        fan_in = in_channels * kernel_size * kernel_size
        bound = 1.0 / math.sqrt(fan_in)  # the same scale nn.Conv2d's default initialisation uses
        self.weight = nn.Parameter(torch.empty(positions, fan_in, out_channels).uniform_(-bound, bound))
        self.bias = (
            nn.Parameter(torch.empty(out_channels, *self.out_size).uniform_(-bound, bound)) if bias else None
        )

    def forward(self, x: torch.Tensor, use_bias: bool = True) -> torch.Tensor:
        """The map of images ``x`` ``[B, in_channels, H, W]``: ``[B, out_channels, *out_size]``.
        ``use_bias=False`` leaves the bias out (the label codes' share in all-label scoring)."""
        cols = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)  # [B, fan_in, P]
        out = torch.bmm(cols.permute(2, 0, 1), self.weight)  # one [B, fan_in] @ [fan_in, out] per position
        # One copy into NCHW order: left as a strided view (einsum's result), every elementwise op after
        # it (bias, activation, goodness, normalisation, their backward) walked memory out of order.
        out = out.permute(1, 2, 0).contiguous().view(x.shape[0], self.out_channels, *self.out_size)
        if use_bias and self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self) -> str:
        """The channels, kernel, stride, padding and output size in the module's repr."""
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, out_size={self.out_size}"
        )


def _check_block(
    in_shape: Sequence[int], channels: int, pool: str, norm: str, local: bool, groups: int
) -> None:
    """A conv block's arguments, each a one-line error."""
    if len(in_shape) != 3:
        raise ValueError(f"a conv block needs in_shape (C, H, W), got {tuple(in_shape)}")
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; valid: {', '.join(POOLS)}")
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")
    c = int(in_shape[0])
    if groups < 1 or c % groups or channels % groups:
        raise ValueError(
            f"conv block: groups={groups} must be >= 1 and divide both the input channels ({c}) and "
            f"the output channels ({channels})"
        )
    if local and groups != 1:
        raise ValueError("conv block: a locally connected layer has no groups; use groups=1")


class ConvBlock(nn.Module):
    """FFConv2d's block: ``conv (or locally connected) -> norm -> pool``; the FFLayer adds the activation.

    Max pooling commutes with a monotone activation (ReLU, GELU...), so pooling before the layer's
    activation equals pooling after it, and the goodness sees the pooled activity.

    Args:
        in_shape: ``(C, H, W)`` of the input; flat inputs are reshaped to it.
        channels: output channels.
        kernel, stride, padding: of the convolution; ``padding=None`` keeps the size (``kernel // 2``).
        pool: ``"none"``, ``"max"`` or ``"avg"``, with window and stride ``pool_size``.
        norm: ``"none"``, ``"batch"`` (BatchNorm2d) or ``"layer"`` (LayerNorm over C, H, W, as GroupNorm
            with one group: per sample, so positives and negatives never share statistics).
        local: a :class:`LocallyConnected2d` (no weight sharing) instead of ``nn.Conv2d``.
        bias: the convolution's bias.
        groups: a grouped convolution (``nn.Conv2d(groups=)``): with one group per class on a
            channel-wise competition layer, each class's channels see only that class's channels below
            (CwComp's grouped layers); it costs ``1 / groups`` of the full convolution.
        channels_last: keep weights and activations in NHWC memory order. The numbers are the same; on
            CPU the convolutions, BatchNorm and pooling run about 14% faster per training step
            (benchmarks/cnn_time_to_accuracy.py, docs/cnn.md), and it is the layout tensor cores prefer.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        channels: int,
        kernel: int = 3,
        stride: int = 1,
        padding: int | None = None,
        pool: str = "none",
        pool_size: int = 2,
        norm: str = "none",
        local: bool = False,
        bias: bool = True,
        groups: int = 1,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        _check_block(in_shape, channels, pool, norm, local, groups)
        c, h, w = (int(s) for s in in_shape)
        self.in_shape = (c, h, w)
        padding = kernel // 2 if padding is None else int(padding)
        if local:
            self.conv: nn.Module = LocallyConnected2d(c, channels, (h, w), kernel, stride, padding, bias)
        else:
            self.conv = nn.Conv2d(
                c, channels, kernel, stride=stride, padding=padding, bias=bias, groups=groups
            )
        oh, ow = (h + 2 * padding - kernel) // stride + 1, (w + 2 * padding - kernel) // stride + 1
        if min(oh, ow) < 1:
            raise ValueError(f"conv block: kernel {kernel} with padding {padding} does not fit {h}x{w}")
        self.norm: nn.Module = (
            nn.BatchNorm2d(channels)
            if norm == "batch"
            else nn.GroupNorm(1, channels)
            if norm == "layer"
            else nn.Identity()
        )
        if pool != "none":
            if min(oh, ow) < pool_size:
                raise ValueError(f"conv block: pool {pool_size} does not fit a {oh}x{ow} map")
            self.pool: nn.Module = (nn.MaxPool2d if pool == "max" else nn.AvgPool2d)(pool_size)
            oh, ow = oh // pool_size, ow // pool_size
        else:
            self.pool = nn.Identity()
        self.out_channels = int(channels)
        self.out_shape = (int(channels), oh, ow)
        #: Read by FFLayer as its number of units: the activity's size per sample.
        self.out_features = channels * oh * ow
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    def unflatten(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as images ``[B, *in_shape]`` (in the block's memory layout), from images or flat rows.

        Raises:
            ValueError: ``x`` matches neither ``in_shape`` nor its flat size.
        """
        if x.dim() == 4:
            if tuple(x.shape[1:]) != self.in_shape:
                raise ValueError(
                    f"conv block expects inputs of shape {self.in_shape}, got {tuple(x.shape[1:])}"
                )
            return self._layout(x)
        if x.dim() != 2 or x.shape[1] != math.prod(self.in_shape):
            raise ValueError(
                f"conv block expects [B, {', '.join(map(str, self.in_shape))}] or flat "
                f"[B, {math.prod(self.in_shape)}] inputs, got {tuple(x.shape)}"
            )
        return self._layout(x.reshape(x.shape[0], *self.in_shape))

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def after_conv(self, z: torch.Tensor) -> torch.Tensor:
        """What follows the convolution's output ``z``: the normalisation, then the pooling."""
        return self.pool(self.norm(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output (before the layer's activation) for inputs ``x``, images or flat rows."""
        return self.after_conv(self.conv(self.unflatten(x)))

    def forward_additive(self, base: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """``forward(base[b] + codes[c])`` for every pair of a label-free input ``base`` ``[B, ...]`` and a
        label code of ``codes`` ``[C, ...]``: ``[B * C, ...]`` (label fastest), computing the convolution
        once for the batch and once for the codes (it is linear: only the bias is not)."""
        b, c = base.shape[0], codes.shape[0]
        zb = self.conv(self.unflatten(base))
        codes = self.unflatten(codes)
        zc = (
            self.conv(codes, use_bias=False)
            if isinstance(self.conv, LocallyConnected2d)
            else F.conv2d(
                codes, self.conv.weight, None, self.conv.stride, self.conv.padding, groups=self.conv.groups
            )
        )
        z = (zb.unsqueeze(1) + zc.unsqueeze(0)).reshape(b * c, *zb.shape[1:])
        return self.after_conv(z)


@dataclass
class ConvSpec:
    """One conv FF layer's description (the config's ``model.conv`` entries).

    Attributes:
        channels: output channels.
        kernel: the square kernel's size.
        stride: the convolution's stride.
        padding: zero padding; ``None`` is ``kernel // 2``.
        pool: ``"none"``, ``"max"`` or ``"avg"``.
        pool_size: the pooling window and stride.
        norm: ``"none"``, ``"batch"`` or ``"layer"``.
        local: locally connected (no weight sharing).
        groups: a grouped convolution.

    :class:`ConvBlock` says what each means.
    """

    channels: int = 32
    kernel: int = 3
    stride: int = 1
    padding: int | None = None
    pool: str = "none"
    pool_size: int = 2
    norm: str = "none"
    local: bool = False
    groups: int = 1


def block_from_spec(
    in_shape: Sequence[int], s: ConvSpec, bias: bool = True, channels_last: bool = False
) -> ConvBlock:
    """The :class:`ConvBlock` the spec ``s`` describes for inputs of ``in_shape`` ``(C, H, W)``, with or
    without ``bias``, in ``channels_last`` layout if asked (shared by the FF layers and the backprop
    twin)."""
    return ConvBlock(
        in_shape,
        s.channels,
        s.kernel,
        stride=s.stride,
        padding=s.padding,
        pool=s.pool,
        pool_size=s.pool_size,
        norm=s.norm,
        local=s.local,
        bias=bias,
        groups=s.groups,
        channels_last=channels_last,
    )


def conv_layer(
    in_shape: Sequence[int],
    spec: ConvSpec | dict[str, Any],
    bias: bool = True,
    channels_last: bool = False,
    **layer_kwargs: Any,
) -> FFLayer:
    """An FFLayer around a :class:`ConvBlock`: FFConv2d. The block is the ``spec`` (a :class:`ConvSpec`
    or a dict of its fields) for inputs of ``in_shape`` ``(C, H, W)``; ``bias`` and ``channels_last`` as in
    :class:`ConvBlock`; ``layer_kwargs`` go to :class:`FFLayer`."""
    s = spec if isinstance(spec, ConvSpec) else ConvSpec(**spec)
    # Peer normalisation (peer_norm > 0) is per channel here: a channel's running mean activity is over
    # the batch and every position of its map (FFLayer sizes it from the block's out_shape).
    return FFLayer(block_from_spec(in_shape, s, bias, channels_last), **layer_kwargs)


def conv_stack(
    in_shape: Sequence[int], specs: Sequence[ConvSpec | dict[str, Any]], **layer_kwargs: Any
) -> list[FFLayer]:
    """Consecutive conv FF layers, one per spec of ``specs``, the first taking inputs of ``in_shape`` and
    each next one sized from the one before; ``layer_kwargs`` go to every :func:`conv_layer`."""
    if not specs:
        raise ValueError("a CNN needs at least one conv layer spec")
    layers, shape = [], tuple(in_shape)
    for spec in specs:
        layer = conv_layer(shape, spec, **layer_kwargs)
        layers.append(layer)
        shape = layer.block.out_shape  # type: ignore[assignment]
    return layers


class BackpropCNN(nn.Module):
    """The backprop twin of an FF CNN: the same conv blocks and activation, a linear softmax layer on the
    flattened last block, one cross-entropy whose gradient crosses every layer.

    ``input_shape`` is the raw image's; a label channel of the FF net is not there (backprop gets no label).
    ``specs`` are the FF net's conv layers, ``num_classes`` the classifier's outputs; ``activation``,
    ``bias`` and ``channels_last`` as in the FF net.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        specs: Sequence[ConvSpec | dict[str, Any]],
        num_classes: int,
        activation: str = "relu",
        bias: bool = True,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        blocks, shape = [], tuple(input_shape)
        for spec in specs:
            s = spec if isinstance(spec, ConvSpec) else ConvSpec(**spec)
            block = block_from_spec(shape, s, bias, channels_last)
            blocks += [block, build_activation(activation)]
            shape = block.out_shape
        self.features = nn.Sequential(*blocks)
        self.input_shape = tuple(input_shape)
        self.classifier = nn.Linear(math.prod(shape), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``[B, num_classes]`` for images ``x`` (or flat rows of that size)."""
        return self.classifier(self.features(x.reshape(x.shape[0], *self.input_shape)).flatten(1))
