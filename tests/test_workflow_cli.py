"""A researcher's daily workflow with ``ff`` (issue 21): runs are never lost and the command line behaves.

Run directories: ``ff train`` without ``--out`` gets a new ``runs/<name>/version_N``; an existing run is
never overwritten unless asked (``--overwrite``, which clears it); ``--resume`` refuses a config that
changes what is trained; Ctrl-C ends with one line saying how to resume. Conventions: overrides anywhere
on the line, ``ff --version``, ``ff config`` with every key's meaning, short typo errors,
``trainer.device=auto``, files readable like any other (0644), prompts used as given.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import OmegaConf

import forwardforward
from forwardforward import load_checkpoint, load_config
from forwardforward.experiment.cli import main
from forwardforward.experiment.config import _valid_keys

TINY = ["model.hidden=[16]", "trainer.epochs=1", "trainer.progress=false", "trainer.threads=1"]


def ff(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``ff ARGV`` in-process: exit status (argparse's SystemExit included), stdout, stderr."""
    try:
        rc = main(argv)
    except SystemExit as exit_:
        rc = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


def one_error_line(err: str) -> str:
    """The single line of an error, with nothing else on stderr but the 'training on' notice."""
    lines = [line for line in err.splitlines() if not line.startswith("training on ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(autouse=True)
def _threads() -> None:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- run directories


def test_without_out_every_run_gets_a_new_version(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    dirs = []
    for _ in range(2):
        rc, _, err = ff(["train", *TINY], capsys)
        assert rc == 0, err
        dirs.append(re.search(r"checkpoints and metrics in (\S+)/$", err.strip()).group(1))
    assert dirs == ["runs/digits/version_0", "runs/digits/version_1"]
    assert all((tmp_path / d / "results.json").exists() for d in dirs)
    (tmp_path / "runs" / "digits" / "version_7").mkdir()  # the next is one above the highest, as Lightning
    assert "runs/digits/version_8/" in ff(["train", *TINY], capsys)[2]
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model:\n  hidden: [8]\n")
    assert "runs/tiny/version_0/" in ff(["train", str(cfg), *TINY[1:]], capsys)[2]


def test_a_version_that_never_started_is_not_left_behind(tmp_path: Path, capsys, monkeypatch) -> None:
    from forwardforward.experiment import run

    def no_data(cfg):
        raise FileNotFoundError("digits not found")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run, "load_data", no_data)
    rc, _, err = ff(["train", *TINY], capsys)
    assert rc == 2 and one_error_line(err) == "ff: error: digits not found"
    assert list((tmp_path / "runs" / "digits").iterdir()) == []


def test_an_existing_run_is_refused_and_left_alone(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert ff(["train", *TINY, "--out", str(out)], capsys)[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    rc, stdout, err = ff(["train", *TINY, "--out", str(out)], capsys)
    assert rc == 2 and stdout == ""
    line = one_error_line(err)
    assert (
        line.startswith(f"ff: error: {out} already holds a run")
        and "--resume" in line
        and "--overwrite" in line
    )
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_overwrite_clears_the_old_run_first(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert ff(["train", *TINY, "--out", str(out)], capsys)[0] == 0
    (out / "curves.png").write_bytes(b"old plot")
    (out / "tensorboard").mkdir()
    rc, _, err = ff(["train", *TINY, "model.hidden=[8]", "--out", str(out), "--overwrite"], capsys)
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "config.yaml",
        "metrics.csv",
        "metrics.jsonl",
        "results.json",
    ]
    assert load_checkpoint(out)["config"]["model"]["hidden"] == [8]


def test_a_directory_holding_no_run_is_never_cleared(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    for extra in ([], ["--overwrite"]):
        rc, _, err = ff(["train", *TINY, "--out", str(tmp_path), *extra], capsys)
        assert rc == 2 and "holds no run" in one_error_line(err)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    rc, _, err = ff(["train", *TINY, "--out", str(tmp_path), "--resume", "--overwrite"], capsys)
    assert rc == 2 and "give one of them" in one_error_line(err)
    rc, _, err = ff(["train", *TINY, "--overwrite"], capsys)
    assert rc == 2 and "--overwrite needs --out DIR" in one_error_line(err)


def test_config_yaml_is_written_when_training_starts(tmp_path: Path, capsys, monkeypatch) -> None:
    """Before the first epoch the run directory already says what it is; Ctrl-C that early says how to
    start again (nothing to resume yet)."""
    out = tmp_path / "run"
    seen = []

    def interrupted_fit(self, *args, **kwargs):
        seen.append(load_config(out / "config.yaml"))
        raise KeyboardInterrupt

    monkeypatch.setattr(forwardforward.Trainer, "fit", interrupted_fit)
    rc, _, err = ff(["train", *TINY, "--out", str(out), "model.hidden=[12]"], capsys)
    assert rc == 130 and list(seen[0].model.hidden) == [12]
    assert one_error_line(err) == (
        "ff: interrupted before the first epoch ended; start again with: ff train 'model.hidden=[16]' "
        "trainer.epochs=1 trainer.progress=false trainer.threads=1 'model.hidden=[12]' --overwrite "
        f"--out {out}"
    )


def test_resume_refuses_a_config_that_changes_what_is_trained(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert ff(["train", *TINY, "--out", str(out)], capsys)[0] == 0
    rc, _, err = ff(["train", "--resume", "--out", str(out), "model.hidden=[50]", "trainer.lr=0.1"], capsys)
    line = one_error_line(err)
    assert rc == 2 and "model.hidden ([16] saved, [50] given)" in line and "trainer.lr (0.01 saved" in line
    other = tmp_path / "other.yaml"
    other.write_text("model:\n  hidden: [16]\n  loss: softplus\n")
    rc, _, err = ff(["train", str(other), "--resume", "--out", str(out)], capsys)
    line = one_error_line(err)
    assert rc == 2 and "model.loss ('symba' saved, 'softplus' given)" in line
    assert "trainer.threads" not in line.split("only")[0]  # keys that cannot change the model may differ
    assert load_checkpoint(out)["epoch"] == 1  # nothing was trained
    rc, stdout, err = ff(["train", "--resume", "--out", str(out), "trainer.epochs=2"], capsys)
    assert rc == 0, err  # extending the run is what --resume is for
    assert json.loads(stdout)["epochs"] == 2 and load_checkpoint(out)["epoch"] == 2


def test_resume_without_out_continues_the_newest_version(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert ff(["train", *TINY], capsys)[0] == 0
    rc, _, err = ff(["train", "--resume", "trainer.epochs=2"], capsys)
    assert rc == 0 and "runs/digits/version_1/" in err
    assert load_checkpoint(tmp_path / "runs/digits/version_1")["epoch"] == 2
    assert load_checkpoint(tmp_path / "runs/digits/version_0")["epoch"] == 1


def test_ctrl_c_says_in_one_line_how_to_resume(tmp_path: Path, capsys) -> None:
    """SIGINT to a real ``ff train``: exit status 130, one line naming the epoch and the command, which
    then resumes the run."""
    out = tmp_path / "run"
    args = ["trainer.epochs=500", "model.hidden=[64]", "trainer.progress=false", "trainer.threads=1"]
    src = str(Path(forwardforward.__file__).parents[1])  # this checkout's package, whatever is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "forwardforward.experiment.cli", "train", *args, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # A shell's background jobs ignore SIGINT and Python then keeps ignoring it: restore the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.pt").exists():  # the first epoch is saved
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and stdout == ""
    line = one_error_line(stderr)
    resume = f"resume with: ff train --resume --out {out}"
    match = re.fullmatch(rf"ff: interrupted at epoch (\d+) of 500; {re.escape(resume)}", line)
    assert match, line
    epoch = int(match.group(1))
    assert epoch >= 1 and load_checkpoint(out)["epoch"] == epoch
    rc, _, err = ff(["train", "--resume", "--out", str(out), f"trainer.epochs={epoch + 1}"], capsys)
    assert rc == 0, err
    rows = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, epoch + 2))


def test_compare_refuses_an_existing_comparison(tmp_path: Path, capsys) -> None:
    (tmp_path / "ff").mkdir()  # an interrupted comparison: its FF run started, no compare.json yet
    (tmp_path / "ff" / "config.yaml").write_text("{}")
    rc, _, err = ff(["compare", *TINY, "--out", str(tmp_path)], capsys)
    assert rc == 2 and "--overwrite" in one_error_line(err)
    rc, _, err = ff(["compare", *TINY, "--out", str(tmp_path), "--overwrite"], capsys)
    assert rc == 0, err
    assert (tmp_path / "compare.json").exists() and (tmp_path / "ff" / "results.json").exists()


# ----------------------------------------------------------------------------- conventions


def test_overrides_may_come_after_options(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    rc, _, err = ff(["train", "trainer.epochs=1", "--out", str(out), "model.hidden=[10]", *TINY[2:]], capsys)
    assert rc == 0, err
    saved = load_checkpoint(out)["config"]
    assert saved["model"]["hidden"] == [10] and saved["trainer"]["threads"] == 1
    rc, stdout, err = ff(["probe", str(out), "--layers", "0", "probe.epochs=1"], capsys)
    assert rc == 0, err
    assert json.loads(stdout)["probe"]["features"] == "layers [0]"
    rc, _, err = ff(["train", "--bogus", "trainer.epochs=1"], capsys)
    assert rc == 2 and "unrecognized arguments: --bogus" in err


def test_version(capsys) -> None:
    rc, stdout, _ = ff(["--version"], capsys)
    assert rc == 0 and stdout.strip() == f"ff (forwardforward) {forwardforward.__version__}"


def test_ff_config_prints_the_resolved_config_with_meanings(tmp_path: Path, capsys) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  hidden: [8, 4]\n")
    rc, stdout, err = ff(["config", str(path), "trainer.lr=0.5"], capsys)
    assert rc == 0, err
    expected = load_config(path, ["trainer.lr=0.5"])
    assert yaml.safe_load(stdout) == OmegaConf.to_container(expected)  # YAML that ff train reads back
    lines = [line for line in stdout.splitlines() if line.startswith("  ")]
    own = [line for line in stdout.splitlines() if line.startswith("imports: ")]  # a key, not a section
    assert len(lines) + len(own) == len(_valid_keys(forwardforward.defaults.Config()))
    assert all(re.match(r"  \w+: \S.*\s# \S", line) for line in lines), lines
    assert own and all(re.match(r"\w+: \S.*\s# \S", line) for line in own), own
    assert any(line.startswith("  hidden: [8, 4] ") and "widths" in line for line in lines)
    rc, _, err = ff(["config", "trainer.epoch=3"], capsys)
    assert rc == 2 and "Did you mean 'trainer.epochs'?" in one_error_line(err)


def test_a_missing_device_is_one_line_before_the_run_directory_is_touched(capsys, tmp_path) -> None:
    if not torch.cuda.is_available():
        rc, _, err = ff(["train", *TINY, "trainer.device=cuda", "--out", str(tmp_path / "r")], capsys)
        assert rc == 2 and "trainer.device=cuda, but torch sees no CUDA GPU" in one_error_line(err)
        assert not (tmp_path / "r").exists()
    rc, _, err = ff(["train", *TINY, "trainer.device=gpu", "--out", str(tmp_path / "r")], capsys)
    assert rc == 2 and "trainer.device must be auto, cpu, cuda" in one_error_line(err)


def test_run_files_get_the_mode_any_new_file_gets(tmp_path: Path, capsys) -> None:
    previous = os.umask(0o022)
    try:
        assert ff(["train", *TINY, "--out", str(tmp_path / "run")], capsys)[0] == 0
    finally:
        os.umask(previous)
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in (tmp_path / "run").iterdir()}
    assert modes == dict.fromkeys(modes, 0o644) and "checkpoint.pt" in modes
