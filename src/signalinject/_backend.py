"""NumPy/torch dispatch and the counter-based hash behind every per-sample draw.

The hash works on int64 arrays holding 32-bit lanes. Every product is split into 16-bit halves so
that no intermediate exceeds 2**49: the arithmetic is exact (no overflow, no undefined behaviour)
and therefore bit-identical in NumPy and torch, on CPU and GPU.

torch is imported when a tensor arrives, never before: the modules of the package reach it
through `torch` here, a stand-in that imports it at the first use of one of its functions, while
``isinstance(x, torch.Tensor)`` (and ``torch.dtype``, ``torch.device``, ``torch.Size``) answers
False without importing anything as long as torch is not imported, since no tensor can exist
then. `when_imported` runs a callback once a module (torch, ``torch._dynamo``) has been imported
by whoever imports it, without importing it.

A private module: its names serve the package's modules, not users (it has no ``__all__``).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import importlib
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeGuard, TypeVar, cast

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import importlib.machinery

    import torch

_NATIVE: ModuleType | None
try:
    from signalinject import _native as _NATIVE
except ImportError:  # built without a C compiler (the extension is optional)
    _NATIVE = None

#: A NumPy array or a torch tensor.
Array: TypeAlias = "np.ndarray[Any, Any] | torch.Tensor"
#: ``f(x: ArrayT) -> ArrayT`` keeps the backend for mypy; a bound (not a constraint) so that a
#: plain ``Array`` is accepted too.
ArrayT = TypeVar("ArrayT", bound="np.ndarray[Any, Any] | torch.Tensor")


# -- after an import: callbacks run once a module is imported, which is never done here ---------
_PENDING: dict[str, list[Callable[[ModuleType], None]]] = {}


class _ImportWatcher:
    """A finder of ``sys.meta_path`` that finds nothing itself: for a module with callbacks
    pending (`when_imported`), it asks the other finders for its spec and has the loader run
    the callbacks once the module has run. (The protocol of ``importlib.abc.MetaPathFinder``,
    not the class: ``importlib.abc`` costs ~40 ms to import.)"""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _PENDING:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader: Any = spec.loader
        run = getattr(loader, "exec_module", None)
        if run is None:
            return spec

        def exec_then_call_back(module: ModuleType) -> None:
            try:
                run(module)
            finally:
                with contextlib.suppress(AttributeError):
                    del loader.exec_module  # this loader instance is the module's own
            _fire(fullname, module)

        try:  # on the instance: the loader keeps its type (importlib.resources reads it)
            loader.exec_module = exec_then_call_back
        except AttributeError:  # pragma: no cover - a loader with __slots__
            return spec
        return spec


_WATCHER = _ImportWatcher()


def _fire(name: str, module: ModuleType) -> None:
    for callback in _PENDING.pop(name, []):
        try:
            callback(module)
        except Exception as e:  # never fail the user's own import for it
            warnings.warn(
                f"signalinject: a callback after importing {name} failed: {e!r}",
                RuntimeWarning,
                stacklevel=2,
            )
    if not _PENDING and _WATCHER in sys.meta_path:
        sys.meta_path.remove(_WATCHER)


def when_imported(name: str, callback: Callable[[ModuleType], None]) -> None:
    """Run ``callback(module)`` once module ``name`` is imported: now if it is, else right after
    its import completes (by whoever imports it). Never imports ``name``.

    Examples:
        >>> import json
        >>> when_imported("json", lambda m: print(m.__name__))  # imported: called now
        json
    """
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    _PENDING.setdefault(name, []).append(callback)
    if _WATCHER not in sys.meta_path:
        sys.meta_path.insert(0, _WATCHER)


# -- torch, imported at its first use -------------------------------------------------------------
def _loaded_torch() -> ModuleType | None:
    """The torch module if it has been imported (with its ``Tensor`` defined), else None."""
    module = sys.modules.get("torch")
    return module if module is not None and hasattr(module, "Tensor") else None


class _TorchTypeMeta(type):
    """The metaclass of a stand-in for a torch type (`_TYPES`): an ``isinstance`` against it asks
    the real type if torch is imported, and answers False if it is not (no instance can exist)."""

    _name: str

    def __instancecheck__(cls, obj: object) -> bool:
        module = _loaded_torch()
        return module is not None and isinstance(obj, getattr(module, cls._name))

    def __subclasscheck__(cls, sub: type) -> bool:
        module = _loaded_torch()
        return module is not None and issubclass(sub, getattr(module, cls._name))


#: The torch types that ``isinstance`` checks name, and their stand-ins before torch is imported.
_TYPES: dict[str, type] = {
    name: _TorchTypeMeta(name, (), {"_name": name, "__module__": "torch"})
    for name in ("Tensor", "dtype", "device", "Size")
}


class _LazyTorch(ModuleType):
    """`torch` for the package: the real module's attributes, importing it at the first use of
    one (a function, a dtype), except the types of `_TYPES` before torch is imported."""

    def __getattr__(self, name: str) -> Any:
        module = _loaded_torch()
        if module is None:
            if name in _TYPES:
                value: Any = _TYPES[name]  # the real type replaces it once torch is imported
            else:
                module = importlib.import_module("torch")
        if module is not None:
            value = getattr(module, name)
        setattr(self, name, value)  # the next use is a plain attribute read
        return value

    def _forget_stand_ins(self, module: ModuleType) -> None:
        """Once torch is imported: drop the stand-in types, so that the next read finds the
        real ones (the stand-ins would answer right, only slower)."""
        for name in _TYPES:
            self.__dict__.pop(name, None)


if not TYPE_CHECKING:
    #: torch, imported at its first real use (see the module doc); ``from signalinject._backend
    #: import torch`` at run time, ``import torch`` for the type checker.
    torch = _LazyTorch("torch")
    when_imported("torch", torch._forget_stand_ins)


# -- checkpoints: the classes torch.load(weights_only=True) may build ----------------------------
_CHECKPOINT_CLASSES: list[type] = []


def allow_in_checkpoints(*classes: type) -> None:
    """Allow-list ``classes`` for ``torch.load(weights_only=True)``
    (``torch.serialization.add_safe_globals``): now if torch is imported, else as soon as it is.
    Never imports torch. The package's injectors, their parameters and helpers call it as they
    are defined (their unpickling runs their field checks)."""
    new = [c for c in classes if c not in _CHECKPOINT_CLASSES]
    _CHECKPOINT_CLASSES.extend(new)
    serialization = getattr(_loaded_torch(), "serialization", None)
    if serialization is not None and new:
        serialization.add_safe_globals(new)


def checkpoint_classes() -> list[type]:
    """Every class `allow_in_checkpoints` allow-listed, in the order they came."""
    return list(_CHECKPOINT_CLASSES)


def _allow_all(module: ModuleType) -> None:
    module.serialization.add_safe_globals(list(_CHECKPOINT_CLASSES))


when_imported("torch", _allow_all)


def is_torch(x: object) -> TypeGuard[torch.Tensor]:
    """True for a ``torch.Tensor``, False for anything else (without importing torch)."""
    module = _loaded_torch()
    return module is not None and isinstance(x, module.Tensor)


@dataclasses.dataclass(frozen=True)
class CpuRoute:
    """How the injectors run on the CPU (one setting for image and text signals).

    Attributes:
        tensor_views: inject CPU tensors through NumPy views of their memory (the default, see
            `numpy_view`); False: torch's own kernels, as on an accelerator.
        block_bytes: bytes per block of every blocked loop (`row_blocks`: the dense image
            writes, the text injectors' copy-check-write); None: each loop's measured default
            (`BLOCK_BYTES`).
        native: run uint8 images' dense writes on the compiled one-pass kernels where the
            package was built with them (`native_kernels`); False: NumPy's, which give the
            same bits in several passes.
    """

    tensor_views: bool = True
    block_bytes: int | None = None
    native: bool = True


_ROUTE: contextvars.ContextVar[CpuRoute] = contextvars.ContextVar(
    "signalinject_cpu_route",
    default=CpuRoute(),  # noqa: B039 (frozen: immutable)
)


@contextlib.contextmanager
def cpu_route(**changes: Any) -> Iterator[CpuRoute]:
    """Run the enclosed calls with `CpuRoute` fields changed (any path is then reachable
    without touching module globals); the previous route is restored on exit.

    Examples:
        >>> import torch
        >>> with cpu_route(tensor_views=False):
        ...     numpy_view(torch.zeros(2)) is None
        True

    Raises:
        TypeError: an unknown field, or a value of the wrong type.
        ValueError: ``block_bytes`` below 1.
    """
    route = dataclasses.replace(_ROUTE.get(), **changes)
    for flag in ("tensor_views", "native"):
        if not isinstance(getattr(route, flag), bool):
            raise TypeError(f"{flag} must be True or False, got {getattr(route, flag)!r}")
    b = route.block_bytes
    if b is not None and (isinstance(b, bool) or not isinstance(b, int)):
        raise TypeError(f"block_bytes must be an integer or None, got {b!r}")
    if b is not None and b < 1:
        raise ValueError(f"block_bytes must be >= 1, got {b}")
    token = _ROUTE.set(route)
    try:
        yield route
    finally:
        _ROUTE.reset(token)


#: Bytes of data per block of the blocked loops, by loop (`row_blocks`), each its measured best.
#: ``image``: the dense image writes through NumPy, a block and its temporaries in a core's L2
#: cache; ``image_torch``: the same on torch's kernels, whose per-call overhead is several times
#: NumPy's (both at N = 50,000 CIFAR-shaped, among 2**16..2**20 elements, uint8 and float32).
#: ``text``: the text injectors' copy, range check and write of a block of codes while it sits in
#: the cache (~200 blocks for 811 MB). Measured on an idle 2-core VM (2 MiB L2 per core, 32 MiB
#: L3), 100,000 x 1014 int64 codes, median of 7 runs in ms for Mnemonic / LengthEncoding /
#: PatternChar (a copy: ~145): 1 MiB 155/163/143, 2 MiB 131/153/138, 4 MiB 108/142/116, 8 MiB
#: 115/124/123, 16 MiB 110/133/119. Smaller blocks pay the Python overhead per block (5-20 us);
#: of the sizes that tie, 4 MiB keeps the temporaries smallest.
BLOCK_BYTES: dict[str, int] = {"image": 1 << 20, "image_torch": 1 << 22, "text": 4 << 20}


def native_kernels() -> ModuleType | None:
    """The compiled kernels (``signalinject._native``) if the package was built with them and
    `cpu_route` allows them, else None (NumPy's kernels: the same bits, slower on uint8).

    The extension is optional: a source install without a C compiler skips it.

    Examples:
        >>> with cpu_route(native=False):
        ...     native_kernels() is None
        True
    """
    return _NATIVE if _ROUTE.get().native else None


def block_bytes(default: int) -> int:
    """Bytes per block for a blocked loop whose measured best is ``default``."""
    b = _ROUTE.get().block_bytes
    return default if b is None else b


def row_blocks(n: int, row_bytes: int, loop: str) -> Iterator[slice]:
    """Slices of ``n`` rows of ``row_bytes`` bytes each, in blocks of about the bytes
    `BLOCK_BYTES` gives ``loop`` (or `cpu_route`'s ``block_bytes``), at least one row each:
    the one blocking of every blocked loop over a batch (image and text signals alike).

    Examples:
        >>> [(s.start, s.stop) for s in row_blocks(5, 3 << 20, "text")]
        [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
        >>> with cpu_route(block_bytes=10):
        ...     [(s.start, s.stop) for s in row_blocks(5, 4, "image")]
        [(0, 2), (2, 4), (4, 5)]
    """
    per = max(1, block_bytes(BLOCK_BYTES[loop]) // max(1, row_bytes))
    for start in range(0, n, per):
        yield slice(start, min(n, start + per))


MASK32 = 0xFFFFFFFF
_TWO32 = 1 << 32
_GOLDEN = 0x9E3779B9


def dtype_is(x: Array, name: str) -> bool:
    """Whether ``x``'s dtype is the one NumPy and torch both call ``name`` (``"uint8"``,
    ``"float64"``); a NumPy dtype of the other byte order (``>f8``) is not."""
    if isinstance(x, torch.Tensor):
        return bool(x.dtype == getattr(torch, name))
    return bool(x.dtype == np.dtype(name))


def dtype_bounds(x: Array) -> tuple[bool, float, float]:
    """``(is_integer, min, max)`` of ``x``'s dtype (exact ints for integer dtypes).

    Raises:
        TypeError: bool or complex data.
    """
    return bounds_of(x.dtype)


@functools.lru_cache(maxsize=64)
def bounds_of(dt: Any) -> tuple[bool, float, float]:
    """`dtype_bounds` of one NumPy or torch dtype (cached: ``iinfo`` is not free)."""
    if isinstance(dt, torch.dtype):
        if dt == torch.bool or dt.is_complex:
            raise TypeError(f"images must have an integer or floating dtype, got {dt}")
        if dt.is_floating_point:
            fi = torch.finfo(dt)
            return False, fi.min, fi.max
        ii = torch.iinfo(dt)
        return True, ii.min, ii.max
    if np.issubdtype(dt, np.integer):
        ni = np.iinfo(dt)
        return True, int(ni.min), int(ni.max)
    if np.issubdtype(dt, np.floating):
        nf = np.finfo(dt)
        return False, float(nf.min), float(nf.max)
    raise TypeError(f"images must have an integer or floating dtype, got {dt}")


def _mul32(x: Any, c: int) -> Any:
    """``(x * c) mod 2**32`` for lanes ``x`` in [0, 2**32) and a constant ``c`` < 2**32.

    ``x * c`` could reach 2**64 and overflow int64; with ``c`` split in 16-bit halves the largest
    intermediate is ``x * (c >> 16)`` < 2**48, exact in int64 on every backend.
    """
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & MASK32


def _mix32(x: Any) -> Any:
    """The "lowbias32" integer finalizer (C. Wellons): a bijection on 32-bit lanes."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _key(seed: int, stream: int, counter: int) -> int:
    """One 32-bit key per ``(seed, stream, counter)``, computed on the host with Python ints."""
    k = _mix32((seed & MASK32) ^ _GOLDEN)
    k = _mix32(k ^ ((seed >> 32) & MASK32))
    k = _mix32(k ^ (stream & MASK32))
    return int(_mix32(k ^ (counter & MASK32)))


def hash_u32(index: ArrayT, seed: int, stream: int, counter: int) -> ArrayT:
    """32 random bits per element of ``index``: a pure function of (seed, stream, counter, index).

    Args:
        index: int64 array or tensor of non-negative sample indices, any shape, any device.
        seed: the user's seed, 0 <= seed < 2**64.
        stream: which injector draws (a stable id per injector class).
        counter: which draw of that injector (coverage gate, position, value, ...).

    Returns:
        int64 values in [0, 2**32), same shape, backend and device as ``index``.
    """
    k = _key(seed, stream, counter)
    h = _mix32((index & MASK32) ^ k)
    h = _mix32(h ^ ((index >> 32) & MASK32) ^ _GOLDEN)
    return cast("ArrayT", _mix32(h ^ k))


def randint(index: ArrayT, bound: int, seed: int, stream: int, counter: int) -> ArrayT:
    """Integers uniform in ``[0, bound)`` per index: int64, same backend and device.

    Multiply-shift (Lemire) instead of a modulo: ``h * bound >> 32`` < 2**63 for bound < 2**31.

    Raises:
        ValueError: ``bound`` outside ``[1, 2**31)``.
    """
    if not 0 < bound < (1 << 31):
        raise ValueError(f"randint: bound must be in [1, 2**31), got {bound}")
    return cast("ArrayT", (hash_u32(index, seed, stream, counter) * bound) >> 32)


def gate(index: ArrayT, p: float, seed: int, stream: int, counter: int) -> ArrayT:
    """Boolean mask, True with probability ``p`` per index (exactly all for 1.0, none for 0.0)."""
    threshold = round(p * _TWO32)
    if threshold <= 0 or threshold >= _TWO32:  # the answer needs no hash: skip its N-sized work
        full = threshold > 0
        if isinstance(index, torch.Tensor):
            mask = torch.full(index.shape, full, dtype=torch.bool, device=index.device)
            return cast("ArrayT", mask)
        return cast("ArrayT", np.full(index.shape, full, dtype=bool))
    return cast("ArrayT", hash_u32(index, seed, stream, counter) < threshold)


def uniform01(index: ArrayT, seed: int, stream: int, counter: int) -> ArrayT:
    """float64 values uniform in [0, 1) per index (exact multiples of 2**-32), same backend."""
    h: Array = hash_u32(index, seed, stream, counter)
    if isinstance(h, torch.Tensor):
        return cast("ArrayT", h.to(torch.float64) / _TWO32)
    return cast("ArrayT", h.astype(np.float64) / _TWO32)


def arange_like(n: int, like: Array) -> Array:
    """``arange(n)`` as int64 on the backend and device of ``like``."""
    if isinstance(like, torch.Tensor):
        return torch.arange(n, dtype=torch.int64, device=like.device)
    return np.arange(n, dtype=np.int64)


def int_table(values: Any, like: Array) -> Array:
    """A small read-only int64 table (1-D, or 2-D from rows) on ``like``'s backend and device.

    ``values``: ints, or equal-length rows of ints (any sequences; stored as nested tuples for
    the cache key). Cached per device by `device_table`.
    """
    key = tuple(tuple(int(v) for v in r) if not isinstance(r, int) else int(r) for r in values)
    return device_table(_int_array, (key,), like)


@functools.lru_cache(maxsize=256)
def _int_array(values: tuple[Any, ...]) -> npt.NDArray[np.int64]:
    t = np.asarray(values, dtype=np.int64)
    t.setflags(write=False)
    return t


def device_table(build: Any, args: tuple[Any, ...], like: Array) -> Array:
    """The host table ``build(*args)`` (a read-only NumPy array) on ``like``'s backend and device.

    The one cache of per-device tables: built once per ``(build, args, device)`` and kept, since
    a table moved per batch would cost a host-to-device copy, which waits for the device, at
    every call on a GPU. ``build`` is a module-level function (cached itself, or cheap) whose
    result depends on ``args`` alone; NumPy ``like``: the host table itself.
    """
    if not isinstance(like, torch.Tensor):
        return cast("Array", build(*args))
    return _device_table(build, args, like.device)


@functools.lru_cache(maxsize=256)
def _device_table(build: Any, args: tuple[Any, ...], device: torch.device) -> torch.Tensor:
    host = np.ascontiguousarray(build(*args))
    return torch.from_numpy(host.copy() if not host.flags.writeable else host).to(device)


def as_index(index: Any, n: int, like: Array, *, name: str = "index") -> Array:
    """Validate ``index`` (None, or ``n`` non-negative integers) as int64 on ``like``'s backend.

    Raises:
        TypeError: not integers, or a torch tensor off the CPU for NumPy ``like``.
        ValueError: wrong length, negative values, a tensor on another device than ``like``.
    """
    if index is None:
        return arange_like(n, like)
    out = to_backend(index, like, name=name)
    if out.ndim != 1 or out.shape[0] != n:
        raise ValueError(
            f"{name} must have shape ({n},), one index per sample, got shape {tuple(out.shape)}"
        )
    if n and bool((out < 0).any()):
        raise ValueError(f"{name} must be non-negative, got minimum {int(out.min())}")
    return out


def to_backend(values: Any, like: Array, *, name: str) -> Array:
    """Integer ``values`` (int list, NumPy or torch, any integer dtype) as int64 on ``like``.

    Raises:
        TypeError: non-integer values (bool, float, complex, strings), or a torch tensor off the
            CPU when ``like`` is a NumPy array.
        ValueError: a torch tensor on another device than a torch ``like``.
    """
    if isinstance(values, torch.Tensor):
        if values.dtype.is_floating_point or values.dtype.is_complex or values.dtype == torch.bool:
            raise TypeError(f"{name} must hold integers, got a tensor of dtype {values.dtype}")
        if isinstance(like, torch.Tensor):
            if values.device != like.device:
                raise ValueError(
                    f"{name} is on {values.device} but the data is on {like.device}; "
                    f"move {name} to {like.device}"
                )
            return values.to(torch.int64)
        if values.device.type != "cpu":
            raise TypeError(
                f"{name} is a torch tensor on {values.device} but the data is a NumPy array; "
                f"pass {name} as a NumPy array or a CPU tensor"
            )
        # Through int64 first: NumPy has no twin of some torch dtypes (e.g. older uint16).
        return values.to(torch.int64).numpy()
    arr: npt.NDArray[Any] = np.asarray(values)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        if arr.size == 0 and arr.dtype == np.float64:  # an empty list
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) >= 1 << 63:
        raise ValueError(f"{name} must be below 2**63, got {int(arr.max())}")
    arr = arr.astype(np.int64)
    if isinstance(like, torch.Tensor):
        return torch.from_numpy(arr).to(like.device)
    return arr


def where(cond: Array, a: Any, b: Any) -> Any:
    """``where(cond, a, b)`` on ``cond``'s backend."""
    if isinstance(cond, torch.Tensor):
        return torch.where(cond, a, b)
    return np.where(cond, a, b)


def numpy_view(x: Array) -> npt.NDArray[Any] | None:
    """``x`` as a NumPy array sharing its memory: itself, or a CPU tensor's ``numpy()`` view.

    The injectors run NumPy's kernels on CPU tensors through such views (same memory, same
    arithmetic, same bits): single-threaded, they are faster here for the small ``O(N)`` draws
    and strided writes, and they do not stall the way torch's intra-op threads do on a busy
    machine. None where NumPy cannot view the tensor (on an accelerator, tracking gradients,
    bfloat16, a conjugate or negative bit set), or where `cpu_route` turned the views
    off: those keep torch's kernels.
    """
    if isinstance(x, np.ndarray):
        return x
    if not _ROUTE.get().tensor_views:
        return None
    if x.device.type != "cpu" or x.requires_grad or x.dtype == torch.bfloat16:
        return None
    try:
        return x.numpy()
    except (TypeError, RuntimeError):
        return None


def mark_written(x: Any) -> None:
    """Tell autograd that tensor ``x`` was written in place through a NumPy view.

    torch's own in-place ops bump a tensor's version counter, so that a graph which saved the
    tensor for its backward pass raises instead of silently using the new values; a write
    through ``numpy()`` does not, hence this. No-op for NumPy arrays.
    """
    if isinstance(x, torch.Tensor):
        torch.autograd.graph.increment_version(x)


def is_array(x: object) -> bool:
    """True for a NumPy array or a torch tensor (what the injectors write into)."""
    return isinstance(x, np.ndarray | torch.Tensor)


def device_of(x: Array) -> torch.device | None:
    """The device of a tensor; None for a NumPy array (the host)."""
    return x.device if isinstance(x, torch.Tensor) else None


def permute(x: ArrayT, axes: tuple[int, ...]) -> ArrayT:
    """``x`` with its axes in the order ``axes`` (a view, no copy)."""
    if isinstance(x, torch.Tensor):
        return cast("ArrayT", x.permute(axes))
    return cast("ArrayT", x.transpose(axes))


def broadcast_to(x: ArrayT, shape: tuple[int, ...]) -> ArrayT:
    """``x`` broadcast to ``shape`` (a read-only view, no copy)."""
    if isinstance(x, torch.Tensor):
        return cast("ArrayT", x.expand(shape))
    return cast("ArrayT", np.broadcast_to(x, shape))


def stack(rows: list[Any]) -> Any:
    """Arrays (or tensors) of one shape stacked along a new first axis, on their backend."""
    if isinstance(rows[0], torch.Tensor):
        return torch.stack(rows)
    return np.stack(rows)


def copy_into(dst: Array, src: Any) -> None:
    """Write ``src`` (same shape, or broadcastable) into ``dst`` in place."""
    if isinstance(dst, torch.Tensor):
        dst.copy_(src if isinstance(src, torch.Tensor) else torch.as_tensor(src))
    else:
        dst[...] = src


def copy_of(x: ArrayT) -> ArrayT:
    """A copy of ``x`` laid out as ``x.clone()`` (torch) or ``x.copy()`` (NumPy) lays it out."""
    if isinstance(x, torch.Tensor):
        return cast("ArrayT", x.clone())
    return cast("ArrayT", x.copy())


def as_int64(x: ArrayT) -> ArrayT:
    """``x`` as int64 on its backend and device (itself where it is int64 already)."""
    if isinstance(x, torch.Tensor):
        return cast("ArrayT", x.to(torch.int64))
    return cast("ArrayT", x.astype(np.int64, copy=False))


def labels_out(labels: Array, single: bool) -> Any:
    """Decoded labels as int64 ``(N,)``, or, for one sample, its one label (a 0-d tensor or a
    NumPy int64)."""
    out = as_int64(labels)
    return out[0] if single else out


def blank_like(x: Array, host: bool, fuses_copy: bool) -> Array | None:
    """An uninitialized output laid out as ``x.clone()`` / ``x.copy()`` lays it out, or None.

    A CPU tensor that NumPy can view (``host``) gets NumPy-allocated memory
    (`empty_like_host`: huge pages) whatever the writer; otherwise only a writer that reads its
    source anyway (``fuses_copy``: one pass instead of a copy and a read-modify-write) takes a
    blank output. None where the type would be lost (a tensor subclass whose ``empty_like``
    returns a plain tensor): the caller then copies ``x``.
    """
    if host and isinstance(x, torch.Tensor) and (out_host := empty_like_host(x)) is not None:
        return out_host
    if not fuses_copy:
        return None
    out = torch.empty_like(x) if isinstance(x, torch.Tensor) else np.empty_like(x, order="C")
    return out if type(out) is type(x) else None


def empty_like_host(x: torch.Tensor) -> torch.Tensor | None:
    """An uninitialized CPU tensor laid out as ``x.clone()`` would be, its memory from NumPy.

    NumPy asks the kernel for transparent huge pages on large arrays and torch's CPU allocator
    does not: writing a fresh 600 MB batch measured 73 ms in NumPy's memory against 267 ms in
    torch's, most of it page faults. The result is a plain ``torch.Tensor`` (one that cannot be
    resized beyond its size, as any ``torch.from_numpy`` tensor). None where ``x`` is not a
    dense tensor that `numpy_view` can view, or is a tensor subclass: allocate with torch
    then.
    """
    # An empty tensor: nothing to gain, and its strides are a convention.
    if type(x) is not torch.Tensor or x.numel() == 0:
        return None
    host = numpy_view(x)
    strides = x.stride()
    order = sorted(range(x.ndim), key=lambda d: (-strides[d], d))
    dense = x.permute(order)
    if host is None or not dense.is_contiguous():
        return None
    buf = torch.from_numpy(np.empty(tuple(dense.shape), dtype=host.dtype))
    return buf.permute([order.index(d) for d in range(x.ndim)])


def _may_overlap(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """Whether a strided view may reach one memory location from two indices.

    The sufficient condition for no overlap: the axes (of size > 1) sorted by ``|stride|``
    each step over the whole extent of the smaller ones. Every view made by slicing,
    transposing or reshaping a dense array meets it; a broadcast (stride 0) or a crafted
    ``as_strided`` view that does not is refused.
    """
    if 0 in shape:  # no element at all
        return False
    extent = 0
    for size, stride in sorted(
        ((n, abs(s)) for n, s in zip(shape, strides, strict=True) if n > 1), key=lambda t: t[1]
    ):
        if stride <= extent:
            return True
        extent += stride * (size - 1)
    return False


def check_writable(x: Array, *, name: str = "x") -> None:
    """Refuse to write into ``x`` in place where the write could not be what it looks like.

    Raises:
        ValueError: a read-only NumPy array, or memory shared between elements (an
            ``expand``/``broadcast_to`` view, crafted strides): writing each sample's signal
            there would write them all over each other, as torch's own in-place ops refuse.
    """
    if isinstance(x, np.ndarray):
        if not x.flags.writeable:
            raise ValueError(f"inplace=True needs a writeable {name}, got a read-only array")
        strides = tuple(s // x.itemsize if x.itemsize else 0 for s in x.strides)
    else:
        strides = tuple(x.stride())
    if _may_overlap(tuple(x.shape), strides):
        raise ValueError(
            f"inplace=True needs {name} whose elements do not share memory, got shape "
            f"{tuple(x.shape)} with strides {strides} (an expanded or broadcast view): "
            f"every sample's signal would be written over the others; pass a copy of {name} "
            f"(x.clone(), x.copy()) or inplace=False"
        )
