"""The two label embeddings by value: what overlay and append write, where, and what they leave alone."""

from __future__ import annotations

import pytest
import torch

from forwardforward import FFNetwork
from forwardforward.labels.embeddings import LABELS, Append, Overlay, build_labels


def test_overlay_writes_a_scaled_one_hot_over_the_first_values() -> None:
    x = torch.arange(12.0).reshape(2, 1, 1, 6) + 10
    emb = Overlay(num_classes=3, strength=2.0)
    out = emb(x, torch.tensor([2, 0]))
    assert torch.equal(
        out,
        torch.tensor([[0.0, 0.0, 2.0, 13.0, 14.0, 15.0], [2.0, 0.0, 0.0, 19.0, 20.0, 21.0]]),
    )
    assert emb.output_dim(6) == 6
    assert float(x[0, 0, 0, 0]) == 10.0  # the input is not modified in place


def test_append_concatenates_a_scaled_one_hot_and_keeps_every_pixel() -> None:
    x = torch.arange(8.0).reshape(2, 4)
    emb = Append(num_classes=3, strength=0.5)
    out = emb(x, torch.tensor([1, 2]))
    assert torch.equal(
        out,
        torch.tensor([[0.0, 1.0, 2.0, 3.0, 0.0, 0.5, 0.0], [4.0, 5.0, 6.0, 7.0, 0.0, 0.0, 0.5]]),
    )
    assert emb.output_dim(4) == 7


@pytest.mark.parametrize("cls", [Overlay, Append])
def test_neutral_label_is_strength_over_classes_in_every_slot(cls: type) -> None:
    emb = cls(num_classes=4, strength=2.0)
    x = torch.ones(3, 10)
    neutral = emb.neutral(x)
    slots = neutral[:, :4] if cls is Overlay else neutral[:, 10:]
    assert torch.allclose(slots, torch.full((3, 4), 0.5))
    rest = neutral[:, 4:] if cls is Overlay else neutral[:, :10]
    assert torch.equal(rest, x[:, 4:] if cls is Overlay else x)


@pytest.mark.parametrize("cls", [Overlay, Append])
def test_embeddings_keep_the_input_dtype(cls: type) -> None:
    x = torch.randn(2, 8, dtype=torch.float64)
    emb = cls(num_classes=2)
    assert emb(x, torch.tensor([0, 1])).dtype == torch.float64
    assert emb.all_labels(x).dtype == torch.float64


def test_overlay_needs_more_inputs_than_classes_and_says_to_append() -> None:
    with pytest.raises(ValueError, match=r"more than 4 input values.*labels='append'"):
        Overlay(num_classes=4).output_dim(4)
    with pytest.raises(ValueError, match="labels='append'"):
        FFNetwork.mlp([4, 8], num_classes=4, labels="overlay")
    assert FFNetwork.mlp([4, 8], num_classes=4, labels="append").layers[0].block.in_features == 8


def test_aliases_build_the_same_embeddings() -> None:
    assert type(LABELS.build("onehot", num_classes=2)) is Overlay
    assert type(LABELS.build("concat", num_classes=2)) is Append
    emb = build_labels("append", num_classes=3, strength=4.0)
    assert (emb.num_classes, emb.strength) == (3, 4.0)
    custom = Append(num_classes=5)
    assert build_labels(custom, num_classes=3) is custom


def test_a_network_without_labels_embeds_by_flattening() -> None:
    net = FFNetwork.mlp([6, 4], num_classes=None, labels=None, head=False)
    x = torch.randn(2, 1, 2, 3)
    assert torch.equal(net.embed(x, torch.tensor([0, 1])), x.flatten(1))
    assert torch.equal(net.embed_neutral(x), x.flatten(1))
    with pytest.raises(ValueError, match="supervised network"):
        net.label_goodness(x)
    with pytest.raises(ValueError, match="a label embedding needs num_classes"):
        FFNetwork.mlp([6, 4], num_classes=None, labels="append")
