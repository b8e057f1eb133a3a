"""What each config key means, read from the schema's own comments: what ``ff config`` prints.

The meanings live once, as comments beside the fields of :mod:`forwardforward.defaults` (on the field's
line, or in the comment lines just above it), where whoever adds a key writes them anyway; this module
reads them back with :mod:`ast` and :mod:`tokenize` instead of keeping a second copy that could drift.
"""

from __future__ import annotations

import ast
import inspect
import io
import tokenize
from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from .. import defaults
from ..defaults import Config

#: Where the comment after ``key: value`` starts, when the pair is short enough.
COMMENT_COLUMN = 34


def _comments(source: str) -> dict[int, str]:
    """Line number -> the text of the comment on it."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {t.start[0]: t.string.lstrip("#").strip() for t in tokens if t.type == tokenize.COMMENT}


def _field_meaning(node: ast.AnnAssign, comments: dict[int, str], lines: list[str]) -> str:
    """The comment lines right above a field (a whole-line block) followed by those on its own lines."""
    above: list[str] = []
    line = node.lineno - 1
    while line in comments and lines[line - 1].lstrip().startswith("#"):
        above.insert(0, comments[line])
        line -= 1
    inline = [comments[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments]
    return " ".join([*above, *inline]).strip()


@cache
def _class_meanings() -> dict[str, dict[str, str]]:
    """Schema class name -> {field: meaning}; a class's docstring is its ``""`` entry."""
    source = inspect.getsource(defaults)
    comments, lines = _comments(source), source.splitlines()
    out: dict[str, dict[str, str]] = {}
    for cls in ast.parse(source).body:
        if isinstance(cls, ast.ClassDef):
            doc = (ast.get_docstring(cls) or "").split("\n\n")[0]
            out[cls.name] = {"": " ".join(doc.split())}
            for node in cls.body:
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    out[cls.name][node.target.id] = _field_meaning(node, comments, lines)
    return out


def key_meanings() -> dict[str, str]:
    """``"section.key"`` -> its one-line meaning, for every key of the schema (``""`` where none is written);
    a section's own meaning is under ``"section"``."""
    by_class = _class_meanings()
    out: dict[str, str] = {}
    schema = Config()
    for section in fields(schema):
        value = getattr(schema, section.name)
        if not is_dataclass(value):  # a key of its own (imports), not a section
            out[section.name] = by_class.get(type(schema).__name__, {}).get(section.name, "")
            continue
        meanings = by_class.get(type(value).__name__, {})
        out[section.name] = meanings.get("", "")
        for f in fields(value):
            out[f"{section.name}.{f.name}"] = meanings.get(f.name, "")
    return out


def _flow(value: Any) -> str:
    """One YAML value on one line (lists and mappings in flow style), as a config file would hold it."""
    text = yaml.safe_dump([value], default_flow_style=True, width=1_000_000, sort_keys=False).strip()
    return text[1:-1]  # the value was wrapped in a one-item list so that scalars print without '...'


def render_config(cfg: DictConfig) -> str:
    """The config ``cfg`` as YAML that ``ff train`` accepts back, each key followed by ``# its meaning``."""
    meanings = key_meanings()
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    lines = ["# the resolved config (defaults < config file < overrides); each key's meaning after '#'"]
    for section, keys in plain.items():
        if not isinstance(keys, dict):  # a key of its own (imports), not a section
            pair = f"{section}: {_flow(keys)}"
            lines.append(f"{pair:<{COMMENT_COLUMN}}  # {meanings.get(section, '')}")
            continue
        lines.append(f"{section}:  # {meanings.get(section, '')}".rstrip(" #"))
        for key, value in keys.items():
            pair = f"  {key}: {_flow(value)}"
            lines.append(f"{pair:<{COMMENT_COLUMN}}  # {meanings.get(f'{section}.{key}', '')}")
    return "\n".join(lines) + "\n"


__all__ = ["key_meanings", "render_config"]
