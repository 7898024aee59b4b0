"""The value range of image data: what the signals scale their codes to, and its check.

A signal that scales its code (``OrthogonalNoise``'s RMS, ``Blend``'s pattern, ``Sinusoid``'s
amplitude, the lit value of ``ClassPatch`` and ``OnePixelShortcut``, ``MultipleLocations``'
drawn value) scales it to the range the images' values span: the injector's ``value_range``
field, ``(low, high)`` in image units, or, by default (None), the range 0.1.0 assumed from the
dtype: 0..255 for integer images, [0, 1] for float images. Float images holding 0..255 (or
normalised ones) under that default got a signal 255 times too faint, with no word.

Each image injector therefore samples a few elements of the images it is called on (32 pixels,
on its first 8 calls and every 64th after) and warns once
([`ValueRangeWarning`][signalinject.ranges.ValueRangeWarning]) where they contradict the
declared range: values beyond it by half its width (float images above 1.5 under the [0, 1]
default, or below -0.5), or code values it writes outside it (``OnePixel``'s class numbers 0..9
in [0, 1] images). On an accelerator the sample is copied to the host asynchronously and
looked at on a later call, once its copy has finished: the check never waits for the device.
Integer images without a ``value_range`` are not sampled (their values are their dtype's).
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import math
import warnings
import weakref
from typing import Any

import numpy as np

from signalinject._backend import Array, int_table
from signalinject._backend import dtype_bounds as _dtype_bounds
from signalinject.core import check_finite_values

__all__ = ["ValueRange", "ValueRangeWarning", "check_range", "declared_range", "pipeline_hint"]


class ValueRangeWarning(UserWarning):
    """The images' values, or the codes written into them, contradict the declared value range.

    The range is the injector's ``value_range``, or the dtype's default: where the images do not
    span it, the signal would be scaled wrongly or written outside the data's range."""


@dataclasses.dataclass(frozen=True)
class ValueRange:
    """Field rule of ``value_range``: None, or a finite ``(low, high)`` with ``low < high``.

    The width ``high - low`` must be finite too."""

    def __call__(self, name: str, value: object) -> tuple[float, float] | None:
        if value is None:
            return None
        vals = check_finite_values(name, value)
        if len(vals) != 2 or not vals[0] < vals[1]:
            raise ValueError(
                f"{name} must be (low, high) with low < high, the range of the images' values "
                f"(e.g. (0, 255)), got {value!r}"
            )
        if not math.isfinite(vals[1] - vals[0]):
            raise ValueError(f"{name} must have a finite width (high - low), got {value!r}")
        return vals[0], vals[1]


def declared_range(value_range: tuple[float, float] | None, x: Array) -> tuple[float, float]:
    """``value_range``, or the default range of images like ``x``.

    The default is (0, 255) clipped to an integer dtype's bounds, (0.0, 1.0) for floats."""
    if value_range is not None:
        return value_range
    is_int, lo, hi = _dtype_bounds(x)
    return (max(lo, 0), min(hi, 255)) if is_int else (0.0, 1.0)


# -- the check ------------------------------------------------------------------------------------
#: Pixels sampled per checked call, and which calls are checked (the first few, then 1 in 64).
_PIXELS, _FIRST, _EVERY = 32, 8, 64

#: A hint the caller adds to the warning (``InjectTransform``: where it belongs in a pipeline).
_HINT: contextvars.ContextVar[str] = contextvars.ContextVar("signalinject_range_hint", default="")


class pipeline_hint:
    """A block whose range warnings end with ``hint``, and that looks for rescaled images.

    Inside the block, images that seem rescaled to [0, 1] (or normalised) while the declared
    range is wider are reported too: what a transform placed after ``ToDtype(scale=True)``
    sees. A class, not a generator: it wraps every sample of a pipeline."""

    __slots__ = ("hint", "token")

    def __init__(self, hint: str) -> None:
        self.hint = hint
        self.token: Any = None

    def __enter__(self) -> None:
        self.token = _HINT.set(self.hint)

    def __exit__(self, *exc: object) -> None:
        _HINT.reset(self.token)


@dataclasses.dataclass
class _State:
    """One injector's check: calls seen, whether it warned, a device sample in flight."""

    calls: int = 0
    warned: bool = False
    pending: tuple[Any, Any] | None = None  # (host tensor of (min, max), its copy's event)
    codes: dict[tuple[float, float], str | None] = dataclasses.field(default_factory=dict)


#: Per injector (by ``id``, dropped with it): injectors are frozen and compared by value, and
#: two equal ones may see different data.
_STATES: dict[int, _State] = {}


def _state(inj: object) -> _State:
    st = _STATES.get(id(inj))
    if st is None:
        st = _STATES[id(inj)] = _State()
        weakref.finalize(inj, _STATES.pop, id(inj), None)
    return st


@functools.lru_cache(maxsize=64)
def _positions(n: int, h: int, w: int) -> tuple[tuple[int, ...], ...]:
    """``_PIXELS`` pixels ``(n, r, c)`` spread over the batch (a low-discrepancy walk)."""
    k = min(_PIXELS, n * h * w)
    return tuple(
        (i * n // k, int((i * 0.6180339887) % 1.0 * h), int((i * 0.7548776662) % 1.0 * w))
        for i in range(k)
    )


@functools.lru_cache(maxsize=64)
def _host_index(n: int, h: int, w: int) -> tuple[np.ndarray[Any, Any], ...]:
    """`_positions` as three int64 index arrays (read-only)."""
    out = tuple(np.asarray(v, np.int64) for v in zip(*_positions(n, h, w), strict=True))
    for a in out:
        a.setflags(write=False)
    return out


def _host_minmax(x: Array, st: _State) -> tuple[float, float] | None:
    """The sampled ``(min, max)`` of channels-last ``x`` as floats, or None while an
    accelerator's sample is still being copied (never a wait for the device)."""
    shape = (int(x.shape[0]), int(x.shape[1]), int(x.shape[2]))
    if isinstance(x, np.ndarray):
        n, r, c = _host_index(*shape)
        return _finite_minmax(np.asarray(x[n, r, c], np.float64))
    import torch

    t = int_table(_positions(*shape), x)
    v = x[t[:, 0], t[:, 1], t[:, 2]].detach()
    if x.device.type == "cpu":
        return _finite_minmax(v.to(torch.float64).numpy())
    done = None
    if st.pending is not None:
        host, event = st.pending
        if event is None or event.query():
            st.pending = None
            done = (float(host[0]), float(host[1]))
    if st.pending is None and x.device.type == "cuda":
        v = v.to(torch.float64)
        v = torch.where(v.isnan(), v.nan_to_num(0.0).mean(), v)  # NaN: neither end
        mm = torch.stack(torch.aminmax(v))
        host = mm.to("cpu", non_blocking=True)
        event = torch.cuda.Event()  # type: ignore[no-untyped-call]
        event.record()
        st.pending = (host, event)
    return done


def _finite_minmax(v: np.ndarray[Any, Any]) -> tuple[float, float] | None:
    """``(min, max)`` of float64 ``v`` leaving NaN out (inf counts), None if nothing is left."""
    v = v[~np.isnan(v)]
    return (float(v.min()), float(v.max())) if v.size else None


def _codes_problem(inj: Any, lo: float, hi: float) -> str | None:
    codes = inj.code_range()
    if codes is None or (lo <= codes[0] and codes[1] <= hi):
        return None
    return f"it writes code values {codes[0]:g}..{codes[1]:g}, outside"


def _looks_rescaled(x: Array, seen: tuple[float, float], lo: float, hi: float) -> bool:
    """Float images within [-3, 3] (``ToDtype(scale=True)``, ``Normalize``) while the declared
    range is 0..255-like (at least 10 wide): raw values were expected."""
    return not _dtype_bounds(x)[0] and hi - lo >= 10 and seen[0] >= -3.0 and seen[1] <= 3.0


def check_range(inj: Any, x: Array, *, stacklevel: int = 2) -> None:
    """Warn once per injector where images ``x`` or its codes contradict its value range.

    ``x`` is channels-last. A few sampled elements are read, with no device sync (see the module
    doc)."""
    value_range = inj.value_range
    if value_range is None and _dtype_bounds(x)[0]:
        return  # integer images: their values are their dtype's
    if value_range is not None and not inj.value_range_is_data:
        return  # MultipleLocations: the range its value is drawn from, not the data's
    st = _state(inj)
    if st.warned:
        return
    calls, st.calls = st.calls, st.calls + 1
    if calls >= _FIRST and calls % _EVERY and st.pending is None:
        return
    lo, hi = declared_range(value_range, x)
    if (lo, hi) not in st.codes:  # the codes are fixed: judged once per range
        st.codes[lo, hi] = _codes_problem(inj, lo, hi)
    problem = st.codes[lo, hi]
    size = x.size if isinstance(x, np.ndarray) else x.numel()
    if problem is None and size:
        seen = _host_minmax(x, st)
        half = (hi - lo) / 2
        if seen is not None and (seen[0] < lo - half or seen[1] > hi + half):
            problem = f"the images hold values {seen[0]:g}..{seen[1]:g} (sampled), beyond"
        elif seen is not None and _HINT.get() and _looks_rescaled(x, seen, lo, hi):
            problem = (
                f"the images hold values {seen[0]:g}..{seen[1]:g} (sampled), as if rescaled "
                f"to [0, 1] or normalised, well inside"
            )
    if problem is None:
        return
    st.warned = True
    what = (
        f"value_range={value_range!r}"
        if value_range is not None
        else ("the default for float images, value_range=None")
    )
    warnings.warn(
        f"{type(inj).__name__}: {problem} the range {lo:g}..{hi:g} the images are taken to "
        f"span ({what}; the signals scale their codes to it): pass value_range=(low, high), "
        f"the range the images' values span (e.g. (0, 255) for float images holding 0..255), "
        f"or inject before the images are rescaled or normalised{_HINT.get()}",
        ValueRangeWarning,
        stacklevel=stacklevel + 1,
    )
