"""The Trainer: learning happens on easy blobs, one step equals plain autograd, the schedules, the lr
cooldown, the NaN guard, and its argument errors."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from forwardforward import Callback, FFNetwork, NonFiniteLossError, Trainer, load_checkpoint
from forwardforward.data import ArrayDataset
from forwardforward.negatives.labels import LabelNegatives
from forwardforward.training.callbacks import EpochLine
from forwardforward.training.trainer import build_optimizer, cooldown_factor, eval_subset


class NextLabel(LabelNegatives):
    """Deterministic negatives: the next class."""

    def forward(self, y, num_classes, scores=None, generator=None):  # type: ignore[override]
        return (y + 1) % num_classes


def _timeless(rows: list[dict]) -> list[dict]:
    return [
        {k: v for k, v in r.items() if k not in ("seconds", "train_seconds", "wall_seconds")} for r in rows
    ]


# ----------------------------------------------------------------------------- learning happens


@pytest.mark.parametrize("negatives", ["hard", "random"])
def test_all_schedule_learns_the_blobs(make_net, blobs_train, blobs_test, negatives: str) -> None:
    net = make_net()
    before = net.evaluate(blobs_test)
    trainer = Trainer(net, negatives=negatives, lr=0.02, seed=0, progress=False)
    history = trainer.fit(blobs_train, epochs=6, batch_size=32, eval_data=blobs_test)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5, 6]
    for i in range(2):
        first, last = history[0][f"sep/{i}"], history[-1][f"sep/{i}"]
        assert last > first, f"layer {i}: separation {first:.2f} -> {last:.2f}"
        assert last > 0.9
        assert history[-1][f"loss/{i}"] < history[0][f"loss/{i}"]
    assert history[-1]["loss/head"] < history[0]["loss/head"]
    after = net.evaluate(blobs_test)
    assert before["accuracy"] < 0.6  # chance is 0.25: the test is not won before training
    assert after["accuracy"] > 0.9
    assert after["head_accuracy"] > 0.9
    assert history[-1]["eval/accuracy"] == pytest.approx(after["accuracy"])
    assert history[-1]["eval/head_accuracy"] == pytest.approx(after["head_accuracy"])
    # Positive goodness ends above negative goodness in every layer.
    assert all(history[-1][f"g_pos/{i}"] > history[-1][f"g_neg/{i}"] for i in range(2))
    # The true label's goodness is larger than the wrong ones' on held-out data.
    assert all(t > w for t, w in zip(after["goodness_true"], after["goodness_wrong"]))


def test_greedy_schedule_learns_one_layer_at_a_time(make_net, blobs_train, blobs_test) -> None:
    net = make_net()
    trainer = Trainer(net, negatives="hard", lr=0.02, schedule="greedy", progress=False)
    history = trainer.fit(blobs_train, epochs=4, batch_size=32, eval_data=blobs_test)
    assert [(r["layer"], r["epoch"]) for r in history] == [(k, e) for k in (0, 1) for e in (1, 2, 3, 4)]
    assert all("sep/1" not in r for r in history[:4]) and all("sep/0" not in r for r in history[4:])
    assert history[3]["sep/0"] > history[0]["sep/0"]
    assert history[7]["sep/1"] > history[4]["sep/1"]
    assert "loss/head" in history[-1] and all("loss/head" not in r for r in history[:-1])
    res = net.evaluate(blobs_test)
    assert res["accuracy"] > 0.9 and res["head_accuracy"] > 0.9


def test_greedy_leaves_lower_layers_frozen(make_net, blobs_train) -> None:
    net = make_net()
    snapshots: list[dict[str, torch.Tensor]] = []

    class Snap(Callback):
        def on_epoch_end(self, trainer, row):
            snapshots.append({k: v.clone() for k, v in net.state_dict().items()})

    Trainer(net, negatives="random", schedule="greedy", progress=False, callbacks=[Snap()]).fit(
        blobs_train, epochs=2, batch_size=64
    )
    # Phase 1 (epochs 3-4) trains layer 1 (and the head at its very end) only.
    for key in ("layers.0.block.weight", "layers.0.block.bias"):
        assert torch.equal(snapshots[1][key], snapshots[3][key])
    assert not torch.equal(snapshots[1]["layers.1.block.weight"], snapshots[3]["layers.1.block.weight"])
    # Phase 0 leaves layer 1 alone.
    assert torch.equal(snapshots[0]["layers.1.block.weight"], snapshots[1]["layers.1.block.weight"])


def test_training_is_reproducible_with_the_same_seed(make_net, blobs_train) -> None:
    runs = []
    for _ in range(2):
        net = make_net(seed=3)
        history = Trainer(net, negatives="hard", seed=5, progress=False).fit(blobs_train, 2, 64)
        runs.append((_timeless(history), net.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


# ----------------------------------------------------------------------------- one step, by hand


def test_one_trainer_step_matches_plain_autograd() -> None:
    torch.manual_seed(0)
    net = FFNetwork.mlp(
        [3, 4],
        num_classes=2,
        labels="append",
        head=False,
        goodness="sumsq",
        loss="softplus",
        loss_kwargs={"threshold": "width"},
    )
    w0 = net.layers[0].block.weight.detach().clone()
    b0 = net.layers[0].block.bias.detach().clone()
    x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.2, -0.3], [-0.7, 0.9, 0.1]])
    y = torch.tensor([0, 1, 1])
    trainer = Trainer(net, negatives=NextLabel(), optimizer="sgd", lr=0.1, progress=False)
    history = trainer.fit(ArrayDataset.from_tensors(x, y, 2), epochs=1, batch_size=3)

    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    x_pos = torch.cat([x, F.one_hot(y, 2).float()], 1)
    x_neg = torch.cat([x, F.one_hot(1 - y, 2).float()], 1)
    g_pos = torch.relu(x_pos @ w.T + b).pow(2).sum(1)
    g_neg = torch.relu(x_neg @ w.T + b).pow(2).sum(1)
    loss = 0.5 * (F.softplus(-(g_pos - 4.0)).mean() + F.softplus(g_neg - 4.0).mean())
    loss.backward()
    assert history[0]["loss/0"] == pytest.approx(float(loss.detach()), rel=1e-6)
    assert history[0]["g_pos/0"] == pytest.approx(float(g_pos.detach().mean()), rel=1e-6)
    with torch.no_grad():
        assert torch.allclose(net.layers[0].block.weight, w0 - 0.1 * w.grad, atol=1e-6)
        assert torch.allclose(net.layers[0].block.bias, b0 - 0.1 * b.grad, atol=1e-6)
        assert float((net.layers[0].block.weight - w0).abs().max()) > 1e-3


def test_train_step_works_on_a_fresh_trainer(make_net, blobs_train) -> None:
    """train_step is public API ("one optimiser step on a batch"), usable without fit()."""
    net = make_net()
    trainer = Trainer(net, negatives="random", optimizer="sgd", lr=0.1, progress=False)
    before = net.layers[0].block.weight.detach().clone()
    row = trainer.train_step(blobs_train.x[:32], blobs_train.y[:32])
    assert set(row) >= {"loss/0", "loss/1", "sep/0", "sep/1", "loss/head"}
    assert not torch.equal(net.layers[0].block.weight.detach(), before)


def test_train_step_for_chosen_layers_updates_only_them(make_net, blobs_train) -> None:
    net = make_net(head=False)
    trainer = Trainer(net, negatives="random", optimizer="sgd", lr=0.1, progress=False)
    trainer.total_steps = 1  # set by fit(); see test_train_step_works_on_a_fresh_trainer
    before = {k: v.clone() for k, v in net.state_dict().items()}
    row = trainer.train_step(blobs_train.x[:32], blobs_train.y[:32], layers=[1])
    assert set(row) == {"loss/1", "sep/1", "g_pos/1", "g_neg/1"}
    after = net.state_dict()
    assert torch.equal(before["layers.0.block.weight"], after["layers.0.block.weight"])
    assert not torch.equal(before["layers.1.block.weight"], after["layers.1.block.weight"])


# ----------------------------------------------------------------------------- optimiser and lr schedule


def test_cooldown_factor_is_constant_then_linear_to_zero() -> None:
    assert cooldown_factor(0, 100, 0.5) == 1.0
    assert cooldown_factor(49, 100, 0.5) == 1.0
    assert cooldown_factor(50, 100, 0.5) == 1.0
    assert cooldown_factor(75, 100, 0.5) == pytest.approx(0.5)
    assert cooldown_factor(99, 100, 0.5) == pytest.approx(0.02)
    assert cooldown_factor(100, 100, 0.5) == 0.0
    assert cooldown_factor(150, 100, 0.5) == 0.0
    assert cooldown_factor(99, 100, 1.0) == 1.0  # 1.0 keeps the lr constant
    assert cooldown_factor(0, 100, 0.0) == 1.0 and cooldown_factor(50, 100, 0.0) == pytest.approx(0.5)


def test_trainer_applies_the_cooldown_per_step_and_group(make_net, blobs_train) -> None:
    net = make_net()
    trainer = Trainer(
        net,
        negatives="random",
        lr=0.01,
        layer_lr=[0.02, 0.03],
        head_lr=0.05,
        cooldown_start=0.5,
        progress=False,
    )
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [0.02, 0.03, 0.05]
    seen: list[list[float]] = []
    step = trainer.optimizer.step

    def recording_step(*args, **kwargs):
        seen.append([g["lr"] for g in trainer.optimizer.param_groups])
        return step(*args, **kwargs)

    trainer.optimizer.step = recording_step  # type: ignore[method-assign]
    trainer.fit(blobs_train, epochs=2, batch_size=32)  # 16 steps, cooldown from step 8
    assert len(seen) == 16
    for k, lrs in enumerate(seen):
        f = 1.0 if k < 8 else (16 - k) / 8
        assert lrs == pytest.approx([0.02 * f, 0.03 * f, 0.05 * f])
    assert seen[-1][0] == pytest.approx(0.02 / 8)


def test_build_optimizer_by_any_case_and_suggests_on_typos() -> None:
    params = [{"params": [torch.nn.Parameter(torch.zeros(2))]}]
    assert isinstance(build_optimizer(params, "AdamW", 0.1, 0.0), torch.optim.AdamW)
    sgd = build_optimizer(params, "sgd", 0.1, 0.0, momentum=0.9)
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamm'; valid: .*Did you mean 'adam'"):
        build_optimizer(params, "adamm", 0.1, 0.0)


# ----------------------------------------------------------------------------- NaN guard


class PoisonAfter(Callback):
    """Writes a NaN into the training tensors once ``epoch`` epochs are done (after validation)."""

    def __init__(self, data: ArrayDataset, epoch: int) -> None:
        self.data, self.epoch = data, epoch

    def on_epoch_end(self, trainer, row):
        if trainer.epoch == self.epoch:
            self.data.x[5, 0, 0, 3] = float("nan")


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(make_net, blobs_train, tmp_path) -> None:
    net = make_net()
    trainer = Trainer(
        net, negatives="hard", out_dir=tmp_path, progress=False, callbacks=[PoisonAfter(blobs_train, 1)]
    )
    with pytest.raises(NonFiniteLossError) as err:
        trainer.fit(blobs_train, epochs=3, batch_size=32)
    msg = str(err.value)
    assert "the loss of layer 0 became nan at epoch 2" in msg
    assert "trainer.lr" in msg
    assert f"The last good checkpoint is kept at {tmp_path / 'checkpoint.pt'}" in msg
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 1
    assert all(bool(torch.isfinite(v).all()) for v in ckpt["model"].values())
    assert len(trainer.history) == 1
    # The failing step did not update the weights with NaN gradients.
    assert all(bool(torch.isfinite(p).all()) for p in net.parameters())


def test_nan_guard_leaves_the_checkpoint_file_byte_identical(make_net, blobs_train, tmp_path) -> None:
    saved: list[bytes] = []

    class Keep(Callback):
        def on_epoch_end(self, trainer, row):
            saved.append((tmp_path / "checkpoint.pt").read_bytes())

    trainer = Trainer(
        make_net(),
        negatives="random",
        out_dir=tmp_path,
        progress=False,
        callbacks=[Keep(), PoisonAfter(blobs_train, 2)],
    )
    with pytest.raises(NonFiniteLossError, match="at epoch 3"):
        trainer.fit(blobs_train, epochs=4, batch_size=64)
    assert len(saved) == 2
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved[-1]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2


def test_nan_guard_names_the_failing_layer(make_net, blobs_train, monkeypatch) -> None:
    net = make_net()
    layer = net.layers[1]
    original = layer.forward
    monkeypatch.setattr(layer, "forward", lambda x: original(x) * float("nan"))
    trainer = Trainer(net, negatives="random", progress=False)
    with pytest.raises(NonFiniteLossError, match=r"the loss of layer 1 became nan at epoch 1, step 1\b"):
        trainer.fit(blobs_train, epochs=1, batch_size=64)


def test_nan_guard_in_the_greedy_schedule_names_the_phase(make_net, blobs_train, monkeypatch) -> None:
    net = make_net(head=False)
    layer = net.layers[1]
    original = layer.forward
    monkeypatch.setattr(layer, "forward", lambda x: original(x) * float("inf"))
    trainer = Trainer(net, negatives="random", schedule="greedy", progress=False)
    with pytest.raises(NonFiniteLossError, match=r"the loss of layer 1 became nan at layer phase 1, epoch 1"):
        trainer.fit(blobs_train, epochs=1, batch_size=64)
    assert [r["layer"] for r in trainer.history] == [0]


def test_huge_learning_rate_overflow_is_caught(blobs_train) -> None:
    torch.manual_seed(0)
    net = FFNetwork.mlp(
        [16, 8, 8],
        num_classes=4,
        labels="append",
        goodness="sumsq",
        loss="softplus",
        normalize="none",
        activation="identity",
    )
    trainer = Trainer(net, negatives="random", optimizer="sgd", lr=1e6, progress=False)
    with pytest.raises(NonFiniteLossError, match=r"the loss of (layer \d|the linear head) became (nan|inf)"):
        trainer.fit(blobs_train, epochs=3, batch_size=32)


# ----------------------------------------------------------------------------- logging and callbacks


def test_out_dir_gets_checkpoint_and_metrics_matching_history(make_net, blobs_train, tmp_path) -> None:
    events: list[str] = []

    class Events(Callback):
        def on_fit_start(self, trainer):
            events.append("start")

        def on_epoch_end(self, trainer, row):
            events.append(f"epoch {row['epoch']}")

        def on_fit_end(self, trainer):
            events.append("end")

    trainer = Trainer(make_net(), negatives="random", out_dir=tmp_path, progress=False, callbacks=[Events()])
    history = trainer.fit(blobs_train, epochs=2, batch_size=64)
    assert events == ["start", "epoch 1", "epoch 2", "end"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "metrics.csv", "metrics.jsonl"]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == history
    csv_lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len(csv_lines) == 3 and csv_lines[0].split(",")[:2] == ["epoch", "seconds"]
    assert math.isclose(history[-1]["train_seconds"], sum(r["seconds"] for r in history))


# ----------------------------------------------------------------------------- argument errors


def test_trainer_argument_errors(make_net, blobs_train) -> None:
    net = make_net()
    with pytest.raises(ValueError, match="unknown schedule 'gredy'; valid: all, greedy"):
        Trainer(net, schedule="gredy")
    with pytest.raises(ValueError, match="hard_source must be 'head' or 'goodness', got 'logits'"):
        Trainer(net, hard_source="logits")
    with pytest.raises(ValueError, match=r"layer_lr needs one learning rate per layer \(2\), got 3"):
        Trainer(net, layer_lr=[0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match=r"cooldown_start is a fraction of training in \[0, 1\], got 1.5"):
        Trainer(net, cooldown_start=1.5)
    with pytest.raises(KeyError, match="Did you mean 'hard'"):
        Trainer(net, negatives="hardd")
    trainer = Trainer(net, progress=False)
    with pytest.raises(ValueError, match="epochs and batch_size must be >= 1, got 0 and 8"):
        trainer.fit(blobs_train, epochs=0, batch_size=8)
    with pytest.raises(ValueError, match="the training set is empty"):
        trainer.fit(blobs_train.subset([]), epochs=1)


def test_hard_negatives_without_a_head_score_by_goodness(make_net) -> None:
    assert Trainer(make_net(head=False), negatives="hard").hard_source == "goodness"
    assert Trainer(make_net(), negatives="hard").hard_source == "head"


# ----------------------------------------------------------------------------- what a quick study sees


def test_fit_prints_one_line_per_epoch_by_default(make_net, blobs_train, blobs_test, capsys) -> None:
    trainer = Trainer(make_net(), lr=0.02, seed=0)
    trainer.fit(blobs_train, epochs=3, batch_size=64, eval_data=blobs_test)
    lines = capsys.readouterr().err.splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epoch_lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("test accuracy: goodness" in line for line in epoch_lines)
    # An EpochLine the caller gave is not doubled, and verbose=False is silent.
    trainer = Trainer(make_net(), lr=0.02, seed=0, callbacks=[EpochLine()])
    trainer.fit(blobs_train, epochs=2, batch_size=64)
    assert sum(line.startswith("epoch ") for line in capsys.readouterr().err.splitlines()) == 2
    Trainer(make_net(), lr=0.02, seed=0).fit(blobs_train, epochs=2, batch_size=64, verbose=False)
    assert "epoch" not in capsys.readouterr().err


def test_eval_every_scores_some_epochs_and_the_last_without_changing_training(
    make_net, blobs_train, blobs_test
) -> None:
    torch.manual_seed(0)
    every = Trainer(make_net(), lr=0.02, seed=0, progress=False)
    full = every.fit(blobs_train, epochs=5, batch_size=64, eval_data=blobs_test)
    torch.manual_seed(0)
    sparse_trainer = Trainer(make_net(), lr=0.02, seed=0, progress=False)
    sparse = sparse_trainer.fit(blobs_train, epochs=5, batch_size=64, eval_data=blobs_test, eval_every=2)
    assert [r["epoch"] for r in sparse if "eval/accuracy" in r] == [2, 4, 5]
    for a, b in zip(full, sparse):  # scoring fewer epochs leaves the learning untouched
        assert {k: v for k, v in a.items() if k.startswith("loss/")} == {
            k: v for k, v in b.items() if k.startswith("loss/")
        }
    assert sparse[-1]["eval/accuracy"] == full[-1]["eval/accuracy"]
    torch.manual_seed(0)
    never = Trainer(make_net(), lr=0.02, seed=0, progress=False)
    rows = never.fit(blobs_train, epochs=2, batch_size=64, eval_data=blobs_test, eval_every=0)
    assert not any("eval/accuracy" in r for r in rows)


def test_eval_samples_scores_the_same_fixed_subset_each_epoch(make_net, blobs_train, blobs_test) -> None:
    subset = eval_subset(blobs_test, 37, 3)
    assert len(subset.y) == 37 and len(set(subset.y.tolist())) > 1

    class ScoreTheSubset(Callback):
        """What the network scores on the drawn subset at each epoch's end, beside what fit recorded."""

        def __init__(self) -> None:
            self.pairs: list[tuple[float, float]] = []

        def on_epoch_end(self, trainer, row) -> None:  # type: ignore[override]
            self.pairs.append((row["eval/accuracy"], trainer.net.evaluate(subset)["accuracy"]))

    spy = ScoreTheSubset()
    trainer = Trainer(make_net(), lr=0.02, seed=3, progress=False, callbacks=[spy])
    trainer.fit(blobs_train, epochs=3, batch_size=64, eval_data=blobs_test, eval_samples=37)
    assert len(spy.pairs) == 3
    assert all(recorded == pytest.approx(on_subset) for recorded, on_subset in spy.pairs)
    assert len({a for a, _ in spy.pairs}) > 1  # the net changed between epochs, the samples did not


def test_a_failed_fit_leaves_no_epoch_line_behind(make_net, blobs_train, capsys) -> None:
    class Boom(Callback):
        def on_epoch_end(self, trainer, row) -> None:  # type: ignore[override]
            raise RuntimeError("boom")

    trainer = Trainer(make_net(), lr=0.02, seed=0, callbacks=[Boom()])
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(blobs_train, epochs=2, batch_size=64)
    assert not any(isinstance(c, EpochLine) for c in trainer.callbacks)
    trainer.callbacks.clear()
    capsys.readouterr()
    trainer.fit(blobs_train, epochs=1, batch_size=64, verbose=False)
    assert "epoch" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"eval_every": -1}, "eval_every"), ({"eval_samples": 0}, "eval_samples")]
)
def test_eval_settings_out_of_range_are_refused(make_net, blobs_train, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        Trainer(make_net(), progress=False).fit(blobs_train, epochs=1, **kwargs)


def test_eval_subset_of_a_set_without_subset_keeps_its_kind() -> None:
    """A held-out set that is not an ArrayDataset (a text corpus's windows) keeps its type and attributes;
    only its rows are fewer, and each sample keeps its own label."""

    class Windows:
        def __init__(self) -> None:
            self.x, self.y, self.vocabulary = torch.arange(20.0).reshape(10, 2), torch.arange(10), "ab"

    part = eval_subset(Windows(), 4, 0)
    assert isinstance(part, Windows) and part.vocabulary == "ab" and len(part.y) == 4
    assert torch.equal(part.x[:, 0], 2.0 * part.y)
