"""The docs hold no stale number and no link to nothing: the README's first result row is rerun and compared,
and every relative link or image in README.md and docs/*.md must point at a file of the repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: ``[text](target)`` and ``![alt](target "title")``, and HTML ``<img src="target">``.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|<img[^>]*\ssrc=\"([^\"]+)\"")


def relative_targets(path: Path) -> list[str]:
    """The relative link and image targets of a markdown file (code blocks and spans left out: a
    ``[x](y)`` inside code is text, not a link)."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = [m.group(1) or m.group(2) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"[a-zA-Z][a-zA-Z+.-]*:", t) and not t.startswith("#")]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_relative_link_and_image_resolves(path: Path) -> None:
    missing = [t for t in relative_targets(path) if not (path.parent / t.split("#")[0]).exists()]
    assert not missing, f"{path.relative_to(ROOT)} points at nothing: {missing}"


def test_the_link_check_finds_what_it_should(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "![fig](figures/a.png) [doc](other.md#part) [web](https://x.org) [here](#top) "
        '<img src="b.png"> `[code](not-a-link.md)`\n```\n![block](nor-this.png)\n```\n'
    )
    assert relative_targets(page) == ["figures/a.png", "other.md#part", "b.png"]


def first_results_row() -> list[str]:
    """The cells of the README's first Results row (the table's first line after its header)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Results", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [cell.strip() for cell in rows[2].strip("|").split("|")]  # after the header and its ---


def _ff_train(tmp_path: Path, kernels: str) -> tuple[str, str]:
    """``ff train`` (the defaults, on the bundled digits; ~10 s) in a fresh process whose PyTorch uses the
    ``kernels`` vector kernels; its test accuracies as the README prints them."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": kernels}
    code = "import sys; from forwardforward.experiment.cli import main; sys.exit(main(sys.argv[1:]))"
    out = tmp_path / kernels
    done = subprocess.run(
        [sys.executable, "-c", code, "train", "--out", str(out)], capture_output=True, text=True, env=env,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return f"{100 * result['test_accuracy_goodness']:.2f}", f"{100 * result['test_accuracy_head']:.2f}"


def test_readme_first_result_row_is_what_ff_train_gives(tmp_path: Path) -> None:
    """Rerun the row's command and compare its accuracies with the README's, to the two decimals it prints.

    A seeded run repeats exactly on one kind of CPU, but AVX2 and AVX-512 kernels round differently, and the
    matrix-product library picks its kernels by CPU model (an AMD EPYC and an Intel Xeon, both AVX-512, gave
    different runs): the row quotes AVX2 and AVX-512 figures for each CPU measured, and each run, with
    PyTorch's kernels pinned (AVX-512 only where the CPU has it), must give one of its kind's pairs exactly.
    """
    _model, data, accuracy, _, command = first_results_row()
    assert command == "`ff train`" and data.startswith("digits"), "the first row is not the default run"
    quoted = re.findall(r"([\d.]+)% goodness, ([\d.]+)% head", accuracy)
    assert len(quoted) == 4 and "AVX-512" in accuracy, f"cannot read the row's accuracies: {accuracy!r}"
    by_kind = {"avx2": {quoted[0], quoted[2]}, "avx512": {quoted[1], quoted[3]}}  # the row's order
    kernels = ["avx2"] + (["avx512"] if "avx512f" in Path("/proc/cpuinfo").read_text() else [])
    for kind in kernels:
        measured = _ff_train(tmp_path, kind)
        assert measured in by_kind[kind], (
            f"README quotes {sorted(by_kind[kind])} (goodness, head) with {kind} kernels; `ff train` gives "
            f"{measured[0]}% goodness, {measured[1]}% head: a new CPU model (add its figures to the row) or "
            "a changed default run"
        )
