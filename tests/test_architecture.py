"""The package's shape: layers that import only downwards, no import cycle, small classes and functions.

Every import counts, the ones inside functions too (they are how cycles hide). The layer order is the one
docs/architecture.md draws; a module may import from its own layer or a lower one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "forwardforward"

#: Lowest first. A module belongs to the first entry whose prefix matches its dotted name.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("registry", "data", "defaults", "version")),
    (
        "core pieces",
        ("goodness", "losses", "normalize", "activations", "init", "optim", "boxes"),
    ),
    ("labels and negatives", ("labels", "negatives")),
    ("layers and networks", ("layers", "network", "scoring", "models")),
    ("training, inference, hardware, evaluation", ("training", "inference", "hardware", "evaluation")),
    ("experiment", ("experiment",)),
    ("public API", ("__init__", "__main__")),
]

MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """The package-relative modules an ``ImportFrom`` names (``from . import x`` names submodule x)."""
    if node.level == 0:
        if not (node.module or "").startswith("forwardforward"):
            return []
        base = node.module.split(".")[1:]  # type: ignore[union-attr]
    else:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        if module == "__init__":
            package = []
        base = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
    if node.module is None:
        return [".".join([*base, a.name]) for a in node.names]
    return [".".join(base)] if base else ["__init__"]


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, anywhere in its body."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                targets = _resolve(name, path, node)
            elif isinstance(node, ast.Import):
                targets = [
                    a.name.split(".", 1)[1] for a in node.names if a.name.startswith("forwardforward.")
                ]
            else:
                continue
            for t in targets:
                # ``from .data import load`` names a package; ``from .pkg import module`` a module in it
                while t and t not in modules:
                    t = t.rsplit(".", 1)[0] if "." in t else ""
                if t and t != name:
                    deps.add(t)
        graph[name] = deps
    return graph


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    for i, (_, prefixes) in enumerate(LAYERS):
        if top in prefixes:
            return i
    raise AssertionError(
        f"module {module!r} is in no layer of the architecture; add it to LAYERS and the docs"
    )


def test_every_module_imports_only_from_its_layer_or_below() -> None:
    graph = import_graph()
    upward = [
        f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} ({LAYERS[layer_of(d)][0]})"
        for m, deps in graph.items()
        for d in sorted(deps)
        if layer_of(d) > layer_of(m)
    ]
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_there_is_no_import_cycle() -> None:
    graph = import_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _docstring_lines(node: ast.AST) -> set[int]:
    """The lines of every docstring inside ``node`` (its own and its methods'): documentation, which the
    size limits do not count, so documenting each argument never pushes a definition over them."""
    lines: set[int] = set()
    for inner in ast.walk(node):
        if isinstance(inner, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and inner.body:
            first = inner.body[0]
            value = first.value if isinstance(first, ast.Expr) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                lines |= set(range(first.lineno, first.end_lineno + 1))  # type: ignore[operator]
    return lines


def _long_definitions() -> list[str]:
    found = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                limit = MAX_CLASS_LINES
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                limit = MAX_FUNCTION_LINES
            else:
                continue
            span = node.end_lineno - node.lineno + 1  # type: ignore[operator]
            lines = span - len(_docstring_lines(node))
            if lines > limit:
                found.append(f"{name}.{node.name}: {lines} lines without docstrings (limit {limit})")
    return found


def test_the_size_limit_counts_code_not_docstrings() -> None:
    """The checker itself: a long docstring does not count, a long body does."""
    documented = 'def f(a):\n    """' + "words\n" * 80 + '    """\n    return a\n'
    node = ast.parse(documented).body[0]
    assert node.end_lineno - node.lineno + 1 - len(_docstring_lines(node)) == 2  # type: ignore[operator]
    long_body = "def g(a):\n" + "    a += 1\n" * 70
    node = ast.parse(long_body).body[0]
    assert node.end_lineno - node.lineno + 1 - len(_docstring_lines(node)) == 71  # type: ignore[operator]


def test_no_class_over_300_lines_and_no_function_over_60() -> None:
    assert not _long_definitions(), "\n".join(_long_definitions())


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from .layers import FFLayer", {"layers"}),
        ("def f():\n    from ..training.trainer import Trainer", {"training.trainer"}),
        ("from . import goodness, losses", {"goodness", "losses"}),
    ],
)
def test_the_graph_sees_imports_inside_functions_and_relative_ones(
    tmp_path: Path, source: str, expected: set[str]
) -> None:
    """The checker itself: what it parses (a checker that sees nothing would pass every time)."""
    tree = ast.parse(source)
    where = PACKAGE / "experiment" / "run.py" if "training" in source else PACKAGE / "network.py"
    module = "experiment.run" if "training" in source else "network"
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names |= set(_resolve(module, where, node))
    assert names == expected
