"""One source of defaults: the Python API builds what ``ff train`` builds from an empty config."""

from __future__ import annotations

import torch

from forwardforward import FFNetwork, Trainer
from forwardforward.data import load
from forwardforward.defaults import MODEL, TRAINER, Config
from forwardforward.experiment.build import build_network, build_trainer, sample_shape
from forwardforward.experiment.config import _valid_keys, load_config
from forwardforward.experiment.explain import key_meanings


def test_python_defaults_build_and_train_what_ff_train_does() -> None:
    cfg = load_config(None, ["trainer.progress=false"])
    splits = load("digits")
    shape = sample_shape(splits.train)
    from_config = build_network(cfg, shape, 10)
    torch.manual_seed(cfg.trainer.seed)
    from_python = FFNetwork.mlp([64, *MODEL.hidden], num_classes=10)
    assert repr(from_python) == repr(from_config)  # the same pieces: goodness, loss, labels, normaliser...
    for (k, a), b in zip(from_python.state_dict().items(), from_config.state_dict().values()):
        assert torch.equal(a, b), k
    config_trainer = build_trainer(cfg, from_config)
    python_trainer = Trainer(from_python, progress=False)
    assert repr(python_trainer.negatives) == repr(config_trainer.negatives)
    for g, h in zip(python_trainer.optimizer.param_groups, config_trainer.optimizer.param_groups):
        assert {k: v for k, v in g.items() if k != "params"} == {k: v for k, v in h.items() if k != "params"}
    subset = splits.train.subset(torch.arange(256))
    a = python_trainer.fit(subset, epochs=1)
    b = config_trainer.fit(subset, 1, cfg.trainer.batch_size)
    assert [r["loss/0"] for r in a] == [r["loss/0"] for r in b]
    for (k, p), q in zip(from_python.state_dict().items(), from_config.state_dict().values()):
        assert torch.equal(p, q), k


def test_the_defaults_are_the_configs() -> None:
    cfg = load_config(None)
    assert cfg.model.goodness == MODEL.goodness and cfg.trainer.lr == TRAINER.lr
    assert cfg.trainer.batch_size == TRAINER.batch_size and cfg.model.labels == MODEL.labels


def test_every_config_key_has_a_meaning() -> None:
    """``ff config`` prints each key's meaning from its comment in defaults.py: a new key needs one."""
    meanings = key_meanings()
    missing = [k for k in _valid_keys(Config()) if not meanings.get(k)]
    assert not missing, f"keys without a comment in defaults.py: {missing}"
    assert all(meanings[section] for section in ("data", "model", "trainer", "probe"))  # class docstrings
