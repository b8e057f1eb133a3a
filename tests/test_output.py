"""What ``ff train`` shows a person: one line per epoch that a log file keeps, bars only on a terminal, bar
text in words; and clocks whose names say what they count."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from forwardforward.experiment.cli import main
from forwardforward.training.callbacks import epoch_line
from forwardforward.training.schedules import postfix, progress_bar

TINY = ["model.hidden=[32,32]", "trainer.epochs=3", "trainer.batch_size=64", "trainer.threads=1"]


def test_ff_train_prints_one_line_per_epoch_to_stderr_and_no_bar_off_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # stdout stays the result alone
    lines = captured.err.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 3 and "\r" not in captured.err  # no progress bar in a log
    history = result_history(out)
    for n, (line, row) in enumerate(zip(epochs, history), start=1):
        assert line.startswith(f"epoch {n}/3: layer loss ")
        assert f"test accuracy: goodness {100 * row['eval/accuracy']:.2f}%" in line
        assert f"head {100 * row['eval/head_accuracy']:.2f}%" in line
    last = history[-1]
    assert last["eval/accuracy"] == pytest.approx(result["test_accuracy_goodness"])  # no val split: test
    assert result["train_seconds"] <= result["wall_seconds"]


def result_history(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["history"]


def test_progress_false_prints_no_epoch_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *TINY, "trainer.epochs=1", "trainer.progress=false", "--out", str(tmp_path)]) == 0
    assert not [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]


def test_epoch_line_reads_in_words_for_both_schedules() -> None:
    row = {"epoch": 2, "seconds": 1.25, "wall_seconds": 3.5, "loss/1": 0.5, "loss/0": 0.25, "loss/head": 9.0}
    row.update({"eval/accuracy": 0.9528, "eval/head_accuracy": 0.9472})
    assert epoch_line(row, 10) == (
        "epoch 2/10: layer loss 0.250 0.500 | test accuracy: goodness 95.28%, head 94.72% "
        "| 1.2 s (wall 3.5 s)"
    )
    greedy = {"epoch": 1, "layer": 1, "seconds": 0.5, "loss/1": 0.125}
    assert epoch_line(greedy, 4, held_out="val") == "layer 1 epoch 1/4: layer loss 0.125 | 0.5 s"


def test_bar_text_says_what_its_numbers_are() -> None:
    row = {"loss/0": 0.22, "sep/0": 0.9, "loss/10": 0.5, "sep/10": 0.75, "loss/head": 2.0}
    assert postfix(row) == "layer loss 0.220 0.500; pos > neg 90% 75%"


def test_progress_bars_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = SimpleNamespace(progress=True)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert progress_bar(trainer, 10, "epoch 1/1") is None

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stderr", Terminal())
    bar = progress_bar(trainer, 10, "epoch 1/1")
    assert bar is not None
    bar.close()
    assert progress_bar(SimpleNamespace(progress=False), 10, "x") is None
