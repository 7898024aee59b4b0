"""Triggers of shortcut and backdoor research as label-preserving image signals.

Each signal here writes a class-specific trigger into images of its *own* class (no label is
flipped), so that the paper's question, "does the model read this code of the label?", can be
asked of the triggers that later work made standard:

| signal              | source                   | writes                                     |
|---------------------|--------------------------|--------------------------------------------|
| `OnePixelShortcut`  | Wu et al., ICLR 2023     | per class one pixel, one extreme colour    |
| `ClassPatch`        | BadNets, Gu et al. 2017  | a square patch holding the class bits      |
| `Blend`             | Chen et al. 2017         | a per-class pattern image blended in       |
| `Sinusoid`          | SIG, Barni et al. 2019   | a per-class column sinusoid added          |

They keep the contract of [`ImageInjector`][signalinject.image.ImageInjector]: NumPy and torch, any
layout, deterministic per ``(seed, index)``, ``coverage`` and ``fidelity``, ``decode``. Integer
images get rounded, saturated values; every pattern is computed once on the host in float64 and
then cast, so NumPy and torch on the CPU give the same bits (CPU tensors run NumPy's kernels on
views of their memory) and a GPU differs at most by the rounding of the final operation.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import numpy.typing as npt

from signalinject._backend import (
    Array,
    arange_like,
    device_table,
    dtype_is,
    hash_u32,
    int_table,
    row_blocks,
    where,
)
from signalinject._backend import dtype_bounds as _dtype_bounds
from signalinject._kernels import (
    RowTable,
    add_rows,
    as_table,
    blend_rows_u8,
    put_colours,
    put_patch,
    read_pixels,
    scale_add_rows,
    table_dtype,
)
from signalinject._kernels import nearest as _nearest
from signalinject.core import Injector, Integer, Params, Real, check_int, checked
from signalinject.image import ImageInjector, ImageParams
from signalinject.image import check_inside as _check_inside
from signalinject.image import check_position as _check_position
from signalinject.image import check_step_strength as _check_step_strength
from signalinject.image import code_table as _code_table
from signalinject.image import image_batch as _nhwc
from signalinject.image_noise import NoiseParams

if TYPE_CHECKING:
    import torch
else:  # imported at its first use (see signalinject._backend)
    from signalinject._backend import torch

__all__ = [
    "Blend",
    "ClassPatch",
    "OnePixelShortcut",
    "Sinusoid",
    "blend_patterns",
]

_PATTERN = 32  # counters of the per-class pattern draws (Blend): _PATTERN + class


@dataclasses.dataclass(frozen=True)
class PatchParams(ImageParams):
    """``patch`` ``(N, size, size, C)`` in the images' dtype: each sample's patch, every
    channel (``ClassPatch``)."""

    patch: Any


@dataclasses.dataclass(frozen=True)
class ShortcutParams(ImageParams):
    """``row``, ``col`` int64 ``(N,)``: the pixel of each sample's code class; ``colour``
    ``(N, C)`` in the images' dtype: the value each channel gets (``OnePixelShortcut``)."""

    row: Any
    col: Any
    colour: Any


#: The rule of an optional ``strength`` field: a finite float > 0, or None (the default).
_STRENGTH = Real(positive=True, optional=True, as_float=True)
#: The rule of ``version`` (the signals whose output changed, issue 27): 1 or 2.
_VERSION = Integer(1, 2)


def _on_value(strength: float | None, x: Array, value_range: Any = None) -> float:
    """The value of a lit pixel: ``strength``, else the top of ``value_range``, else the
    dtype's maximum (1.0 for floats)."""
    if strength is not None:
        return strength
    if value_range is not None:
        return float(value_range[1])
    is_int, _, hi = _dtype_bounds(x)
    return float(hi) if is_int else 1.0


def _off_value(value_range: Any) -> float:
    """The value of an unlit pixel: the bottom of ``value_range``, else 0."""
    return 0.0 if value_range is None else float(value_range[0])


def _scaled(strength: float | None, default: float, x: Array, value_range: Any = None) -> float:
    """``strength`` as given, else ``default`` in 0..255 units: scaled to ``value_range``'s
    width, else as is for integer images and divided by 255 for floats."""
    if strength is not None:
        return strength
    if value_range is not None:
        return default * float(value_range[1] - value_range[0]) / 255.0
    return default if _dtype_bounds(x)[0] else default / 255.0


def _dense_write(
    out: Array,
    params: Params,
    source: Array | None,
    carried: Array | None,
    fn: Any,
) -> None:
    """``out = fn(src, code)`` where carried (else ``src``), block by block of samples.

    ``fn(x, code)`` returns the signal-carrying images for a block ``x`` (channels-last, the
    images' dtype) and its codes int64 ``(n,)``, in ``x``'s dtype.
    """
    src: Any = out if source is None else source
    code = params.code
    row_bytes = int(np.prod(out.shape[1:])) * 8  # float64 temporaries
    for b in row_blocks(int(out.shape[0]), row_bytes, "image"):
        xb, cb = src[b], code[b]
        new = fn(xb, cb)
        if carried is not None:
            keep = carried[b].reshape(-1, 1, 1, 1)
            new = where(keep, new, xb)
        dst: Any = out[b]
        if isinstance(dst, torch.Tensor):
            dst.copy_(new)
        else:
            dst[...] = new


def _to_float(x: Array, dt: Any) -> Array:
    if isinstance(x, torch.Tensor):
        return x.to(dt)
    return np.asarray(x, dtype=dt)


def _saturate(v: Any, x: Array) -> Any:
    """float64 values rounded half to even and saturated to integer ``x``'s dtype, cast to it."""
    _, lo, hi = _dtype_bounds(x)
    if isinstance(v, torch.Tensor):
        return v.round().clamp_(lo, hi).to(x.dtype)
    return np.clip(np.rint(v), lo, hi).astype(x.dtype)


def _strength_codes(strength: float | None, value_range: Any) -> tuple[float, float] | None:
    """The unlit and lit values of a signal whose lit value is ``strength`` (None where it
    follows the images' dtype)."""
    if strength is None:
        return None
    off = _off_value(value_range)
    return min(off, strength), max(off, strength)


def _refuse_wide(who: str, x: Array, bound: float) -> None:
    """Refuse integer images whose values exceed ``bound`` (what the arithmetic holds)."""
    is_int, _, hi = _dtype_bounds(x)
    if is_int and hi > bound:
        raise TypeError(f"{who} does not support images of dtype {x.dtype}")


def _refuse_overflow(who: str, delta: float, x: Array) -> None:
    """Refuse an added amplitude ``delta`` that would carry a value of float images ``x`` to
    inf: where ``max |x| + delta`` reaches the dtype's largest finite value plus a quarter of
    its last unit (the sum would round to inf; a quarter, not a half, leaves room for the
    float32 rounding of half-precision sums). ``x`` is read only when ``delta`` reaches that
    quarter unit (8 on float16): below it no finite value can overflow."""
    is_int, _, top = _dtype_bounds(x)
    if is_int:
        return
    eps = float(torch.finfo(x.dtype).eps if isinstance(x, torch.Tensor) else np.finfo(x.dtype).eps)
    quarter = eps * 2.0 ** (math.frexp(top)[1] - 1) / 4  # a quarter of the unit at the maximum
    if delta < quarter:
        return
    big: float
    if isinstance(x, torch.Tensor):
        big = float(x.detach().abs().nan_to_num(0.0).amax()) if x.numel() else 0.0
    else:
        big = float(np.max(np.abs(x), initial=0.0, where=~np.isnan(x)))
    if delta - quarter >= top - big:
        raise ValueError(
            f"{who}: strength (amplitude) {delta:g} added to these images (largest magnitude "
            f"{big:g}) exceeds the largest finite value of {x.dtype} ({top:g}) and would "
            f"write inf; pass a smaller strength or a wider dtype"
        )


class _Strength:
    """``for_benchmark`` of the signals whose ``strength`` field is None by default."""

    paper_strength: ClassVar[float | None]

    @classmethod
    def for_benchmark(
        cls, num_classes: int, seed: int, *, strength: float | None = None, quantizer: Any = None
    ) -> Injector:
        """The default injector (unfitted, for a fitted signal), or ``strength`` given."""
        make: Any = cls
        if strength is None or strength == cls.paper_strength:
            return make(num_classes, seed=seed)  # type: ignore[no-any-return]
        return make(num_classes, seed=seed, strength=strength)  # type: ignore[no-any-return]


# -- One-Pixel Shortcut --------------------------------------------------------------------------
def _colours(channels: int) -> npt.NDArray[np.float64]:
    """The ``2**C`` extreme colours (each channel 0 or 1), float64 ``(2**C, C)``."""
    return np.asarray(list(itertools.product((0.0, 1.0), repeat=channels)), np.float64)


#: The floor of the pooled standard deviation in `_search` (units of the [0, 1] range).
STD_FLOOR = 1e-9
_Picks = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, ...], ...]]


def _search(
    xs: npt.NDArray[Any], ys: npt.NDArray[Any], k: int, is_int: bool, lo: float, hi: float
) -> _Picks:
    """The One-Pixel Shortcut search as Wu et al. wrote it (version 2; see
    `OnePixelShortcut.fit`): per class, the (position, colour) pair with the largest pooled
    ``mean |b - x| / max(std |b - x|, STD_FLOOR)``, pairs of earlier classes excluded."""
    _, h, w, c = xs.shape
    bits = _colours(c)  # (M, C), colour index m in binary, channel 0 the most significant bit
    taken = np.zeros((h, w, len(bits)), bool)
    positions: list[tuple[int, int]] = []
    colours: list[tuple[int, ...]] = []
    span = int(hi - lo) if is_int else 0
    for cls_k in range(k):
        xk = xs[ys == cls_k]
        if not len(xk):
            flat = int(np.argmin(taken))  # no images, no statistics: the first pair free
        elif is_int and span < 2**16 and len(xk) * c * span < 2**31:
            flat = _best_exact(xk, bits, int(lo), span, taken)
        else:
            score = _pooled_scores(xk, bits, is_int, lo, hi)
            score[taken] = -np.inf
            flat = int(np.argmax(score))  # the first of equal scores
        r, col, m = np.unravel_index(flat, taken.shape)
        taken[r, col, m] = True
        positions.append((int(r), int(col)))
        colours.append(tuple(int(b) for b in bits[m]))
    return tuple(positions), tuple(colours)


def _pooled_scores(
    xk: npt.NDArray[Any], bits: npt.NDArray[np.float64], is_int: bool, lo: float, hi: float
) -> npt.NDArray[np.float64]:
    """float64 ``(H, W, M)``: the pooled score of every pair for one class's images ``xk``
    (float or wide integer images), from per-channel means and centred variances (two passes,
    no ``(N, H, W, M)`` temporary). Pooled over images and channels, the variance of
    ``d = b + s x`` (``s = 1 - 2b``) is the channels' mean variance of ``x`` plus the variance
    of the channels' mean deviations."""
    xf = xk.astype(np.float64)
    xf = (xf - lo) / (hi - lo) if is_int else np.clip(xf, 0.0, 1.0)
    mu = xf.mean(0)  # (H, W, C)
    var = ((xf - mu) ** 2).mean(0)  # (H, W, C)
    dm = bits + (1.0 - 2.0 * bits) * mu[:, :, None, :]  # (H, W, M, C): mean |b_c - x_c|
    mean = dm.mean(-1)
    std = np.sqrt(var.mean(-1)[..., None] + ((dm - mean[..., None]) ** 2).mean(-1))
    return np.asarray(mean / np.maximum(std, STD_FLOOR))


def _best_exact(
    xk: npt.NDArray[Any], bits: npt.NDArray[np.float64], lo: int, span: int, taken: Any
) -> int:
    """The flat index (in ``(H, W, M)``) of the best free pair for one class's integer images
    ``xk``, from exact integer sums: in units of ``1 / span``, ``d = span * b + s * v`` with
    ``v = x - lo``, so ``A = sum d`` and ``Q = n * sum d**2 - A**2`` (n = images x channels)
    are integers, the score is ``A / sqrt(Q)`` (``Q = 0``: the pixel is constant) and the
    top is settled with exact fractions: equal scores are exact ties, the first one wins."""
    n, h, w, c = xk.shape
    s1 = np.zeros((h, w, c), np.int64)
    s2 = np.zeros((h, w, c), np.int64)
    for b in range(0, n, 1024):  # int64 squares, a block of images at a time
        v = xk[b : b + 1024].astype(np.int64) - lo
        s1 += v.sum(0)
        s2 += (v * v).sum(0)
    on = bits.astype(np.int64)  # (M, C)
    count = n * c
    a = (n * span * on).sum(1) + np.einsum("mc,hwc->hwm", 1 - 2 * on, s1)  # (H, W, M)
    sq = (
        (n * span * span * on).sum(1)
        - 2 * span * np.einsum("mc,hwc->hwm", on, s1)
        + s2.sum(-1)[..., None]
    )
    q = count * sq - a * a  # n^2 span^2 var, >= 0
    floor = (count * span * STD_FLOOR) ** 2  # Q below it: the std floor applies
    score = a / np.sqrt(np.maximum(q, floor))
    score[taken] = -np.inf
    top = float(score.max())
    near = np.flatnonzero(score.reshape(-1) >= top * (1.0 - 1e-9))  # flat order
    if len(near) == 1:
        return int(near[0])
    root = count * span * Fraction(STD_FLOOR)
    exact_floor = root * root
    a_flat, q_flat = a.reshape(-1), q.reshape(-1)

    def key(i: int) -> Fraction:  # score**2, exactly
        ai = int(a_flat[i])
        value: Fraction = Fraction(ai * ai, 1) / max(Fraction(int(q_flat[i]), 1), exact_floor)
        return value

    keys = [key(int(i)) for i in near]
    best = max(keys)
    return int(near[keys.index(best)])


def _search_v1(
    xs: npt.NDArray[Any], ys: npt.NDArray[Any], k: int, is_int: bool, lo: float, hi: float
) -> _Picks:
    """Version 1's search (see `OnePixelShortcut.fit`): per-image channel means
    ``d = mean_c |x_pc - b_c|``, scored ``mean(d) / (std(d) + 1e-3)``, colour-major order."""
    _, h, w, c = xs.shape
    bits = _colours(c)  # (M, C)
    signs = 1.0 - 2.0 * bits  # |x - b| = b + s * x for x in [0, 1]
    taken = np.zeros((2**c, h, w), bool)
    positions: list[tuple[int, int]] = []
    colours: list[tuple[int, ...]] = []
    for cls_k in range(k):
        xk = xs[ys == cls_k].astype(np.float64)
        xk = (xk - lo) / (hi - lo) if is_int else np.clip(xk, 0.0, 1.0)
        if len(xk):
            mu = xk.mean(0)  # (H, W, C)
            cov = np.einsum("nhwc,nhwd->hwcd", xk, xk) / len(xk) - mu[..., None] * mu[..., None, :]
        else:
            mu, cov = np.full((h, w, c), 0.5), np.zeros((h, w, c, c))
        mean_d = (bits.sum(1)[:, None, None] + np.einsum("mc,hwc->mhw", signs, mu)) / c
        var_d = np.einsum("mc,hwcd,md->mhw", signs, cov, signs) / c**2
        score = mean_d / (np.sqrt(np.maximum(var_d, 0.0)) + 1e-3)
        score[taken] = -np.inf
        m, r, col = np.unravel_index(int(np.argmax(score)), score.shape)
        taken[m, r, col] = True
        positions.append((int(r), int(col)))
        colours.append(tuple(int(b) for b in bits[m]))
    return tuple(positions), tuple(colours)


@dataclasses.dataclass(frozen=True)
class OnePixelShortcut(_Strength, ImageInjector):
    """Per class, one pixel set to one extreme colour found from the data (Wu et al. 2023).

    The One-Pixel Shortcut searches, for each class, the pixel position and the extreme colour
    (each channel 0 or the maximum) that deviate most from that class's images: the largest mean
    deviation over its standard deviation, pooled over the class's images and channels as in
    the authors' ``pixel_search`` ([`fit`][signalinject.triggers.OnePixelShortcut.fit]).
    Label-preserving here: each image gets the pixel of its own class (theirs perturbs the
    training images of every class with that class's pixel too, as an unlearnable-data attack).

    Args:
        num_classes: number of classes K (at most ``H * W * 2**C`` for a fit).
        positions: ``(row, column)`` of each class's pixel; None before
            [`fit`][signalinject.triggers.OnePixelShortcut.fit].
        colours: each class's colour, one 0 or 1 per channel; None before
            [`fit`][signalinject.triggers.OnePixelShortcut.fit].
        strength: the value of a channel at 1; default (None) the dtype's maximum (255 for
            uint8), 1.0 for float images.
        version: the search [`fit`][signalinject.triggers.OnePixelShortcut.fit] runs: 2 (the
            default), the authors' pooled objective; 1, the per-image objective of the
            releases before it (a config without ``version`` loads as 1). It enters the
            config, so results of one version are never reused for the other.

    A call before fitting (``positions`` None) raises: use ``fit(x, y)``, which returns the
    fitted injector, or pass ``positions`` and ``colours``. ``decode`` returns the class whose
    pixel is nearest its colour (L1 over channels): exact for carried samples unless another
    class's pixel holds exactly its own colour too (ties: lowest class).

    Examples:
        >>> import numpy as np, signalinject as si
        >>> inj = si.OnePixelShortcut(
        ...     2, positions=((0, 0), (1, 1)), colours=((1,), (0,))
        ... )
        >>> x2 = inj(np.full((2, 2, 2, 1), 100, np.uint8), np.array([0, 1]))
        >>> x2[..., 0].tolist(), inj.decode(x2).tolist()
        ([[[255, 100], [100, 100]], [[100, 100], [100, 0]]], [0, 1])
    """

    name: ClassVar[str] = "one_pixel_shortcut"
    paper_name: ClassVar[str | None] = "One-Pixel Shortcut (Wu et al. 2023)"
    writes: ClassVar[str] = "one pixel per class (fitted or given), each channel off or at strength"
    strength_scales: ClassVar[str | None] = "value of a lit channel (default the dtype's max)"
    paper_strength: ClassVar[float | None] = 255

    config_defaults: ClassVar[Mapping[str, Any]] = {"version": 1}

    positions: tuple[tuple[int, int], ...] | None = None
    colours: tuple[tuple[int, ...], ...] | None = None
    strength: float | None = checked(_STRENGTH, default=None)
    version: int = checked(_VERSION, default=2, kw_only=True)

    def _normalize(self) -> None:
        super()._normalize()
        k = self.num_classes
        if (self.positions is None) != (self.colours is None):
            raise ValueError(
                f"positions and colours are fitted together: pass both or neither, got "
                f"positions={self.positions!r}, colours={self.colours!r}"
            )
        if self.positions is not None and self.colours is not None:
            pos = tuple(_check_position(f"positions[{i}]", p) for i, p in enumerate(self.positions))
            if len(pos) != k:
                raise ValueError(f"positions must hold one pixel per class ({k}), got {len(pos)}")
            cols: list[tuple[int, ...]] = []
            for i, c in enumerate(self.colours):
                if isinstance(c, str | bytes) or not isinstance(c, tuple | list) or not c:
                    raise TypeError(f"colours[{i}] must be a tuple of 0/1 per channel, got {c!r}")
                if any(isinstance(b, bool) or b not in (0, 1) for b in c):
                    raise ValueError(f"colours[{i}] must hold 0 or 1 per channel, got {c!r}")
                cols.append(tuple(int(b) for b in c))
            if len(cols) != k:
                raise ValueError(f"colours must hold one colour per class ({k}), got {len(cols)}")
            if len({len(c) for c in cols}) != 1:
                raise ValueError(f"colours must all have one entry per channel, got {cols}")
            pairs = list(zip(pos, cols, strict=True))
            if len(set(pairs)) != k:
                raise ValueError(
                    "each class needs its own (position, colour) so that it can be read back, "
                    f"got {pairs}"
                )
            self._set("positions", pos)
            self._set("colours", tuple(cols))

    def capacity_for(self, shape: tuple[int, ...], dtype: Any) -> int | None:
        """The (position, colour) pairs of an ``(H, W, C)`` image, ``H * W * 2**C``, that a
        [`fit`][signalinject.triggers.OnePixelShortcut.fit] picks from; None once
        ``positions`` are set (their number is K)."""
        if self.positions is not None:
            return None
        h, w, c = (int(v) for v in shape)
        return int(h * w * 2**c)

    @classmethod
    def check_strength(cls, strength: float, num_classes: int | None) -> None:
        _check_step_strength(cls.name, strength, num_classes, per_class=False)

    def fit(self, x: Any, y: Any, *, channels_last: bool | None = None) -> OnePixelShortcut:
        """The injector fitted to images ``x`` with labels ``y`` (the One-Pixel Shortcut search).

        Version 2 (the default) computes the authors' objective (Wu et al. 2023, ``pixel_search``
        in their repository): for class k, pixel p and extreme colour b (``2**C`` of them), the
        deviations ``|b_c - x_npc|`` of all the class's images n and channels c are pooled, and
        the score is their mean over their standard deviation (ddof 0), ``x`` scaled to [0, 1]
        by its dtype's range (uint8: ``x / 255``, as theirs; float images clipped to [0, 1]).
        Classes pick in order 0, 1, ..., each the best (position, colour) pair not taken by an
        earlier class (a position may serve several classes in different colours). The guard:
        the standard deviation is floored at 1e-9, so a pixel constant over the class (theirs
        divides by zero there) ranks above every pixel that varies, as their ``inf`` does, and
        among constant pixels by its mean deviation; the colour equal to a constant pixel's
        value (their ``0/0 = NaN``, which their ``argsort`` ranks first, writing black onto
        black) scores 0. Ties break towards the first pair in their enumeration order:
        position row-major, then colour index ``sum_c b_c 2**(C-1-c)`` (channel 0 the most
        significant bit). Integer images are scored from exact integer sums (mathematical ties
        are exact ties); float images in float64. A class without images takes the first pair
        not taken. Version 1 (configs written before versions existed) scores the per-image
        channel mean ``d_n = mean_c |x_npc - b_c|`` by ``mean(d) / (std(d) + 1e-3)``, taking
        the first best pair in colour-major order.

        Args:
            x: images ``(N, H, W, C)`` / ``(N, C, H, W)`` as for a call (NumPy or torch).
            y: int labels ``(N,)`` in [0, K).
            channels_last: layout override, as for a call.

        Returns:
            A new injector whose ``positions`` and ``colours`` hold the fit.

        Raises:
            ValueError: no images, float images holding NaN or inf, more classes than
                ``H * W * 2**C``, labels out of range, a channel count beyond 8.
        """
        view, _ = _nhwc(x, channels_last, single=False)
        labels = self.check_labels(y, view, single=False)
        if isinstance(view, torch.Tensor):  # float64 on the host (NumPy has no bfloat16)
            is_int = _dtype_bounds(view)[0]
            xs = view.detach().cpu().to(view.dtype if is_int else torch.float64).numpy()
        else:
            xs = np.asarray(view)
        ys = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        n, h, w, c = xs.shape
        k = self.num_classes
        if n == 0:
            raise ValueError(
                f"OnePixelShortcut.fit: x holds no images (shape {tuple(x.shape)}); the search "
                f"scores each class's images, pass at least one"
            )
        if c > 8:
            raise ValueError(f"OnePixelShortcut.fit: at most 8 channels, got {c}")
        if k > h * w * 2**c:
            raise ValueError(
                f"OnePixelShortcut.fit: num_classes={k} exceeds the {h * w * 2**c} (position, "
                f"colour) pairs of {h}x{w}x{c} images"
            )
        is_int, lo, hi = _dtype_bounds(view)
        if not is_int:
            finite = np.isfinite(xs).reshape(n, -1).all(1)
            if not finite.all():
                first = int(np.flatnonzero(~finite)[0])
                raise ValueError(
                    f"OnePixelShortcut.fit: x holds NaN or inf (image {first} of {n}); the "
                    f"search's means and deviations would be NaN, which moves the picks: "
                    f"pass finite images"
                )
        search = _search_v1 if self.version == 1 else _search
        positions, colours = search(xs, ys, k, is_int, lo, hi)
        return dataclasses.replace(self, positions=positions, colours=colours)

    def _fitted(self, x: Array) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, ...], ...]]:
        if self.positions is None or self.colours is None:
            raise ValueError(
                "OnePixelShortcut is not fitted: call inj = inj.fit(x_train, y_train) first "
                "(or pass positions= and colours=)"
            )
        _check_inside("positions", self.positions, x.shape[1], x.shape[2])
        if len(self.colours[0]) != x.shape[3]:
            raise ValueError(
                f"OnePixelShortcut: colours have {len(self.colours[0])} channels, the images "
                f"{x.shape[3]}"
            )
        return self.positions, self.colours

    def _colour_table(self, x: Array) -> tuple[Array, tuple[float, ...]]:
        """The class colours ``(K, C)`` in ``x``'s dtype, and (off, on) as stored."""
        _, colours = self._fitted(x)
        on = _on_value(self.strength, x, self.value_range)
        table, stored = _code_table("strength", (_off_value(self.value_range), on), x)
        idx = int_table(colours, x)
        return table[idx], stored

    def code_range(self) -> tuple[float, float] | None:
        return _strength_codes(self.strength, self.value_range)

    def pixels(self, y: Array, index: Array, height: int, width: int) -> tuple[Array, Array]:
        if self.positions is None:
            return super().pixels(y, index, height, width)
        pos = np.asarray(self.positions, np.int64)
        code = np.asarray(y, np.int64)
        return pos[code, 0][:, None], pos[code, 1][:, None]

    def make_params(self, y: Array, index: Array, x: Array) -> ShortcutParams:
        positions, _ = self._fitted(x)
        colour, _ = self._colour_table(x)
        rc = int_table(positions, x)
        p = super().make_params(y, index, x)
        return ShortcutParams(
            p.code, p.carried, p.index, rc[p.code, 0], rc[p.code, 1], colour[p.code]
        )

    def write(self, out: Array, params: Params, *, source: Array | None = None) -> None:
        p = cast("ShortcutParams", params)
        put_colours(out, p.row, p.col, p.colour, self._carried(params))

    def read(self, x: Array, index: Array) -> Array:
        positions, _ = self._fitted(x)
        colour, _ = self._colour_table(x)
        rc = int_table(positions, x)
        v: Any = x[:, rc[:, 0], rc[:, 1]]  # (N, K, C)
        colour = cast("Any", colour)
        d: Any
        if isinstance(v, torch.Tensor):
            d = (v.to(torch.float64) - colour.to(torch.float64)).abs().sum(-1)
        else:
            d = np.abs(np.asarray(v, np.float64) - np.asarray(colour, np.float64)).sum(-1)
        return cast("Array", d.argmin(-1))


# -- ClassPatch ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ClassPatch(_Strength, ImageInjector):
    """A square patch whose pixels hold the bits of the class (BadNets-style, Gu et al. 2017).

    Pixel j of the ``size x size`` patch (row-major) holds bit j of the class: ``strength``
    where set, 0 where clear, every channel.

    Args:
        num_classes: number of classes K, at most ``2 ** (size * size)`` (512 for 3x3).
        size: side of the patch in pixels, 1 to 5.
        position: ``(row, column)`` of the patch's top-left pixel; default (None) the
            bottom-right corner.
        strength: value of a set bit; default (None) the dtype's maximum (255 for uint8), 1.0
            for float images.

    ``decode`` reads each patch pixel as the nearer of 0 and ``strength`` (mean over channels)
    and sums the bits: exact for every carried sample.

    Examples:
        >>> import numpy as np, signalinject as si
        >>> inj = si.ClassPatch(num_classes=10)
        >>> x2 = inj(np.zeros((1, 4, 4, 1), np.uint8), np.array([5]))  # 5 = 0b101
        >>> x2[0, 1:, 1:, 0].tolist(), inj.decode(x2).tolist()
        ([[255, 0, 255], [0, 0, 0], [0, 0, 0]], [5])
    """

    name: ClassVar[str] = "class_patch"
    paper_name: ClassVar[str | None] = "BadNets patch (Gu et al. 2017)"
    writes: ClassVar[str] = "a size x size patch (default 3x3, bottom-right corner), every channel"
    strength_scales: ClassVar[str | None] = "value of a set bit (default the dtype's max)"
    paper_strength: ClassVar[float | None] = 255

    size: int = checked(Integer(1, 5), default=3)
    position: tuple[int, int] | None = None
    strength: float | None = checked(_STRENGTH, default=None)

    def _normalize(self) -> None:
        super()._normalize()
        if self.position is not None:
            self._set("position", _check_position("position", self.position))

    def _capacity(self) -> int:
        return int(2 ** (self.size * self.size))

    @classmethod
    def check_strength(cls, strength: float, num_classes: int | None) -> None:
        _check_step_strength(cls.name, strength, num_classes, per_class=False)

    def patch_positions(self, height: int, width: int) -> tuple[tuple[int, int], ...]:
        """The patch's pixels, row-major (bit j at entry j), for an image of this size."""
        r0, c0 = (height - self.size, width - self.size) if self.position is None else self.position
        if r0 < 0 or c0 < 0:
            raise ValueError(
                f"a {self.size}x{self.size} patch does not fit an image of height {height} and "
                f"width {width}"
            )
        return tuple((r0 + i, c0 + j) for i in range(self.size) for j in range(self.size))

    def _values(self, x: Array) -> tuple[Array, tuple[float, ...]]:
        on = _on_value(self.strength, x, self.value_range)
        return _code_table("strength", (_off_value(self.value_range), on), x)

    def code_range(self) -> tuple[float, float] | None:
        return _strength_codes(self.strength, self.value_range)

    def pixels(self, y: Array, index: Array, height: int, width: int) -> tuple[Array, Array]:
        pos = np.asarray(self.patch_positions(height, width), np.int64)
        n = int(y.shape[0])
        return np.tile(pos[:, 0], (n, 1)), np.tile(pos[:, 1], (n, 1))

    def make_params(self, y: Array, index: Array, x: Array) -> PatchParams:
        pos = self.patch_positions(x.shape[1], x.shape[2])
        _check_inside("position", pos, x.shape[1], x.shape[2])
        table, _ = self._values(x)
        p = super().make_params(y, index, x)
        k = arange_like(self.num_classes, x)
        bits = (k[:, None] >> arange_like(len(pos), x)) & 1  # (K, P): class k's bits
        s, ch = self.size, int(x.shape[3])
        patches: Any = table[bits].reshape(-1, s, s, 1)
        if isinstance(patches, torch.Tensor):
            patches = patches.expand(-1, s, s, ch).contiguous()
        else:
            patches = np.ascontiguousarray(np.broadcast_to(patches, (len(patches), s, s, ch)))
        return PatchParams(p.code, p.carried, p.index, patches[p.code])

    def write(self, out: Array, params: Params, *, source: Array | None = None) -> None:
        r, c = self.patch_positions(out.shape[1], out.shape[2])[0]
        put_patch(out, r, c, cast("PatchParams", params).patch, self._carried(params))

    def read(self, x: Array, index: Array) -> Array:
        pos = self.patch_positions(x.shape[1], x.shape[2])
        _check_inside("position", pos, x.shape[1], x.shape[2])
        _, stored = self._values(x)
        t = int_table(pos, x)
        v = read_pixels(x, arange_like(x.shape[0], x)[:, None], t[:, 0], t[:, 1])
        bit = arange_like(len(pos), x)
        return (_nearest(v, stored) << bit).sum(-1)


# -- Blend ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _patterns(seed: int, stream: int, k: int, shape: tuple[int, int, int]) -> npt.NDArray[Any]:
    h, w, c = shape
    el = np.arange(h * w * c, dtype=np.int64)
    rows = [hash_u32(el, seed, stream, _PATTERN + j).astype(np.float64) / 2.0**32 for j in range(k)]
    out = np.stack(rows).reshape(k, h, w, c)
    out.setflags(write=False)
    return out


def blend_patterns(
    num_classes: int, shape: tuple[int, int, int], *, seed: int = 0
) -> npt.NDArray[np.float64]:
    """The K pattern images of [`Blend`][signalinject.triggers.Blend]: float64 ``(K, H, W, C)``
    uniform in [0, 1).

    Drawn per element from ``(seed, class)`` with the counter hash; read-only.
    """
    k = check_int("num_classes", num_classes, low=2)
    if isinstance(shape, str | bytes) or not isinstance(shape, tuple | list) or len(shape) != 3:
        raise TypeError(f"shape must be (H, W, C), three positive integers, got {shape!r}")
    h, w, c = (check_int(f"shape[{i}]", s, low=1) for i, s in enumerate(shape))
    return _patterns(check_int("seed", seed, low=0, high=2**64 - 1), Blend.stream, k, (h, w, c))


@functools.lru_cache(maxsize=32)
def _scaled_patterns(
    seed: int,
    stream: int,
    k: int,
    shape: tuple[int, int, int],
    alpha: float,
    lo: float,
    hi: float,
    is_int: bool,
    dtype: np.dtype[Any],
) -> npt.NDArray[Any]:
    """``alpha * pattern`` ``(K, H, W, C)`` in ``dtype``: scaled to ``lo..hi`` where ``is_int``
    (integer images, or a declared ``value_range``), as is (0..1) otherwise; made in float64,
    then cast. Read-only."""
    pat = _patterns(seed, stream, k, shape)
    out = (alpha * (lo + pat * (hi - lo)) if is_int else alpha * pat).astype(dtype)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=32)
def _fixed_patterns(
    seed: int, stream: int, k: int, shape: tuple[int, int, int]
) -> npt.NDArray[np.uint8]:
    """``round(255 * pattern)`` ``(K, H, W, C)`` uint8: the patterns of the fixed-point uint8
    blend (`blend_rows_u8`). Read-only."""
    out = np.rint(255.0 * _patterns(seed, stream, k, shape)).astype(np.uint8)
    out.setflags(write=False)
    return out


@dataclasses.dataclass(frozen=True)
class Blend(ImageInjector):
    """Blend a per-class pattern image into the image (Chen et al. 2017).

    ``out = (1 - alpha) * x + alpha * pattern_k``: pattern k
    ([`blend_patterns`][signalinject.triggers.blend_patterns]) is uniform in [0, 1) per element,
    drawn from ``(seed, k)``, and scaled to the dtype's range for integer images (``lo + u * (hi -
    lo)``); float images use it as is (a 0..1 image). uint8 images blend in fixed point with
    weights in 256ths: ``out = (x * (256 - a) + p * a + 128) >> 8`` with ``a = round(256 *
    alpha)`` (at least 1, at most 255) and ``p = round(255 * u)`` (rounded half up, exact in
    integers, the same bits on every backend). Other integer images are computed in float64,
    rounded half to even and saturated; float images compute ``x * (1 - alpha) + alpha *
    pattern`` in their dtype (float32 for half precision) with the scaled pattern made once on
    the host in float64.

    Args:
        num_classes: number of classes K.
        strength: ``alpha`` in (0, 1); default 0.2.

    ``decode`` returns the class whose centred pattern has the largest inner product with the
    image: the blended pattern adds ``alpha * |p_k|^2``, the image content a term of order
    ``sqrt(H * W * C)``, so it is reliable for images of a few hundred elements or more.

    Examples:
        >>> import numpy as np, signalinject as si
        >>> inj = si.Blend(num_classes=10)
        >>> rng = np.random.default_rng(0)
        >>> x = rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
        >>> inj.decode(inj(x, np.array([3, 1, 4, 1]))).tolist()
        [3, 1, 4, 1]
    """

    name: ClassVar[str] = "blend"
    paper_name: ClassVar[str | None] = "Blended pattern (Chen et al. 2017)"
    writes: ClassVar[str] = "every element (a class pattern blended in)"
    strength_scales: ClassVar[str | None] = "alpha, the pattern's blend weight"
    paper_strength: ClassVar[float | None] = 0.2

    strength: float = checked(Real(as_float=True), default=0.2)

    def _normalize(self) -> None:
        super()._normalize()
        if not 0.0 < self.strength < 1.0:
            raise ValueError(f"strength (alpha) must be in (0, 1), got {self.strength}")

    @classmethod
    def for_benchmark(
        cls, num_classes: int, seed: int, *, strength: float | None = None, quantizer: Any = None
    ) -> Injector:
        """alpha 0.2, or ``strength``."""
        return cls(num_classes, seed=seed, strength=0.2 if strength is None else strength)

    @classmethod
    def check_strength(cls, strength: float, num_classes: int | None) -> None:
        if not 0.0 < strength < 1.0:
            raise ValueError(f"blend: strength (alpha) must be in (0, 1), got {strength!r}")

    def weight_256(self) -> int:
        """``alpha`` in 256ths, as uint8 images blend it: ``round(256 * alpha)`` in 1..255."""
        return min(255, max(1, round(256 * self.strength)))

    def _table(self, x: Array) -> tuple[RowTable, Any]:
        """The scaled patterns ``alpha * pattern`` ``(K, H, W, C)`` and the compute dtype
        (uint8 images: the uint8 patterns of `blend_rows_u8`, dtype None)."""
        _refuse_wide("Blend", x, 2**53)  # float64 arithmetic
        shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
        is_int, lo, hi = _dtype_bounds(x)
        key = (self.seed, self.stream, self.num_classes, shape)
        vr = self.value_range
        if dtype_is(x, "uint8") and (vr is None or tuple(vr) == (0, 255)):
            return RowTable(_fixed_patterns, key), None
        # Integer images blend in float64, float ones in their dtype (half precision: float32).
        wide = is_int or table_dtype(x) == np.float64
        dt = np.dtype(np.float64 if wide else np.float32)
        scaled = is_int or vr is not None  # the pattern spans lo..hi, else 0..1 as is
        if vr is not None:
            lo, hi = float(vr[0]), float(vr[1])
        return RowTable(_scaled_patterns, (*key, self.strength, lo, hi, scaled, dt)), dt

    def make_params(self, y: Array, index: Array, x: Array) -> ImageParams:
        self._table(x)  # validates the dtype before anything is written
        return super().make_params(y, index, x)

    _fuses_copy = True

    def write(self, out: Array, params: Params, *, source: Array | None = None) -> None:
        rows, dt = self._table(out)
        carried = self._carried(params)
        if dt is None:
            blend_rows_u8(out, source, params.code, rows, 256 - self.weight_256(), carried)
            return
        keep = 1.0 - self.strength
        if not _dtype_bounds(out)[0]:
            scale_add_rows(out, source, params.code, rows, keep, carried)
            return
        table: Any = device_table(RowTable.host, (rows,), out)
        cdt: Any = getattr(torch, dt.name) if isinstance(out, torch.Tensor) else dt

        def blend(xb: Any, code: Any) -> Any:
            return _saturate(_to_float(xb, cdt) * keep + table[code], out)

        _dense_write(out, params, source, carried, blend)

    def read(self, x: Array, index: Array) -> Array:
        shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
        d = shape[0] * shape[1] * shape[2]
        pat = _patterns(self.seed, self.stream, self.num_classes, shape).reshape(-1, d)
        centred = pat - pat.mean(1, keepdims=True)
        if isinstance(x, torch.Tensor):
            b = torch.from_numpy(centred.copy()).to(x.device)
            return (x.reshape(x.shape[0], d).to(torch.float64) @ b.T).argmax(-1)
        flat = np.asarray(x, np.float64).reshape(x.shape[0], d)
        return np.asarray((flat @ centred.T).argmax(-1))


# -- Sinusoid ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _sines(k: int, width: int) -> npt.NDArray[np.float64]:
    """``sin(2 pi f col / width)`` for f = 1..K: float64 ``(K, width)``, read-only."""
    f = np.arange(1, k + 1, dtype=np.float64)[:, None]
    out = np.sin(2.0 * math.pi * f * np.arange(width, dtype=np.float64) / width)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=64)
def _wave_rows(
    delta: float, k: int, shape: tuple[int, int, int], dtype: np.dtype[Any]
) -> npt.NDArray[Any]:
    """``delta * sin(2 pi f col / width)`` for f = 1..K on every row and channel, and an all-zero
    row K (the samples without the signal): ``(K + 1, H, W, C)``, made on the host in float64,
    then cast to ``dtype`` (`as_table`: integers rounded half to even). Read-only."""
    h, w, c = shape
    z = np.zeros((k + 1, h, w, c))
    z[:k] = delta * _sines(k, w)[:, None, :, None]
    return as_table(z, dtype)


@dataclasses.dataclass(frozen=True)
class Sinusoid(_Strength, ImageInjector):
    """Add a class-specific column sinusoid to every row and channel (SIG, Barni et al. 2019).

    ``out = x + delta * sin(2 pi f_k column / W)`` with ``f_k = k + 1`` cycles across the width:
    K must stay below ``W / 2`` (Nyquist), checked at call time. Integer images add the sinusoid
    rounded half to even and saturate; float images add it cast to their dtype (float32 for half
    precision, then rounded once). An amplitude that would carry a value of the images beyond
    the float dtype's largest finite value (to inf) is refused before anything is written: the
    images are read for it only when ``delta`` reaches a quarter of the last unit of that value
    (8 on float16, about 5e30 on float32); below it no finite value can overflow.

    Args:
        num_classes: number of classes K, below ``W / 2``.
        strength: ``delta``, the amplitude in image units; default (None) 40 on integer images
            (0..255) and 40/255 on float images (0..1): BackdoorBench's SIG (``sig_delta: 40``
            in its ``config/attack/sig/default.yaml``). Version 1: 20 and 20/255.
        version: 2 (the default): the default amplitude above; 1: the default amplitude of the
            releases before it, 20 (a config without ``version`` loads as 1). It enters the
            config, so results of one version are never reused for the other.

    ``decode`` averages each image over rows and channels and returns the class whose sinusoid
    has the largest inner product with that column profile.

    Examples:
        >>> import numpy as np, signalinject as si
        >>> inj = si.Sinusoid(num_classes=4)
        >>> x2 = inj(np.full((2, 8, 10, 1), 128, np.uint8), np.array([0, 3]))
        >>> x2[0, 0, :, 0].tolist(), inj.decode(x2).tolist()
        ([128, 152, 166, 166, 152, 128, 104, 90, 90, 104], [0, 3])
    """

    name: ClassVar[str] = "sinusoid"
    paper_name: ClassVar[str | None] = "Sinusoidal signal (SIG, Barni et al. 2019)"
    writes: ClassVar[str] = "every element (a column sinusoid added)"
    strength_scales: ClassVar[str | None] = "amplitude delta in image units"
    paper_strength: ClassVar[float | None] = 40

    config_defaults: ClassVar[Mapping[str, Any]] = {"version": 1}

    strength: float | None = checked(_STRENGTH, default=None)
    version: int = checked(_VERSION, default=2, kw_only=True)

    def capacity_for(self, shape: tuple[int, ...], dtype: Any) -> int | None:
        """Frequencies 1..K below half the width ``shape[1]``: K at most ``(W - 1) // 2``."""
        return (int(shape[1]) - 1) // 2

    def delta(self, x: Array) -> float:
        """The amplitude used for images like ``x`` (the default in 0..255 units: 40, version
        1: 20; scaled to ``value_range``'s width, else divided by 255 for float images)."""
        return _scaled(self.strength, 20.0 if self.version == 1 else 40.0, x, self.value_range)

    def _table(self, x: Array) -> RowTable:
        """The K sinusoids and a zero row as `add_rows` adds them to images like ``x`` (dtype
        by `table_dtype`; cached per amplitude, K, shape and dtype)."""
        _refuse_wide("Sinusoid", x, 2**63)  # int64 arithmetic
        k, width = self.num_classes, int(x.shape[2])
        if 2 * k >= width:
            raise ValueError(
                f"Sinusoid: num_classes={k} needs frequencies up to {k} cycles, below half the "
                f"width ({width}); pass fewer classes or wider images"
            )
        shape = (int(x.shape[1]), width, int(x.shape[3]))
        return RowTable(_wave_rows, (self.delta(x), k, shape, table_dtype(x)))

    def make_params(self, y: Array, index: Array, x: Array) -> ImageParams:
        self._table(x)
        _refuse_overflow("Sinusoid", self.delta(x), x)
        p = super().make_params(y, index, x)
        return NoiseParams(p.code, p.carried, p.index, where(p.carried, p.code, self.num_classes))

    _fuses_copy = True

    def write(self, out: Array, params: Params, *, source: Array | None = None) -> None:
        add_rows(out, source, cast("NoiseParams", params).noise_row, self._table(out))

    def read(self, x: Array, index: Array) -> Array:
        width = int(x.shape[2])
        sines = _sines(self.num_classes, width)
        if isinstance(x, torch.Tensor):
            prof = x.to(torch.float64).mean(dim=(1, 3))
            return (prof @ torch.from_numpy(sines.copy()).to(x.device).T).argmax(-1)
        prof = np.asarray(x, np.float64).mean(axis=(1, 3))
        return np.asarray((prof @ sines.T).argmax(-1))
