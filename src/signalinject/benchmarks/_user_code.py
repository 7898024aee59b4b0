"""Loading a user's code, ``MODULE:FACTORY``: a model factory (``scan``, ``bench --models``) or a
signal factory (``--signals``), found and fingerprinted the same way.

``MODULE`` is a dotted module name importable from the current directory, or a path to a ``.py``
file; ``FACTORY`` the (possibly dotted) name of a callable in it. Every failure is a
[`ModelFactoryError`][signalinject.benchmarks.errors.ModelFactoryError] that says what was
expected, what was found and where.

Examples:
    >>> parse_spec("my_models.py:make_net"), parse_spec("pkg.models:Nets.small")
    (('my_models.py', 'make_net'), ('pkg.models', 'Nets.small'))
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from signalinject.benchmarks.errors import ModelFactoryError

__all__ = ["SPEC_HELP", "load_callable", "parse_spec", "source_fingerprint"]

SPEC_HELP = (
    "expected MODULE:FACTORY, a module (a dotted name importable from the current directory, or "
    "a path to a .py file), a colon and the name of a callable in it, e.g. "
    "my_models:make_net or path/to/models.py:make_net"
)


def parse_spec(spec: str) -> tuple[str, str]:
    """``"MODULE:FACTORY"`` -> ``(MODULE, FACTORY)``; FACTORY may be dotted (``Class.method``).

    Raises:
        ModelFactoryError: not of that form (the message shows the form and an example).
    """
    if not isinstance(spec, str):
        raise ModelFactoryError(f"{SPEC_HELP}; got {spec!r}")
    module, sep, attr = spec.rpartition(":")  # rpartition: a Windows path keeps its drive colon
    if not sep or not module.strip() or not all(p.isidentifier() for p in attr.split(".")):
        raise ModelFactoryError(f"{SPEC_HELP}; got {spec!r}")
    return module, attr


def _is_path(module: str) -> bool:
    return module.endswith(".py") or "/" in module or os.sep in module


def _where(e: BaseException, path: str | None) -> str:
    """`` (at FILE:LINE)`` of the innermost frame in ``path`` (or of any frame), else ``""``."""
    frames = list(traceback.extract_tb(e.__traceback__))
    if path is not None:
        mine = [f for f in frames if os.path.abspath(f.filename) == os.path.abspath(path)]
        frames = mine or frames
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _import_file(path: Path, spec: str) -> ModuleType:
    resolved = path.resolve()
    digest = hashlib.blake2b(str(resolved).encode(), digest_size=4).hexdigest()
    name = f"_signalinject_scan_{path.stem}_{digest}"
    ispec = importlib.util.spec_from_file_location(name, resolved)
    if ispec is None or ispec.loader is None:
        raise ModelFactoryError(f"{spec!r}: cannot import {str(path)!r} as a Python module")
    mod = importlib.util.module_from_spec(ispec)
    sys.modules[name] = mod  # dataclasses and pickling look the module up by name
    folder = str(resolved.parent)
    if folder not in sys.path:  # so that the file can import its neighbours
        sys.path.append(folder)
    try:
        ispec.loader.exec_module(mod)
    except KeyboardInterrupt:
        del sys.modules[name]
        raise
    except BaseException as e:  # sys.exit() at import is a failure too
        del sys.modules[name]
        raise ModelFactoryError(
            f"{spec!r}: importing {str(path)!r} raised {type(e).__name__}: {e}"
            f"{_where(e, str(resolved))}"
        ) from e
    return mod


def _import_module(module: str, spec: str) -> ModuleType:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:  # as `python -m` would: modules next to you
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is not None and (module == e.name or module.startswith(e.name + ".")):
            raise ModelFactoryError(
                f"{spec!r}: no module named {module!r} (importable from {cwd}); give a path "
                f"to a .py file instead, e.g. path/to/{module.rsplit('.', 1)[-1]}.py:FACTORY"
            ) from e
        raise ModelFactoryError(
            f"{spec!r}: importing {module!r} raised {type(e).__name__}: {e}{_where(e, None)}"
        ) from e
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # sys.exit() at import is a failure too
        raise ModelFactoryError(
            f"{spec!r}: importing {module!r} raised {type(e).__name__}: {e}{_where(e, None)}"
        ) from e


def source_fingerprint(obj: Any) -> str:
    """blake2b of the source file that defines ``obj`` (a module or a function), else of its
    qualified name: part of every cell's identity, so edited code gives new cells."""
    h = hashlib.blake2b(digest_size=16)
    try:
        path = inspect.getsourcefile(obj)
    except TypeError:
        path = None
    if path is not None and os.path.isfile(path):
        h.update(Path(path).read_bytes())
    else:
        h.update(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj)}".encode())
    return h.hexdigest()


def load_callable(spec: str) -> tuple[Any, str]:
    """Import ``MODULE:FACTORY``: the callable it names, and the fingerprint of its module's
    source (`source_fingerprint`).

    Raises:
        ModelFactoryError: a malformed spec, a module that is missing or fails to import (with
            the exception and where it happened), a missing attribute (with the callables the
            module defines), or an attribute that is not callable.
    """
    module, attr = parse_spec(spec)
    if _is_path(module):
        path = Path(module).expanduser()
        if not path.is_file():
            what = "is a directory, not a .py file" if path.is_dir() else "not found"
            if path.exists() and not path.is_dir():
                what = "is not a regular file"
            raise ModelFactoryError(f"{spec!r}: module file {str(path)!r} {what}")
        mod = _import_file(path, spec)
    else:
        mod = _import_module(module, spec)
    obj: Any = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            own = sorted(
                n
                for n, v in vars(mod).items()
                if callable(v)
                and not n.startswith("_")
                and getattr(v, "__module__", None) == mod.__name__
            )
            raise ModelFactoryError(
                f"{spec!r}: module {module!r} has no attribute {attr!r}; "
                f"callables it defines: {', '.join(own) or 'none'}"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelFactoryError(
            f"{spec!r}: {attr!r} is a {type(obj).__name__}, not a callable factory"
        )
    return obj, source_fingerprint(mod)
