"""Sphinx configuration of the API reference: every page is made from the package's own docstrings.

Build it (offline, warnings as errors) with::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs/api docs/api/_build

``tests/test_api_docs.py`` runs the same build when Sphinx is installed, so a docstring that does not render
fails the suite rather than the published page.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # the source tree, not an install

from forwardforward.version import __version__

project = "forwardforward"
author = "the forwardforward authors"
release = version = __version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
autodoc_default_options = {"show-inheritance": True}  # members: per module in index.rst
autodoc_member_order = "bysource"
autodoc_typehints = "description"  # hints beside each argument, not in a long signature line
napoleon_google_docstring = True  # the Trainer's "Args:" blocks
napoleon_numpy_docstring = False
exclude_patterns = ["_build"]
html_theme = "alabaster"  # ships with Sphinx: nothing to download
html_static_path: list[str] = []
