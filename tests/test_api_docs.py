"""The API reference (docs/api) builds from the docstrings with every Sphinx warning an error, so a
docstring that does not render, or a module the reference names that is gone, fails here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_builds_without_a_warning(tmp_path: Path) -> None:
    pytest.importorskip("sphinx", reason="the docs extra: pip install -e '.[docs]'")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    done = subprocess.run(
        [*command, str(ROOT / "docs" / "api"), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    page = (tmp_path / "html" / "index.html").read_text()
    for documented in ("forwardforward.training.trainer.Trainer", "forwardforward.network.FFNetwork"):
        assert f'id="{documented}"' in page, documented


def test_every_module_is_in_the_reference() -> None:
    """A new module shows up in the reference or the test says which one is missing."""
    index = (ROOT / "docs" / "api" / "index.rst").read_text()
    src = ROOT / "src" / "forwardforward"
    modules = {
        "forwardforward." + ".".join(p.relative_to(src).with_suffix("").parts)
        for p in src.rglob("*.py")
        if p.name != "__init__.py"
    }
    missing = sorted(m for m in modules if f".. automodule:: {m}\n" not in index)
    assert not missing, f"add to docs/api/index.rst: {missing}"
