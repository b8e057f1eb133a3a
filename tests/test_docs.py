"""The docs hold no stale number and no link to nothing: the default run's figures are rerun and compared,
and every relative link or image in README.md and the pages under docs/ must point at a file of the
repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.relative_to(ROOT).parts),
]
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


def default_run_pairs() -> dict[str, dict[str, set[tuple[str, str]]]]:
    """docs/results.md's "default run, by CPU" table: per CPU, per kind of kernels, its (goodness, head)."""
    section = (ROOT / "docs" / "results.md").read_text().split("## The default run, by CPU", 1)[1]
    rows = [line for line in section.split("\n## ", 1)[0].splitlines() if line.startswith("|")][2:]
    pairs: dict[str, dict[str, set[tuple[str, str]]]] = {}
    for row in rows:
        cpu, avx2, avx512 = (cell.strip() for cell in row.strip("|").split("|"))
        read = re.compile(r"([\d.]+)% goodness, ([\d.]+)% head")
        pairs[cpu] = {"avx2": set(read.findall(avx2)), "avx512": set(read.findall(avx512))}
    return pairs


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


def test_the_default_run_gives_what_the_docs_quote(tmp_path: Path) -> None:
    """Rerun ``ff train`` and compare its accuracies with docs/results.md's, to the two decimals it prints.

    A seeded run repeats exactly on one kind of CPU, but AVX2 and AVX-512 kernels round differently, and the
    matrix-product library picks its kernels by CPU model (an AMD EPYC and an Intel Xeon, both AVX-512, gave
    different runs): the table quotes AVX2 and AVX-512 figures for each CPU measured, and each run, with
    PyTorch's kernels pinned (AVX-512 only where the CPU has it), must give one of its kind's pairs exactly.
    The README's first result row quotes one of those pairs' goodness.
    """
    pairs = default_run_pairs()
    assert len(pairs) >= 2 and all(len(k["avx2"]) == 1 == len(k["avx512"]) for k in pairs.values()), pairs
    by_kind = {kind: {p for cpu in pairs.values() for p in cpu[kind]} for kind in ("avx2", "avx512")}
    readme = (ROOT / "README.md").read_text().split("## Results", 1)[1]
    first = [line for line in readme.splitlines() if line.startswith("|")][2]
    assert "`ff train`" in first and "digits" in first, f"not the default run: {first}"
    quoted = re.search(r"\| ([\d.]+)% ", first)
    assert quoted and quoted.group(1) in {g for kind in by_kind.values() for g, _ in kind}, first
    kernels = ["avx2"] + (["avx512"] if "avx512f" in Path("/proc/cpuinfo").read_text() else [])
    for kind in kernels:
        measured = _ff_train(tmp_path, kind)
        assert measured in by_kind[kind], (
            f"docs/results.md quotes {sorted(by_kind[kind])} (goodness, head) with {kind} kernels; "
            f"`ff train` gives {measured[0]}% goodness, {measured[1]}% head: a new CPU model (add its "
            "figures to the table) or a changed default run"
        )
