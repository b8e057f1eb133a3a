"""The ``ff`` command: train, eval and compare from configs that record every choice.

    ff train [CONFIG.yaml] [key=value ...] [--out DIR] [--resume]
    ff eval CHECKPOINT [key=value ...]
    ff compare [CONFIG.yaml] [key=value ...] [--out DIR]

``ff train`` with no arguments trains the default network on scikit-learn's bundled 8x8 digits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def _load_data(cfg: DictConfig) -> Any:
    from .build import load_data

    return load_data(cfg)


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


def _fit_ff(cfg: DictConfig, out: Path | None, resume: bool = False) -> dict[str, Any]:
    from .build import build_network, build_trainer

    splits = _load_data(cfg)
    train, eval_data = splits.train, (splits.val if splits.val is not None else splits.test)
    net = build_network(cfg, train.input_dim, train.num_classes)
    trainer = build_trainer(cfg, net, out)
    ckpt = out / "checkpoint.pt" if (resume and out is not None) else None
    if resume and (ckpt is None or not ckpt.exists()):
        raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}; train without --resume first")
    t0 = time.perf_counter()
    history = trainer.fit(train, cfg.trainer.epochs, cfg.trainer.batch_size, eval_data, resume=ckpt)
    seconds = time.perf_counter() - t0
    test = net.evaluate(splits.test)
    result = {
        "dataset": cfg.data.name,
        "test_accuracy_goodness": test["accuracy"],
        "test_accuracy_head": test.get("head_accuracy"),
        "layer_accuracy": test["layer_accuracy"],
        "epochs": cfg.trainer.epochs,
        "train_seconds": round(seconds, 2),
        "train_wall_total": round(history[-1]["wall"], 2) if history else None,
    }
    if out is not None:
        (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
        (out / "results.json").write_text(json.dumps(result, indent=2))
    return result


def _default_out(path: str | None, cfg: DictConfig) -> Path:
    """``runs/<config name>``, or ``runs/<dataset>`` when no config file is given."""
    return Path("runs") / (Path(path).stem if path else cfg.data.name)


def cmd_train(args: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint
    from .config import apply_overrides, from_dict, load_config

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
    if args.nproc > 1 or args.pipeline:
        from .config import to_dict
        from .distributed import launch

        if args.resume:
            raise ValueError("--resume is not supported with --nproc/--pipeline")
        result = launch(to_dict(cfg), max(1, args.nproc), str(out), pipeline=args.pipeline)
    else:
        result = _fit_ff(cfg, out, resume=args.resume)
    print(json.dumps(result))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from .build import build_network
    from .checkpoint import load_checkpoint
    from .config import apply_overrides, from_dict

    _, overrides = _split_args(args.items)
    ckpt = load_checkpoint(args.checkpoint)
    cfg = apply_overrides(from_dict(ckpt["config"]), overrides)
    splits = _load_data(cfg)
    net = build_network(cfg, splits.test.input_dim, splits.test.num_classes)
    net.load_state_dict(ckpt["model"])
    with torch.no_grad():
        res = net.evaluate(splits.test)
    print(json.dumps({"checkpoint": str(args.checkpoint), "epoch": ckpt["epoch"], **res}))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .build import train_backprop_twin
    from .config import load_config

    path, overrides = _split_args(args.items)
    cfg = load_config(path, overrides)
    out = Path(args.out) if args.out else None
    ff_result = _fit_ff(cfg, out / "ff" if out else None)
    hist = train_backprop_twin(cfg, _load_data(cfg))
    bp = {"test_accuracy": hist[-1]["eval/accuracy"], "train_seconds": round(hist[-1]["wall"], 2)}
    rows = [
        ("forward-forward (goodness)", ff_result["test_accuracy_goodness"], ff_result["train_seconds"]),
        ("forward-forward (linear head)", ff_result["test_accuracy_head"], ff_result["train_seconds"]),
        ("backprop twin", bp["test_accuracy"], bp["train_seconds"]),
    ]
    print(f"{'method':32s} {'test acc':>9s} {'train s':>9s}", file=sys.stderr)
    for name, acc, sec in rows:
        print(f"{name:32s} {acc if acc is None else f'{acc:9.4f}':>9} {sec:9.1f}", file=sys.stderr)
    result = {"dataset": cfg.data.name, "ff": ff_result, "backprop": bp}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


def make_parser() -> argparse.ArgumentParser:
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
    ev.add_argument("items", nargs="*", help="key=value overrides, e.g. data.root=PATH")
    ev.set_defaults(func=cmd_eval)
    co = sub.add_parser("compare", help="FF against the backprop twin: same architecture, data, epochs")
    co.add_argument("items", nargs="*", help="[CONFIG.yaml] [key=value ...]")
    co.add_argument("--out")
    co.set_defaults(func=cmd_compare)
    return p


def main(argv: list[str] | None = None) -> int:
    from .config import ConfigError
    from .train import NonFiniteLossError

    args = make_parser().parse_args(argv)
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
