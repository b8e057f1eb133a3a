"""The user's own pieces, first class: a goodness and a negatives class registered in the user's module train
from the command line (``--import``, the config's ``imports``, an installed plugin's entry point), and the
checkpoint records the module, so ``ff eval``, ``ff predict`` and ``forwardforward.load`` in a fresh process
find them again. What cannot work is refused when it is made, in one line: a piece passed as an object, at
save time; a per-batch-only negatives class under the greedy schedule, before training.

What must hold in a *fresh* process runs in one (``subprocess``); the rest runs in this one, with the
registries, ``sys.path`` and ``sys.modules`` put back afterwards, so no piece of these tests leaks into
another test's registries.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli as ff_cli

import forwardforward as ff
from forwardforward import registry
from forwardforward.experiment.cli import main
from forwardforward.experiment.config import ConfigError, load_config
from forwardforward.experiment.run import reported_measures
from forwardforward.goodness import Goodness
from forwardforward.negatives import NEGATIVES, Negatives

TINY = ["model.hidden=[16,16]", "trainer.epochs=1", "trainer.progress=false", "trainer.threads=1"]

MY_PIECES = '''
"""A goodness and a wrong-label sampler of my own."""
import torch

from forwardforward.goodness import GOODNESS, Goodness
from forwardforward.negatives import NEGATIVES, Negatives


@GOODNESS.register("rootquart")
class RootQuart(Goodness):
    """The square root of the mean fourth power of the activities."""

    def forward(self, h):
        return h.pow(4).flatten(1).mean(1).add(1e-12).sqrt()


@NEGATIVES.register("nextlabel")
class NextLabel(Negatives):
    """Each sample with the label after its own: drawn per batch only."""

    def pair(self, net, x, y, scores=None, generator=None):
        return net.embed(x, y), net.embed(x, (y + 1) % net.num_classes)
'''

#: Trains in Python with the pieces of my_pieces.py, saves, and prints the test predictions; then saves a
#: network whose goodness a script (``__main__``) registered, which warns.
TRAIN_IN_PYTHON = '''
import json, warnings
import torch
import forwardforward as ff
import my_pieces
from forwardforward.goodness import GOODNESS, Goodness

digits = ff.data.load("digits")
torch.manual_seed(0)
net = ff.FFNetwork.mlp([64, 16, 16], num_classes=10, goodness="rootquart")
trainer = ff.Trainer(net, negatives="nextlabel", progress=False)
trainer.fit(digits.train, epochs=1, batch_size=64)
trainer.save_checkpoint("py.pt")


@GOODNESS.register("cubic")
class Cubic(Goodness):
    def forward(self, h):
        return h.abs().pow(3).flatten(1).mean(1)


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ff.Trainer(ff.FFNetwork.mlp([64, 8], goodness="cubic"), progress=False).save_checkpoint("main.pt")
said = [str(w.message) for w in caught]
print(json.dumps({"predictions": net.predict(digits.test.x).tolist(), "warnings": said}))
'''

#: Loads checkpoints in a fresh process: predictions for each that loads, the error line for each that fails.
LOAD_FRESH = '''
import json, sys
import forwardforward as ff

digits = ff.data.load("digits")
out = {}
for path in sys.argv[1:]:
    try:
        out[path] = ff.load(path).predict(digits.test.x).tolist()
    except Exception as err:
        out[path] = f"{type(err).__name__}: {err}"
print(json.dumps(out))
'''


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


#: The modules these tests write and import (forgotten again after each use).
USER_MODULES = ("my_pieces", "plugpieces", "brokenpieces_missing")


@contextlib.contextmanager
def isolated(folder: Path) -> Iterator[None]:
    """Work in ``folder``; afterwards put back the working folder, ``sys.path``, the registries' entries,
    the plugins' cache, and forget the user's modules, as if nothing of the user's had been imported."""
    cwd, path = os.getcwd(), list(sys.path)
    saved = [(r, dict(r._entries), dict(r._canonical), dict(r._modules)) for r in list(registry.REGISTRIES)]
    plugins = registry._plugins_loaded
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path[:] = path
        for name in USER_MODULES:
            sys.modules.pop(name, None)
        for reg, entries, canonical, owners in saved:
            reg._entries, reg._canonical, reg._modules = entries, canonical, owners
        registry._plugins_loaded = plugins


def fresh(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in a fresh process in ``cwd`` (one torch thread)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


@pytest.fixture(scope="module")
def digits() -> ff.data.DataSplits:
    return ff.data.load("digits")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's folder holding my_pieces.py, and an ``ff train --import my_pieces`` run of its pieces."""
    where = tmp_path_factory.mktemp("mine")
    (where / "my_pieces.py").write_text(MY_PIECES)
    argv = ["train", "--import", "my_pieces", "model.goodness=rootquart", "trainer.negatives=nextlabel"]
    with isolated(where):
        assert main([*argv, *TINY, "--out", "run"]) == 0
    return where


def test_a_run_records_the_module_of_its_pieces(folder: Path) -> None:
    ckpt = ff.load_checkpoint(folder / "run")
    assert ckpt["imports"] == {"my_pieces": {"goodness": ["rootquart"], "negatives": ["nextlabel"]}}
    assert ckpt["config"]["imports"] == ["my_pieces"]  # --import joins the config's imports
    assert "my_pieces" in (folder / "run" / "config.yaml").read_text()
    assert "rootquart" not in registry.registry_of("goodness")  # nothing leaked into this process


def test_ff_eval_and_predict_import_the_recorded_module(folder: Path, digits, capsys) -> None:
    np.save(folder / "x.npy", digits.test.x[:20].numpy())
    with isolated(folder):  # no flag: the run's record imports my_pieces
        rc, stdout, err = ff_cli(["eval", "run"], capsys)
        assert rc == 0, err
        trained = json.loads((folder / "run" / "results.json").read_text())
        assert json.loads(stdout)["test_accuracy_goodness"] == trained["test_accuracy_goodness"]
    # A checkpoint whose records are lost (an older version's): only the flag can import the module.
    bare = ff.load_checkpoint(folder / "run")
    bare.pop("imports", None)
    bare["config"]["imports"] = []
    ff.save_atomic(bare, folder / "bare.pt")
    with isolated(folder):
        rc, _, err = ff_cli(["predict", "bare.pt", "x.npy"], capsys)
        assert rc != 0 and "rootquart" in err and "--import" in err, err
    with isolated(folder):
        rc, stdout, err = ff_cli(["predict", "bare.pt", "x.npy", "--import", "my_pieces"], capsys)
        assert rc == 0, err
        rows = list(csv.DictReader(io.StringIO(stdout)))
        assert len(rows) == 20
        assert "rootquart" in registry.registry_of("goodness")
    with isolated(folder):  # and a path to the file
        argv = ["config", "--import", str(folder / "my_pieces.py"), "model.goodness=rootquart"]
        assert ff_cli(argv, capsys)[0] == 0


def test_a_fresh_process_loads_what_python_trained_and_ff_train_wrote(folder: Path, digits) -> None:
    (folder / "train.py").write_text(TRAIN_IN_PYTHON)
    (folder / "load.py").write_text(LOAD_FRESH)
    trained = fresh(["train.py"], folder)
    assert trained.returncode == 0, trained.stderr
    made = json.loads(trained.stdout)
    assert any("registered in a script (__main__)" in w for w in made["warnings"])  # said at save time
    assert ff.load_checkpoint(folder / "py.pt")["imports"] == {"my_pieces": {"goodness": ["rootquart"]}}

    loaded = fresh(["load.py", "py.pt", "run", "main.pt"], folder)
    assert loaded.returncode == 0, loaded.stderr
    got = json.loads(loaded.stdout)
    assert got["py.pt"] == made["predictions"]  # the network Python trained, rebuilt from the checkpoint
    assert isinstance(got["run"], list) and len(got["run"]) == len(digits.test.y)
    assert got["main.pt"].startswith("PieceImportError: main.pt uses goodness 'cubic', registered by a")
    assert "move the class into a module" in got["main.pt"]

    elsewhere = folder / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    (elsewhere / "load.py").write_text(LOAD_FRESH)
    lost = fresh(["load.py", str(folder / "py.pt")], elsewhere)
    message = json.loads(lost.stdout)[str(folder / "py.pt")]
    assert "\n" not in message
    assert "uses goodness 'rootquart' registered by module 'my_pieces', which cannot be imported" in message
    assert "(No module named 'my_pieces')" in message and "PYTHONPATH" in message


def test_without_the_module_ff_eval_is_one_line_naming_it(folder: Path, tmp_path: Path, capsys) -> None:
    with isolated(tmp_path):
        rc, _, err = ff_cli(["eval", str(folder / "run")], capsys)
    line = one_error_line(err)
    assert rc == 2
    assert "goodness 'rootquart', negatives 'nextlabel' registered by module 'my_pieces'" in line
    assert "run from the folder that holds it" in line and "--import my_pieces" in line


def test_the_imports_key_and_import_errors(folder: Path, tmp_path: Path, capsys) -> None:
    with isolated(folder):
        assert ff_cli(["config", "imports=[my_pieces]", "model.goodness=rootquart"], capsys)[0] == 0
    (folder / "mine.yaml").write_text("imports: [my_pieces]\nmodel:\n  goodness: rootquart\n")
    with isolated(folder):
        assert load_config("mine.yaml").model.goodness == "rootquart"
    with isolated(tmp_path):
        rc, _, err = ff_cli(["config", "--import", "no_such_pieces"], capsys)
    line = one_error_line(err)
    assert rc == 2 and "cannot import module 'no_such_pieces' (from --import)" in line
    assert "No module named 'no_such_pieces'" in line and "PYTHONPATH" in line and "pip install" in line
    with isolated(tmp_path):
        rc, _, err = ff_cli(["config", "model.goodness=rootquart"], capsys)  # forgot to import it
    assert rc == 2 and "unknown model.goodness 'rootquart'" in one_error_line(err)


# ---------------------------------------------------------------- plugins of installed packages
def _install(site: Path, name: str, module_text: str | None, target: str) -> None:
    """A package ``name`` installed in ``site`` (its dist-info), whose forwardforward.plugins entry point
    names ``target``; ``module_text`` is its module (``None``: none, a broken install)."""
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[forwardforward.plugins]\n{name} = {target}\n")
    if module_text is not None:
        (site / f"{name}.py").write_text(module_text)


def test_an_installed_plugin_registers_its_pieces_when_ff_starts(tmp_path: Path, capsys) -> None:
    site = tmp_path / "site"
    plugin = MY_PIECES.replace('"rootquart"', '"plugquart"').replace('"nextlabel"', '"plugnext"')
    _install(site, "plugpieces", plugin, "plugpieces")
    with isolated(tmp_path):
        sys.path.insert(0, str(site))
        registry._plugins_loaded = None
        rc, stdout, err = ff_cli(["config", "model.goodness=plugquart", "trainer.negatives=plugnext"], capsys)
        assert rc == 0, err
        assert "goodness: plugquart" in stdout and "negatives: plugnext" in stdout
        assert "plugpieces" in registry.load_plugins()
    _install(site, "brokenpieces", None, "brokenpieces_missing")
    with isolated(tmp_path):
        sys.path.insert(0, str(site))
        registry._plugins_loaded = None
        rc, _, err = ff_cli(["config"], capsys)
    line = one_error_line(err)
    assert rc == 2
    assert "entry point 'brokenpieces' (brokenpieces_missing) of brokenpieces failed to load" in line


# ---------------------------------------------------------------- refused when made, not when loaded
class Unregistered(Goodness):
    """A goodness nobody registered."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.pow(2).flatten(1).mean(1)


class PairOnly(Negatives):
    """Wrong labels drawn per batch only (no draw_all / embed_all)."""

    def pair(self, net, x, y, scores=None, generator=None):  # type: ignore[no-untyped-def]
        return net.embed(x, y), net.embed(x, (y + 1) % net.num_classes)


def test_a_piece_given_as_an_object_is_refused_at_save(tmp_path: Path, digits) -> None:
    net = ff.FFNetwork.mlp([64, 16], num_classes=10, goodness=Unregistered())
    trainer = ff.Trainer(net, progress=False)
    with pytest.raises(ValueError) as err:
        trainer.save_checkpoint(tmp_path / "x.pt")
    message = str(err.value)
    assert "goodness=Unregistered(...)" in message and "test_user_pieces.Unregistered" in message
    assert "@forwardforward.goodness.GOODNESS.register('unregistered')" in message
    assert "pass goodness='unregistered'" in message and "\n" not in message
    assert not (tmp_path / "x.pt").exists()
    # Periodic checkpoints refuse before the first epoch, not after it.
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="goodness=Unregistered"):
        ff.Trainer(net, progress=False, out_dir=out).fit(digits.train, epochs=1, batch_size=64)
    assert not (out / "checkpoint.pt").exists()


def test_greedy_refuses_negatives_that_draw_per_batch_only(digits) -> None:
    net = ff.FFNetwork.mlp([64, 16, 16], num_classes=10)
    trainer = ff.Trainer(net, negatives=PairOnly(), schedule="greedy", progress=False)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError) as err:
        trainer.fit(digits.train, epochs=1, batch_size=64)
    message = str(err.value)
    assert message.startswith("negatives 'PairOnly' (class PairOnly) draws per batch only (it defines pair")
    assert "use schedule='all'" in message and "implement draw_all(net, x, y, scores, generator" in message
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # refused before any step
    # the 'all' schedule calls pair only: fine
    ff.Trainer(net, negatives=PairOnly(), progress=False).fit(digits.train, epochs=1, batch_size=64)


def test_a_config_naming_per_batch_negatives_with_greedy_is_refused_when_it_loads(tmp_path: Path) -> None:
    with isolated(tmp_path):
        NEGATIVES.register("pair_only")(PairOnly)
        with pytest.raises(ConfigError, match=r"negatives 'pair_only' .* trainer.schedule=all"):
            load_config(None, ["trainer.negatives=pair_only", "trainer.schedule=greedy"])
        assert load_config(None, ["trainer.negatives=pair_only"]).trainer.negatives == "pair_only"


def test_the_base_class_draw_all_has_the_signature_the_greedy_schedule_calls() -> None:
    import inspect

    from forwardforward.negatives import HybridNegatives, RandomLabel

    base = list(inspect.signature(Negatives.draw_all).parameters)
    assert base == ["self", "net", "x", "y", "scores", "generator", "first_layer"]
    for cls in (RandomLabel, HybridNegatives):
        assert list(inspect.signature(cls.draw_all).parameters) == base


# ---------------------------------------------------------------- ff eval of a Python checkpoint
def test_ff_eval_of_a_python_checkpoint_takes_the_dataset_from_the_command_line(tmp_path, digits, capsys):
    torch.manual_seed(0)
    net = ff.FFNetwork.mlp([64, 16, 16], num_classes=10)
    trainer = ff.Trainer(net, progress=False)
    trainer.fit(digits.train, epochs=1, batch_size=64)
    path = str(trainer.save_checkpoint(tmp_path / "net.pt"))
    rc, _, err = ff_cli(["eval", path], capsys)
    assert rc == 2 and f"ff eval {path} data.name=digits" in one_error_line(err)
    rc, stdout, err = ff_cli(["eval", path, "data.name=digits"], capsys)
    assert rc == 0, err
    with torch.no_grad():
        expected = reported_measures(net.eval().evaluate(digits.test))
    got = json.loads(stdout)
    assert got["test_accuracy_goodness"] == expected["test_accuracy_goodness"]
    assert got["test_accuracy_head"] == expected["test_accuracy_head"]
    rc, _, err = ff_cli(["eval", path, "data.name=digits", "model.hidden=[3]"], capsys)
    assert rc == 2 and "got model.hidden" in one_error_line(err)


def test_registering_one_definition_twice_is_allowed_and_remembers_its_module() -> None:
    reg: registry.Registry[torch.nn.Module] = registry.Registry("widget")
    source = textwrap.dedent(
        """
        from torch import nn
        class Box(nn.Identity):
            pass
        """
    )
    first, second = {"__name__": "user_mod"}, {"__name__": "user_mod"}
    exec(source, first)
    exec(source, second)  # the same module imported again (a notebook cell run twice)
    reg.register("box")(first["Box"])
    reg.register("box")(second["Box"])
    assert reg.get("box") is second["Box"] and reg.module_of("box") == __name__
    with pytest.raises(ValueError, match="widget 'box' is registered twice"):
        reg.register("box")(torch.nn.ReLU)
