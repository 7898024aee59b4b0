"""The ``Injector`` base class, ``Compose`` and configuration round-trips.

An injector is a small frozen dataclass. Calling it on data ``x`` with labels ``y`` draws the
per-sample parameters from ``(seed, index, y)`` (:meth:`Injector.codes`) and then writes them in
one vectorized pass. Domain subclasses (:mod:`signalinject.image`, :mod:`signalinject.text`)
implement ``__call__`` and ``decode``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from signalinject._backend import Array, as_index, gate, randint, to_backend, where

__all__ = ["Compose", "Injector", "from_config"]

# Counters of the draws shared by every injector; subclasses use counters >= 16.
_COVERAGE, _FIDELITY, _WRONG_CLASS = 1, 2, 3

_REGISTRY: dict[str, type[Injector]] = {}


def _fullname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def check_int(name: str, value: object, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` (bools refused) within ``[low, high]``, else a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def check_fraction(name: str, value: object) -> float:
    """``value`` as a float in [0, 1], else a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    v = float(value)
    if not 0.0 <= v <= 1.0:  # also refuses NaN
        raise ValueError(f"{name} must be in [0, 1], got {v}")
    return v


def check_finite_values(name: str, values: object) -> tuple[float, ...]:
    """A sequence of finite real numbers as a tuple of floats (ints stay ints)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a sequence of numbers, got {values!r}")
    out: list[Any] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{name} must hold numbers, got {v!r} in {list(values)!r}")
        if not math.isfinite(float(v)):
            raise ValueError(f"{name} must hold finite numbers, got {v!r}")
        out.append(int(v) if isinstance(v, numbers.Integral) else float(v))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Injector:
    """Base of every signal injector.

    Args:
        num_classes: number of classes K (labels are 0..K-1); at least 2 and at most the
            signal's capacity.
        seed: seed of every per-sample draw, 0 <= seed < 2**64.
        coverage: fraction of samples that carry the signal, decided per sample.
        fidelity: fraction of carried signals that encode the true label; the rest encode a
            different class drawn uniformly, decided per sample.
    """

    num_classes: int
    seed: int = dataclasses.field(default=0, kw_only=True)
    coverage: float = dataclasses.field(default=1.0, kw_only=True)
    fidelity: float = dataclasses.field(default=1.0, kw_only=True)

    #: Largest ``num_classes`` the signal can encode (None: unbounded or known at call time).
    capacity: ClassVar[int | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[_fullname(cls)] = cls

    def __post_init__(self) -> None:
        check_int("num_classes", self.num_classes, low=2)
        cap = self._capacity()
        if cap is not None and self.num_classes > cap:
            raise ValueError(
                f"{type(self).__name__}: num_classes={self.num_classes} exceeds the signal's "
                f"capacity of {cap} classes"
            )
        object.__setattr__(self, "seed", check_int("seed", self.seed, low=0, high=2**64 - 1))
        object.__setattr__(self, "coverage", check_fraction("coverage", self.coverage))
        object.__setattr__(self, "fidelity", check_fraction("fidelity", self.fidelity))

    def _capacity(self) -> int | None:
        """The capacity of this configuration (subclasses with variable capacity override)."""
        return self.capacity

    def _set(self, name: str, value: object) -> None:
        """Normalize a field in ``__post_init__`` (the dataclass is frozen)."""
        object.__setattr__(self, name, value)

    @property
    def stream(self) -> int:
        """Stable id of this injector's random stream: crc32 of the class name."""
        return zlib.crc32(type(self).__name__.encode())

    # -- per-sample draws -----------------------------------------------------------------
    def codes(self, y: Array, index: Array) -> tuple[Array, Array]:
        """The class each sample's signal encodes, and whether it carries one.

        Args:
            y: int64 labels ``(N,)`` in [0, K).
            index: int64 sample indices ``(N,)``, same backend and device as ``y``.

        Returns:
            ``(code, carried)``: int64 ``(N,)`` equal to ``y`` where the signal tells the truth
            and a uniformly drawn other class elsewhere; bool ``(N,)`` True where the sample
            carries the signal (``coverage``).
        """
        k, s = self.num_classes, self.stream
        carried = gate(index, self.coverage, self.seed, s, _COVERAGE)
        if self.fidelity >= 1.0:
            return y, carried
        truthful = gate(index, self.fidelity, self.seed, s, _FIDELITY)
        wrong = (y + 1 + randint(index, k - 1, self.seed, s, _WRONG_CLASS)) % k
        return where(truthful, y, wrong), carried

    def draw_int(self, index: Array, bound: int, counter: int) -> Array:
        """Per-sample integers in ``[0, bound)`` from this injector's stream (counter >= 16)."""
        return randint(index, bound, self.seed, self.stream, counter)

    def check_labels(self, y: Any, x: Array, *, single: bool) -> Array:
        """Labels as int64 ``(N,)`` on ``x``'s backend/device, validated against ``num_classes``.

        ``single``: ``x`` is one sample and ``y`` one integer; the result then has shape (1,).
        """
        k = self.num_classes
        if single:
            if isinstance(y, (np.ndarray, torch.Tensor)) and y.ndim != 0:
                raise ValueError(
                    f"y must be one integer label for a single sample, got shape {tuple(y.shape)}"
                )
            if isinstance(y, (torch.Tensor, np.ndarray)):
                y = y.reshape(1)
            elif isinstance(y, bool) or not isinstance(y, numbers.Integral):
                raise TypeError(f"y must be an integer label, got {y!r} ({type(y).__name__})")
            else:
                y = [int(y)]
        elif isinstance(y, numbers.Integral) and not isinstance(y, bool):
            raise ValueError(
                f"y is one integer but x holds a batch of {x.shape[0]}; pass labels of shape (N,)"
            )
        out = to_backend(y, x, name="y")
        n = 1 if single else int(x.shape[0])
        if out.ndim != 1 or out.shape[0] != n:
            raise ValueError(
                f"y must have shape ({n},), one label per sample of x, got {tuple(out.shape)}"
            )
        if n:
            bad = (out < 0) | (out >= k)
            if bool(bad.any()):
                first = int(out[bad][0])
                raise ValueError(
                    f"y must hold labels in [0, {k - 1}] (num_classes={k}), got {first}"
                )
        return out

    def check_index(self, index: Any, x: Array, n: int, *, single: bool) -> Array:
        """Sample indices as int64 ``(n,)`` on ``x``'s backend/device; default ``arange(n)``."""
        if single and index is not None:
            if isinstance(index, (np.ndarray, torch.Tensor)):
                if index.ndim != 0:
                    raise ValueError(
                        f"index must be one integer for a single sample, got shape "
                        f"{tuple(index.shape)}"
                    )
                index = index.reshape(1)
            else:
                index = [check_int("index", index, low=0)]
        return as_index(index, n, x)

    # -- configuration --------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """A JSON-serializable description: ``{"__class_fullname__": ..., **init_args}``."""
        cfg: dict[str, Any] = {"__class_fullname__": _fullname(type(self))}
        for f in dataclasses.fields(self):
            if f.init:
                cfg[f.name] = _jsonable(getattr(self, f.name))
        return cfg

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Injector | Compose:
        """Rebuild an injector (or ``Compose``) from :meth:`get_config`'s output."""
        return from_config(config)

    # -- the API of subclasses ------------------------------------------------------------
    def __call__(self, x: Any, y: Any, *, index: Any = None, inplace: bool = False) -> Any:
        raise NotImplementedError

    def decode(self, x: Any) -> Any:
        """Read the encoded class back from injected data (int64 labels, same backend)."""
        raise NotImplementedError


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_jsonable(e) for e in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _tupled(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_tupled(e) for e in v)
    return v


@dataclasses.dataclass(frozen=True)
class Compose:
    """Apply several injectors in turn, all keyed by the same sample indices.

    Each child keeps its own random stream (its class and seed), so adding or removing a child
    never changes another child's draws. ``decode`` returns one row of labels per child.

    >>> import numpy as np, signalinject as si
    >>> c = si.Compose([si.OnePixel(10), si.OnePixel(10, position=(5, 5))])
    >>> x = np.zeros((4, 8, 8, 1), np.uint8); y = np.array([3, 1, 4, 1])
    >>> c.decode(c(x, y)).tolist()
    [[3, 1, 4, 1], [3, 1, 4, 1]]
    """

    #: The children, in order (any sequence is accepted and stored as a tuple).
    injectors: Sequence[Injector]

    def __post_init__(self) -> None:
        items = tuple(self.injectors)
        if not items:
            raise ValueError("Compose needs at least one injector, got none")
        for i, inj in enumerate(items):
            if not isinstance(inj, Injector):
                raise TypeError(
                    f"Compose: injectors[{i}] must be an Injector, got {type(inj).__name__}"
                )
        object.__setattr__(self, "injectors", items)

    def __call__(
        self, x: Any, y: Any, *, index: Any = None, inplace: bool = False, **kw: Any
    ) -> Any:
        """Apply every injector in order, all keyed by the same ``index``.

        The first child writes into a copy and the others into that copy. Each child checks its
        input before it writes, so a child that refuses ``x`` leaves ``x`` untouched even with
        ``inplace=True``: for arrays and tensors the result is copied into ``x`` only at the end.
        """
        arrays = isinstance(x, np.ndarray | torch.Tensor)
        out = x
        for i, inj in enumerate(self.injectors):
            out = inj(out, y, index=index, inplace=i > 0 or (inplace and not arrays), **kw)
        if inplace and arrays:
            if isinstance(x, torch.Tensor):
                x.copy_(out)
            else:
                x[...] = out
            return x
        return out

    def decode(self, x: Any, **kw: Any) -> Any:
        """Each child's decode, stacked: int64 ``(len(injectors), N)`` (or ``(len,)``)."""
        rows = [inj.decode(x, **kw) for inj in self.injectors]
        if isinstance(rows[0], torch.Tensor):
            return torch.stack(rows)
        return np.stack(rows)

    def get_config(self) -> dict[str, Any]:
        """``{"__class_fullname__": "signalinject.core.Compose", "injectors": [...]}``."""
        return {
            "__class_fullname__": _fullname(Compose),
            "injectors": [inj.get_config() for inj in self.injectors],
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Injector | Compose:
        """Rebuild from :meth:`get_config`'s output."""
        return from_config(config)


def from_config(config: Mapping[str, Any]) -> Injector | Compose:
    """Rebuild an injector or a ``Compose`` from a ``get_config()`` dictionary.

    Raises:
        ValueError: the class name is missing or not a signalinject injector.
    """
    if not isinstance(config, Mapping) or "__class_fullname__" not in config:
        raise ValueError(f"config must be a mapping with '__class_fullname__', got {config!r}")
    name = config["__class_fullname__"]
    args = {k: v for k, v in config.items() if k != "__class_fullname__"}
    if name == _fullname(Compose):
        return Compose(tuple(_as_injector(from_config(c)) for c in args["injectors"]))
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ValueError(
            f"unknown injector class {name!r}; known: {sorted(_REGISTRY)} and "
            f"{_fullname(Compose)!r}"
        )
    return cls(**{k: _tupled(v) for k, v in args.items()})


def _as_injector(obj: Injector | Compose) -> Injector:
    if not isinstance(obj, Injector):
        raise ValueError("a Compose cannot hold another Compose in a config")
    return obj
