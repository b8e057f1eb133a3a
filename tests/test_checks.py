"""Configs are checked against the registries when they load: typos fail before any data are read,
aliases become canonical names, every piece parameter is reachable from a config."""

from __future__ import annotations

import inspect

import pytest

from forwardforward.experiment.checks import PIECES
from forwardforward.experiment.config import ConfigError, load_config
from forwardforward.goodness import GOODNESS
from forwardforward.losses import LOSSES

TYPOS = [
    ("data.name", "fashion-mnst", "fashion-mnist"),
    ("model.kind", "recurent", "recurrent"),
    ("model.goodness", "sumsqq", "sumsq"),
    ("model.loss", "softpluss", "softplus"),
    ("model.activation", "rellu", "relu"),
    ("model.normalize", "lenght", "length"),
    ("model.input_normalize", "rsm", "rms"),
    ("model.init", "hintn", "hinton"),
    ("model.labels", "apend", "append"),
    ("trainer.negatives", "hardd", "hard"),
    ("trainer.optimizer", "adamm", "adam"),
    ("trainer.augment", "shfit", "shift"),
    ("trainer.schedule", "gready", "greedy"),
    ("trainer.phases", "alternte", "alternate"),
]


@pytest.mark.parametrize(("key", "typo", "meant"), TYPOS)
def test_a_typo_in_any_piece_name_fails_at_load_naming_the_key_and_the_nearest(
    key: str, typo: str, meant: str
):
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"{key}={typo}"])
    message = str(err.value)
    assert message.startswith(f"unknown {key} {typo!r}; valid: ") and f"Did you mean {meant!r}?" in message
    assert "\n" not in message


def test_every_piece_key_is_covered_by_the_typo_test() -> None:
    assert {key for key, _ in PIECES} <= {key for key, _, _ in TYPOS}


@pytest.mark.parametrize(
    ("override", "key", "canonical"),
    [
        ("model.goodness=sum_squares", "goodness", "sumsq"),
        ("model.loss=logistic", "loss", "softplus"),
        ("model.kind=conv", "kind", "cnn"),
        ("trainer.negatives=self_contrastive", "negatives", "scff"),
        ("data.name=fmnist", "name", "fashion-mnist"),
    ],
)
def test_aliases_are_accepted_and_become_canonical(override: str, key: str, canonical: str) -> None:
    extra = {
        "kind": ["model.labels=spatial", "model.conv=[{channels: 4}]"],
        "negatives": ["model.labels=none", "model.head=false"],
    }.get(key, [])
    cfg = load_config(None, [override, *extra])
    section = "data" if key == "name" else "trainer" if key == "negatives" else "model"
    assert cfg[section][key] == canonical


def test_the_cnn_label_alias_grating_is_accepted() -> None:
    cfg = load_config(None, ["model.kind=cnn", "model.labels=grating", "model.conv=[{channels: 4}]"])
    assert cfg.model.labels == "spatial"


@pytest.mark.parametrize(
    ("registry", "exempt"), [(LOSSES, {"eps"}), (GOODNESS, {"eps", "base", "num_groups"})]
)
def test_every_piece_parameter_is_reachable_from_a_config(registry, exempt) -> None:
    """Each registered loss's and goodness's constructor arguments have a config key (``model.<name>``,
    or ``model.topk`` for top-k's k)."""
    keys = set(load_config(None).model) | {"k"}
    for name in registry.names():
        params = set(inspect.signature(registry.get(name)).parameters) - {"self", "args", "kwargs"} - exempt
        assert params <= keys, (name, params - keys)
