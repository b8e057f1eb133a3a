"""The linear probe: it learns what is linearly there, reproducibly, and `ff probe` runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from forwardforward import FFNetwork
from forwardforward.evaluation.probe import (
    default_probe_layers,
    fit_linear_probe,
    network_features,
    probe_network,
    probe_pixels,
)
from forwardforward.experiment.cli import main


def test_probe_beats_chance_on_separable_data_and_is_seeded(blobs_train, blobs_test) -> None:
    x_tr, x_te = blobs_train.x.flatten(1), blobs_test.x.flatten(1)
    a = fit_linear_probe(x_tr, blobs_train.y, x_te, blobs_test.y, epochs=30, lr=0.01, seed=1)
    b = fit_linear_probe(x_tr, blobs_train.y, x_te, blobs_test.y, epochs=30, lr=0.01, seed=1)
    assert a.accuracy > 0.9  # chance is 0.25
    assert (a.accuracy, a.train_accuracy) == (b.accuracy, b.train_accuracy)
    assert a.feature_dim == 16 and a.epochs == 30


def test_probe_finds_nothing_in_features_without_information(blobs_train, blobs_test) -> None:
    g = torch.Generator().manual_seed(0)
    noise_tr, noise_te = torch.randn(256, 16, generator=g), torch.randn(256, 16, generator=g)
    r = fit_linear_probe(noise_tr, blobs_train.y, noise_te, blobs_test.y, epochs=30, lr=0.01)
    assert r.accuracy < 0.4


def test_probe_trains_even_under_no_grad(blobs_train, blobs_test) -> None:
    with torch.no_grad():
        r = probe_pixels(blobs_train, blobs_test, epochs=30, lr=0.01)
    assert r.accuracy > 0.9 and r.features == "raw pixels"


def test_default_layers_are_the_last_three_hidden_ones() -> None:
    assert default_probe_layers(4) == [1, 2, 3]
    assert default_probe_layers(2) == [0, 1]
    assert default_probe_layers(1) == [0]


def test_probe_network_on_frozen_unsupervised_and_supervised_nets(blobs_train, blobs_test, make_net) -> None:
    torch.manual_seed(0)
    unsup = FFNetwork.mlp([16, 24, 24], num_classes=None, labels=None, head=False)
    before = [p.detach().clone() for p in unsup.parameters()]
    feats = network_features(unsup, blobs_train.x[:10], [1])
    assert feats.shape == (10, 24)
    r = probe_network(unsup, blobs_train, blobs_test, layers=[0, 1], epochs=30, lr=0.01)
    assert r.feature_dim == 48 and r.accuracy > 0.8
    assert all(torch.equal(a, p) for a, p in zip(before, unsup.parameters()))  # the net is frozen
    sup = make_net()
    assert probe_network(sup, blobs_train, blobs_test, epochs=30, lr=0.01).accuracy > 0.8
    with pytest.raises(ValueError, match="layer indices"):
        probe_network(sup, blobs_train, blobs_test, layers=[5])


def test_probe_rejects_mismatched_features() -> None:
    with pytest.raises(ValueError, match="same D"):
        fit_linear_probe(
            torch.rand(4, 3),
            torch.zeros(4, dtype=torch.long),
            torch.rand(4, 2),
            torch.zeros(4, dtype=torch.long),
        )


def test_ff_probe_end_to_end_on_a_tiny_unsupervised_checkpoint(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    common = ["trainer.progress=false", "trainer.threads=1"]
    rc = main(
        [
            "train",
            "model.labels=none",
            "trainer.negatives=hybrid",
            "unsup.blur_steps=2",
            "model.hidden=[32,32]",
            "trainer.epochs=1",
            "probe.epochs=10",
            "probe.lr=0.01",
            *common,
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert trained["negatives"] == "hybrid" and trained["test_accuracy_probe"] > 0.5  # digits: 10 classes
    probe = ["probe", str(out / "checkpoint.pt"), "probe.epochs=10", "probe.lr=0.01", "--layers", "1"]
    rc = main([*probe, "--raw"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["probe"]["features"] == "layers [1]" and res["probe"]["feature_dim"] == 32
    assert res["probe_raw_pixels"]["feature_dim"] == 64 and res["probe"]["accuracy"] > 0.5
    again = main(probe)
    assert again == 0
    assert json.loads(capsys.readouterr().out)["probe"]["accuracy"] == res["probe"]["accuracy"]
    # probe.labels: the probe learns from a seeded draw of that many labelled images, the raw one too.
    few = [*probe[:4], "probe.labels=100", *probe[4:], "--raw"]
    assert main(few) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["probe_labels"] == 100 and res["probe_labels"] > 1000
    assert first["probe"]["accuracy"] != res["probe"]["accuracy"]
    assert main(few) == 0
    second = json.loads(capsys.readouterr().out)  # the same draw: the same accuracies
    for key in ("probe", "probe_raw_pixels"):
        assert (second[key]["accuracy"], second[key]["train_accuracy"]) == (
            first[key]["accuracy"],
            first[key]["train_accuracy"],
        )
    assert main([*probe[:4], "probe.labels=100000", *probe[4:]]) == 2
    assert "probe.labels=100000" in capsys.readouterr().err
    # `ff eval` has no labels to score on an unsupervised net: it says to probe instead.
    assert main(["eval", str(out / "checkpoint.pt")]) == 2
    assert "ff probe" in capsys.readouterr().err


def test_ff_probe_on_a_supervised_checkpoint(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sup"
    assert (
        main(["train", "model.hidden=[16]", "trainer.epochs=1", "trainer.progress=false", "--out", str(out)])
        == 0
    )
    capsys.readouterr()
    assert main(["probe", str(out), "probe.epochs=10", "probe.lr=0.01"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["probe"]["features"] == "layers [0]" and res["probe"]["accuracy"] > 0.5


def test_probe_labels_draws_one_subset_for_the_network_and_the_raw_pixel_probe(monkeypatch) -> None:
    """probe.labels: both probes learn from the same seeded draw of that many labelled images."""
    from types import SimpleNamespace

    import forwardforward.experiment.unsupervised as probe_module
    from forwardforward.experiment.build import build_network, load_data
    from forwardforward.experiment.config import load_config
    from forwardforward.experiment.unsupervised import probe_from_config

    cfg = load_config(None, ["model.labels=none", "trainer.negatives=hybrid", "model.hidden=[8]"])
    cfg.probe.labels, cfg.probe.raw = 50, True
    splits = load_data(cfg)
    seen: dict[str, torch.Tensor] = {}

    def record(name: str, train) -> SimpleNamespace:
        seen[name] = train.y.clone()
        return SimpleNamespace(as_dict=lambda: {"accuracy": 0.0})

    monkeypatch.setattr(probe_module, "probe_network", lambda net, train, *a, **k: record("network", train))
    monkeypatch.setattr(probe_module, "probe_pixels", lambda train, *a, **k: record("pixels", train))
    result = probe_from_config(cfg, build_network(cfg, 64, 10), splits)
    assert result["probe_labels"] == 50 and len(splits.train) > 50
    assert len(seen["network"]) == 50 and torch.equal(seen["network"], seen["pixels"])


def test_probe_labels_and_topk_are_checked_before_anything_trains(tmp_path: Path, capsys) -> None:
    from forwardforward.experiment.config import ConfigError, load_config

    unsup = ["model.labels=none", "trainer.negatives=hybrid"]
    with pytest.raises(ConfigError, match=r"probe\.labels .* >= 1 or null, got 0"):
        load_config(None, [*unsup, "probe.labels=0"])
    with pytest.raises(ConfigError, match=r"model\.topk .* >= 1, got 0"):
        load_config(None, ["model.goodness=topk", "model.topk=0"])
    # More labels than training images: the error comes before training, and no checkpoint is written.
    out = tmp_path / "run"
    rc = main(["train", *unsup, "model.hidden=[8]", "probe.labels=100000", "--out", str(out)])
    assert rc == 2 and "probe.labels=100000" in capsys.readouterr().err
    assert not (out / "checkpoint.pt").exists()
