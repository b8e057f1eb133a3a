"""Text corpora for sequence FF: a 30-symbol alphabet, fixed-length strings, next-character windows.

Hinton's sequence experiment (FF paper, 2022) uses 248 strings of 100 characters from Aesop's Fables over
an alphabet of 30 symbols (lower-case letters, space, comma, semicolon, full stop), and predicts each
character from the ten before it. This module turns *any* text into that form:

1. :func:`reduce_to_alphabet`: lower-case; ``!`` and ``?`` end sentences like ``.``; ``:`` separates like
   ``;``; newlines, tabs, hyphens and dashes become spaces; every other character (quotes, apostrophes,
   digits, brackets, accents) is dropped; runs of spaces collapse to one.
2. :func:`cut_strings`: the reduced text is cut into consecutive, non-overlapping strings of ``length``
   characters; ``num_strings + eval_strings`` of them are taken at evenly spaced positions through the
   corpus (so they cover the whole book, not the first fables only) and the strings alternate between the
   training and held-out sets in proportion, so both sets come from the same parts of the book.
3. :func:`windows`: every position ``t >= context`` of a string is one example: the ``context`` previous
   characters one-hot (``context * 30`` inputs) and the character at ``t`` as the label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from .dataset import DataError

ALPHABET = "abcdefghijklmnopqrstuvwxyz ,;."
SYMBOL = {ch: i for i, ch in enumerate(ALPHABET)}

_MAP = str.maketrans({"!": ".", "?": ".", ":": ";", "\n": " ", "\r": " ", "\t": " ", "-": " ", "—": " "})
_DROP = re.compile(f"[^{re.escape(ALPHABET)}]")
_SPACES = re.compile(" +")


def reduce_to_alphabet(text: str, strip: bool = True) -> str:
    """``text`` over the 30-symbol alphabet (see the module docstring for the mapping). ``strip=False``
    keeps a leading or trailing space: a generation prompt ending in a space asks for a new word."""
    reduced = _SPACES.sub(" ", _DROP.sub("", text.lower().translate(_MAP)))
    return reduced.strip() if strip else reduced


def encode(text: str) -> torch.Tensor:
    """Symbol indices ``[len]`` (int64) of ``text``, an already reduced string.

    Raises:
        ValueError: ``text`` has characters outside the alphabet (it was not reduced).
    """
    bad = sorted({ch for ch in text if ch not in SYMBOL})
    if bad:
        raise ValueError(f"characters {bad} are not in the alphabet {ALPHABET!r}; reduce_to_alphabet first")
    return torch.tensor([SYMBOL[ch] for ch in text], dtype=torch.long)


def decode(ids: torch.Tensor | list[int]) -> str:
    """The string of the symbol indices ``ids``: the inverse of :func:`encode`."""
    return "".join(ALPHABET[int(i)] for i in ids)


def cut_strings(
    text: str, num_strings: int, length: int, eval_strings: int = 0, source: str = "the corpus"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train [num_strings, length], held_out [eval_strings, length])`` symbol indices (see module doc).

    ``text`` is reduced to the alphabet first; ``source`` names it in errors. Raises :class:`DataError`
    when the reduced text is empty or too short for that many strings.
    """
    if num_strings < 1 or length < 2 or eval_strings < 0:
        raise ValueError(
            f"need num_strings >= 1, length >= 2 and eval_strings >= 0; got {num_strings}, {length}, "
            f"{eval_strings}"
        )
    reduced = reduce_to_alphabet(text)
    total = num_strings + eval_strings
    if not reduced:
        raise DataError(
            f"{source} is empty after reduction to the 30-symbol alphabet {ALPHABET!r}; give an English "
            f"text with letters in it"
        )
    available = len(reduced) // length
    if available < total:
        raise DataError(
            f"{source} is too short: {len(reduced)} characters after reduction to the 30-symbol alphabet "
            f"make {available} strings of {length}, but {num_strings} training + {eval_strings} held-out "
            f"= {total} are needed ({total * length} characters). Give a longer text or lower "
            f"sequence.num_strings / sequence.eval_strings / sequence.string_length"
        )
    ids = encode(reduced[: available * length]).view(available, length)
    picked = torch.linspace(0, available - 1, total).round().long()
    # Spread the held-out strings evenly among the picked ones.
    is_eval = torch.zeros(total, dtype=torch.bool)
    if eval_strings:
        is_eval[torch.linspace(0, total - 1, eval_strings + 2)[1:-1].round().long()] = True
    return ids[picked[~is_eval]], ids[picked[is_eval]]


def one_hot_context(ids: torch.Tensor) -> torch.Tensor:
    """Symbol indices ``ids`` ``[..., context]`` -> ``[..., context * 30]`` float one-hot inputs."""
    return torch.nn.functional.one_hot(ids, len(ALPHABET)).flatten(-2).float()


def windows(strings: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every next-character example of ``strings [S, L]``: inputs ``[S*(L-context), context*30]``, labels."""
    length = strings.shape[1]
    if not 1 <= context < length:
        raise ValueError(f"context must be in [1, {length - 1}] for strings of {length}, got {context}")
    ctx = strings.unfold(1, context, 1)[:, :-1]  # [S, L - context, context]
    return one_hot_context(ctx).reshape(-1, context * len(ALPHABET)), strings[:, context:].reshape(-1)


@dataclass
class TextWindows:
    """Next-character examples with the interface the Trainer and ``evaluate`` use (``.x``, ``.y``...).

    ``strings`` keeps the source strings, so the sleep phase can start its dreams from real contexts.

    Attributes:
        x: the inputs ``[N, context * 30]``, one-hot.
        y: the next character of each ``[N]``.
        strings: the source strings ``[S, L]`` as symbol indices.
        context: characters of context per example.
        num_classes: the alphabet's size (30).
        name: the corpus's name.
    """

    x: torch.Tensor  # [N, context * 30]
    y: torch.Tensor  # [N]
    strings: torch.Tensor  # [S, L]
    context: int
    num_classes: int = len(ALPHABET)
    name: str = "text"

    @classmethod
    def from_strings(cls, strings: torch.Tensor, context: int, name: str = "text") -> TextWindows:
        """Every next-character example of ``strings`` ``[S, L]`` with ``context`` characters of context
        (see :func:`windows`), under the corpus ``name``."""
        x, y = windows(strings, context)
        return cls(x, y, strings, context, name=name)

    @property
    def input_dim(self) -> int:
        """The width of one input: ``context * 30``."""
        return int(self.x.shape[1])

    def __len__(self) -> int:
        return len(self.y)


def read_corpus(root: str | None, name: str = "aesop") -> tuple[str, str]:
    """``(text, where)`` from a file, or from ``<root>/<name>.txt`` when ``root`` is a directory."""
    if root is None:
        raise DataError(
            f"text corpus {name!r} needs data.root: the .txt file or the directory holding {name}.txt "
            f"(e.g. data.root=data/aesop for data/aesop/aesop.txt)"
        )
    path = Path(root)
    if path.is_dir():
        path = path / f"{name}.txt"
    if not path.is_file():
        raise DataError(f"no text corpus at {path}; set data.root to the .txt file or its directory")
    return path.read_text(encoding="utf-8", errors="replace").lstrip("\ufeff"), str(path)
