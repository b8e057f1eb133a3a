"""The ``ff`` command: train, eval and compare from configs that record every choice.

    ff train [CONFIG.yaml] [key=value ...] [--out DIR] [--resume]
    ff eval CHECKPOINT [key=value ...]
    ff probe CHECKPOINT [key=value ...] [--layers I ...] [--raw]
    ff compare [CONFIG.yaml] [key=value ...] [--out DIR]
    ff sweep [CONFIG.yaml] key=v1,v2 [key=value ...] --out DIR [--seeds N] [--jobs J]
    ff plot RUN_DIR
    ff generate CHECKPOINT --prompt TEXT [--length N] [--seed S] [--temperature T]

``ff train`` with no arguments trains the default network on scikit-learn's bundled 8x8 digits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig


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


def _default_out(path: str | None, cfg: DictConfig) -> Path:
    """``runs/<config name>``, or ``runs/<dataset>`` when no config file is given."""
    return Path("runs") / (Path(path).stem if path else cfg.data.name)


def cmd_train(args: argparse.Namespace) -> int:
    from ..training.checkpoint import load_checkpoint
    from ..training.strategies import launched_by_torchrun
    from .config import apply_overrides, from_dict, load_config
    from .launch import join_torchrun, launch
    from .run import run

    path, overrides = _split_args(args.items)
    if args.resume:
        out = Path(args.out) if args.out else _default_out(path, load_config(path, overrides))
        saved = load_checkpoint(out / "checkpoint.pt")
        # The run continues with the config it was started with; overrides may extend it
        # (e.g. trainer.epochs=40).
        cfg = apply_overrides(from_dict(saved["config"]), overrides)
    else:
        cfg = load_config(path, overrides)
        out = Path(args.out) if args.out else _default_out(path, cfg)
    print(f"training on {cfg.data.name}; checkpoints and metrics in {out}/", file=sys.stderr)
    if args.nproc > 1 or launched_by_torchrun():
        if args.resume:
            raise ValueError("--resume is not supported with --nproc/--pipeline or torchrun")
        if launched_by_torchrun():
            result = join_torchrun(cfg, out, pipeline=args.pipeline)
        else:
            result = launch(cfg, args.nproc, out, pipeline=args.pipeline)
    elif args.pipeline:
        raise ValueError(
            "--pipeline puts layers on several processes: give --nproc N (N >= 2) or use torchrun"
        )
    else:
        result = run(cfg, out, resume=args.resume)
    if result:
        print(json.dumps(result))
    return 0


def _restore(args: argparse.Namespace) -> tuple[dict, Any, Any, Any]:
    """A checkpoint's network rebuilt from its recorded config (with the command's overrides) and its data."""
    from ..training.checkpoint import load_checkpoint
    from .build import build_network, load_data, sample_shape
    from .config import apply_overrides, from_dict

    _, overrides = _split_args(args.items)
    ckpt = load_checkpoint(args.checkpoint)
    cfg = apply_overrides(from_dict(ckpt["config"]), overrides)
    splits = load_data(cfg)
    net = build_network(cfg, sample_shape(splits.test), splits.test.num_classes)
    net.load_state_dict(ckpt["model"])
    return ckpt, cfg, splits, net


def cmd_eval(args: argparse.Namespace) -> int:
    import torch

    ckpt, cfg, splits, net = _restore(args)
    if cfg.model.labels == "none":
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
    with torch.no_grad():
        res = net.evaluate(splits.test, views=net.test_views)
    if args.int8:
        calibration = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(0))[:2000]
        res["int8_cascade"] = evaluate_cascade(cascade, splits.train.x[calibration], splits.test)
    print(json.dumps({"checkpoint": str(args.checkpoint), "epoch": ckpt["epoch"], **res}))
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    """Linear probe on a checkpoint's frozen features (supervised or unsupervised): test accuracy."""
    from .unsupervised import probe_from_config

    ckpt, cfg, splits, net = _restore(args)
    res = probe_from_config(cfg, net, splits, layers=args.layers, raw=True if args.raw else None)
    print(json.dumps({"checkpoint": str(args.checkpoint), "epoch": ckpt["epoch"], **res}))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .build import load_data
    from .config import load_config
    from .run import run

    path, overrides = _split_args(args.items)
    cfg = load_config(path, overrides)
    out = Path(args.out) if args.out else None
    splits = load_data(cfg)
    ff_result = run(cfg, out / "ff" if out else None, splits=splits)
    bp = run(cfg, out / "backprop" if out else None, method="backprop", splits=splits)
    rows = [
        ("forward-forward (goodness)", ff_result["test_accuracy_goodness"], ff_result["train_seconds"]),
        ("forward-forward (linear head)", ff_result["test_accuracy_head"], ff_result["train_seconds"]),
        ("backprop twin", bp["test_accuracy"], bp["train_seconds"]),
    ]
    print(f"{'method':32s} {'test acc':>9s} {'train s':>9s}", file=sys.stderr)
    for name, acc, sec in rows:
        print(f"{name:32s} {'n/a' if acc is None else f'{acc:9.4f}':>9} {sec:9.1f}", file=sys.stderr)
    result = {"dataset": cfg.data.name, "ff": ff_result, "backprop": bp}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    import shlex

    from .sweep import parse_grid, plan, run_grid, write_summary

    path, items = _split_args(args.items)
    out = Path(args.out)
    grid = parse_grid(path, items, args.seeds, args.base_seed)
    specs = plan(grid, out, threads=args.threads)
    run_grid(specs, jobs=args.jobs)
    command = "ff " + " ".join(shlex.quote(a) for a in args.argv) if args.record_command else None
    table = write_summary(out, command=command)
    print(json.dumps({"runs": len(specs), "results": str(table)}))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .plots import plot_run

    paths = plot_run(Path(args.run_dir), Path(args.out) if args.out else None, root=args.root)
    print(json.dumps({"figures": [str(p) for p in paths]}))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """Sample text from a sequence-FF checkpoint (model.kind=sequence): seeded, so reproducible."""
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
    """The ``ff`` command's parser: one sub-command per job."""
    p = argparse.ArgumentParser(prog="ff", description="Forward-Forward training from the command line.")
    sub = p.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train an FF network (default: the embedded digits)")
    tr.add_argument("items", nargs="*", help="[CONFIG.yaml] [key=value ...]")
    tr.add_argument("--out", help="run directory (default runs/<config name>)")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    tr.add_argument("--nproc", type=int, default=1, help="local processes (gloo): data parallel by default")
    tr.add_argument("--pipeline", action="store_true", help="with --nproc: layers on consecutive ranks")
    tr.set_defaults(func=cmd_train)
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
    pr = sub.add_parser("probe", help="linear probe on a checkpoint's frozen, normalised layer activities")
    pr.add_argument("checkpoint")
    pr.add_argument("items", nargs="*", help="key=value overrides, e.g. data.root=PATH probe.epochs=10")
    pr.add_argument("--layers", type=int, nargs="+", help="layer indices (default: the last three)")
    pr.add_argument("--raw", action="store_true", help="also probe raw pixels the same way (the baseline)")
    pr.set_defaults(func=cmd_probe)
    co = sub.add_parser("compare", help="FF against the backprop twin: same architecture, data, epochs")
    co.add_argument("items", nargs="*", help="[CONFIG.yaml] [key=value ...]")
    co.add_argument("--out")
    co.set_defaults(func=cmd_compare)
    _add_sweep_plot_generate(sub)
    return p


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
    ge.add_argument("--prompt", required=True, help="start text, reduced to the 30-symbol alphabet")
    ge.add_argument("--length", type=int, default=200, help="characters to generate (default 200)")
    ge.add_argument("--seed", type=int, default=0, help="sampling seed: same seed, same text")
    ge.add_argument("--temperature", type=float, default=None, help="default: sequence.temperature")
    ge.set_defaults(func=cmd_generate)


def main(argv: list[str] | None = None) -> int:
    from ..training.trainer import NonFiniteLossError
    from .config import ConfigError

    args = make_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded by `ff sweep` in its table
    try:
        return int(args.func(args))
    except NonFiniteLossError as err:
        print(f"ff: training stopped: {err}", file=sys.stderr)
        return 3
    except (ConfigError, FileNotFoundError, KeyError, ValueError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"ff: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
