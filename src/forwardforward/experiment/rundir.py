"""Run directories that never lose a run: what ``ff train`` (and ``ff compare``) may write where.

- Without ``--out``, a run claims the next free ``runs/<name>/version_N`` (as Lightning numbers its logs), so
  running the same config twice keeps both runs.
- An existing directory that is not empty is refused, because training into it would overwrite another
  run's checkpoint and mix its files (plots, metrics) with the new run's. ``--resume`` continues the run in
  it; ``--overwrite`` clears it first, and only a directory that holds a run is ever cleared.
- ``--resume`` continues the run with the config it was started with. A config file or overrides given
  with it must agree with that config, except in :data:`RESUME_KEYS`: keys that say how long, where and how
  verbosely to train, never what is trained.

``ff sweep`` does not come here: its directories are resumable by design (finished runs are skipped,
unfinished ones resumed), and ``--nproc`` / torchrun workers write the directory the parent (or rank 0)
checked once.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

#: What a run directory holds (see :mod:`.run`); one of them present means "a run lives here".
RUN_FILES = ("config.yaml", "checkpoint.pt", "metrics.jsonl", "metrics.csv", "results.json", "compare.json")

#: Keys ``--resume`` lets change: the length of training (``trainer.epochs`` extends it), where it runs and
#: where the data are, what it prints and scores, and which of the user's modules it imports (what they
#: register is used only as the other keys name it). Every other key changes what is trained, so it is
#: refused.
RESUME_KEYS = frozenset(
    {
        "imports",
        "trainer.epochs",
        "trainer.progress",
        "trainer.eval_every",
        "trainer.eval_samples",
        "trainer.tensorboard",
        "trainer.threads",
        "trainer.device",
        "data.root",
        "data.download",
    }
)

_VERSION = re.compile(r"version_(\d+)")


class RunDirError(ValueError):
    """A run directory that cannot be used as asked (it would lose or mix up a run)."""


def versions(base: Path) -> list[int]:
    """The numbers N of the ``version_N`` directories under ``base``, in increasing order."""
    if not base.is_dir():
        return []
    found = (_VERSION.fullmatch(p.name) for p in base.iterdir() if p.is_dir())
    return sorted(int(m.group(1)) for m in found if m)


def claim_version(base: Path) -> Path:
    """Create and return ``base/version_N`` for the next free N (one above the highest). ``mkdir`` without
    ``exist_ok`` makes the claim atomic: two runs started at once get different directories."""
    base.mkdir(parents=True, exist_ok=True)
    n = (versions(base) or [-1])[-1] + 1
    while True:
        path = base / f"version_{n}"
        try:
            path.mkdir()
        except FileExistsError:
            n += 1
            continue
        return path


def latest_version(base: Path) -> Path:
    """The newest ``base/version_N`` (what ``--resume`` without ``--out`` continues)."""
    found = versions(base)
    if not found:
        raise RunDirError(f"--resume: no runs under {base}/ (no version_N directories); give --out DIR")
    return base / f"version_{found[-1]}"


def holds_run(out: Path) -> bool:
    """Whether ``out`` holds any of the files a run writes, itself or in a folder just below it (``ff
    compare`` writes its two runs to ``ff/`` and ``backprop/``)."""
    below = [d for d in out.iterdir() if d.is_dir()] if out.is_dir() else []
    return any((d / name).exists() for d in (out, *below) for name in RUN_FILES)


def prepare_fresh(out: Path, overwrite: bool = False) -> None:
    """Make sure a new run may start in ``out``: absent or empty, or (``overwrite``) a run's directory,
    which is then emptied so none of the old run's files stay beside the new one's."""
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is a file, not a directory")
    if not out.exists() or not any(out.iterdir()):
        return
    if not holds_run(out):
        raise RunDirError(
            f"--out {out} is not empty and holds no run (no {', '.join(RUN_FILES[:3])}...); "
            "it is never cleared: choose another --out"
        )
    if not overwrite:
        raise RunDirError(
            f"{out} already holds a run; continue it with --resume, replace it with --overwrite, "
            "or choose another --out"
        )
    clear(out)


def clear(out: Path) -> None:
    """Delete everything inside ``out`` (files, plots, TensorBoard logs), keeping the directory."""
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def flatten(config: dict[str, Any]) -> dict[str, Any]:
    """A ``config`` dict of sections as dotted keys: ``{"model": {"hidden": [8]}}`` ->
    ``{"model.hidden": [8]}`` (sections, then their keys); a key of its own (``imports``) stays as it is."""
    flat: dict[str, Any] = {}
    for section, keys in config.items():
        if isinstance(keys, dict) or keys is None:
            flat.update({f"{section}.{k}": v for k, v in (keys or {}).items()})
        else:
            flat[section] = keys
    return flat


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_resume_config(saved: dict[str, Any], given: dict[str, Any], out: Path) -> None:
    """Refuse to resume ``out`` with the config ``given`` when it changes what the ``saved`` config trains
    (any key outside :data:`RESUME_KEYS`); the one-line :class:`RunDirError` names every differing key and
    both of its values."""
    a, b = flatten(saved), flatten(given)
    differing = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) and k not in RESUME_KEYS]
    if not differing:
        return
    shown = [f"{k} ({_show(a.get(k))} saved, {_show(b.get(k))} given)" for k in differing[:6]]
    more = f" and {len(differing) - 6} more" if len(differing) > 6 else ""
    raise RunDirError(
        f"--resume: the config given differs from the one {out} was trained with: {', '.join(shown)}{more}; "
        f"only {', '.join(sorted(RESUME_KEYS))} may change when resuming. Resume with the saved config "
        f"(ff train --resume --out {out}) or start a new run"
    )


__all__ = [
    "RESUME_KEYS",
    "RUN_FILES",
    "RunDirError",
    "check_resume_config",
    "claim_version",
    "clear",
    "flatten",
    "holds_run",
    "latest_version",
    "prepare_fresh",
    "versions",
]
