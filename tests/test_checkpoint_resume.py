"""Checkpoints: atomic writes, safe loading, identical predictions in a new process, and exact resumption."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pytest
import torch

from forwardforward import Callback, Trainer, load_checkpoint, save_atomic
from forwardforward.training.checkpoint import FORMAT_VERSION, write_text_atomic


def _timeless(rows: list[dict]) -> list[dict]:
    return [
        {k: v for k, v in r.items() if k not in ("seconds", "train_seconds", "wall_seconds")} for r in rows
    ]


def _files(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


class Interrupt(Exception):
    pass


class StopAfter(Callback):
    """Simulates a crash (Ctrl-C, pre-emption) after ``n`` epochs, once the checkpoint is written."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_epoch_end(self, trainer, row):
        if len(trainer.history) == self.n:
            raise Interrupt


# ----------------------------------------------------------------------------- atomic writes, safe loads


def test_save_atomic_replaces_the_file_and_leaves_no_temp_files(tmp_path) -> None:
    path = tmp_path / "sub" / "ckpt.pt"
    save_atomic({"a": torch.arange(3)}, path)
    save_atomic({"a": torch.arange(5)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.arange(5))
    assert _files(path.parent) == ["ckpt.pt"]


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch) -> None:
    path = tmp_path / "checkpoint.pt"
    save_atomic({"format": FORMAT_VERSION, "model": {"w": torch.ones(4)}}, path)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="No space left"):
        save_atomic({"format": FORMAT_VERSION, "model": {"w": torch.zeros(4)}}, path)
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["checkpoint.pt"]
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(4))


def test_a_failed_write_during_training_keeps_the_previous_epochs_checkpoint(
    make_net, blobs_train, tmp_path, monkeypatch
) -> None:
    real_save = torch.save

    class BreakSaving(Callback):
        def on_epoch_end(self, trainer, row):
            monkeypatch.setattr(torch, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))

    trainer = Trainer(
        make_net(), negatives="random", out_dir=tmp_path, progress=False, callbacks=[BreakSaving()]
    )
    with pytest.raises(OSError, match="disk full"):
        trainer.fit(blobs_train, epochs=3, batch_size=64)
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(tmp_path)["epoch"] == 1
    assert not [name for name in _files(tmp_path) if name.endswith(".tmp")]


def test_trainer_checkpoint_loads_with_weights_only(make_net, blobs_train, tmp_path) -> None:
    net = make_net()
    trainer = Trainer(net, negatives="hard", out_dir=tmp_path, progress=False, config={"note": "x"})
    trainer.fit(blobs_train, epochs=2, batch_size=64)
    raw = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert raw["format"] == FORMAT_VERSION and raw["config"] == {"note": "x"}
    assert raw["epoch"] == 2 and raw["phase"] == 0 and raw["step_count"] == 8
    assert _timeless(raw["history"]) == _timeless(trainer.history)
    assert set(raw["model"]) == set(net.state_dict())
    assert all(torch.equal(raw["model"][k], v) for k, v in net.state_dict().items())
    assert torch.equal(raw["rng"]["generator"], trainer.generator.get_state())
    assert len(raw["optimizer"]["state"]) == len(list(net.parameters()))


def test_load_checkpoint_errors(tmp_path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"no checkpoint at .*nope\.pt; pass the file written by `ff train"
    ):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match=r"checkpoint\.pt"):
        load_checkpoint(tmp_path)  # a directory means DIR/checkpoint.pt
    (tmp_path / "junk.pt").write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match=r"junk\.pt is not a readable forwardforward checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.ones(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"other.pt is not a forwardforward checkpoint \(format 1\)"):
        load_checkpoint(tmp_path / "other.pt")


def test_checkpoints_refuse_to_unpickle_code(tmp_path) -> None:
    torch.save({"format": FORMAT_VERSION, "model": {}, "obj": Interrupt()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="not a readable forwardforward checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")


# ----------------------------------------------------------------------------- a new process


SCRIPT = textwrap.dedent(
    """
    import sys, torch
    torch.set_num_threads(1)
    from forwardforward import FFNetwork, load_checkpoint
    ckpt = load_checkpoint(sys.argv[1])
    net = FFNetwork.mlp([16, 32, 32], num_classes=4, labels="append", goodness="meansq", loss="symba",
                        label_strength=3.0)
    net.load_state_dict(ckpt["model"])
    x = torch.load(sys.argv[2], weights_only=True)
    torch.save({"pred": net.predict(x), "head": net.predict(x, mode="head"),
                "goodness": net.label_goodness(x), "logits": net.head_logits(x)}, sys.argv[3])
    """
)


def test_checkpoint_gives_identical_predictions_in_a_new_process(
    make_net, blobs_train, blobs_test, tmp_path
) -> None:
    net = make_net()
    Trainer(net, negatives="hard", lr=0.02, out_dir=tmp_path, progress=False).fit(blobs_train, 3, 32)
    torch.save(blobs_test.x, tmp_path / "x.pt")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            str(tmp_path / "checkpoint.pt"),
            str(tmp_path / "x.pt"),
            str(tmp_path / "out.pt"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = torch.load(tmp_path / "out.pt", weights_only=True)
    x = blobs_test.x
    assert torch.equal(out["pred"], net.predict(x))
    assert torch.equal(out["head"], net.predict(x, mode="head"))
    assert torch.allclose(out["goodness"], net.label_goodness(x), rtol=1e-6, atol=1e-7)
    assert torch.allclose(out["logits"], net.head_logits(x), rtol=1e-6, atol=1e-7)
    assert float((out["pred"] == blobs_test.y).float().mean()) > 0.8  # a trained net, not a blank one


# ----------------------------------------------------------------------------- resumption


@pytest.mark.parametrize("negatives", ["hard", "random"])
def test_resume_equals_an_uninterrupted_run(make_net, blobs_train, tmp_path, negatives: str) -> None:
    straight = make_net()
    full = Trainer(straight, negatives=negatives, seed=7, progress=False)
    full_history = full.fit(blobs_train, epochs=4, batch_size=32)

    first = Trainer(make_net(), negatives=negatives, seed=7, out_dir=tmp_path / "run", progress=False)
    first.fit(blobs_train, epochs=2, batch_size=32)
    ckpt = load_checkpoint(tmp_path / "run")

    resumed_net = make_net(seed=99)  # a different initialisation: the checkpoint must overwrite it
    resumed = Trainer(resumed_net, negatives=negatives, seed=123, out_dir=tmp_path / "run", progress=False)
    history = resumed.fit(blobs_train, epochs=4, batch_size=32, resume=tmp_path / "run" / "checkpoint.pt")

    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert _timeless(history) == _timeless(full_history)
    assert _timeless(history[:2]) == _timeless(ckpt["history"])
    for k, v in straight.state_dict().items():
        assert torch.equal(resumed_net.state_dict()[k], v), k
    for a, b in zip(
        full.optimizer.state_dict()["state"].values(), resumed.optimizer.state_dict()["state"].values()
    ):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.step_count == full.step_count == 32
    assert torch.equal(resumed.generator.get_state(), full.generator.get_state())
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4


def test_resume_after_a_crash_in_the_greedy_schedule(make_net, blobs_train, tmp_path) -> None:
    straight = make_net()
    full_history = Trainer(straight, negatives="hard", schedule="greedy", seed=1, progress=False).fit(
        blobs_train, epochs=2, batch_size=64
    )
    crashing = Trainer(
        make_net(),
        negatives="hard",
        schedule="greedy",
        seed=1,
        out_dir=tmp_path,
        progress=False,
        callbacks=[StopAfter(3)],
    )
    with pytest.raises(Interrupt):
        crashing.fit(blobs_train, epochs=2, batch_size=64)
    ckpt = load_checkpoint(tmp_path)
    assert (ckpt["phase"], ckpt["epoch"]) == (1, 1)

    net = make_net(seed=5)
    resumed = Trainer(net, negatives="hard", schedule="greedy", seed=1, out_dir=tmp_path, progress=False)
    history = resumed.fit(blobs_train, epochs=2, batch_size=64, resume=tmp_path / "checkpoint.pt")
    assert _timeless(history) == _timeless(full_history)
    for k, v in straight.state_dict().items():
        assert torch.equal(net.state_dict()[k], v), k


def test_resume_restores_counters_rng_and_optimizer(make_net, blobs_train, tmp_path) -> None:
    trainer = Trainer(make_net(), negatives="hard", out_dir=tmp_path, progress=False)
    trainer.fit(blobs_train, epochs=1, batch_size=64)
    torch.manual_seed(1234)
    saved_rng = torch.get_rng_state()
    trainer.save_checkpoint(tmp_path / "manual.pt")
    torch.manual_seed(0)

    fresh = Trainer(make_net(seed=1), negatives="hard", progress=False)
    fresh.load_state(load_checkpoint(tmp_path / "manual.pt"))
    assert (fresh.epoch, fresh.phase, fresh.step_count) == (1, 0, 4)
    assert torch.equal(torch.get_rng_state(), saved_rng)
    assert torch.equal(fresh.generator.get_state(), trainer.generator.get_state())
    a, b = trainer.optimizer.state_dict(), fresh.optimizer.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for key in a["state"]:
        assert all(torch.equal(a["state"][key][k], b["state"][key][k]) for k in a["state"][key])
    assert fresh.history == trainer.history


def test_resuming_a_finished_run_trains_no_more(make_net, blobs_train, tmp_path) -> None:
    Trainer(make_net(), negatives="random", out_dir=tmp_path, progress=False).fit(blobs_train, 2, 64)
    net = make_net()
    history = Trainer(net, negatives="random", progress=False).fit(
        blobs_train, 2, 64, resume=tmp_path / "checkpoint.pt"
    )
    assert len(history) == 2
    ckpt = load_checkpoint(tmp_path)
    assert all(torch.equal(net.state_dict()[k], v) for k, v in ckpt["model"].items())


def test_greedy_resume_with_negatives_refreshed_every_other_epoch(make_net, blobs_train, tmp_path) -> None:
    """negatives_refresh=2: the negatives drawn at a phase's epoch 1 are reused at its epoch 2, so a run
    resumed between the two must reuse them too (or the resumed run is not the uninterrupted one)."""
    straight = make_net()
    options = {
        "negatives": "random",
        "schedule": "greedy",
        "seed": 1,
        "negatives_refresh": 2,
        "progress": False,
    }
    full_history = Trainer(straight, **options).fit(blobs_train, epochs=2, batch_size=64)
    crashing = Trainer(make_net(), out_dir=tmp_path, callbacks=[StopAfter(3)], **options)
    with pytest.raises(Interrupt):
        crashing.fit(blobs_train, epochs=2, batch_size=64)
    net = make_net(seed=5)
    history = Trainer(net, out_dir=tmp_path, **options).fit(
        blobs_train, epochs=2, batch_size=64, resume=tmp_path / "checkpoint.pt"
    )
    assert _timeless(history) == _timeless(full_history)
    for k, v in straight.state_dict().items():
        assert torch.equal(net.state_dict()[k], v), k


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_atomic_files_get_the_mode_any_new_file_gets(tmp_path, umask: int) -> None:
    """Not the 0600 of the temporary file they are written to: 0644 under the usual umask."""
    previous = os.umask(umask)
    try:
        files = [
            save_atomic({"a": 1}, tmp_path / "checkpoint.pt"),
            write_text_atomic(tmp_path / "r.json", "{}"),
        ]
        plain = tmp_path / "plain.txt"
        plain.write_text("")
    finally:
        os.umask(previous)
    modes = {stat.S_IMODE(f.stat().st_mode) for f in [*files, plain]}
    assert modes == {0o666 & ~umask}
