"""Test-time shift views: the views themselves, evaluation and prediction averaged over them, the config."""

from __future__ import annotations

import pytest
import torch

import forwardforward as ff
from forwardforward.data import ArrayDataset
from forwardforward.data.augment import ShiftViews, build_test_views
from forwardforward.experiment.build import build_network
from forwardforward.experiment.config import ConfigError, load_config
from forwardforward.goodness import ChannelGroupGoodness
from forwardforward.labels.spatial import SpatialPatterns
from forwardforward.models.conv import conv_stack

C = 4


def shifted_by_hand(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``out[i, j] = img[i - dy, j - dx]`` inside the image, zero where that falls outside."""
    out = torch.zeros_like(img)
    h, w = img.shape[-2:]
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[..., i, j] = img[..., i - dy, j - dx]
    return out


@pytest.mark.parametrize(("cross", "radius", "count"), [(False, 1, 9), (True, 1, 5), (False, 2, 25)])
def test_shift_views_move_content_by_their_offset_with_zero_fill(
    cross: bool, radius: int, count: int
) -> None:
    x = torch.rand(3, 2, 5, 6)
    views = ShiftViews(radius, cross=cross)
    out = views(x)
    assert len(out) == len(views) == count == len(set(views.offsets))
    assert views.offsets[0] == (0, 0) and torch.equal(out[0], x)  # the unchanged batch comes first
    for (dy, dx), v in zip(views.offsets, out):
        assert max(abs(dy), abs(dx)) <= radius and (not cross or dy == 0 or dx == 0)
        assert torch.equal(v, shifted_by_hand(x, dy, dx))
    flat = ShiftViews(radius, shape=(2, 5, 6), cross=cross)(x.flatten(1))  # flat in, flat out
    assert all(torch.equal(f, v.flatten(1)) for f, v in zip(flat, out))


def test_shift_views_reject_what_they_cannot_shift() -> None:
    with pytest.raises(ValueError, match="radius >= 1"):
        ShiftViews(0)
    with pytest.raises(ValueError, match=r"flat \[B, prod\(shape\)\] inputs with shape=...; got \(2, 10\)"):
        ShiftViews(1, shape=(1, 3, 3))(torch.rand(2, 10))
    with pytest.raises(ValueError, match="valid: none, shift, cross"):
        build_test_views("shfit", (1, 3, 3))
    assert build_test_views("none", (1, 3, 3)) is None


def _images(n: int, seed: int) -> ArrayDataset:
    gen = torch.Generator().manual_seed(seed)
    return ArrayDataset(torch.rand(n, 1, 8, 8, generator=gen), torch.arange(n) % C, C)


def _nets() -> list[ff.FFNetwork]:
    """An all-label scoring CNN (spatial label channel, a head) and a one-pass channel-competition CNN."""
    torch.manual_seed(0)
    emb = SpatialPatterns(C, strength=1.0, shape=(1, 8, 8))
    spatial = ff.FFNetwork(
        conv_stack(emb.output_shape(64), [{"channels": 4, "pool": "max"}, {"channels": 4}]), emb
    )
    layers = conv_stack((1, 8, 8), [{"channels": 8}, {"channels": 8}], goodness=ChannelGroupGoodness(C),
                        loss="channel_ce", normalize="none")  # fmt: skip
    layers[1].goodness = ChannelGroupGoodness(C)
    return [spatial, ff.FFNetwork(layers, labels=None, num_classes=C, head=False)]


@pytest.mark.parametrize("which", [0, 1])
def test_evaluate_and_predict_average_goodness_over_the_views(which: int) -> None:
    net, data = _nets()[which], _images(40, 1)
    views = ShiftViews(1, shape=(1, 8, 8))
    plain, res = net.evaluate(data, batch_size=16), net.evaluate(data, batch_size=16, views=views)
    for key, value in plain.items():  # the one-view figures are the same as without views
        assert res[key] == pytest.approx(value), key
    g = torch.stack([net.label_goodness(v) for v in views(data.x)]).mean(0)  # [B, C, L] averaged by hand
    by_hand = (g[:, :, net.score_layers].sum(2).argmax(1) == data.y).float().mean().item()
    assert res["views"] == 9 and res["accuracy_views"] == pytest.approx(by_hand)
    assert res["layer_accuracy_views"] == pytest.approx(
        (g.argmax(1) == data.y.unsqueeze(1)).float().mean(0).tolist()
    )
    predicted = net.predict(data.x, views=views)
    assert res["accuracy_views"] == pytest.approx((predicted == data.y).float().mean().item())
    assert not torch.allclose(g, net.label_goodness(data.x))  # the views do change the goodness
    if net.head is not None:
        head = (net.predict(data.x, mode="head", views=views) == data.y).float().mean().item()
        assert res["head_accuracy_views"] == pytest.approx(head)
    same = net.evaluate(data, views=lambda x: [x, x.clone()])  # identical views: nothing changes
    assert same["accuracy_views"] == pytest.approx(plain["accuracy"])


def test_config_test_views_reach_the_network_and_are_checked() -> None:
    cfg = load_config(None, ["model.hidden=[16]", "model.test_views=cross"])  # digits: 8x8 images
    net = build_network(cfg, 64, 10)
    assert isinstance(net.test_views, ShiftViews) and len(net.test_views) == 5
    assert net.test_views.shape == (1, 8, 8)
    assert build_network(load_config(None, ["model.hidden=[16]"]), 64, 10).test_views is None
    assert "test_views" not in "".join(net.state_dict())  # a checkpoint is the same with or without them
    with pytest.raises(ConfigError, match="Did you mean 'shift'"):
        load_config(None, ["model.test_views=shfit"])
