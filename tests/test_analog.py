"""Analog-style imperfections: k-bit quantisation, relative noise, and networks converted to use them."""

from __future__ import annotations

import pytest
import torch

from forwardforward import Trainer
from forwardforward.evaluation.baselines import BackpropMLP, accuracy, train_backprop
from forwardforward.hardware.analog import (
    AnalogActivation,
    AnalogLinear,
    add_noise,
    make_analog,
    quantize,
    quantize_ste,
)


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_quantize_has_at_most_2_to_the_k_values(bits: int) -> None:
    x = torch.randn(5000) * 3 + 1
    q = quantize(x, bits)
    assert len(torch.unique(q)) <= 2**bits
    step = (x.max() - x.min()) / (2**bits - 1)
    assert (q - x).abs().max() <= step / 2 + 1e-5  # rounding to the nearest level


def test_quantize_ste_passes_the_gradient_straight_through() -> None:
    x = torch.randn(10, requires_grad=True)
    (quantize_ste(x, 2) * torch.arange(10.0)).sum().backward()
    assert torch.equal(x.grad, torch.arange(10.0))
    with pytest.raises(ValueError, match="bits"):
        quantize(x, 0)


def test_noise_sigma_zero_is_identity_and_noise_scales_with_sigma() -> None:
    x = torch.randn(200, 200) * 5
    assert add_noise(x, 0.0) is x
    torch.manual_seed(0)
    stds = [float((add_noise(x, s) - x).std()) for s in (0.05, 0.1, 0.2, 0.4)]
    rms = float(x.pow(2).mean().sqrt())
    for s, std in zip((0.05, 0.1, 0.2, 0.4), stds):
        assert std == pytest.approx(s * rms, rel=0.03)  # relative σ: std = σ · RMS(x)
    with pytest.raises(ValueError, match="sigma"):
        add_noise(x, -0.1)


def test_make_analog_converts_ff_network_and_it_still_learns(make_net, blobs_train, blobs_test) -> None:
    coarse = make_analog(make_net(), weight_bits=4, act_bits=4)
    assert all(isinstance(layer.block, AnalogLinear) for layer in coarse.layers)
    assert all(isinstance(layer.activation, AnalogActivation) for layer in coarse.layers)
    h = coarse.layers[0](coarse.embed(blobs_test.x[:64], blobs_test.y[:64]))
    assert len(torch.unique(h)) <= 16

    net = make_analog(make_net(), weight_noise=0.05, act_noise=0.05, weight_bits=8, act_bits=8)
    Trainer(net, lr=0.01, progress=False).fit(blobs_train, epochs=4, batch_size=64)
    assert net.evaluate(blobs_test)["accuracy"] > 0.85


def test_make_analog_converts_backprop_mlp_and_shares_weights(blobs_train, blobs_test) -> None:
    torch.manual_seed(0)
    model = BackpropMLP([16, 32, 32], 4)
    first = model[1].weight
    make_analog(model, weight_bits=2, act_bits=2)
    assert isinstance(model[1], AnalogLinear) and model[1].weight is first
    assert isinstance(model[2], AnalogActivation) and isinstance(model[5], AnalogLinear)
    assert len(torch.unique(model[1].effective_weight())) <= 4
    train_backprop(model, blobs_train, epochs=3, batch_size=64, lr=0.01)
    assert accuracy(model, blobs_test) > 0.8


def test_make_analog_without_imperfections_is_a_no_op(make_net) -> None:
    net = make_net()
    block = net.layers[0].block
    assert make_analog(net) is net and net.layers[0].block is block


def test_config_keys_build_an_analog_network() -> None:
    from forwardforward import ConfigError, load_config
    from forwardforward.experiment.build import build_network

    cfg = load_config(None, ["model.hidden=[8,8]", "model.weight_bits=4", "model.act_noise=0.1"])
    net = build_network(cfg, 16, 4)
    assert isinstance(net.layers[1].block, AnalogLinear) and net.layers[1].block.spec.weight_bits == 4
    assert not isinstance(build_network(load_config(None, []), 16, 4).layers[0].block, AnalogLinear)
    with pytest.raises(ConfigError, match=r"model\.act_bits"):
        load_config(None, ["model.act_bits=0"])
    with pytest.raises(ConfigError, match=r"model\.weight_noise"):
        load_config(None, ["model.weight_noise=-1"])
