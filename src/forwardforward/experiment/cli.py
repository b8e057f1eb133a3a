"""The ``ff`` command: train, eval and compare from configs that record every choice::

    ff train [CONFIG.yaml] [key=value ...] [--out DIR] [--resume | --overwrite] [--nproc N [--pipeline]]
    ff eval CHECKPOINT [key=value ...]
    ff predict CHECKPOINT INPUT [--out FILE] [--format csv|json]
    ff probe CHECKPOINT [key=value ...] [--layers I ...] [--raw]
    ff config [CONFIG.yaml] [key=value ...]
    ff compare [CONFIG.yaml] [key=value ...] [--out DIR] [--overwrite]
    ff sweep [CONFIG.yaml] key=v1,v2 [key=value ...] --out DIR [--seeds N] [--jobs J]
    ff plot RUN_DIR
    ff generate CHECKPOINT --prompt TEXT [--length N] [--seed S] [--temperature T]

``ff train`` with no arguments trains the default network on scikit-learn's bundled 8x8 digits, into a new
``runs/digits/version_N``. Overrides may come anywhere on the line; ``ff --version`` prints the version.

Every command first loads the installed plugins (the ``forwardforward.plugins`` entry points) and the
modules given with ``--import MODULE`` (repeatable: a dotted name importable from the current folder, or a
``.py`` path), so the user's own pieces can be named in configs; ``ff train``, ``ff compare``, ``ff sweep``
and ``ff config`` add those to the config's ``imports``, so the run records them and ``ff eval`` /
``ff predict`` of it import them again.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from .rundir import RunDirError, check_resume_config, claim_version, latest_version, prepare_fresh


def _split_args(items: list[str]) -> tuple[str | None, list[str]]:
    """The optional config path (first item without '=') and the key=value overrides."""
    config = None
    overrides = []
    for item in items:
        if "=" in item:
            overrides.append(item)
        elif config is None:
            config = item
        else:
            from .config import ConfigError

            raise ConfigError(f"more than one config file given ({config!r}, {item!r}); give one")
    return config, overrides


def _default_base(path: str | None, cfg: DictConfig) -> Path:
    """``runs/<config name>``, or ``runs/<dataset>`` when no config file is given: the folder that holds
    the ``version_N`` runs of ``ff train`` without ``--out``."""
    return Path("runs") / (Path(path).stem if path else cfg.data.name)


def _main_rank() -> bool:
    """Whether this process owns the run directory: always, except the non-zero ranks under torchrun
    (every rank runs this command; only rank 0 checks, claims and writes the directory)."""
    from ..training.strategies import launched_by_torchrun

    return not launched_by_torchrun() or int(os.environ.get("RANK", "0")) == 0


def _check_train_options(args: argparse.Namespace) -> None:
    """Options that contradict each other, refused before anything is read or written."""
    from ..training.strategies import launched_by_torchrun

    several = args.nproc > 1 or launched_by_torchrun()
    if args.resume and args.overwrite:
        raise RunDirError("--resume continues the run in --out and --overwrite deletes it: give one of them")
    if args.overwrite and not args.out:
        raise RunDirError("--overwrite needs --out DIR (without --out every run gets a new version_N)")
    if args.resume and several:
        raise ValueError("--resume is not supported with --nproc/--pipeline or torchrun")
    if args.pipeline and not several:
        raise ValueError(
            "--pipeline puts layers on several processes: give --nproc N (N >= 2) or use torchrun"
        )


def _check_runnable(args: argparse.Namespace, cfg: DictConfig) -> None:
    """What this machine or several processes cannot train, refused in one line before the run directory
    is touched: a device that is not here (for the highest local rank, which needs the most GPUs), a
    config several processes cannot share."""
    from ..training.devices import resolve_device
    from ..training.strategies import launched_by_torchrun
    from .checks import check_launch

    if launched_by_torchrun():
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    else:
        world = local = args.nproc
    if not args.pipeline:  # the pipeline computes on the CPU
        resolve_device(cfg.trainer.device, local - 1, local)
    if world > 1:
        check_launch(cfg, world, pipeline=args.pipeline)


def _fresh_run(args: argparse.Namespace, path: str | None, overrides: list[str]) -> tuple[DictConfig, Path]:
    """A new run's config and directory: ``--out`` when it is absent or empty (or cleared by
    ``--overwrite``), else the next free ``runs/<name>/version_N``."""
    from .config import load_config

    cfg = record_imports(load_config(path, overrides), args.imports)
    _check_runnable(args, cfg)
    if not _main_rank():  # rank 0 checks and claims the directory; the others never write to it
        return cfg, Path(args.out) if args.out else _default_base(path, cfg)
    if args.out:
        out = Path(args.out)
        prepare_fresh(out, overwrite=args.overwrite)
        return cfg, out
    return cfg, claim_version(_default_base(path, cfg))


def _resumed_run(args: argparse.Namespace, path: str | None, overrides: list[str]) -> tuple[DictConfig, Path]:
    """The config a resumed run continues with: the saved one, with the overrides (or the config file)
    given, which may change only :data:`~.rundir.RESUME_KEYS`. Without ``--out``: the newest version."""
    from ..training.checkpoint import load_checkpoint
    from .config import apply_overrides, from_dict, load_config, to_dict

    out = Path(args.out) if args.out else latest_version(_default_base(path, load_config(path, overrides)))
    saved = load_checkpoint(out / "checkpoint.pt")
    if "optimizer" not in saved:
        raise RunDirError(
            f"{out / 'checkpoint.pt'} was written by a --pipeline run, which keeps no optimiser state: it "
            "cannot be resumed (ff eval reads it)"
        )
    saved_cfg = from_dict(saved["config"])
    cfg = load_config(path, overrides) if path else apply_overrides(saved_cfg, overrides)
    cfg = record_imports(cfg, [*saved_cfg.imports, *args.imports])
    check_resume_config(to_dict(saved_cfg), to_dict(cfg), out)
    _check_runnable(args, cfg)
    return cfg, out


def _train(args: argparse.Namespace, cfg: DictConfig, out: Path) -> dict[str, Any]:
    """One process, local workers (``--nproc``) or one rank of a torchrun group."""
    from ..training.strategies import launched_by_torchrun
    from .launch import join_torchrun, launch
    from .run import run

    if launched_by_torchrun():
        return join_torchrun(cfg, out, pipeline=args.pipeline)
    if args.nproc > 1:
        return launch(cfg, args.nproc, out, pipeline=args.pipeline)
    return run(cfg, out, resume=args.resume)


def cmd_train(args: argparse.Namespace) -> int:
    """``ff train`` with the parsed command line ``args``: train into a run directory that holds no other
    run (see :mod:`.rundir`); Ctrl-C ends with one line saying how far it got and how to resume, and exit
    status 130 (what a shell reports for SIGINT). Returns the exit status."""
    path, overrides = _split_args(args.items)
    _check_train_options(args)
    cfg, out = (_resumed_run if args.resume else _fresh_run)(args, path, overrides)
    if _main_rank():
        print(f"training on {cfg.data.name}; checkpoints and metrics in {out}/", file=sys.stderr)
    try:
        result = _train(args, cfg, out)
    except KeyboardInterrupt:
        _close_progress_bars()
        if _main_rank():
            print(f"ff: {interrupted(args, cfg, out)}", file=sys.stderr)
        return 130
    except BaseException:
        if not (args.out or args.resume) and _main_rank() and not any(out.iterdir()):
            out.rmdir()  # a version claimed for a run that failed before writing anything (missing data)
        raise
    if result:
        print(json.dumps(result))
    return 0


def interrupted(args: argparse.Namespace, cfg: DictConfig, out: Path) -> str:
    """One line: how far the run of config ``cfg`` interrupted in ``out`` got (its last checkpoint) and
    the command that continues it (or, before any checkpoint, restarts ``args``' command)."""
    from ..training.checkpoint import load_checkpoint

    try:
        saved = load_checkpoint(out / "checkpoint.pt")
    except (FileNotFoundError, ValueError):
        return f"interrupted before the first epoch ended; start again with: {_restart_command(args, out)}"
    where = f"epoch {saved['epoch']} of {cfg.trainer.epochs}"
    if cfg.trainer.schedule == "greedy":
        where = f"layer {saved['phase']}'s {where}"
    if "optimizer" not in saved:  # the layer pipeline's checkpoint: weights only
        return f"interrupted at {where}; a --pipeline run cannot be resumed (ff eval reads its checkpoint)"
    return f"interrupted at {where}; resume with: ff train --resume --out {shlex.quote(str(out))}"


def _restart_command(args: argparse.Namespace, out: Path) -> str:
    """The command as given, aimed at the same directory with ``--overwrite`` (it holds nothing to keep)."""
    kept, skip = [], False
    for item in args.argv:
        if skip or item in ("--overwrite", "--resume"):
            skip = False
            continue
        if item == "--out":
            skip = True
        elif not item.startswith("--out="):
            kept.append(item)
    return "ff " + shlex.join([*kept, "--overwrite", "--out", str(out)])


def _close_progress_bars() -> None:
    """Clear the progress bars an interrupt left open, so that the last line the user sees is ours."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def record_imports(cfg: DictConfig, modules: list[str]) -> DictConfig:
    """The config ``cfg`` with ``modules`` (``--import``'s, already imported) added to its ``imports``
    (each once, in order), so the run records them and every process, ``ff eval`` and ``ff predict``
    of it import them again; returns ``cfg``."""
    # a file is recorded by its absolute path, so `ff eval RUN` from another folder finds it again
    absolute = [str(Path(m).resolve()) if m.endswith(".py") else m for m in modules]
    new = [m for m in dict.fromkeys(absolute) if m not in cfg.imports]
    if new:
        cfg.imports = [*cfg.imports, *new]
    return cfg


def _imports_item(path: str | None, items: list[str], modules: list[str]) -> list[str]:
    """``ff sweep``'s ``items`` with ``--import``'s ``modules`` in an ``imports=[...]`` item (merged with the
    config file's and an ``imports=`` item's), so every run of the grid, in whatever process, imports
    them and records them."""
    if not modules:
        return items
    from .config import load_config

    given = [i for i in items if i.split("=", 1)[0].strip() == "imports"]
    merged = record_imports(load_config(path, given), modules).imports
    return [*(i for i in items if i not in given), f"imports={json.dumps(list(merged))}"]


#: What ``ff eval`` and ``ff probe`` may set for a checkpoint a Python Trainer wrote (it records no config):
#: where the data come from, and how to measure; the network itself is what the checkpoint records.
PYTHON_CHECKPOINT_KEYS = ("data.", "probe.", "trainer.threads", "trainer.seed", "trainer.device")


def _python_checkpoint_config(command: str, where: str, overrides: list[str]) -> DictConfig:
    """The config that says where the data are for a checkpoint ``where`` a Python Trainer wrote: the
    defaults with the command line's ``overrides``, which must name the dataset (``data.name``); the
    error shows the ``command`` (``eval``, ``probe``) with it."""
    from .config import load_config

    keys = [o.split("=", 1)[0].strip() for o in overrides]
    if "data.name" not in keys:
        raise ValueError(
            f"{where} was written by a Python Trainer and records no dataset: name one, e.g. ff {command} "
            f"{where} data.name=digits (and data.root=PATH), or load it with forwardforward.load(path) and "
            "call net.evaluate(data)"
        )
    other = [k for k in keys if not k.startswith(PYTHON_CHECKPOINT_KEYS)]
    if other:
        raise ValueError(
            f"{where} records no config (a Python Trainer wrote it), so only the data and how to measure may "
            f"be set (data.*, probe.*, trainer.threads, trainer.seed, trainer.device); got {', '.join(other)}"
        )
    return load_config(None, overrides)


def _restore(args: argparse.Namespace) -> tuple[dict, Any, Any, Any]:
    """A checkpoint's network rebuilt from its recorded config (with the command's overrides) and its data;
    for a checkpoint a Python Trainer wrote, from its recorded :meth:`FFNetwork.mlp` arguments, with the
    data the overrides name (``data.name=...``)."""
    from ..training.checkpoint import load_checkpoint
    from .build import build_network, load_data, sample_shape
    from .config import apply_overrides, from_dict
    from .loading import hint_unknown_names, import_recorded, load_weights, rebuild

    _, overrides = _split_args(args.items)
    ckpt = load_checkpoint(args.checkpoint)
    where = str(args.checkpoint)
    import_recorded(ckpt, where)
    if not ckpt.get("config"):
        cfg = _python_checkpoint_config(args.command, where, overrides)
        net = rebuild(ckpt, (), where)
        splits = load_data(cfg)
    else:
        cfg = hint_unknown_names(where, lambda: apply_overrides(from_dict(ckpt["config"]), overrides))
        splits = load_data(cfg)
        net = build_network(cfg, sample_shape(splits.test), splits.test.num_classes)
    load_weights(net, ckpt["model"], where)
    return ckpt, cfg, splits, net


def cmd_eval(args: argparse.Namespace) -> int:
    """``ff eval`` with the parsed command line ``args``: test a checkpoint, printing the same keys, with
    the same values, as ``ff train``'s results for it (and the int8 cascade's, with ``--int8``)."""
    import torch

    from .run import reported_measures

    ckpt, cfg, splits, net = _restore(args)
    if cfg.model.labels == "none" or net.num_classes is None:
        raise ValueError(
            f"{args.checkpoint} is an unsupervised network (no labels to score); "
            f"measure it with `ff probe {args.checkpoint}`"
        )
    if cfg.trainer.threads:  # the recorded (or overridden) thread count, as in training
        torch.set_num_threads(cfg.trainer.threads)
    if args.int8:  # fail before the float evaluation if this network cannot be quantised
        from ..inference.cascade import CascadeScorer, evaluate_cascade

        try:
            cascade = CascadeScorer(net)
        except ValueError as err:
            raise ValueError(f"--int8 cannot score {args.checkpoint}: {err}") from err
    with torch.no_grad():  # the names and values ff train's results.json gives the same checkpoint
        res = reported_measures(net.evaluate(splits.test, views=net.test_views))
    if args.int8:
        calibration = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(0))[:2000]
        res["int8_cascade"] = evaluate_cascade(cascade, splits.train.x[calibration], splits.test)
    print(json.dumps({"checkpoint": str(args.checkpoint), "epoch": ckpt["epoch"], **res}))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``ff predict`` with the parsed command line ``args``: each sample's predicted label and per-class
    scores, from a .npy/.npz, an IDX file or PNG images, as CSV or JSON."""
    from .loading import load
    from .predict import predict_rows, read_inputs, write_predictions

    net = load(args.checkpoint)
    channels = net.input_shape[0] if net.input_shape is not None and len(net.input_shape) == 3 else 1
    x, names = read_inputs(args.input, channels)
    fmt = args.format or ("json" if args.out and args.out.endswith(".json") else "csv")
    text = write_predictions(predict_rows(net, x, names), fmt)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    """``ff probe`` with the parsed command line ``args``: linear probe on a checkpoint's frozen features
    (supervised or unsupervised): test accuracy."""
    from .unsupervised import probe_from_config

    ckpt, cfg, splits, net = _restore(args)
    res = probe_from_config(cfg, net, splits, layers=args.layers, raw=True if args.raw else None)
    print(json.dumps({"checkpoint": str(args.checkpoint), "epoch": ckpt["epoch"], **res}))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``ff compare`` with the parsed command line ``args``: the config's FF run and its backprop twin on
    the same data, a table of both on stderr and both results as JSON (and in ``--out``)."""
    from .build import load_data
    from .config import load_config
    from .run import run

    path, overrides = _split_args(args.items)
    cfg = record_imports(load_config(path, overrides), args.imports)
    out = Path(args.out) if args.out else None
    if out is not None:
        prepare_fresh(out, overwrite=args.overwrite)
    splits = load_data(cfg)
    ff_result = run(cfg, out / "ff" if out else None, splits=splits)
    bp = run(cfg, out / "backprop" if out else None, method="backprop", splits=splits)
    # Like with like: train_seconds is the training steps alone for both (each evaluates after every epoch,
    # FF also checkpoints; neither is counted), wall_seconds everything each run took.
    rows = [
        ("forward-forward (goodness)", ff_result["test_accuracy_goodness"], ff_result),
        ("forward-forward (linear head)", ff_result["test_accuracy_head"], ff_result),
        ("backprop twin", bp["test_accuracy"], bp),
    ]
    print(f"{'method':32s} {'test acc':>9s} {'train s':>9s} {'wall s':>9s}", file=sys.stderr)
    for name, acc, res in rows:
        acc_text = "n/a" if acc is None else f"{acc:9.4f}"
        print(
            f"{name:32s} {acc_text:>9} {res['train_seconds']:9.1f} {res['wall_seconds']:9.1f}",
            file=sys.stderr,
        )
    result = {"dataset": cfg.data.name, "ff": ff_result, "backprop": bp}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """``ff config``: print the config a ``ff train`` with the arguments ``args`` would run, as YAML it
    accepts back, each key followed by its meaning (from the schema's comments)."""
    from .config import load_config
    from .explain import render_config

    path, overrides = _split_args(args.items)
    print(render_config(record_imports(load_config(path, overrides), args.imports)), end="")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """``ff sweep`` with the parsed command line ``args``: plan the grid, run its unfinished runs and write
    the summary (see :mod:`.sweep`)."""
    import shlex

    from .sweep import parse_grid, plan, run_grid, write_summary

    path, items = _split_args(args.items)
    out = Path(args.out)
    grid = parse_grid(path, _imports_item(path, items, args.imports), args.seeds, args.base_seed)
    specs = plan(grid, out, threads=args.threads)
    run_grid(specs, jobs=args.jobs)
    command = "ff " + " ".join(shlex.quote(a) for a in args.argv) if args.record_command else None
    table = write_summary(out, command=command)
    print(json.dumps({"runs": len(specs), "results": str(table)}))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """``ff plot`` with the parsed command line ``args``: draw one run's figures; without the ``viz``
    extra, one line saying how to install it (exit status 2)."""
    try:
        from .plots import plot_run
    except ImportError as err:
        print(f"ff: error: {err}", file=sys.stderr)
        return 2

    paths = plot_run(Path(args.run_dir), Path(args.out) if args.out else None, root=args.root)
    print(json.dumps({"figures": [str(p) for p in paths]}))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """``ff generate`` with the parsed command line ``args``: sample text from a sequence-FF checkpoint
    (model.kind=sequence): seeded, so reproducible."""
    from ..data.text import ALPHABET
    from ..models.sequence import generate
    from ..training.checkpoint import load_checkpoint
    from .build import build_network
    from .config import from_dict

    ckpt = load_checkpoint(args.checkpoint)
    cfg = from_dict(ckpt["config"])
    if cfg.model.kind != "sequence":
        raise ValueError(
            f"{args.checkpoint} holds a model.kind={cfg.model.kind} network; ff generate needs a sequence "
            f"model (e.g. ff train configs/aesop-seq.yaml)"
        )
    context = cfg.sequence.context
    net = build_network(cfg, context * len(ALPHABET), len(ALPHABET))
    net.load_state_dict(ckpt["model"])
    net.eval()
    temperature = cfg.sequence.temperature if args.temperature is None else args.temperature
    if temperature < 0:
        raise ValueError(f"--temperature must be >= 0 (0 = the best-scoring character), got {temperature}")
    print(generate(net, args.prompt, args.length, context, args.seed, temperature))
    return 0


def make_parser() -> argparse.ArgumentParser:
    """The ``ff`` command's parser: one sub-command per job. Overrides may come anywhere on the line
    (``ff train trainer.epochs=1 --out R model.hidden=[50]``): :func:`parse` adds those after options."""
    from ..version import __version__

    p = argparse.ArgumentParser(prog="ff", description="Forward-Forward training from the command line.")
    p.add_argument("--version", action="version", version=f"ff (forwardforward) {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _add_train_compare(sub)
    ev = sub.add_parser("eval", help="evaluate a checkpoint on its dataset's test set")
    ev.add_argument("checkpoint")
    ev.add_argument(
        "items",
        nargs="*",
        help="key=value overrides, e.g. data.root=PATH; model.test_views=shift adds the accuracy with "
        "goodness averaged over 9 one-pixel-shifted views",
    )
    ev.add_argument(
        "--int8",
        action="store_true",
        help="also time the int8 cascade (int8 scores, close calls re-scored in float) against float scoring",
    )
    ev.set_defaults(func=cmd_eval)
    pd = sub.add_parser("predict", help="predicted labels and per-class scores for new samples")
    pd.add_argument(
        "checkpoint", help="checkpoint.pt (ff train or Trainer.save_checkpoint) or a run directory"
    )
    pd.add_argument(
        "input", help=".npy, .npz (array 'x' or a single array), an IDX file, or a folder of PNGs"
    )
    pd.add_argument("--out", help="write here instead of standard output")
    pd.add_argument("--format", choices=["csv", "json"], help="default: json for --out *.json, else csv")
    pd.set_defaults(func=cmd_predict)
    pr = sub.add_parser("probe", help="linear probe on a checkpoint's frozen, normalised layer activities")
    pr.add_argument("checkpoint")
    pr.add_argument("items", nargs="*", help="key=value overrides, e.g. data.root=PATH probe.epochs=10")
    pr.add_argument("--layers", type=int, nargs="+", help="layer indices (default: the last three)")
    pr.add_argument("--raw", action="store_true", help="also probe raw pixels the same way (the baseline)")
    pr.set_defaults(func=cmd_probe)
    cf = sub.add_parser("config", help="print the resolved config, each key with its meaning")
    cf.add_argument("items", nargs="*", help="[CONFIG.yaml] [key=value ...]")
    cf.set_defaults(func=cmd_config)
    _add_sweep_plot_generate(sub)
    for command in sub.choices.values():
        command.add_argument(
            "--import",
            dest="imports",
            action="append",
            default=[],
            metavar="MODULE",
            help="import your module first, so the pieces it registers can be named (repeatable): a dotted "
            "name importable from the current folder, or a .py file",
        )
    return p


def _add_train_compare(sub: Any) -> None:
    tr = sub.add_parser("train", help="train an FF network (default: the embedded digits)")
    tr.add_argument("items", nargs="*", help="[CONFIG.yaml] [key=value ...]")
    tr.add_argument(
        "--out", help="run directory, absent or empty (default: a new runs/<config name>/version_N)"
    )
    tr.add_argument("--resume", action="store_true", help="continue the run in OUT (default: the newest)")
    tr.add_argument("--overwrite", action="store_true", help="delete the run in OUT first, then train afresh")
    tr.add_argument("--nproc", type=int, default=1, help="local processes (gloo): data parallel by default")
    tr.add_argument("--pipeline", action="store_true", help="with --nproc: layers on consecutive ranks")
    tr.set_defaults(func=cmd_train)
    co = sub.add_parser("compare", help="FF against the backprop twin: same architecture, data, epochs")
    co.add_argument("items", nargs="*", help="[CONFIG.yaml] [key=value ...]")
    co.add_argument("--out", help="directory for both runs and compare.json, absent or empty")
    co.add_argument("--overwrite", action="store_true", help="delete the comparison in OUT first")
    co.set_defaults(func=cmd_compare)


def _add_sweep_plot_generate(sub: Any) -> None:
    sw = sub.add_parser("sweep", help="a grid of runs (key=v1,v2 axes) x seeds; resumable; table + plots")
    sw.add_argument("items", nargs="*", help="[CONFIG.yaml] key=v1,v2 ... key=fixed ... (method=ff,backprop)")
    sw.add_argument("--out", required=True, help="sweep directory (rerun the same command to resume)")
    sw.add_argument("--seeds", type=int, default=1, help="runs per grid point (seeds base, base+1, ...)")
    sw.add_argument("--base-seed", type=int, default=None, help="first seed (default: trainer.seed)")
    sw.add_argument("--jobs", type=int, default=1, help="runs at a time, each in its own process")
    sw.add_argument("--threads", type=int, default=None, help="torch threads per run (set with --jobs)")
    sw.add_argument(
        "--no-record-command",
        dest="record_command",
        action="store_false",
        help="leave the command line out of results.md",
    )
    sw.set_defaults(func=cmd_sweep)
    pl = sub.add_parser("plot", help="learning curves, receptive fields, goodness histograms of a run")
    pl.add_argument("run_dir", help="a run directory written by ff train (holds checkpoint.pt)")
    pl.add_argument("--out", help="where the PNGs go (default: the run directory)")
    pl.add_argument("--root", help="override data.root (for the goodness histograms)")
    pl.set_defaults(func=cmd_plot)
    ge = sub.add_parser("generate", help="sample text from a sequence-FF checkpoint (seeded)")
    ge.add_argument("checkpoint")
    ge.add_argument(
        "--prompt",
        required=True,
        help="start text, used as given (a trailing space is kept), in the 30-symbol alphabet",
    )
    ge.add_argument("--length", type=int, default=200, help="characters to generate (default 200)")
    ge.add_argument("--seed", type=int, default=0, help="sampling seed: same seed, same text")
    ge.add_argument("--temperature", type=float, default=None, help="default: sequence.temperature")
    ge.set_defaults(func=cmd_generate)


#: A dotted ``section.key=value`` override, which no option of a command that takes overrides can mean.
_OVERRIDE = re.compile(r"[A-Za-z_][\w-]*(\.[\w-]+)+=")
#: The sub-commands whose positional ``items`` take ``[CONFIG] key=value ...``.
_TAKE_ITEMS = frozenset({"train", "eval", "probe", "config", "compare", "sweep"})


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``) with ``parser``, the overrides anywhere on the line, kept
    in the order given.

    argparse stops filling ``items`` at the first option, and an option taking several values
    (``--layers 0 1``) would swallow an override after it. So dotted overrides are set aside before
    argparse runs, whatever argparse leaves over that is not an option joins them, and ``items`` is
    rebuilt in command-line order (the order decides which of two overrides of one key wins, and a
    sweep's axis order names its run directories).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    aside = set()
    if command in _TAKE_ITEMS:  # not after --out: a directory may be called anything
        aside = {i for i, a in enumerate(argv) if _OVERRIDE.match(a) and (i == 0 or argv[i - 1] != "--out")}
    args, extra = parser.parse_known_args([a for i, a in enumerate(argv) if i not in aside])
    stray = [e for e in extra if e.startswith("-") or not hasattr(args, "items")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if hasattr(args, "items"):
        items = [*args.items, *extra, *(argv[i] for i in aside)]
        args.items = _in_order(argv, argv.index(command) + 1, items)
    return args


def _in_order(argv: list[str], start: int, items: list[str]) -> list[str]:
    """``items`` (tokens of ``argv``, each as often as it was given) in the order of ``argv[start:]``."""
    left = Counter(items)
    ordered = []
    for a in argv[start:]:
        if left[a] > 0:
            ordered.append(a)
            left[a] -= 1
    return ordered


def main(argv: list[str] | None = None) -> int:
    """The ``ff`` command on ``argv`` (default: ``sys.argv[1:]``); returns the exit status: 0, 2 for a
    usage, config or data error (one line, no traceback), 3 when training diverged, 130 when
    interrupted."""
    from ..registry import PieceImportError, import_modules, load_plugins
    from ..training.trainer import NonFiniteLossError
    from .config import ConfigError

    args = parse(make_parser(), argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded by `ff sweep` in its table
    try:
        load_plugins()  # installed packages' pieces, then the user's own, before anything names them
        import_modules(args.imports, "--import")
        return int(args.func(args))
    except NonFiniteLossError as err:
        print(f"ff: training stopped: {err}", file=sys.stderr)
        return 3
    except (ConfigError, FileNotFoundError, KeyError, ValueError, PieceImportError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"ff: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # `ff train` says how to resume; elsewhere a line instead of a traceback
        print(f"ff: {args.command} interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
