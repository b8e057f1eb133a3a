"""The pages that walk a reader through code run as written: every code block of them, in page order, in a
fresh folder, must succeed. A page whose example drifts from the API fails here, not in a reader's shell.

The convention the pages are written to (MyST Markdown):

- a fenced block ```` ```{code-block} LANG ```` with the option ``:caption: NAME`` where NAME is a file name
  (``my_pieces.py``, ``configs/mine.yaml``) is a FILE: written into the folder under that name;
- every other ```` ```python ```` block, and every ```` ```{code-block} python ```` without a file name as
  its caption, is code: all of a page's code blocks run in order in one fresh ``python`` process, as if
  concatenated into one script (what one block defines, the next one sees);
- in a ```` ```console ```` block, each line starting with ``$`` and a space is a shell command (a line
  ending in a backslash continues on the next); every other line is output and is ignored. Each command
  must exit with status 0;
- blocks of any other language (``bash``, ``text``, ``yaml`` without a file name...) are shown, never run.

Files, code and commands happen in page order: a command runs after the code above it, and sees the files
written above it. The folder is the working directory of both, and is on ``PYTHONPATH``; every process
gets ``OMP_NUM_THREADS=1``. So code on these pages must be small: the bundled 8x8 digits, a few epochs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The pages whose code blocks are a walk-through to run, not fragments to read (the others show commands
#: on the full datasets, or a script for torchrun, which a test cannot run in seconds).
#: The README's first example is one of them: a stranger pastes it first.
PAGES = [
    "README.md",
    "docs/getting-started.md",
    "docs/concepts.md",
    "docs/guides/own-data.md",
    "docs/guides/own-piece.md",
    "docs/guides/own-model-kind.md",
    "docs/guides/black-boxes.md",
    "docs/guides/prediction-speed.md",
]
PYTHON = {"python", "python3", "py"}
DIRECTIVE = re.compile(r"^\{(code-block|code|sourcecode)\}\s*(\S*)")
FILE_NAME = re.compile(r"^[\w.-]+(/[\w.-]+)*\.\w+$")


@dataclass
class Step:
    """One thing a page asks the reader to do: ``kind`` is ``"file"`` (``text`` written to ``name``),
    ``"python"`` (``text`` run) or ``"shell"`` (``text`` a command); ``line`` is where it starts in the
    page (1-based), for messages and tracebacks."""

    kind: str
    text: str
    line: int
    name: str = ""


def _options(content: str) -> tuple[dict[str, str], str, int]:
    """A MyST directive's options (``:key: value`` lines, or a ``---`` YAML block, at its top), its body,
    and how many lines the options took."""
    lines = content.splitlines(keepends=True)
    options: dict[str, str] = {}
    used = 0
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if end is not None:
            for raw in lines[1:end]:
                key, _, value = raw.partition(":")
                options[key.strip()] = value.strip()
            used = end + 1
    else:
        while used < len(lines) and (m := re.match(r"^:([\w-]+):\s*(.*)$", lines[used].rstrip("\n"))):
            options[m.group(1)] = m.group(2).strip()
            used += 1
    if used and used < len(lines) and not lines[used].strip():
        used += 1  # the blank line between the options and the body
    return options, "".join(lines[used:]), used


def _commands(content: str, line: int) -> list[Step]:
    """The ``$ `` commands of a console block that starts at ``line`` (its first content line), with
    backslash continuations joined."""
    steps: list[Step] = []
    pending: list[str] = []
    start = line
    for i, raw in enumerate(content.splitlines()):
        text = raw.rstrip()
        if pending:
            pending.append(text)
        elif text.startswith("$ "):
            pending, start = [text[2:]], line + i
        if pending and not text.endswith("\\"):
            steps.append(Step("shell", "\n".join(pending), start))
            pending = []
    if pending:
        steps.append(Step("shell", "\n".join(pending), start))
    return steps


def page_steps(text: str) -> list[Step]:
    """Everything a page asks the reader to do, in order (see the module docstring for the convention)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    try:
        from mdit_py_plugins.colon_fence import colon_fence_plugin

        md = md.use(colon_fence_plugin)
    except ImportError:  # only ``` fences then
        pass
    steps: list[Step] = []
    for token in md.parse(text):
        if token.type not in ("fence", "colon_fence") or token.map is None:
            continue
        info = token.info.strip()
        body_line = token.map[0] + 2  # the fence's own line, then the block's first line (1-based)
        directive = DIRECTIVE.match(info)
        if directive:
            language = directive.group(2).lower()
            options, body, used = _options(token.content)
            caption = options.get("caption", "")
            if FILE_NAME.match(caption) and ".." not in caption.split("/"):
                steps.append(Step("file", body, body_line + used, caption))
            elif language in PYTHON:
                steps.append(Step("python", body, body_line + used))
            continue
        language = info.split()[0].lower() if info else ""
        if language in PYTHON:
            steps.append(Step("python", token.content, body_line))
        elif language == "console":
            steps += _commands(token.content, body_line)
    return steps


#: Runs a page's steps (a JSON list) in one process: files written, code run in this module's own
#: namespace (so classes it defines pickle like a script's), commands run in a shell, all in page order.
RUNNER = """
import json as _json, os as _os, subprocess as _subprocess, sys as _sys
from pathlib import Path as _Path

def _doc_run(_page, _steps):
    for _step in _steps:
        _where = f"{_page}, line {_step['line']}"
        if _step["kind"] == "file":
            _path = _Path(_step["name"])
            _path.parent.mkdir(parents=True, exist_ok=True)
            _path.write_text(_step["text"])
        elif _step["kind"] == "python":
            # padded so that a traceback names the page's own line numbers
            _code = "\\n" * (_step["line"] - 1) + _step["text"]
            exec(compile(_code, _page, "exec"), globals())
        else:
            _done = _subprocess.run(_step["text"], shell=True, capture_output=True, text=True, timeout=300)
            if _done.returncode != 0:
                _sys.exit(
                    f"{_where}: `{_step['text']}` exited with status {_done.returncode}\\n"
                    f"--- its stdout:\\n{_done.stdout[-3000:]}\\n--- its stderr:\\n{_done.stderr[-3000:]}"
                )

_doc_run(_sys.argv[1], _json.loads(_Path(_sys.argv[2]).read_text()))
"""


def run_page(page: Path, work: Path, steps: list[Step]) -> subprocess.CompletedProcess[str]:
    """Run ``steps`` of ``page`` in the folder ``work`` (made here), in a fresh interpreter."""
    work.mkdir(parents=True, exist_ok=True)
    runner, plan = work.parent / "doc_runner.py", work.parent / "doc_steps.json"
    runner.write_text(RUNNER)
    plan.write_text(json.dumps([vars(s) for s in steps]))
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(work), *filter(None, [os.environ.get("PYTHONPATH")])]),
        # the interpreter running the tests is the one `python` and `ff` name in the commands
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "MPLBACKEND": "Agg",
    }
    return subprocess.run(
        [sys.executable, str(runner), str(page), str(plan)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.parametrize("name", PAGES)
def test_every_code_block_of_the_page_runs(name: str, tmp_path: Path) -> None:
    pytest.importorskip("markdown_it", reason="the docs extra: pip install -e '.[docs]'")
    page = ROOT / name
    steps = page_steps(page.read_text())
    assert any(s.kind != "file" for s in steps), f"{name} has no code or command to run"
    done = run_page(page, tmp_path / "work", steps)
    assert done.returncode == 0, f"{name}:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"


def test_the_convention_reads_files_code_and_commands(tmp_path: Path) -> None:
    """The parser on a page with one of each kind of block, and the runner on it: what the module
    docstring promises, including a failing command being reported with the page's line."""
    pytest.importorskip("markdown_it", reason="the docs extra: pip install -e '.[docs]'")
    page = textwrap.dedent(
        """\
        # A page

        ```{code-block} python
        :caption: helper.py

        def double(x):
            return 2 * x
        ```

        ```python
        from helper import double
        value = double(21)
        ```

        ```{code-block} python
        :caption: not a file name

        open("out.txt", "w").write(str(value))
        ```

        ```bash
        rm -rf /   # shown, never run
        ```

        ```console
        $ python -c "assert open('out.txt').read() == '42'" \\
            && echo ok
        ok
        $ python -c "import helper"
        ```

        ```yaml
        key: value
        ```
        """
    )
    steps = page_steps(page)
    assert [(s.kind, s.line) for s in steps] == [
        ("file", 6),
        ("python", 11),
        ("python", 18),
        ("shell", 26),
        ("shell", 29),
    ]
    assert steps[0].name == "helper.py" and steps[0].text.startswith("def double")
    assert steps[3].text == "python -c \"assert open('out.txt').read() == '42'\" \\\n    && echo ok"
    path = tmp_path / "page.md"
    path.write_text(page)
    assert run_page(path, tmp_path / "ok", steps).returncode == 0

    failing = [*steps, Step("shell", "python -c 'raise SystemExit(3)'", 40)]
    done = run_page(path, tmp_path / "bad", failing)
    assert done.returncode != 0 and "line 40" in done.stderr and "status 3" in done.stderr
