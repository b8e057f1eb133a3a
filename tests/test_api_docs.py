"""The documentation site (docs/: the Markdown pages and the API reference made from the docstrings) builds
with every Sphinx warning an error, so a docstring or a page that does not render, a broken cross-reference,
a page no table of contents reaches, or a module the reference names that is gone, fails here. And since
the reference is only as good as its docstrings, every public class and function must have one that names
each of its arguments: a new function without one fails here rather than showing up as a bare signature."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_builds_without_a_warning(tmp_path: Path) -> None:
    """The whole site: the pages (MyST Markdown) and the API reference, one build, no warning."""
    pytest.importorskip("sphinx", reason="the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("myst_parser", reason="the docs extra: pip install -e '.[docs]'")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    html = tmp_path / "html"
    done = subprocess.run(
        [*command, str(ROOT / "docs"), str(html)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    for page in ("index", "getting-started", "concepts", "guides/own-piece", "guides/own-data", "api/index"):
        assert (html / f"{page}.html").is_file(), f"{page}.html was not built"
    documented = {
        "api/training.html": "forwardforward.training.trainer.Trainer",
        "api/core.html": "forwardforward.network.FFNetwork",
    }
    for page, name in documented.items():
        assert f'id="{name}"' in (html / page).read_text(), f"{name} is not documented in {page}"
    # code examples render as highlighted code, with the quotes as written: no curly quotes to paste
    start = (html / "getting-started.html").read_text()
    assert '<div class="highlight-python' in start and '<span class="s2">"digits"</span>' in start
    assert "\u201c" not in start and "\u201d" not in start and "\u2019" not in start


def _reference() -> str:
    """Every page of the API reference (docs/api/), one after the other."""
    api = ROOT / "docs" / "api"
    return "\n".join(p.read_text() for p in sorted([*api.glob("*.rst"), *api.glob("*.md")]))


def test_every_module_is_in_the_reference() -> None:
    """A new module shows up in the reference or the test says which one is missing."""
    reference = _reference()
    src = ROOT / "src" / "forwardforward"
    modules = {
        "forwardforward." + ".".join(p.relative_to(src).with_suffix("").parts)
        for p in src.rglob("*.py")
        if p.name != "__init__.py"
    }
    missing = sorted(m for m in modules if f".. automodule:: {m}\n" not in reference)
    assert not missing, f"add to the page of its sub-package under docs/api/: {missing}"


def test_every_module_is_in_the_reference_once() -> None:
    """A module documented on two pages would be two targets for one name (and a Sphinx warning)."""
    named = re.findall(r"^\.\. automodule:: (\S+)$", _reference(), flags=re.M)
    twice = sorted({m for m in named if named.count(m) > 1})
    assert not twice, f"documented more than once under docs/api/: {twice}"


# --- every public class and function has a docstring that names its arguments ---------------------------

UNNAMED_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _modules() -> Iterator[ModuleType]:
    """Every module of the package, the packages' ``__init__`` included, ``__main__`` scripts not."""
    src = ROOT / "src" / "forwardforward"
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        yield importlib.import_module(
            ".".join(("forwardforward", *(parts[:-1] if parts[-1] == "__init__" else parts)))
        )


def _unnamed(function: Callable[..., Any] | None, doc: str) -> list[str]:
    """The parameters of ``function`` (not self, cls, *args, **kwargs) that ``doc`` never names as a word."""
    try:
        parameters = inspect.signature(function).parameters.values() if function is not None else []
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return []
    return [
        p.name
        for p in parameters
        if p.name not in ("self", "cls")
        and p.kind not in UNNAMED_KINDS
        and not re.search(rf"\b{re.escape(p.name)}\b", doc)
    ]


def _complaint(name: str, function: Callable[..., Any] | None, doc: str | None, args_doc: str = "") -> str:
    """Why the item ``name`` is not documented, or "" when it is: ``doc`` is its own docstring, and its
    arguments may be named there or in ``args_doc`` (a class's ``__init__`` docstring)."""
    if not (doc or "").strip():
        return f"{name}: no docstring"
    missing = _unnamed(function, f"{doc}\n{args_doc}")
    return f"{name}: does not name {', '.join(missing)}" if missing else ""


def _own_doc(cls: type) -> str:
    """The docstring written on ``cls`` itself; not a base's, nor the signature @dataclass puts on a class
    that has none."""
    doc = vars(cls).get("__doc__") or ""
    if dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        return ""
    return doc


def _member_doc(cls: type, name: str) -> str:
    """The docstring of the member ``name`` of ``cls``, or of the member it overrides in a base class of the
    same package (a concrete ``Callback.on_epoch_end`` may rely on the base's); never one from torch, whose
    ``nn.Module.forward`` says nothing of our arguments."""
    package = cls.__module__.split(".")[0]
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] == package and name in vars(klass):
            doc = getattr(vars(klass)[name], "__doc__", None)
            if doc and doc.strip():
                return doc
    return ""


def _routine(member: object) -> Callable[..., Any] | None:
    """The function behind a class member (method, static or class method, property), or None for data."""
    if isinstance(member, (staticmethod, classmethod)):
        return member.__func__
    if isinstance(member, property):
        return member.fget
    if isinstance(member, functools.cached_property):
        return member.func
    return member if inspect.isfunction(member) else None


def _class_complaints(cls: type) -> Iterator[str]:
    """What is undocumented in a class: itself, its constructor's arguments, its own public members."""
    name = f"{cls.__module__}.{cls.__qualname__}"
    init = vars(cls).get("__init__") or vars(cls).get("__new__")  # a NamedTuple's fields are __new__'s
    init_doc = "" if dataclasses.is_dataclass(cls) else getattr(init, "__doc__", None) or ""
    yield _complaint(name, _routine(init), _own_doc(cls), init_doc)
    for attr, member in vars(cls).items():
        function = _routine(member)
        if function is not None and not attr.startswith("_"):
            yield _complaint(f"{name}.{attr}", function, _member_doc(cls, attr))


def _undocumented() -> list[str]:
    """Every public class, function and method of the package that lacks a docstring or leaves an argument
    unnamed, as ``module.qualname: why``."""
    found: list[str] = []
    for module in _modules():
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue  # private, or imported from elsewhere (checked where it is defined)
            if inspect.isclass(obj):
                found += _class_complaints(obj)
            elif inspect.isroutine(obj):
                found.append(_complaint(f"{module.__name__}.{obj.__qualname__}", obj, obj.__doc__))
    return [complaint for complaint in found if complaint]


def test_every_public_class_and_function_has_a_docstring_naming_its_arguments() -> None:
    undocumented = _undocumented()
    assert not undocumented, f"{len(undocumented)} to document:\n" + "\n".join(undocumented)


def _no_docstring(rate: float) -> float:
    return rate


def _half_documented(rate: float, steps: int) -> float:
    """Scales the rate; says nothing of the other argument."""
    return rate * steps


class _Documented:
    """A schedule over ``steps`` updates."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def at(self, step: int) -> float:
        """The fraction done after ``step`` of the steps."""
        return step / self.steps


class _Override(_Documented):
    """The same schedule, overriding ``at`` without a docstring of its own: the base's stands."""

    def at(self, step: int) -> float:
        return 1.0 - super().at(step)

    def forward(self, x: float) -> float:
        return x


class _Terse:
    """A schedule."""

    def __init__(self, steps: int) -> None:
        """Made once."""
        self.steps = steps


def test_the_docstring_check_flags_a_missing_docstring_and_an_unnamed_argument() -> None:
    """The check above must be able to fail: here on throwaway items, each with one known fault."""
    assert _complaint("f", _no_docstring, _no_docstring.__doc__) == "f: no docstring"
    assert _complaint("g", _half_documented, _half_documented.__doc__) == "g: does not name steps"
    assert _complaint("g", _half_documented, "The rate over steps.") == ""  # whole words, anywhere
    assert _complaint("g", _half_documented, "The rates over stepsize.") == "g: does not name rate, steps"
    assert [c for c in _class_complaints(_Documented) if c] == []  # "steps" named in the class docstring
    assert [c for c in _class_complaints(_Override) if c] == [f"{__name__}._Override.forward: no docstring"]
    assert [c for c in _class_complaints(_Terse) if c] == [f"{__name__}._Terse: does not name steps"]
