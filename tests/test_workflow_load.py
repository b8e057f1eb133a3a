"""A researcher's daily workflow (issue 21): load a trained network, predict on new data in the forms one
has it, train from PyTorch's own data types, and the ``ff predict`` command. Tiny runs on the bundled
digits (one epoch, small layers)."""

from __future__ import annotations

import csv
import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli as run
from torch.utils.data import DataLoader, Dataset, TensorDataset

import forwardforward as ff
from forwardforward.experiment.build import build_network, sample_shape
from forwardforward.experiment.cli import main
from forwardforward.experiment.config import from_dict

TINY = ["model.hidden=[32,32]", "trainer.epochs=1", "trainer.progress=false", "trainer.threads=1"]


@pytest.fixture(scope="module")
def digits() -> ff.data.DataSplits:
    return ff.data.load("digits")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``ff train`` run folder on the digits (one epoch)."""
    out = tmp_path_factory.mktemp("run") / "r"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def python_checkpoint(tmp_path_factory: pytest.TempPathFactory, digits: ff.data.DataSplits) -> tuple:
    """A network built and trained in Python, saved with ``Trainer.save_checkpoint``."""
    torch.manual_seed(0)
    net = ff.FFNetwork.mlp([64, 32, 32], num_classes=10, goodness="meansq", loss="symba")
    trainer = ff.Trainer(net, progress=False)
    trainer.fit(digits.train, epochs=1, batch_size=64)
    path = trainer.save_checkpoint(tmp_path_factory.mktemp("py") / "net.pt")
    return net.eval(), path


# ---------------------------------------------------------------- 1. loading from Python
def test_load_an_ff_train_run_predicts_exactly_as_ff_eval_did(trained_run: Path, digits) -> None:
    net = ff.load(trained_run / "checkpoint.pt")
    assert not net.training
    same = ff.load(trained_run)  # the run folder works too
    assert torch.equal(net.predict(digits.test.x), same.predict(digits.test.x))
    # The network `ff eval` rebuilds (from the recorded config and the data's shape) predicts the same.
    ckpt = ff.load_checkpoint(trained_run)
    ref = build_network(from_dict(ckpt["config"]), sample_shape(digits.test), 10)
    ref.load_state_dict(ckpt["model"])
    assert torch.equal(net.predict(digits.test.x), ref.eval().predict(digits.test.x))
    assert net.evaluate(digits.test) == ref.evaluate(digits.test)


def test_load_picks_the_newest_version_of_a_named_run(tmp_path: Path, capsys, monkeypatch, digits) -> None:
    monkeypatch.chdir(tmp_path)
    for seed in (0, 1):
        assert run(["train", *TINY, f"trainer.seed={seed}"], capsys)[0] == 0  # runs/digits/version_0, _1
    newest = ff.load(tmp_path / "runs" / "digits").scores(digits.test.x)
    assert torch.equal(newest, ff.load(tmp_path / "runs" / "digits" / "version_1").scores(digits.test.x))
    assert not torch.equal(newest, ff.load(tmp_path / "runs" / "digits" / "version_0").scores(digits.test.x))


def test_load_a_python_trainer_checkpoint_round_trips(python_checkpoint, digits) -> None:
    net, path = python_checkpoint
    assert ff.load_checkpoint(path)["network"]["builder"] == "mlp"  # what rebuilds it is recorded
    loaded = ff.load(path)
    assert torch.equal(net.predict(digits.test.x), loaded.predict(digits.test.x))
    assert torch.equal(net.scores(digits.test.x), loaded.scores(digits.test.x))


def test_a_network_of_objects_says_how_to_load_it(tmp_path: Path, digits) -> None:
    # Black boxes between layers are objects by design: the checkpoint keeps the weights; loading says how.
    net = ff.FFNetwork.mlp([64, 16, 16], num_classes=10, between={0: torch.round})
    path = ff.Trainer(net, progress=False).save_checkpoint(tmp_path / "x.pt")
    with pytest.raises(ValueError, match=r"records neither a config nor .*load_state_dict"):
        ff.load(path)
    # A layer piece given as an object is refused when saving, with the name to give instead.
    net = ff.FFNetwork.mlp([64, 16], num_classes=10, labels=ff.labels.build_labels("append", 10))
    with pytest.raises(ValueError, match=r"labels=Append\(\.\.\.\).* registered name, labels='append'"):
        ff.Trainer(net, progress=False).save_checkpoint(tmp_path / "y.pt")
    assert not (tmp_path / "y.pt").exists()


def test_ff_eval_with_a_config_the_weights_do_not_fit_is_one_line(trained_run: Path, capsys) -> None:
    rc, _, err = run(["eval", str(trained_run / "checkpoint.pt"), "model.hidden=[100,100]"], capsys)
    assert rc == 2
    (line,) = err.strip().splitlines()
    assert "Traceback" not in err and "size mismatch" not in err
    assert "layers.0.block.weight is [32, " in line and "but [100, " in line
    with pytest.raises(ValueError, match=r"is \[32, \d+\] in the checkpoint but \[100, \d+\]"):
        ff.load(trained_run, ["model.hidden=[100,100]"])


# ---------------------------------------------------------------- 2. prediction
@pytest.mark.parametrize(
    "form",
    ["one [8, 8] image", "[N, 8, 8]", "[N, 1, 8, 8]", "[N, 64]", "numpy float64", "numpy uint8", "int"],
)
def test_predict_takes_any_layout_and_dtype(python_checkpoint, digits, form: str) -> None:
    net, _ = python_checkpoint
    x = digits.test.x[:5]
    want = net.predict(x)
    inputs = {
        "one [8, 8] image": x[0, 0],
        "[N, 8, 8]": x[:, 0],
        "[N, 1, 8, 8]": x,
        "[N, 64]": x.reshape(5, 64),
        "numpy float64": x.numpy().astype(np.float64),
        "numpy uint8": np.round(x.numpy() * 255).astype(np.uint8),
        "int": np.round(x.numpy() * 16).astype(np.int64),  # integer levels are taken as they are
    }[form]
    got = net.predict(inputs)
    if form == "one [8, 8] image":
        assert got.shape == (1,) and got[0] == want[0]
    elif form == "int":
        assert got.shape == (5,)
    else:
        assert torch.equal(got, want)


def test_predict_refuses_a_wrong_size_naming_the_expected_one(python_checkpoint) -> None:
    net, _ = python_checkpoint
    with pytest.raises(ValueError, match=r"samples of 64 values .*got an input of shape \(3, 7\)"):
        net.predict(torch.zeros(3, 7))


def test_calling_the_network_gives_class_scores(python_checkpoint, digits) -> None:
    net, _ = python_checkpoint
    scores = net(digits.test.x[:4].numpy())
    assert scores.shape == (4, 10)
    assert torch.equal(scores.argmax(1), net.predict(digits.test.x[:4]))


# ---------------------------------------------------------------- 3. PyTorch's data forms
class Pairs(Dataset):
    """A user's own map-style Dataset of (image, label) items."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], int(self.y[i])


@pytest.mark.parametrize("form", ["ArrayDataset", "tuple", "numpy tuple", "Dataset", "DataLoader"])
def test_fit_and_evaluate_take_pytorch_data_forms(digits, form: str) -> None:
    train, test = digits.train.subset(torch.arange(256)), digits.test
    forms = {
        "ArrayDataset": lambda d: d,
        "tuple": lambda d: (d.x, d.y),
        "numpy tuple": lambda d: (d.x.numpy(), d.y.numpy()),
        "Dataset": lambda d: Pairs(d.x, d.y),
        "DataLoader": lambda d: DataLoader(TensorDataset(d.x, d.y), batch_size=50),
    }
    torch.manual_seed(0)
    net = ff.FFNetwork.mlp([64, 16], num_classes=10)
    ff.Trainer(net, progress=False, seed=0).fit(forms[form](train), epochs=1, batch_size=64)
    torch.manual_seed(0)
    ref = ff.FFNetwork.mlp([64, 16], num_classes=10)
    ff.Trainer(ref, progress=False, seed=0).fit(train, epochs=1, batch_size=64)
    for a, b in zip(net.parameters(), ref.parameters()):
        assert torch.equal(a, b)  # the same data in another form trains the same weights
    assert net.evaluate(forms[form](test))["accuracy"] == ref.evaluate(test)["accuracy"]


def test_an_unusable_data_form_is_a_clear_error() -> None:
    net = ff.FFNetwork.mlp([64, 16], num_classes=10)
    with pytest.raises(ValueError, match=r"cannot train or evaluate on a str; pass an ArrayDataset"):
        ff.Trainer(net, progress=False).fit("digits", epochs=1)


def test_the_dataloader_example_runs() -> None:
    import runpy
    import sys

    example = Path(__file__).parents[1] / "examples" / "train_from_dataloader.py"
    argv = sys.argv
    sys.argv = [str(example), "--epochs", "1"]
    try:
        runpy.run_path(str(example), run_name="__main__")
    finally:
        sys.argv = argv


# ---------------------------------------------------------------- ff predict
def _write_idx(path: Path, images: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, images.ndim) + struct.pack(f">{images.ndim}I", *images.shape)
    path.write_bytes(gzip.compress(header + images.astype(np.uint8).tobytes()))


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


@pytest.mark.parametrize("kind", ["npy", "npz", "idx", "png"])
def test_ff_predict_reads_each_input_kind(
    trained_run: Path, digits, tmp_path: Path, capsys, kind: str
) -> None:
    images = np.round(digits.test.x[:6, 0].numpy() * 255).astype(np.uint8)  # [6, 8, 8] pixels
    if kind == "npy":
        src = tmp_path / "x.npy"
        np.save(src, images)
    elif kind == "npz":
        src = tmp_path / "x.npz"
        np.savez(src, x=images, y=np.zeros(6))
    elif kind == "idx":
        src = tmp_path / "t10k-images-idx3-ubyte.gz"
        _write_idx(src, images)
    else:
        image = pytest.importorskip("PIL.Image")
        src = tmp_path / "pngs"
        src.mkdir()
        for i, a in enumerate(images):
            image.fromarray(a, mode="L").save(src / f"img{i}.png")
    rc, out, err = run(["predict", str(trained_run), str(src)], capsys)
    assert rc == 0, err
    rows = _rows(out)
    want = ff.load(trained_run).predict(images).tolist()
    assert [int(r["label"]) for r in rows] == want
    assert list(rows[0]) == ["input", "label", *(f"score_{c}" for c in range(10))]
    assert [r["input"] for r in rows] == (
        [f"img{i}.png" for i in range(6)] if kind == "png" else list("012345")
    )


def test_ff_predict_writes_json_to_a_file(trained_run: Path, digits, tmp_path: Path, capsys) -> None:
    src = tmp_path / "x.npy"
    np.save(src, digits.test.x[:3].numpy())
    rc, _, _ = run(
        ["predict", str(trained_run / "checkpoint.pt"), str(src), "--out", str(tmp_path / "p.json")], capsys
    )
    assert rc == 0
    rows = json.loads((tmp_path / "p.json").read_text())
    assert [r["label"] for r in rows] == ff.load(trained_run).predict(digits.test.x[:3]).tolist()
    assert len(rows[0]["scores"]) == 10


def test_ff_predict_refuses_a_wrong_size_and_a_wrong_file(trained_run: Path, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "wide.npy", np.zeros((2, 28, 28), dtype=np.uint8))
    rc, _, err = run(["predict", str(trained_run), str(tmp_path / "wide.npy")], capsys)
    assert rc == 2 and "samples of 64 values" in err and "Traceback" not in err
    (tmp_path / "notes.txt").write_text("hello")
    rc, _, err = run(["predict", str(trained_run), str(tmp_path / "notes.txt")], capsys)
    assert rc == 2 and "bad magic" in err and ".npy, .npz, IDX files and folders of .png" in err


def test_ff_predict_without_pillow_is_a_one_line_hint(
    trained_run: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    (tmp_path / "pngs").mkdir()
    rc, _, err = run(["predict", str(trained_run), str(tmp_path / "pngs")], capsys)
    assert rc == 2
    (line,) = err.strip().splitlines()
    assert "needs Pillow: pip install 'forwardforward[images]'" in line


def test_ff_predict_reads_a_python_trainer_checkpoint(
    python_checkpoint, digits, tmp_path: Path, capsys
) -> None:
    net, path = python_checkpoint
    np.save(tmp_path / "x.npy", digits.test.x[:4, 0].numpy().astype(np.float64))
    rc, out, err = run(["predict", str(path), str(tmp_path / "x.npy"), "--format", "json"], capsys)
    assert rc == 0, err
    assert [r["label"] for r in json.loads(out)] == net.predict(digits.test.x[:4]).tolist()
