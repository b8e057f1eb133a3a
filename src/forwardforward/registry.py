"""Name -> class registries, so configs and the CLI can refer to every piece by name.

An unknown name is an error that lists the valid names and suggests the nearest one, because a typo in a
config should cost the user seconds, not a silent fallback to a default.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


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

    def register(self, *names: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@GOODNESS.register("sumsq", "sum_squares")``. The first name is the canonical one,
        the others are aliases for it."""

        def add(factory: Callable[..., T]) -> Callable[..., T]:
            for name in names:
                if name in self._entries:
                    raise ValueError(f"{self.kind} {name!r} is registered twice")
                self._entries[name] = factory
                self._canonical[name] = names[0]
            return factory

        return add

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


def call_with_accepted(factory: Any, kwargs: dict[str, Any]) -> Any:
    """Call ``factory`` with the subset of ``kwargs`` its signature accepts.

    Lets one flat config (``threshold``, ``alpha``, ``p``...) serve every registered loss and goodness.
    """
    # Only explicitly named parameters count: nn.Module.__init__ takes **kwargs it would reject.
    params = inspect.signature(factory).parameters
    named = {n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}
    return factory(**{k: v for k, v in kwargs.items() if k in named})
