"""``ff predict``: a checkpoint's predictions for samples in a file or a folder of images.

Inputs are read as the user has them: a NumPy ``.npy``/``.npz``, an IDX file (the MNIST format, raw or
gzipped), or a folder of PNG images (read with Pillow, the optional extra ``images``). Every sample's
predicted label and its per-class scores (goodness summed over the scoring layers, what ``predict``
takes the argmax of) are written as CSV or JSON, so the output goes straight into a spreadsheet or a
script.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.idx import read_idx
from ..network import FFNetwork

__all__ = ["predict_rows", "read_inputs", "read_pngs", "write_predictions"]

IMAGE_SUFFIXES = (".png",)


def read_pngs(folder: Path, channels: int) -> tuple[np.ndarray, list[str]]:
    """The PNG images in ``folder``, sorted by name, as uint8 ``[N, H, W]`` (``channels=1``: converted to
    grey) or ``[N, 3, H, W]`` (``channels=3``: RGB), and their file names.

    Raises:
        ValueError: Pillow is missing, there are no PNG images, or they differ in size.
    """
    try:
        from PIL import Image
    except ImportError:
        raise ValueError(
            "reading PNG images needs Pillow: pip install 'forwardforward[images]' (or pip install pillow)"
        ) from None
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder} holds no .png images")
    mode = "RGB" if channels == 3 else "L"
    arrays = []
    for f in files:
        with Image.open(f) as img:
            arrays.append(np.asarray(img.convert(mode)))
    sizes = {a.shape for a in arrays}
    if len(sizes) > 1:
        raise ValueError(f"the images in {folder} differ in size: {sorted(sizes)}; resize them alike first")
    x = np.stack(arrays)
    return (x.transpose(0, 3, 1, 2) if channels == 3 else x), [f.name for f in files]


def _read_npz(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.keys())
        key = next((k for k in ("x", "images", "data") if k in keys), keys[0] if len(keys) == 1 else None)
        if key is None:
            raise ValueError(f"{path} holds arrays {keys}; name the samples 'x' (or keep one array only)")
        return z[key]


def read_inputs(path: str | Path, channels: int = 1) -> tuple[np.ndarray, list[str]]:
    """Samples and a name for each (the file name, or the row index) from ``path``: a ``.npy``, an
    ``.npz``, an IDX file, or a folder of PNG images read with ``channels`` channels (1 or 3)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no input at {path}")
    if path.is_dir():
        return read_pngs(path, channels)
    if path.suffix == ".npy":
        x = np.load(path, allow_pickle=False)
    elif path.suffix == ".npz":
        x = _read_npz(path)
    else:  # IDX files have no fixed suffix; anything else is refused by its magic number
        try:
            x = read_idx(path)
        except ValueError as err:
            raise ValueError(f"{err}; ff predict reads .npy, .npz, IDX files and folders of .png") from None
    return x, [str(i) for i in range(len(x))] if x.ndim > 1 else ["0"]


@torch.no_grad()
def predict_rows(net: FFNetwork, x: Any, names: list[str], batch_size: int = 1000) -> list[dict[str, Any]]:
    """One row per sample of ``x`` (any layout :meth:`FFNetwork.as_inputs` takes): its name from
    ``names`` (or its index, when ``x`` is one sample), ``net``'s predicted label and per-class scores,
    scored ``batch_size`` samples at a time."""
    if net.labels is None and not net.one_pass:
        raise ValueError("this is an unsupervised network (no labels to score); use ff probe")
    inputs = net.as_inputs(x)
    if len(inputs) != len(names):  # one sample given in a sample's own shape
        names = [str(i) for i in range(len(inputs))]
    scores = torch.cat([net.scores(inputs[s : s + batch_size]) for s in range(0, len(inputs), batch_size)])
    return [
        {"input": name, "label": int(row.argmax()), "scores": [round(float(v), 6) for v in row]}
        for name, row in zip(names, scores.cpu())
    ]


def write_predictions(rows: list[dict[str, Any]], fmt: str) -> str:
    """The rows as CSV (``fmt="csv"``: ``input,label,score_0,...``) or JSON (``fmt="json"``: a list of
    objects)."""
    if fmt == "json":
        return json.dumps(rows, indent=1) + "\n"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["input", "label", *(f"score_{c}" for c in range(len(rows[0]["scores"]) if rows else 0))])
    for r in rows:
        w.writerow([r["input"], r["label"], *r["scores"]])
    return buf.getvalue()
