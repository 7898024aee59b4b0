"""Running the injectors outside a ``torch.compile`` graph, decided at call time.

An injector writes through NumPy views, hashes on the host and checks its inputs with Python
control flow: traced by Dynamo it fails (``'ndarray' object has no attribute 'setflags'``) or
breaks the graph at every step. [`outside_graph`][signalinject._compile.outside_graph] makes a
method run eagerly when it is called while a function is being compiled (one graph break, the
eager result), as ``torch.compiler.disable`` would, but without importing ``torch._dynamo``
when the package is imported: the disabled twin of a method is made the first time it is
called under compilation, when Dynamo is loaded anyway.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar, cast

__all__ = ["compiling", "outside_graph"]

F = TypeVar("F", bound=Callable[..., Any])

#: Each wrapped method's ``torch.compiler.disable``'d twin, made at its first compiled call.
_EAGER: dict[Callable[..., Any], Callable[..., Any]] = {}


def compiling() -> bool:
    """Whether the caller is being traced by ``torch.compile``/``torch.export`` (False where
    torch is not even imported: no import for the question)."""
    torch = sys.modules.get("torch")
    return torch is not None and bool(torch.compiler.is_compiling())


def _eager(fn: Callable[..., Any]) -> Callable[..., Any]:
    twin = _EAGER.get(fn)
    if twin is None:
        import torch

        twin = _EAGER[fn] = torch.compiler.disable(fn)  # type: ignore[no-untyped-call]
    return twin


def outside_graph(fn: F) -> F:
    """``fn``, run eagerly where it is called inside a ``torch.compile``'d function.

    Examples:
        >>> double = outside_graph(lambda x: 2 * x)
        >>> double(3)
        6
    """
    if getattr(fn, "__signalinject_outside_graph__", False):
        return fn

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if compiling():
            return _eager(fn)(*args, **kwargs)
        return fn(*args, **kwargs)

    call.__signalinject_outside_graph__ = True  # type: ignore[attr-defined]
    return cast(F, call)
