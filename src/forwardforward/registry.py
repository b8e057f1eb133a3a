"""Name -> class registries, so configs and the CLI can refer to every piece by name.

An unknown name is an error that lists the valid names and suggests the nearest one, because a typo in a
config should cost the user seconds, not a silent fallback to a default.

A registry also remembers which module registered each name, so a checkpoint can record the modules of the
user's own pieces (:func:`registering_modules`) and a fresh process can import them again before it
rebuilds the network (:func:`import_module`). Installed packages register theirs through the
``forwardforward.plugins`` entry-point group (:func:`load_plugins`), which the ``ff`` command loads first.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: The entry-point group an installed package lists its piece-registering modules in.
PLUGIN_GROUP = "forwardforward.plugins"
#: Every registry alive, whatever its kind: where a name recorded in a checkpoint is looked up.
REGISTRIES: weakref.WeakSet[Registry[Any]] = weakref.WeakSet()
#: The modules of the library itself, whose pieces need no import to be found again.
OWN_PACKAGE = __name__.split(".")[0]


def suggest(name: str, valid: list[str]) -> str:
    """A ' Did you mean ...?' hint naming the entry of ``valid`` nearest to ``name``, or '' when nothing is
    close."""
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


class Registry(Generic[T]):
    """A mapping from names to factories (classes or functions) of one kind of piece.

    Args:
        kind: what the pieces are (``"goodness"``, ``"loss"``...), as error messages name them.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}
        self._canonical: dict[str, str] = {}
        self._modules: dict[str, str] = {}
        REGISTRIES.add(self)

    def register(self, *names: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@GOODNESS.register("sumsq", "sum_squares")``. The first name is the canonical one,
        the others are aliases for it.

        The module that registers (the caller's, else the factory's own) is remembered, so a checkpoint can
        record it and a fresh process import it again. Registering the same class again (a module imported
        twice, a notebook cell run twice) replaces it; another factory under a taken name is an error.
        """

        def add(factory: Callable[..., T]) -> Callable[..., T]:
            module = _caller_module(factory)
            for name in names:
                if name in self._entries and not _same_definition(self._entries[name], factory):
                    raise ValueError(f"{self.kind} {name!r} is registered twice")
            for name in names:
                self._entries[name] = factory
                self._canonical[name] = names[0]
                self._modules[name] = module
            return factory

        return add

    def module_of(self, name: str) -> str:
        """The module that registered ``name`` (an error for unknown names)."""
        self.get(name)
        return self._modules[name]

    def name_of(self, factory: Any) -> str | None:
        """The canonical name ``factory`` (a class or function) is registered under, or ``None``."""
        for name, entry in self._entries.items():
            if entry is factory:
                return self._canonical[name]
        return None

    def canonical(self, name: str) -> str:
        """The canonical name of ``name`` or of the entry it is an alias of (an error for unknown names)."""
        self.get(name)
        return self._canonical[name]

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name`` (or an alias of it).

        Raises:
            KeyError: ``name`` is unknown; the message lists the valid names and the nearest one.
        """
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}.{self.suggest(name)}"
            ) from None

    def suggest(self, name: str) -> str:
        """A ' Did you mean ...?' hint naming the canonical name nearest to ``name``, or ''."""
        close = difflib.get_close_matches(str(name), self.names(), n=1, cutoff=0.5)
        return f" Did you mean {self._canonical[close[0]]!r}?" if close else ""

    def build(self, spec: Any, **kwargs: Any) -> T:
        """Build from ``spec`` when it is a name (calling its factory with ``kwargs``), or pass an
        already-built piece through unchanged."""
        if isinstance(spec, str):
            return self.get(spec)(**kwargs)
        return spec

    def names(self) -> list[str]:
        """Every registered name, aliases included, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _caller_module(factory: Any) -> str:
    """The module whose code called ``register(...)(factory)`` (two frames up from ``add``), else the
    factory's own: the module to import again for the name to be registered again."""
    module = sys._getframe(2).f_globals.get("__name__")
    return str(module or getattr(factory, "__module__", "") or "")


def _same_definition(a: Any, b: Any) -> bool:
    """Whether two factories are one definition loaded twice (same module and qualified name)."""
    if a is b:
        return True
    qualname = getattr(a, "__qualname__", None)
    if qualname is None or "<lambda>" in qualname or "<locals>" in qualname:
        return False  # two lambdas, or two closures of one function, are different pieces under one name
    names = ("__module__", "__qualname__")
    return all(getattr(a, n, None) is not None and getattr(a, n, None) == getattr(b, n, None) for n in names)


def is_own_module(module: str) -> bool:
    """Whether ``module`` is part of this library (its pieces are registered whenever it is imported)."""
    return module == OWN_PACKAGE or module.startswith(OWN_PACKAGE + ".")


def registered_as(factory: Any) -> tuple[Registry[Any], str] | None:
    """The registry and canonical name ``factory`` (a class or function) is registered under, or ``None``
    (the first registry found, by kind, when several hold it)."""
    for registry in sorted(REGISTRIES, key=lambda r: r.kind):
        name = registry.name_of(factory)
        if name is not None:
            return registry, name
    return None


def registry_of(kind: str) -> Registry[Any] | None:
    """The live registry of pieces of ``kind`` (``"goodness"``, ``"negatives"``...), or ``None``."""
    return next((r for r in REGISTRIES if r.kind == kind), None)


def _strings(value: Any) -> Iterator[str]:
    """Every string in ``value``, a plain value or nested lists, tuples and dicts (their values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def registering_modules(values: Any) -> dict[str, dict[str, list[str]]]:
    """The modules outside this library that registered a piece some string in ``values`` names (a
    recorded config, :meth:`FFNetwork.mlp`'s arguments...), as ``{module: {kind: [names]}}``: what a
    checkpoint records so that loading it in a fresh process can import them first.

    Every registry is searched, so a name that happens to be a user's piece of another kind records its
    module too; importing one module more is harmless.
    """
    found: dict[str, dict[str, set[str]]] = {}
    for text in set(_strings(values)):
        for registry in REGISTRIES:
            if text in registry and not is_own_module(module := registry.module_of(text)):
                found.setdefault(module, {}).setdefault(registry.kind, set()).add(registry.canonical(text))
    return {m: {k: sorted(n) for k, n in sorted(kinds.items())} for m, kinds in sorted(found.items())}


class PieceImportError(ImportError):
    """A module of the user's pieces (``--import``, the config's ``imports``, a checkpoint's record or an
    installed plugin) that cannot be imported; the message is one line saying which, why, and how to fix it.

    Args:
        message: that line.
        reason: why, in the import system's words (``No module named 'my_pieces'``), for callers that
            phrase their own line.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


def _cwd_on_path() -> None:
    """Put the current folder first on ``sys.path``, as ``python -m`` does, so a module beside the user's
    config is found wherever ``ff`` is installed (its console script puts its own folder there instead)."""
    cwd = os.getcwd()
    if not any(os.path.abspath(p or os.curdir) == cwd for p in sys.path):
        sys.path.insert(0, cwd)


def _import_file(path: Path) -> ModuleType:
    """Import the Python file ``path`` as the module named after its stem (so the pieces it registers
    record that name), its folder added to ``sys.path`` for the modules beside it."""
    name = path.stem
    existing = sys.modules.get(name)
    if existing is not None:
        if Path(getattr(existing, "__file__", "") or "").resolve() == path.resolve():
            return existing
        raise ImportError(  # never shadow a loaded module (./random.py must not replace the standard one)
            f"{path} would be imported as module {name!r}, but another module of that name is loaded "
            f"({getattr(existing, '__file__', None) or 'built in'}): rename the file"
        )
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def import_module(spec: str, source: str = "") -> ModuleType:
    """Import the user's module ``spec``: a dotted name importable from the current folder (put on
    ``sys.path`` as ``python -m`` would) or the path of a ``.py`` file. ``source`` says where the name
    came from (``"--import"``, ``"the config's imports"``...), for the error.

    Raises:
        PieceImportError: one line naming the module, why it failed and how to fix it.
    """
    is_file = spec.endswith(".py") or os.sep in spec or "/" in spec
    origin = f" (from {source})" if source else ""
    try:
        if not is_file:
            _cwd_on_path()
            return importlib.import_module(spec)
        path = Path(spec).expanduser()
        if not path.is_file():
            message = f"cannot import {spec!r}{origin}: no such file in {os.getcwd()}"
            raise PieceImportError(message, "no such file")
        return _import_file(path)
    except PieceImportError:
        raise
    except Exception as err:
        top = Path(spec).stem if is_file else spec.split(".")[0]
        raise _import_error(f"{spec!r}{origin}", err, top) from err


def _import_error(what: str, err: Exception, top: str) -> PieceImportError:
    """The one line for the import of ``what`` (the module named, and where from; its top-level module
    ``top``) that failed with ``err``: the module missing, a module it imports missing, or its own code
    failing."""
    if isinstance(err, ModuleNotFoundError) and (err.name or top).split(".")[0] == top:
        return PieceImportError(
            f"cannot import module {what}: {err}; run from the folder that holds {top}.py or {top}/, add "
            "that folder to PYTHONPATH, give the file's path, or pip install the package providing it",
            str(err),
        )
    if isinstance(err, ModuleNotFoundError):  # the module is there; something it imports is not
        return PieceImportError(f"importing {what} failed: it imports {err.name!r}, which is missing ({err})")
    reason = f"{type(err).__name__}: {err}".splitlines()[0]
    return PieceImportError(f"importing {what} failed: {reason}", reason)


def import_modules(specs: Iterable[str], source: str = "") -> None:
    """:func:`import_module` each of ``specs`` in turn; ``source`` as there."""
    for spec in specs:
        import_module(str(spec), source)


_plugins_loaded: list[str] | None = None


def load_plugins(reload: bool = False) -> list[str]:
    """Load every entry point of the ``forwardforward.plugins`` group once per process (again with
    ``reload``): each names a module, imported so that the pieces it registers are known, or a
    ``module:function``, called with no arguments. Returns the entry points' names.

    Raises:
        PieceImportError: an entry point that fails to load, named with the package that installed it.
    """
    global _plugins_loaded
    if _plugins_loaded is not None and not reload:
        return _plugins_loaded
    names = []
    for point in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        dist = getattr(getattr(point, "dist", None), "name", None) or "an installed package"
        try:
            loaded = point.load()
            if callable(loaded) and not isinstance(loaded, ModuleType | type):
                loaded()
        except Exception as err:
            reason = f"{type(err).__name__}: {err}".splitlines()[0]
            raise PieceImportError(
                f"the {PLUGIN_GROUP} entry point {point.name!r} ({point.value}) of {dist} failed to load "
                f"({reason}): fix or reinstall {dist}, or pip uninstall it",
                reason,
            ) from err
        names.append(point.name)
    _plugins_loaded = names
    return names


def call_with_accepted(factory: Any, kwargs: dict[str, Any]) -> Any:
    """Call ``factory`` with the subset of ``kwargs`` its signature accepts.

    Lets one flat config (``threshold``, ``alpha``, ``p``...) serve every registered loss and goodness.
    """
    # Only explicitly named parameters count: nn.Module.__init__ takes **kwargs it would reject.
    params = inspect.signature(factory).parameters
    named = {n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}
    return factory(**{k: v for k, v in kwargs.items() if k in named})
