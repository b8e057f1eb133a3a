"""Strict configs and the ``ff`` command: unknown keys and bad values are one-line errors with a hint,
``ff train`` writes its run directory, ``ff eval`` reproduces it, ``ff train --resume`` continues it."""

from __future__ import annotations

import json
import re
import urllib.error
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from forwardforward import ConfigError, load_checkpoint, load_config
from forwardforward.data import download as dl
from forwardforward.data import vision
from forwardforward.experiment.cli import main
from forwardforward.experiment.config import apply_overrides, from_dict, to_dict

TINY = [
    "model.hidden=[32,32]",
    "trainer.epochs=2",
    "trainer.batch_size=64",
    "trainer.progress=false",
    "trainer.threads=1",
]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``ff ARGV`` in-process, with the exit status a shell would see (sys.exit('msg') exits with 1)."""
    try:
        rc = main(argv)
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            print(exit_.code, file=__import__("sys").stderr)
            rc = 1
        else:
            rc = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


def error_lines(err: str) -> list[str]:
    """stderr without the informational 'training on ...' line."""
    return [line for line in err.splitlines() if not line.startswith("training on ")]


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real dataset directories, an empty cache, no network; torch threads restored afterwards."""
    monkeypatch.setattr(
        vision, "SYSTEM_DIRS", {"fashion-mnist": (tmp_path / "sys-fm",), "mnist": (tmp_path / "sys-m",)}
    )
    monkeypatch.setenv("FF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FF_DATA_DIR", raising=False)

    def no_network(url: str, timeout: float):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(dl, "fetch", no_network)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- configs


def test_defaults_are_the_documented_ones() -> None:
    cfg = load_config()
    assert cfg.data.name == "digits" and cfg.trainer.epochs == 20 and list(cfg.model.hidden) == [500, 500]
    assert (cfg.model.goodness, cfg.model.loss, cfg.model.labels) == ("meansq", "symba", "append")


def test_yaml_then_overrides_with_types_checked(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("model:\n  hidden: [8, 4]\n  threshold: width\ntrainer:\n  epochs: 3\n  lr: 0.5\n")
    cfg = load_config(path, ["trainer.epochs=7", "model.goodness=sumsq"])
    assert list(cfg.model.hidden) == [8, 4] and cfg.model.threshold == "width"
    assert cfg.trainer.epochs == 7 and cfg.trainer.lr == 0.5 and cfg.model.goodness == "sumsq"
    assert from_dict(to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    ("override", "nearest"),
    [
        ("trainer.epoch=3", "trainer.epochs"),
        ("model.hiden=[3]", "model.hidden"),
        ("modle.hidden=[3]", "model.hidden"),
        ("data.nmae=mnist", "data.name"),
    ],
)
def test_unknown_override_key_names_the_nearest_and_points_at_ff_config(override: str, nearest: str) -> None:
    """One short line: the nearest key(s) and where to see them all, not the ~100 valid keys."""
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    msg = str(err.value)
    key = override.split("=")[0]
    assert msg.startswith(f"unknown config key {key!r} (override {override!r}). Did you mean {nearest!r}?")
    assert "`ff config` lists every key" in msg and "Valid keys" not in msg
    assert "\n" not in msg and len(msg) < 200, msg


def test_unknown_yaml_key_names_the_file_and_suggests(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("trainer:\n  epochs: 2\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'trainer.learning_rate' \(in .*cfg.yaml\)"):
        load_config(path)
    path.write_text("model:\n  hiden: [8]\n")
    with pytest.raises(ConfigError, match=re.escape("Did you mean 'model.hidden'?")):
        load_config(path)


def test_misspelt_yaml_section_suggests_the_section(tmp_path: Path) -> None:
    """`modle:` should point at `model`, not at whichever full key happens to be nearest ('model.p')."""
    path = tmp_path / "cfg.yaml"
    path.write_text("modle:\n  hidden: [8]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "unknown config key 'modle'" in msg
    assert "Did you mean 'model'?" in msg or "Did you mean 'model.hidden'?" in msg


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.epochs=ten", "trainer.epochs"),
        ("model.hidden=[8,x]", "model.hidden"),
    ],
)
def test_bad_value_type_is_a_one_line_error_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    msg = str(err.value)
    assert msg.startswith(f"bad value override {override!r}")
    assert message in msg
    assert "\n" not in msg, f"multi-line error: {msg!r}"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.epochs=0", "trainer.epochs must be >= 1, got 0"),
        ("trainer.batch_size=0", "trainer.batch_size must be >= 1, got 0"),
        ("trainer.lr=0", "trainer.lr must be > 0, got 0.0"),
        ("model.hidden=[]", "model.hidden must be a non-empty list of positive sizes, got []"),
        ("model.hidden=[8,0]", "model.hidden must be a non-empty list of positive sizes, got [8, 0]"),
        ("model.threshold=wide", "model.threshold must be a number or 'width', got 'wide'"),
        ("data.val_fraction=1.0", "data.val_fraction must be in [0, 1), got 1.0"),
        ("trainer.eval_every=-1", "trainer.eval_every must be >= 0 (0: no scoring), got -1"),
        ("trainer.eval_samples=0", "trainer.eval_samples must be >= 1 or null (all), got 0"),
        ("trainer.epochs", "override 'trainer.epochs' must look like key=value, e.g. trainer.epochs=5"),
    ],
)
def test_values_the_types_cannot_check(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert str(err.value) == message


def test_yaml_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*missing.yaml does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml is not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("text", ["- a\n- b\n", "trainer: 5\n"])
def test_yaml_of_the_wrong_shape_is_a_config_error_that_says_so(tmp_path: Path, text: str) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "cfg.yaml" in msg
    assert not msg.endswith("None"), f"uninformative message: {msg!r}"


def test_overrides_extend_a_saved_config() -> None:
    cfg = apply_overrides(from_dict(to_dict(load_config(None, TINY))), ["trainer.epochs=5"])
    assert cfg.trainer.epochs == 5 and list(cfg.model.hidden) == [32, 32]
    with pytest.raises(ConfigError, match=r"unknown config key 'model.depth' \(in the checkpoint's config\)"):
        from_dict({"model": {"depth": 3}})


# ----------------------------------------------------------------------------- ff train / eval / resume


def test_ff_train_writes_the_run_and_ff_eval_reproduces_it(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    rc, stdout, err = run(["train", *TINY, "--out", str(out)], capsys)
    assert rc == 0, err
    assert err.strip() == f"training on digits; checkpoints and metrics in {out}/"
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "config.yaml",
        "metrics.csv",
        "metrics.jsonl",
        "results.json",
    ]
    result = json.loads((out / "results.json").read_text())
    history = result.pop("history")  # results.json adds the per-epoch rows to what stdout shows
    assert json.loads(stdout) == result
    assert [row["epoch"] for row in history] == [1, 2] and all("eval/accuracy" in row for row in history)
    assert result["dataset"] == "digits" and result["epochs"] == 2
    assert result["test_accuracy_head"] > 0.5  # 10 classes: chance is 0.1
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert len((out / "metrics.csv").read_text().splitlines()) == 3
    assert load_config(out / "config.yaml") == load_config(None, TINY)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["epoch"] == 2 and ckpt["config"] == to_dict(load_config(None, TINY))

    rc, stdout, err = run(["eval", str(out / "checkpoint.pt")], capsys)
    assert rc == 0, err
    evaluated = json.loads(stdout)
    assert evaluated["epoch"] == 2
    # ff eval reports the checkpoint's test measures under ff train's names, with ff train's values
    measured = {
        k: v for k, v in result.items() if k not in ("dataset", "epochs", "train_seconds", "wall_seconds")
    }
    assert {k: evaluated[k] for k in measured} == measured
    assert set(evaluated) == {*measured, "checkpoint", "epoch"}
    assert {"test_accuracy_goodness", "test_accuracy_head", "layer_accuracy"} <= set(measured)
    assert result["train_seconds"] <= result["wall_seconds"]  # training alone <= everything
    assert result["train_seconds"] == round(history[-1]["train_seconds"], 2)
    assert all(r["train_seconds"] <= r["wall_seconds"] for r in history)

    rc, stdout, err = run(["eval", str(out / "checkpoint.pt"), "model.test_views=cross"], capsys)
    assert rc == 0, err
    shifted = json.loads(stdout)  # test-time views: the one-view figures stay, the averaged ones join them
    assert shifted["test_views"] == 5
    assert shifted["test_accuracy_goodness"] == evaluated["test_accuracy_goodness"]
    assert shifted["test_accuracy_views"] > 0.2 and len(shifted["layer_accuracy_views"]) == 2  # chance: 0.1

    rc, stdout, err = run(["eval", str(out / "checkpoint.pt"), "--int8"], capsys)
    assert rc == 0, err
    cascade = json.loads(stdout)["int8_cascade"]
    assert cascade["float_accuracy"] == result["test_accuracy_goodness"]
    assert cascade["agreement_with_float"] >= 0.99  # close calls are re-scored in float
    assert abs(cascade["accuracy"] - cascade["float_accuracy"]) <= 0.01
    assert cascade["margin"] > 0 and 0 <= cascade["rescored_fraction"] <= 1


def test_ff_train_scores_every_nth_epoch_on_a_subset_and_tests_on_all(tmp_path: Path, capsys) -> None:
    """A quick study's keys: per-epoch scoring every 2nd epoch (and the last) on 50 test samples; the
    result is still the whole test set's, the same as a run that scored every epoch in full."""
    quick, full = tmp_path / "quick", tmp_path / "full"
    keys = ["trainer.epochs=3", "trainer.eval_every=2", "trainer.eval_samples=50"]
    rc, stdout, err = run(["train", *TINY, *keys, "--out", str(quick)], capsys)
    assert rc == 0, err
    rows = [json.loads(line) for line in (quick / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows if "eval/accuracy" in r] == [2, 3]
    # 50 samples: every accuracy is a whole number of fiftieths
    assert all(round(r["eval/accuracy"] * 50, 6) == round(r["eval/accuracy"] * 50) for r in rows[1:])
    assert run(["train", *TINY, "trainer.epochs=3", "--out", str(full)], capsys)[0] == 0
    expected = json.loads((full / "results.json").read_text())
    assert json.loads(stdout)["test_accuracy_goodness"] == expected["test_accuracy_goodness"]


def test_ff_train_resume_continues_exactly(tmp_path: Path, capsys) -> None:
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    assert run(["train", *TINY, "trainer.epochs=3", "--out", str(straight)], capsys)[0] == 0
    assert run(["train", *TINY, "--out", str(interrupted)], capsys)[0] == 0
    rc, stdout, err = run(["train", "--out", str(interrupted), "--resume", "trainer.epochs=3"], capsys)
    assert rc == 0, err
    resumed = json.loads(stdout)
    assert resumed["epochs"] == 3
    a, b = load_checkpoint(straight), load_checkpoint(interrupted)
    assert b["epoch"] == 3 and len(b["history"]) == 3
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    expected = json.loads((straight / "results.json").read_text())
    assert resumed["test_accuracy_goodness"] == expected["test_accuracy_goodness"]
    assert resumed["test_accuracy_head"] == expected["test_accuracy_head"]
    assert len((interrupted / "metrics.jsonl").read_text().splitlines()) == 3


def test_ff_train_from_a_yaml_file(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        "model:\n  hidden: [16]\n  loss: softplus\n  goodness: sumsq\n  threshold: width\n"
        "trainer:\n  epochs: 1\n  progress: false\n  threads: 1\n  negatives: random\n"
    )
    rc, _, err = run(["train", str(cfg), "trainer.batch_size=128", "--out", str(tmp_path / "r")], capsys)
    assert rc == 0, err
    saved = load_checkpoint(tmp_path / "r")["config"]
    assert saved["model"]["threshold"] == "width" and saved["trainer"]["batch_size"] == 128
    assert saved["trainer"]["negatives"] == "random"


# ----------------------------------------------------------------------------- CLI errors


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "trainer.epoch=3"], "ff: error: unknown config key 'trainer.epoch'"),
        (["train", "trainer.epochs=ten"], "ff: error: bad value override 'trainer.epochs=ten'"),
        (["train", *TINY, "model.loss=symbaa"], "ff: error: unknown model.loss 'symbaa'"),
        (["train", *TINY, "model.activation=rellu"], "ff: error: unknown model.activation 'rellu'"),
        (["train", *TINY, "trainer.optimizer=adamm"], "ff: error: unknown trainer.optimizer 'adamm'"),
        (["train", *TINY, "trainer.schedule=gready"], "ff: error: unknown trainer.schedule 'gready'"),
        (
            ["train", *TINY, "model.loss=softplus", "model.threshold=width"],
            "ff: error: threshold='width' only makes sense",
        ),
        (["train", *TINY, "data.name=fmnst"], "ff: error: unknown data.name 'fmnst'"),
        (["train", "no-such.yaml"], "ff: error: config file no-such.yaml does not exist"),
        (["train", "a.yaml", "b.yaml"], "ff: error: more than one config file given ('a.yaml', 'b.yaml')"),
        (["eval", "missing/checkpoint.pt"], "ff: error: no checkpoint at missing/checkpoint.pt"),
    ],
)
def test_cli_errors_exit_2_with_one_line(
    argv: list[str], message: str, capsys, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rc, _, err = run(argv, capsys)
    lines = error_lines(err)
    assert rc == 2, err
    assert len(lines) == 1, f"expected a one-line error, got {err!r}"
    assert lines[0].startswith(message)
    assert "Traceback" not in err


def test_cli_suggestions_reach_the_user(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert "Did you mean 'trainer.epochs'?" in run(["train", "trainer.epoch=3"], capsys)[2]
    assert "Did you mean 'symba'?" in run(["train", *TINY, "model.loss=symbaa"], capsys)[2]
    assert "Did you mean 'fashion-mnist'?" in run(["train", *TINY, "data.name=fmnst"], capsys)[2]


def test_cli_resume_without_a_checkpoint(tmp_path: Path, capsys) -> None:
    rc, _, err = run(["train", "--out", str(tmp_path / "none"), "--resume"], capsys)
    assert rc == 2
    assert error_lines(err) == [
        f"ff: error: no checkpoint at {tmp_path / 'none' / 'checkpoint.pt'}; "
        "pass the file written by `ff train --out DIR`"
    ]


def test_cli_yaml_of_the_wrong_shape_exits_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    rc, _, err = run(["train", str(path)], capsys)
    assert rc == 2 and len(error_lines(err)) == 1


def test_cli_nan_loss_exits_3(tmp_path: Path, capsys) -> None:
    rc, _, err = run(
        [
            "train",
            "model.hidden=[8]",
            "trainer.epochs=2",
            "trainer.progress=false",
            "trainer.threads=1",
            "trainer.optimizer=sgd",
            "trainer.lr=1e8",
            "model.goodness=sumsq",
            "model.loss=softplus",
            "model.normalize=none",
            "model.activation=identity",
            "--out",
            str(tmp_path / "r"),
        ],
        capsys,
    )
    assert rc == 3
    (line,) = error_lines(err)
    assert line.startswith("ff: training stopped: the loss of layer 0 became ")
    assert "Lower the learning rate (trainer.lr)" in line


@pytest.mark.parametrize("download", [False, True])
def test_missing_fashion_mnist_lists_every_path_tried(tmp_path: Path, capsys, monkeypatch, download) -> None:
    root, env = tmp_path / "root", tmp_path / "env"
    root.mkdir()
    env.mkdir()
    monkeypatch.setenv("FF_DATA_DIR", str(env))
    rc, _, err = run(
        [
            "train",
            *TINY,
            "data.name=fashion-mnist",
            f"data.download={download}",
            "--out",
            str(tmp_path / "r"),
        ],
        capsys,
    )
    assert rc == 2
    assert "Traceback" not in err
    assert "ff: error: fashion-mnist not found. Looked in:" in err
    tried = [
        env,
        env / "fashion-mnist",
        tmp_path / "sys-fm",
        tmp_path / "cache" / "fashion-mnist",
    ]
    positions = [err.index(f"  {p} (") for p in tried]
    assert positions == sorted(positions)
    assert f"  {env} (no IDX files)" in err and str(root) not in err
    assert "data.root=PATH" in err and "FF_DATA_DIR" in err
    if download:
        assert "Download failed:" in err and "network disabled in tests" in err
        assert not (tmp_path / "cache" / "fashion-mnist").exists()
    else:
        assert "Download disabled" in err
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_config_yaml_in_the_run_dir_round_trips(tmp_path: Path, capsys) -> None:
    rc, _, _ = run(
        ["train", *TINY, "trainer.epochs=1", "model.peer_norm=0.03", "--out", str(tmp_path)], capsys
    )
    assert rc == 0
    assert OmegaConf.to_container(load_config(tmp_path / "config.yaml")) == to_dict(
        load_config(None, [*TINY, "trainer.epochs=1", "model.peer_norm=0.03"])
    )


def test_ff_eval_int8_refuses_a_network_it_cannot_quantise_before_evaluating(tmp_path: Path, capsys) -> None:
    out = tmp_path / "one-layer"
    assert run(["train", *TINY, "model.hidden=[32]", "trainer.epochs=1", "--out", str(out)], capsys)[0] == 0
    rc, stdout, err = run(["eval", str(out / "checkpoint.pt"), "--int8"], capsys)
    assert rc != 0 and stdout == ""
    assert "--int8 cannot score" in err and "nothing to quantise" in err


def test_an_explicit_data_root_is_authoritative(tmp_path: Path, capsys, monkeypatch) -> None:
    """FF_DATA_DIR holds a valid copy, but data.root points nowhere: one line naming the root, no training."""
    from test_data import make_idx_dataset

    make_idx_dataset(tmp_path / "env", n_train=20)
    monkeypatch.setenv("FF_DATA_DIR", str(tmp_path / "env"))
    nowhere = tmp_path / "nowhere"
    rc, _, err = run(
        ["train", *TINY, "data.name=mnist", f"data.root={nowhere}", "--out", str(tmp_path / "r")], capsys
    )
    assert rc == 2
    (line,) = error_lines(err)
    assert line.startswith(f"ff: error: mnist not found in the given root {nowhere} (no such directory)")
    assert "train-images-idx3-ubyte" in line
    assert not (tmp_path / "r" / "checkpoint.pt").exists()
