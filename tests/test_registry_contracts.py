"""Contracts every registered piece keeps, parametrised over the registries' names.

A piece registered tomorrow is tested here without writing a new test: each test iterates
``Registry.names()`` (aliases included, since a config may use any of them).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from forwardforward.activations import ACTIVATIONS
from forwardforward.goodness import GOODNESS
from forwardforward.labels.embeddings import LABELS
from forwardforward.layers import call_with_accepted
from forwardforward.losses import LOSSES
from forwardforward.negatives import NEGATIVES
from forwardforward.normalize import (
    NORMALIZE,
    CenteredRMSNormalize,
    NoNormalize,
    RMSNormalize,
    UnitLengthNormalize,
)
from forwardforward.registry import Registry

REGISTRIES = {
    "goodness": GOODNESS,
    "loss": LOSSES,
    "label embedding": LABELS,
    "negatives": NEGATIVES,
    "normalize": NORMALIZE,
    "activation": ACTIVATIONS,
}
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True)


def finite_rows(min_batch: int = 1, max_batch: int = 6, width: int = 5) -> st.SearchStrategy:
    """[B, width] float tensors with moderate values."""
    return st.integers(min_batch, max_batch).flatmap(
        lambda b: st.lists(
            st.floats(-10, 10, allow_nan=False, width=32), min_size=b * width, max_size=b * width
        ).map(lambda v: torch.tensor(v, dtype=torch.float32).reshape(b, width))
    )


# ----------------------------------------------------------------------------- goodness

#: Constructor arguments a goodness needs for the small activities below (top-k: k fits every shape).
GOODNESS_KWARGS = {"topk": {"k": 2}, "top_k": {"k": 2}}


def build_goodness(name: str) -> torch.nn.Module:
    return GOODNESS.build(name, **GOODNESS_KWARGS.get(name, {}))


@pytest.mark.parametrize("name", GOODNESS.names())
@pytest.mark.parametrize("shape", [(5, 7), (5, 3, 2, 2)])
def test_goodness_is_one_nonnegative_differentiable_value_per_sample(name: str, shape: tuple) -> None:
    goodness = build_goodness(name)
    h = torch.randn(*shape, requires_grad=True)
    g = goodness(h)
    assert g.shape == (shape[0],)
    assert bool((g >= 0).all())
    g.sum().backward()
    assert h.grad is not None and bool(torch.isfinite(h.grad).all())
    assert float(h.grad.abs().sum()) > 0


@pytest.mark.parametrize("name", GOODNESS.names())
def test_goodness_gradient_is_finite_at_zero_activity(name: str) -> None:
    """Dead layers (all-zero ReLU output) must not produce NaN gradients."""
    h = torch.zeros(3, 4, requires_grad=True)
    g = build_goodness(name)(h)
    g.sum().backward()
    assert bool(torch.isfinite(g).all()) and bool(torch.isfinite(h.grad).all())


@pytest.mark.parametrize("name", GOODNESS.names())
@PROPERTY
@given(h=finite_rows())
def test_goodness_nonnegative_and_per_sample(name: str, h: torch.Tensor) -> None:
    goodness = build_goodness(name)
    g = goodness(h)
    assert g.shape == (h.shape[0],)
    assert bool((g >= 0).all())
    # Each sample's goodness depends on that sample alone.
    assert torch.allclose(goodness(h[:1]), g[:1])


@pytest.mark.parametrize("name", GOODNESS.names())
def test_goodness_grows_with_activity(name: str) -> None:
    h = torch.rand(4, 6) + 0.1
    goodness = build_goodness(name)
    assert bool((goodness(2 * h) > goodness(h)).all())


# ----------------------------------------------------------------------------- losses


def _loss_variants(name: str) -> list[nn.Module]:
    """The loss with its defaults and, where it takes a threshold, with threshold='width' resolved."""
    out = [LOSSES.build(name)]
    width = call_with_accepted(LOSSES.get(name), {"threshold": "width"})
    if getattr(width, "_threshold_spec", None) == "width":
        width.resolve_threshold(3)
        out.append(width)
    return out


@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_falls_when_positive_goodness_rises_or_negative_falls(name: str) -> None:
    gen = torch.Generator().manual_seed(0)
    for loss in _loss_variants(name):
        theta = getattr(loss, "threshold", None) or 2.0
        g_pos = (theta + torch.randn(8, generator=gen)).clamp_min(0).requires_grad_()
        g_neg = (theta + torch.randn(8, generator=gen)).clamp_min(0).requires_grad_()
        value = loss(g_pos, g_neg)
        assert value.shape == ()
        value.backward()
        if loss.saturating:  # samples past the margin may get zero gradient, never a wrong-signed one
            assert bool((g_pos.grad <= 0).all()) and bool((g_pos.grad < 0).any()), f"{loss}: d/d g_pos"
            assert bool((g_neg.grad >= 0).all()) and bool((g_neg.grad > 0).any()), f"{loss}: d/d g_neg"
            continue
        assert bool((g_pos.grad < 0).all()), f"{loss}: d loss / d g_pos must be < 0"
        assert bool((g_neg.grad > 0).all()), f"{loss}: d loss / d g_neg must be > 0"
        with torch.no_grad():
            assert float(loss(g_pos + 0.5, g_neg)) < float(value)
            assert float(loss(g_pos, g_neg - 0.5)) < float(value)


@pytest.mark.parametrize("name", LOSSES.names())
@PROPERTY
@given(
    pos=st.lists(st.floats(0, 8, width=32), min_size=4, max_size=4),
    neg=st.lists(st.floats(0, 8, width=32), min_size=4, max_size=4),
    delta=st.floats(0.05, 3),
)
def test_loss_monotone_property(name: str, pos: list, neg: list, delta: float) -> None:
    g_pos, g_neg = torch.tensor(pos), torch.tensor(neg)
    for loss in _loss_variants(name):
        base = float(loss(g_pos, g_neg))
        assert float(loss(g_pos + delta, g_neg)) <= base + 1e-6
        assert float(loss(g_pos, g_neg - delta)) <= base + 1e-6
        assert torch.isfinite(loss(g_pos, g_neg))


# ----------------------------------------------------------------------------- label embeddings


@pytest.mark.parametrize("name", LABELS.names())
@pytest.mark.parametrize("num_classes", [2, 4])
def test_label_embedding_shapes_and_round_trip(name: str, num_classes: int) -> None:
    emb = LABELS.build(name, num_classes=num_classes, strength=1.5)
    x = torch.randn(6, 1, 2, 5)  # ArrayDataset layout, 10 values per sample
    d = emb.output_dim(10)
    y = torch.arange(6) % num_classes
    embedded = emb(x, y)
    everything = emb.all_labels(x)
    neutral = emb.neutral(x)
    assert embedded.shape == (6, d)
    assert everything.shape == (6, num_classes, d)
    assert neutral.shape == (6, d)
    assert torch.equal(everything[torch.arange(6), y], embedded)
    assert torch.allclose(neutral, everything.mean(1), atol=1e-6)
    for c in range(num_classes):
        assert torch.equal(everything[:, c], emb(x, torch.full((6,), c)))
    # Different labels give different inputs; the label-free part is the same for all of them.
    assert not torch.equal(everything[:, 0], everything[:, 1])
    # (to rounding: strips on the image add the code to pixel values, where other embeddings add it to zeros)
    assert torch.allclose(emb.base(x), embedded - emb.codes(10, x.device, x.dtype)[y], atol=1e-6)


@pytest.mark.parametrize("name", LABELS.names())
def test_label_embedding_rejects_bad_labels(name: str) -> None:
    emb = LABELS.build(name, num_classes=3)
    x = torch.randn(2, 8)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\); got min 0, max 3"):
        emb(x, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="one entry per sample"):
        emb(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="num_classes >= 2"):
        LABELS.build(name, num_classes=1)


# ----------------------------------------------------------------------------- negative samplers


def _sample(name: str, y: torch.Tensor, c: int, scores: torch.Tensor, seed: int) -> torch.Tensor:
    sampler = NEGATIVES.build(name)
    gen = torch.Generator().manual_seed(seed)
    return sampler(y, c, scores if sampler.needs_scores else None, gen)


#: The label samplers among the negatives (the image sources have their own contract tests).
LABEL_SAMPLERS = [n for n in NEGATIVES.names() if not NEGATIVES.get(n).label_free]


@pytest.mark.parametrize("name", LABEL_SAMPLERS)
@PROPERTY
@given(
    c=st.integers(2, 10),
    batch=st.integers(1, 32),
    seed=st.integers(0, 2**31),
    scale=st.sampled_from([0.0, 1.0, 50.0, 1e6]),
)
def test_negative_sampler_never_returns_the_true_label(
    name: str, c: int, batch: int, seed: int, scale: float
) -> None:
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c, (batch,), generator=gen)
    scores = scale * torch.randn(batch, c, generator=gen)
    out = _sample(name, y, c, scores, seed)
    assert out.shape == y.shape and out.dtype == torch.int64
    assert bool(((out >= 0) & (out < c)).all())
    assert bool((out != y).all())


@pytest.mark.parametrize("name", LABEL_SAMPLERS)
def test_negative_sampler_is_reproducible_with_a_seeded_generator(name: str) -> None:
    y = torch.arange(64) % 5
    scores = torch.randn(64, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(_sample(name, y, 5, scores, 7), _sample(name, y, 5, scores, 7))
    assert not torch.equal(_sample(name, y, 5, scores, 7), _sample(name, y, 5, scores, 8))


# ----------------------------------------------------------------------------- normalisers

#: What each normaliser promises. A newly registered class must be added here (the test below says so).
NORMALIZER_PROMISES = {
    RMSNormalize: lambda out: out.flatten(1).pow(2).mean(1),  # mean of squares == 1
    UnitLengthNormalize: lambda out: out.flatten(1).norm(dim=1),  # length == 1
    CenteredRMSNormalize: lambda out: out.flatten(1).pow(2).mean(1),  # centred, then mean of squares == 1
}


@pytest.mark.parametrize("name", NORMALIZE.names())
def test_every_normaliser_has_a_stated_promise(name: str) -> None:
    cls = type(NORMALIZE.build(name))
    assert cls in NORMALIZER_PROMISES or cls is NoNormalize, f"add {cls.__name__} to NORMALIZER_PROMISES"


@pytest.mark.parametrize("name", NORMALIZE.names())
@PROPERTY
@given(x=finite_rows(), scale=st.floats(0.01, 100))
def test_normaliser_keeps_its_promise(name: str, x: torch.Tensor, scale: float) -> None:
    x = x + torch.sign(x) + (x == 0)  # keep every row well away from the zero vector
    norm = NORMALIZE.build(name)
    cls = type(norm)
    if cls is CenteredRMSNormalize:  # its promise is about the centred row: keep that away from zero too
        x = x - x.mean(1, keepdim=True) + 10 * torch.tensor([2.0, -1.0, 0.5, -1.0, -0.5]) * x.abs().max()
    out = norm(x)
    assert out.shape == x.shape
    if cls is NoNormalize:
        assert torch.equal(out, x)
        return
    assert torch.allclose(NORMALIZER_PROMISES[cls](out), torch.ones(len(x)), atol=1e-4)
    # Only the length changes: each row is a positive multiple of the input, and the scale is removed.
    ratio = out / x
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-4)
    assert bool((ratio > 0).all())
    assert torch.allclose(norm(scale * x), out, atol=1e-4)


@pytest.mark.parametrize("name", ["rms", "length"])
def test_normaliser_keeps_image_shape_and_handles_zero_rows(name: str) -> None:
    x = torch.randn(3, 2, 4, 4)
    x[1] = 0
    out = NORMALIZE.build(name)(x)
    assert out.shape == x.shape
    assert bool(torch.isfinite(out).all())
    assert bool((out[1] == 0).all())


# ----------------------------------------------------------------------------- activations


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_activation_is_elementwise_and_differentiable(name: str) -> None:
    act = ACTIVATIONS.build(name)
    assert isinstance(act, nn.Module)
    x = torch.randn(4, 7, requires_grad=True)
    out = act(x)
    assert out.shape == x.shape
    perm = torch.randperm(7)
    assert torch.allclose(act(x[:, perm]), out[:, perm])
    out.sum().backward()
    assert bool(torch.isfinite(x.grad).all())


# ----------------------------------------------------------------------------- the registries themselves


@pytest.mark.parametrize("kind", REGISTRIES)
def test_unknown_name_lists_valid_names(kind: str) -> None:
    registry = REGISTRIES[kind]
    with pytest.raises(KeyError) as err:
        registry.get("zzqqxx")
    msg = err.value.args[0]
    assert msg.startswith(f"unknown {kind} 'zzqqxx'; valid: {', '.join(registry.names())}.")
    assert "Did you mean" not in msg


@pytest.mark.parametrize(
    ("registry", "typo", "nearest"),
    [
        (LOSSES, "symbaa", "symba"),
        (LOSSES, "sofplus", "softplus"),
        (GOODNESS, "sumsqq", "sumsq"),
        (GOODNESS, "meansqr", "meansq"),
        (LABELS, "overlya", "overlay"),
        (NEGATIVES, "hardd", "hard"),
        (NORMALIZE, "rmss", "rms"),
        (ACTIVATIONS, "rellu", "relu"),
    ],
)
def test_unknown_name_suggests_the_nearest(registry: Registry, typo: str, nearest: str) -> None:
    with pytest.raises(KeyError) as err:
        registry.build(typo)
    assert err.value.args[0].endswith(f"Did you mean {nearest!r}?")


def test_registering_a_name_twice_is_an_error_and_instances_pass_through() -> None:
    reg: Registry[nn.Module] = Registry("widget")
    reg.register("a", "b")(nn.Identity)
    assert reg.names() == ["a", "b"] and "a" in reg and list(reg) == ["a", "b"]
    with pytest.raises(ValueError, match="widget 'b' is registered twice"):
        reg.register("b")(nn.ReLU)
    piece = nn.Tanh()
    assert reg.build(piece) is piece
    assert isinstance(reg.build("a"), nn.Identity)
