"""The backprop twin: same hidden sizes as the FF net, and it learns the blobs; ``ff compare`` runs both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import HIDDEN, INPUT_DIM, NUM_CLASSES
from torch import nn

from forwardforward.evaluation.baselines import BackpropMLP, accuracy, train_backprop
from forwardforward.experiment.cli import main


def test_backprop_twin_has_the_ff_nets_hidden_sizes(make_net) -> None:
    ff = make_net()
    bp = BackpropMLP([INPUT_DIM, *HIDDEN], NUM_CLASSES, activation="relu")
    linears = [m for m in bp if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears[:-1]] == [layer.num_units for layer in ff.layers] == HIDDEN
    assert linears[0].in_features == INPUT_DIM  # no label in the input
    assert linears[-1].out_features == NUM_CLASSES
    assert [type(m) for m in bp] == [nn.Flatten, nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert isinstance(BackpropMLP([4, 3], 2, activation="tanh")[2], nn.Tanh)
    assert BackpropMLP([4, 3], 2, bias=False)[1].bias is None


def test_train_backprop_learns_the_blobs(blobs_train, blobs_test) -> None:
    torch.manual_seed(0)
    model = BackpropMLP([INPUT_DIM, *HIDDEN], NUM_CLASSES)
    before = accuracy(model, blobs_test)
    history = train_backprop(model, blobs_train, epochs=4, batch_size=32, lr=0.01, eval_data=blobs_test)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["eval/accuracy"] > 0.9 > before
    assert history[-1]["eval/accuracy"] == accuracy(model, blobs_test)
    assert all(b["train_seconds"] >= a["train_seconds"] for a, b in zip(history, history[1:]))


def test_train_backprop_is_seeded(blobs_train) -> None:
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = BackpropMLP([INPUT_DIM, 8], NUM_CLASSES)
        train_backprop(model, blobs_train, epochs=1, batch_size=32, optimizer="sgd", lr=0.1, seed=3)
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_train_backprop_stops_on_a_nan_loss(blobs_train) -> None:
    model = BackpropMLP([INPUT_DIM, 8], NUM_CLASSES)
    with torch.no_grad():
        model[1].weight.fill_(float("nan"))
    with pytest.raises(RuntimeError, match="backprop loss became nan at epoch 1; lower the lr"):
        train_backprop(model, blobs_train, epochs=1, batch_size=32)


def test_ff_compare_trains_both_on_the_same_architecture(tmp_path: Path, capsys, monkeypatch) -> None:
    threads = torch.get_num_threads()
    rc = main(
        [
            "compare",
            "model.hidden=[32]",
            "trainer.epochs=1",
            "trainer.progress=false",
            "trainer.threads=1",
            "--out",
            str(tmp_path),
        ]
    )
    torch.set_num_threads(threads)
    assert rc == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert json.loads((tmp_path / "compare.json").read_text()) == result
    assert result["dataset"] == "digits"
    assert result["backprop"]["test_accuracy"] > 0.5 and result["ff"]["test_accuracy_head"] > 0.3
    assert (tmp_path / "ff" / "checkpoint.pt").exists()
    assert "backprop twin" in err and "forward-forward (goodness)" in err
    # like with like: both clocks for both methods, training alone within everything
    for method in ("ff", "backprop"):
        assert result[method]["train_seconds"] <= result[method]["wall_seconds"]
    assert "train s" in err and "wall s" in err


def test_backprop_twin_from_a_config_uses_the_same_budget_and_schedule(
    blobs_train, blobs_test, monkeypatch
) -> None:
    """`ff compare` and the benchmark build the twin through one function; it must pass every choice the FF
    run made (sizes, optimiser and its kwargs, lr schedule, batch, epochs, seed), the schedule included."""
    import forwardforward.experiment.build as build
    from forwardforward import load_config
    from forwardforward.data import DataSplits
    from forwardforward.experiment.build import train_backprop_twin

    seen: dict = {}

    def spy(model, train, epochs, batch_size, optimizer, lr, weight_decay, optimizer_kwargs, **kw):
        seen.update(
            model=model,
            epochs=epochs,
            batch_size=batch_size,
            optimizer=optimizer,
            lr=lr,
            optimizer_kwargs=optimizer_kwargs,
            **kw,
        )
        return [{"eval/accuracy": 1.0, "train_seconds": 0.0}]

    monkeypatch.setattr(build, "train_backprop", spy)
    cfg = load_config(
        None,
        [
            "model.hidden=[12,7]",
            "trainer.epochs=3",
            "trainer.batch_size=32",
            "trainer.optimizer=sgd",
            "trainer.momentum=0.9",
            "trainer.lr=0.05",
            "trainer.cooldown_start=0.5",
            "trainer.seed=4",
        ],
    )
    train_backprop_twin(cfg, DataSplits(train=blobs_train, test=blobs_test))
    linears = [m for m in seen["model"] if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [12, 7, blobs_train.num_classes]
    assert (seen["epochs"], seen["batch_size"], seen["optimizer"], seen["lr"]) == (3, 32, "sgd", 0.05)
    assert seen["optimizer_kwargs"] == {"momentum": 0.9}
    assert seen["cooldown_start"] == 0.5 and seen["seed"] == 4 and seen["eval_data"] is blobs_test
