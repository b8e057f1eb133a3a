"""Black boxes between FF layers: FF trains through them, backprop does not, and bad outputs fail clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forwardforward import FFNetwork, Trainer
from forwardforward.evaluation.baselines import BackpropMLP, accuracy, train_backprop
from forwardforward.hardware.blackbox import BlackBox, BlackBoxError, BlackBoxModule, check_output


def numpy_round(h: np.ndarray) -> np.ndarray:
    return np.round(h * 2) / 2


def test_numpy_box_returns_tensor_on_input_device_and_dtype() -> None:
    box = BlackBox(numpy_round)
    x = torch.rand(5, 8, dtype=torch.float64)
    out = box(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.device == x.device
    assert torch.equal(out, torch.round(x * 2) / 2)


def test_mlp_passes_between_through_and_ff_trains_through_numpy(make_net, blobs_train, blobs_test) -> None:
    calls = []

    def counting_round(h: np.ndarray) -> np.ndarray:
        calls.append(h.shape)
        return np.round(h * 8) / 8

    net = make_net(between={0: BlackBox(counting_round)})  # rounding to 1/8 of the activities' RMS
    assert 0 in net.between
    Trainer(net, lr=0.01, progress=False).fit(blobs_train, epochs=4, batch_size=64)
    assert calls, "the black box was never called"
    assert net.evaluate(blobs_test)["accuracy"] > 0.9


def test_box_with_promised_width_sets_next_layer_input(make_net) -> None:
    rng = np.random.default_rng(0)
    proj = rng.standard_normal((32, 8)).astype(np.float32)
    net = make_net(between={0: BlackBox(lambda h: np.sign(h @ proj), name="hash8", out_features=8)})
    assert net.layers[1].block.in_features == 8
    losses, _ = net.local_losses(
        net.embed(torch.rand(3, 16), torch.tensor([0, 1, 2])),
        net.embed(torch.rand(3, 16), torch.tensor([1, 2, 3])),
    )
    assert len(losses) == 2


@pytest.mark.parametrize(
    ("fn", "needle"),
    [
        (lambda h: h[:-1], "batch size must stay 6"),
        (lambda h: h[:, :5], "the next layer takes [6, 32]"),
        (lambda h: h.tolist(), "returned a builtins.list"),
        (lambda h: None, "returned a builtins.NoneType"),
    ],
)
def test_bad_box_output_names_the_box(make_net, fn, needle: str) -> None:
    net = make_net(between={0: BlackBox(fn, name="my-broken-box")})
    x = torch.rand(3, 16)
    with pytest.raises(BlackBoxError) as err:
        net.local_losses(net.embed(x, torch.tensor([0, 1, 2])), net.embed(x, torch.tensor([1, 2, 3])))
    msg = str(err.value)
    assert "'my-broken-box'" in msg and needle in msg and "between layer 0 and layer 1" in msg


def test_plain_callable_is_validated_and_named(make_net) -> None:
    def shrink(h: torch.Tensor) -> torch.Tensor:
        return h[:, :3]

    net = make_net(between={0: shrink})
    with pytest.raises(BlackBoxError, match=r"shrink .*returned shape \(4, 3\)"):
        net.activities(net.embed(torch.rand(4, 16), torch.tensor([0, 1, 2, 3])))


def test_check_output_converts_numpy_and_rejects_object_arrays() -> None:
    x = torch.zeros(2, 3)
    out = check_output("box", np.ones((2, 3), dtype=np.int32), x, 3)
    assert out.dtype == torch.float32
    with pytest.raises(BlackBoxError, match="object array"):
        check_output("box", np.array([object(), object()]), x)


def test_backprop_gets_no_gradient_through_numpy_but_ste_trains(blobs_train, blobs_test) -> None:
    box = BlackBox(numpy_round)
    torch.manual_seed(0)
    cut = BackpropMLP([16, 32, 32], 4, between={0: box})
    x = blobs_train.x[:8]
    cut(x).sum().backward()
    assert cut[1].weight.grad is None, "autograd should not reach below a NumPy call"
    assert cut[4].weight.grad is not None  # the layer above the box still learns

    torch.manual_seed(0)
    ste = BackpropMLP([16, 32, 32], 4, between={0: box}, blackbox_mode="ste")
    before = ste[1].weight.detach().clone()
    train_backprop(ste, blobs_train, epochs=3, batch_size=64, lr=0.01)
    assert not torch.equal(before, ste[1].weight)
    assert accuracy(ste, blobs_test) > 0.9


def test_blackbox_module_rejects_unknown_mode_and_bad_surrogate() -> None:
    with pytest.raises(ValueError, match="valid: autograd, ste"):
        BlackBoxModule(numpy_round, mode="magic")
    mod = BlackBoxModule(BlackBox(lambda h: h[:, :2], name="narrow"), mode="ste")
    with pytest.raises(BlackBoxError, match=r"'narrow'.*surrogate"):
        mod(torch.rand(3, 4, requires_grad=True))


def test_between_index_out_of_range(make_net) -> None:
    with pytest.raises(ValueError, match="between"):
        make_net(between={1: numpy_round})
    with pytest.raises(ValueError, match="between"):
        BackpropMLP([16, 32, 32], 4, between={1: numpy_round})


def test_ffnetwork_constructor_accepts_between_directly(make_net) -> None:
    base = make_net()
    net = FFNetwork(list(base.layers), base.labels, num_classes=4, between={0: BlackBox(numpy_round)})
    assert net.predict(torch.rand(5, 16)).shape == (5,)
