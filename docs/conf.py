"""Sphinx configuration of the documentation site: the Markdown pages of docs/ (read by MyST) and the API
reference under docs/api/, made from the package's own docstrings.

Build it (offline, warnings as errors) with::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

``tests/test_api_docs.py`` runs the same build when Sphinx is installed, so a page or a docstring that does
not render, or a page that no table of contents reaches, fails the suite rather than the published site.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # the source tree, not an install

from forwardforward.version import __version__

project = "forwardforward"
author = "the forwardforward authors"
release = version = __version__
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# Quotes and dashes exactly as written: code pasted from a page must run (no curly quotes, no en dashes).
smartquotes = False

# MyST: ::: fences for directives (no $...$ maths: the pages' shell commands use $ as the shell does), and
# anchors for headings down to ####, so that [text](page.md#a-heading) links resolve and are checked.
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 4

# autodoc: members are chosen per module in the pages under docs/api/.
autodoc_default_options = {"show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"  # hints beside each argument, not in a long signature line
napoleon_google_docstring = True  # the Trainer's "Args:" blocks
napoleon_numpy_docstring = False

html_theme = "alabaster"  # ships with Sphinx: nothing to download
html_theme_options = {
    "description": "Hinton's Forward-Forward algorithm and its successors, in PyTorch",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "260px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_static_path: list[str] = []
html_title = f"forwardforward {release}"
