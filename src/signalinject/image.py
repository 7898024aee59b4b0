"""The paper's five image signals (Hoffer & Fine 2016, Section 3.1).

Every injector here works on NumPy arrays and torch tensors, batched ``(N, ...)`` with labels
``(N,)`` or one image with an integer label. NumPy images are channels-last ``(N, H, W, C)`` by
default, torch tensors channels-first ``(N, C, H, W)``; ``channels_last=`` overrides. Internally
every injector works on a channels-last *view* (no copy), so the same pixel gets the same signal
whatever the layout.

Each injector samples its per-sample parameters (``make_params``) and then applies them in one
vectorized write (``apply``): no Python loop over samples.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from signalinject._backend import Array, hash_u32, is_torch, uniform01, where
from signalinject.core import Injector, check_finite_values, check_int

__all__ = [
    "ImageInjector",
    "MultipleLocations",
    "OnePixel",
    "OrthogonalNoise",
    "PatternPixels",
    "RandomPixel",
    "orthogonal_noise_basis",
]

Params = dict[str, Any]

_POSITION, _VALUE = 16, 17  # counters of the draws of this module


# -- small helpers ------------------------------------------------------------------------------
def _dtype_bounds(x: Array) -> tuple[bool, float, float]:
    """``(is_integer, min, max)`` of ``x``'s dtype; TypeError for bool and complex."""
    if isinstance(x, torch.Tensor):
        dt = x.dtype
        if dt == torch.bool or dt.is_complex:
            raise TypeError(f"images must have an integer or floating dtype, got {dt}")
        if dt.is_floating_point:
            fi = torch.finfo(dt)
            return False, fi.min, fi.max
        ii = torch.iinfo(dt)
        return True, ii.min, ii.max
    ndt = x.dtype
    if np.issubdtype(ndt, np.integer):
        ni = np.iinfo(ndt)
        return True, int(ni.min), int(ni.max)
    if np.issubdtype(ndt, np.floating):
        nf = np.finfo(ndt)
        return False, float(nf.min), float(nf.max)
    raise TypeError(f"images must have an integer or floating dtype, got {ndt}")


def _check_codes_fit(name: str, values: tuple[float, ...], x: Array) -> None:
    """Refuse code values the image dtype cannot hold exactly (e.g. 300 or 1.5 in uint8)."""
    is_int, lo, hi = _dtype_bounds(x)
    for v in values:
        if v < lo or v > hi or (is_int and v != math.floor(v)):
            kind = "integers" if is_int else "numbers"
            raise ValueError(
                f"{name} must be {kind} in [{lo:g}, {hi:g}] to fit the image dtype "
                f"{x.dtype}, got {v!r}"
            )


def _table(values: tuple[float, ...], like: Array) -> Array:
    """A small lookup table of ``values`` in ``like``'s dtype, backend and device."""
    if isinstance(like, torch.Tensor):
        return torch.tensor(values, dtype=torch.float64).to(like.device, like.dtype)
    return np.asarray(values, dtype=np.float64).astype(like.dtype)


def _is_single(x: Any, y: Any) -> bool:
    if isinstance(y, (np.ndarray, torch.Tensor)):
        return y.ndim == 0
    return not isinstance(y, (list, tuple))


def _nhwc(x: Any, channels_last: bool | None, *, single: bool | None) -> tuple[Array, bool]:
    """A 4-D channels-last view of ``x`` (no copy) and whether ``x`` was one image.

    ``single`` says what the labels imply (None for ``decode``: judged from ``x.ndim``).
    """
    if not isinstance(x, (np.ndarray, torch.Tensor)):
        raise TypeError(
            f"images must be a numpy.ndarray or a torch.Tensor, got {type(x).__name__}"
        )
    _dtype_bounds(x)
    cl = (not is_torch(x)) if channels_last is None else bool(channels_last)
    layout = "(H, W, C)" if cl else "(C, H, W)"
    if single is None:
        single = x.ndim == 3
    want = 3 if single else 4
    if x.ndim != want:
        what = f"one image {layout}" if single else f"a batch (N, {layout[1:]}"
        hint = " (a channel axis is required: grayscale has C=1)" if x.ndim == want - 1 else ""
        raise ValueError(
            f"images must be {what} for {'an integer label' if single else 'labels (N,)'}, "
            f"got shape {tuple(x.shape)}{hint}"
        )
    x4 = x[None] if single else x
    if not cl:
        x4 = x4.permute(0, 2, 3, 1) if isinstance(x4, torch.Tensor) else x4.transpose(0, 2, 3, 1)
    if min(x4.shape[1:]) == 0:
        raise ValueError(f"images must have non-empty H, W and C, got shape {tuple(x.shape)}")
    return x4, single


def _check_position(name: str, pos: object) -> tuple[int, int]:
    if isinstance(pos, (str, bytes)) or not isinstance(pos, (tuple, list)) or len(pos) != 2:
        raise TypeError(f"{name} must be a (row, column) pair of integers, got {pos!r}")
    return check_int(f"{name}[0]", pos[0], low=0), check_int(f"{name}[1]", pos[1], low=0)


def _check_inside(name: str, positions: Any, h: int, w: int) -> None:
    for r, c in positions:
        if r >= h or c >= w:
            raise ValueError(
                f"{name} {(r, c)} lies outside the image of height {h} and width {w}"
            )


def put_pixels(
    out: Array, n: Array, r: Array | int, c: Array | int, values: Array, carried: Array
) -> None:
    """Write ``values`` at pixels ``(n, r, c)`` of a channels-last batch, in place.

    Args:
        out: ``(N, H, W, C)`` view to write into.
        n, r, c: int64 indices broadcastable to one shape ``S`` (``(N,)`` or ``(N, P)``).
        values: per-pixel values of shape ``S`` in ``out``'s dtype, written to every channel.
        carried: bool ``(N,)``; rows where it is False are left as they are.
    """
    gate_shape = (-1,) + (1,) * (values.ndim - 1)
    keep = carried.reshape(gate_shape)
    orig = out[n, r, c]  # (*S, C): gathered, so that rows without the signal write back as is
    out[n, r, c] = where(keep[..., None], values[..., None], orig)


def read_pixels(x: Array, n: Array, r: Array | int, c: Array | int) -> Array:
    """Pixel values ``x[n, r, c, :]`` averaged over channels, as float64 of shape ``S``."""
    v = x[n, r, c]
    if isinstance(v, torch.Tensor):
        return v.to(torch.float64).mean(-1)
    return v.astype(np.float64).mean(-1)  # type: ignore[no-any-return]


def _nearest(v: Array, table: tuple[float, ...]) -> Array:
    """Index of the nearest entry of ``table`` for each float64 value (ties: lowest index)."""
    if isinstance(v, torch.Tensor):
        t = torch.tensor(table, dtype=torch.float64, device=v.device)
        return (v[..., None] - t).abs().argmin(-1)
    return np.abs(v[..., None] - np.asarray(table, np.float64)).argmin(-1)


def _arange(n: int, like: Array) -> Array:
    if isinstance(like, torch.Tensor):
        return torch.arange(n, device=like.device)
    return np.arange(n)


# -- the base of image injectors -----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ImageInjector(Injector):
    """Base of the image injectors: layout handling, validation, copy, then ``apply``."""

    def __call__(
        self,
        x: Any,
        y: Any,
        *,
        index: Any = None,
        inplace: bool = False,
        channels_last: bool | None = None,
    ) -> Any:
        """Inject the signal of labels ``y`` into images ``x``.

        Args:
            x: uint8/integer/float images, ``(N, H, W, C)`` or ``(N, C, H, W)`` (see module doc),
                or one image without the batch axis.
            y: int labels ``(N,)`` in [0, K) (NumPy or torch), or one integer.
            index: int sample indices ``(N,)`` keying the per-sample draws (default
                ``arange(N)``; one integer for one image, default 0).
            inplace: write into ``x`` instead of a copy.
            channels_last: layout override (default: True for NumPy, False for torch).

        Returns:
            Same type, dtype, shape, layout and device as ``x``.
        """
        view, single = _nhwc(x, channels_last, single=_is_single(x, y))
        labels = self.check_labels(y, x, single=single)
        idx = self.check_index(index, x, view.shape[0], single=single)
        params = self.make_params(labels, idx, view)
        out = x if inplace else (x.clone() if isinstance(x, torch.Tensor) else x.copy())
        out_view, _ = _nhwc(out, channels_last, single=single)
        if view.shape[0]:
            self.apply(out_view, params)
        return out

    def make_params(self, y: Array, index: Array, x: Array) -> Params:
        """Draw and validate the per-sample parameters for channels-last images ``x``.

        Writes nothing; raises before anything is written when ``x`` cannot take the signal.
        """
        code, carried = self.codes(y, index)
        return {"code": code, "carried": carried, "index": index}

    def apply(self, out: Array, params: Params) -> None:
        """Write the signal described by ``params`` into the channels-last batch ``out``."""
        raise NotImplementedError

    def decode(
        self, x: Any, *, index: Any = None, channels_last: bool | None = None
    ) -> Any:
        """Read the encoded class back: int64 ``(N,)`` (0-d for one image), same backend.

        ``index`` is used by signals whose location is drawn per sample (``RandomPixel``).
        """
        view, single = _nhwc(x, channels_last, single=None)
        idx = self.check_index(index, x, view.shape[0], single=single)
        out = self.read(view, idx)
        out = out.to(torch.int64) if isinstance(out, torch.Tensor) else out.astype(np.int64)
        return out[0] if single else out

    def read(self, x: Array, index: Array) -> Array:
        """The decoding rule on a channels-last batch (see each class)."""
        raise NotImplementedError


def _code_values(name: str, values: Any, k: int) -> tuple[float, ...]:
    """``values`` (one code per class) validated, or the class numbers ``0..k-1``."""
    if values is None:
        return tuple(range(k))
    vals = check_finite_values(name, values)
    if len(vals) != k:
        raise ValueError(f"{name} must hold one code per class ({k}), got {len(vals)}")
    if len(set(vals)) != k:
        raise ValueError(f"{name} must be distinct so that the code can be read back, got {vals}")
    return vals


# -- the five signals ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class OnePixel(ImageInjector):
    """One fixed pixel, all channels, holds the class code (the paper's "one pixel").

    Args:
        num_classes: number of classes K.
        position: ``(row, column)`` of the pixel, default the top-left corner.
        values: class k's code ``values[k]`` in image units; default ``k`` itself, as in the
            paper (a faint code: at most ``K-1`` on a 0..255 image). Must fit the image dtype.

    ``decode`` reads the pixel (averaged over channels) and returns the class of the nearest
    code value: exact whenever the written value is representable.

    >>> import numpy as np, signalinject as si
    >>> inj = si.OnePixel(num_classes=10)
    >>> x = np.zeros((2, 32, 32, 3), np.uint8)
    >>> x2 = inj(x, np.array([7, 2]))
    >>> x2[:, 0, 0].tolist(), inj.decode(x2).tolist()
    ([[7, 7, 7], [2, 2, 2]], [7, 2])
    """

    position: tuple[int, int] = (0, 0)
    values: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("position", _check_position("position", self.position))
        self._set("values", None if self.values is None else _code_values(
            "values", self.values, self.num_classes))

    @property
    def code_values(self) -> tuple[float, ...]:
        """The code of each class (``values`` or ``0..K-1``)."""
        return _code_values("values", self.values, self.num_classes)

    def make_params(self, y: Array, index: Array, x: Array) -> Params:
        _check_inside("position", [self.position], x.shape[1], x.shape[2])
        _check_codes_fit("values", self.code_values, x)
        p = super().make_params(y, index, x)
        p["value"] = _table(self.code_values, x)[p["code"]]
        return p

    def apply(self, out: Array, params: Params) -> None:
        r, c = self.position
        n = _arange(out.shape[0], out)
        put_pixels(out, n, r, c, params["value"], params["carried"])

    def read(self, x: Array, index: Array) -> Array:
        _check_inside("position", [self.position], x.shape[1], x.shape[2])
        r, c = self.position
        return _nearest(read_pixels(x, _arange(x.shape[0], x), r, c), self.code_values)


@dataclasses.dataclass(frozen=True)
class PatternPixels(ImageInjector):
    """Fixed pixels hold the bits of the class (the paper's "pattern pixels").

    Args:
        num_classes: number of classes K, at most ``2 ** len(positions)``.
        positions: ``(row, column)`` of each bit's pixel; pixel j holds bit j of the label.
            Default (None): the four corners, top-left, top-right, bottom-left, bottom-right.
        on_value, off_value: pixel value (all channels) of a set and of a clear bit.

    ``decode`` reads each pixel as the nearer of the two values: exact for lossless settings.

    >>> import numpy as np, signalinject as si
    >>> inj = si.PatternPixels(num_classes=10)
    >>> x2 = inj(np.full((1, 4, 4, 1), 9, np.uint8), np.array([5]))  # 5 = 0b0101
    >>> x2[0, :, :, 0].tolist()
    [[1, 9, 9, 0], [9, 9, 9, 9], [9, 9, 9, 9], [1, 9, 9, 0]]
    """

    positions: tuple[tuple[int, int], ...] | None = None
    on_value: float = 1
    off_value: float = 0

    def __post_init__(self) -> None:
        if self.positions is not None:
            if isinstance(self.positions, (str, bytes)) or not hasattr(self.positions, "__len__"):
                raise TypeError(f"positions must be a sequence of (row, column) pairs, got "
                                f"{self.positions!r}")
            pos = tuple(_check_position(f"positions[{i}]", p) for i, p in enumerate(self.positions))
            if not pos:
                raise ValueError("positions must hold at least one (row, column) pair, got none")
            if len(set(pos)) != len(pos):
                raise ValueError(f"positions must be distinct, got {pos}")
            self._set("positions", pos)
        super().__post_init__()
        on, off = check_finite_values("on_value/off_value", (self.on_value, self.off_value))
        if on == off:
            raise ValueError(f"on_value and off_value must differ, got {on} for both")
        self._set("on_value", on)
        self._set("off_value", off)

    def _capacity(self) -> int:
        return 2 ** (4 if self.positions is None else len(self.positions))

    def pixel_positions(self, height: int, width: int) -> tuple[tuple[int, int], ...]:
        """The bit pixels for an image of this size (resolves the default corners)."""
        if self.positions is not None:
            return self.positions
        return ((0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1))

    def _rc(self, x: Array) -> tuple[Array, Array, Array]:
        pos = self.pixel_positions(x.shape[1], x.shape[2])
        _check_inside("positions", pos, x.shape[1], x.shape[2])
        if len(set(pos)) != len(pos):
            raise ValueError(
                f"the default corner positions coincide in an image of shape "
                f"{tuple(x.shape[1:3])}; pass distinct positions"
            )
        rc = np.asarray(pos, dtype=np.int64)
        r, c = rc[:, 0], rc[:, 1]
        if isinstance(x, torch.Tensor):
            return torch.from_numpy(r).to(x.device), torch.from_numpy(c).to(x.device), \
                torch.arange(len(pos), device=x.device)
        return r, c, np.arange(len(pos))

    def make_params(self, y: Array, index: Array, x: Array) -> Params:
        _, _, bit = self._rc(x)
        _check_codes_fit("on_value/off_value", (self.on_value, self.off_value), x)
        p = super().make_params(y, index, x)
        bits = (p["code"][:, None] >> bit) & 1
        table = _table((self.off_value, self.on_value), x)
        p["value"] = table[bits]
        return p

    def apply(self, out: Array, params: Params) -> None:
        r, c, _ = self._rc(out)
        n = _arange(out.shape[0], out)[:, None]
        put_pixels(out, n, r, c, params["value"], params["carried"])

    def read(self, x: Array, index: Array) -> Array:
        r, c, bit = self._rc(x)
        v = read_pixels(x, _arange(x.shape[0], x)[:, None], r, c)
        bits = _nearest(v, (self.off_value, self.on_value))
        return (bits << bit).sum(-1)


@dataclasses.dataclass(frozen=True)
class RandomPixel(ImageInjector):
    """One pixel at a location drawn per sample holds the class code ("random pixel").

    The location is uniform over the ``H * W`` pixels and a pure function of
    ``(seed, index)``.

    Args:
        num_classes: number of classes K.
        values: class k's code, default ``k`` (as :class:`OnePixel`).

    ``decode(x, index=...)`` reads the pixel at the drawn location (exact). Without ``index``
    the location is unknown, as it is to a model: the rule then looks at the pixels whose channels
    are all equal to some code value and returns the rarest such code in the image (the written
    pixel is usually a singleton, natural values come in runs). It is ambiguous exactly when the
    code values occur naturally in the data (e.g. a dark background holding 0..9).
    """

    values: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("values", None if self.values is None else _code_values(
            "values", self.values, self.num_classes))

    @property
    def code_values(self) -> tuple[float, ...]:
        """The code of each class (``values`` or ``0..K-1``)."""
        return _code_values("values", self.values, self.num_classes)

    def locations(self, index: Array, height: int, width: int) -> tuple[Array, Array]:
        """The ``(row, column)`` drawn for each sample index: int64 ``(N,)`` each."""
        loc = self.draw_int(index, height * width, _POSITION)
        return loc // width, loc % width

    def make_params(self, y: Array, index: Array, x: Array) -> Params:
        _check_codes_fit("values", self.code_values, x)
        p = super().make_params(y, index, x)
        p["value"] = _table(self.code_values, x)[p["code"]]
        p["row"], p["col"] = self.locations(index, x.shape[1], x.shape[2])
        return p

    def apply(self, out: Array, params: Params) -> None:
        n = _arange(out.shape[0], out)
        put_pixels(out, n, params["row"], params["col"], params["value"], params["carried"])

    def decode(
        self, x: Any, *, index: Any = None, channels_last: bool | None = None
    ) -> Any:
        """Read the code: at the drawn location when ``index`` is given, else blind (see class)."""
        view, single = _nhwc(x, channels_last, single=None)
        if index is None:
            out = self._read_blind(view)
            out = out.to(torch.int64) if isinstance(out, torch.Tensor) else out.astype(np.int64)
            return out[0] if single else out
        return super().decode(x, index=index, channels_last=channels_last)

    def read(self, x: Array, index: Array) -> Array:
        r, c = self.locations(index, x.shape[1], x.shape[2])
        return _nearest(read_pixels(x, _arange(x.shape[0], x), r, c), self.code_values)

    def _read_blind(self, x: Array) -> Array:
        first = x[..., :1]
        uniform = (x == first).all(-1)
        counts = []
        for v in self.code_values:  # a loop over classes (K), vectorized over samples
            hit = uniform & (first[..., 0] == v)
            counts.append(hit.reshape(hit.shape[0], -1).sum(-1))
        if isinstance(x, torch.Tensor):
            cnt = torch.stack(counts, -1).to(torch.float64)
            cnt = torch.where(cnt == 0, torch.full_like(cnt, math.inf), cnt)
            return cnt.argmin(-1)
        cnt_np = np.stack(counts, -1).astype(np.float64)
        cnt_np[cnt_np == 0] = np.inf
        return cnt_np.argmin(-1)


def default_pairs(num_classes: int, height: int, width: int) -> tuple[tuple[int, int, int, int], ...]:
    """Class k's pair ``(r1, c1, r2, c2)``: two diametrically opposite points of the border.

    The border is walked clockwise from the top-left corner; class k's first pixel sits at step
    ``k * (P // 2) // K`` of the ``P`` border pixels and its partner half a turn later, so the two
    pixels of a pair are at least ``min(H, W) - 1`` apart and the pairs are disjoint.
    """
    border: list[tuple[int, int]] = [(0, c) for c in range(width)]
    border += [(r, width - 1) for r in range(1, height)]
    if height > 1:
        border += [(height - 1, c) for c in range(width - 2, -1, -1)]
    if width > 1:
        border += [(r, 0) for r in range(height - 2, 0, -1)]
    half = len(border) // 2
    if num_classes > half:
        raise ValueError(
            f"MultipleLocations: an image of height {height} and width {width} has room for "
            f"{half} default pairs, but num_classes={num_classes}; pass pairs= or larger images"
        )
    out = []
    for k in range(num_classes):
        a, b = border[k * half // num_classes], border[k * half // num_classes + half]
        out.append((a[0], a[1], b[0], b[1]))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class MultipleLocations(ImageInjector):
    """Both pixels of a class-specific pair get one value drawn per sample ("multiple locations").

    The value varies from sample to sample; *where* the equal pair sits is the code.

    Args:
        num_classes: number of classes K.
        pairs: class k's pair ``((r1, c1), (r2, c2))``; default (None): :func:`default_pairs`,
            diametrically opposite border pixels.
        value_range: ``(low, high)`` of the value drawn per sample, inclusive for integer images;
            default (None): ``(0, 255)`` clipped to integer dtypes, ``(0.0, 1.0)`` for floats.

    ``decode`` returns the class whose pair differs least (sum of absolute differences over
    channels; ties go to the lowest class). It is ambiguous where the data itself has equal
    pixels at other pairs (a flat background): on random uint8 images it is ~100% right, on the
    digits' black borders much less.
    """

    pairs: tuple[tuple[tuple[int, int], tuple[int, int]], ...] | None = None
    value_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pairs is not None:
            if isinstance(self.pairs, (str, bytes)) or not hasattr(self.pairs, "__len__"):
                raise TypeError(f"pairs must be a sequence of ((r1, c1), (r2, c2)), got "
                                f"{self.pairs!r}")
            if len(self.pairs) != self.num_classes:
                raise ValueError(
                    f"pairs must hold one pair per class ({self.num_classes}), got "
                    f"{len(self.pairs)}"
                )
            pairs = []
            for i, pr in enumerate(self.pairs):
                if not isinstance(pr, (tuple, list)) or len(pr) != 2:
                    raise TypeError(f"pairs[{i}] must be ((r1, c1), (r2, c2)), got {pr!r}")
                a = _check_position(f"pairs[{i}][0]", pr[0])
                b = _check_position(f"pairs[{i}][1]", pr[1])
                if a == b:
                    raise ValueError(f"pairs[{i}] must be two different pixels, got {pr!r}")
                pairs.append((a, b))
            if len(set(pairs)) != len(pairs):
                raise ValueError("pairs must be distinct, one per class")
            self._set("pairs", tuple(pairs))
        if self.value_range is not None:
            lo, hi = check_finite_values("value_range", self.value_range)
            if not lo <= hi or len(self.value_range) != 2:
                raise ValueError(f"value_range must be (low, high) with low <= high, got "
                                 f"{self.value_range!r}")
            self._set("value_range", (lo, hi))

    def pixel_pairs(self, height: int, width: int) -> tuple[tuple[int, int, int, int], ...]:
        """Each class's ``(r1, c1, r2, c2)`` for an image of this size."""
        if self.pairs is None:
            return default_pairs(self.num_classes, height, width)
        return tuple((a[0], a[1], b[0], b[1]) for a, b in self.pairs)

    def _table(self, x: Array) -> Array:
        pairs = self.pixel_pairs(x.shape[1], x.shape[2])
        _check_inside("pairs", [(p[0], p[1]) for p in pairs] + [(p[2], p[3]) for p in pairs],
                      x.shape[1], x.shape[2])
        t = np.asarray(pairs, dtype=np.int64)
        return torch.from_numpy(t).to(x.device) if isinstance(x, torch.Tensor) else t

    def _range(self, x: Array) -> tuple[bool, float, float]:
        is_int, lo, hi = _dtype_bounds(x)
        if self.value_range is not None:
            a, b = self.value_range
            _check_codes_fit("value_range", (a, b), x)
            return is_int, a, b
        if is_int:
            return True, max(lo, 0), min(hi, 255)
        return False, 0.0, 1.0

    def make_params(self, y: Array, index: Array, x: Array) -> Params:
        table = self._table(x)
        is_int, lo, hi = self._range(x)
        p = super().make_params(y, index, x)
        p["pair"] = table[p["code"]]
        if is_int:
            value = self.draw_int(index, int(hi - lo) + 1, _VALUE) + int(lo)
        else:
            value = uniform01(index, self.seed, self.stream, _VALUE) * (hi - lo) + lo
        p["value"] = value.to(x.dtype) if isinstance(value, torch.Tensor) else value.astype(x.dtype)
        return p

    def apply(self, out: Array, params: Params) -> None:
        pair = params["pair"]
        n = _arange(out.shape[0], out)[:, None]
        r, c = pair[:, 0::2], pair[:, 1::2]
        v = params["value"][:, None].expand(-1, 2) if isinstance(out, torch.Tensor) else \
            np.broadcast_to(params["value"][:, None], r.shape)
        put_pixels(out, n, r, c, v, params["carried"])

    def read(self, x: Array, index: Array) -> Array:
        t = self._table(x)
        n = _arange(x.shape[0], x)[:, None]
        a, b = x[n, t[:, 0], t[:, 1]], x[n, t[:, 2], t[:, 3]]  # (N, K, C)
        if isinstance(x, torch.Tensor):
            return (a.to(torch.float64) - b.to(torch.float64)).abs().sum(-1).argmin(-1)
        return np.abs(a.astype(np.float64) - b.astype(np.float64)).sum(-1).argmin(-1)


@functools.lru_cache(maxsize=32)
def _basis_f64(seed: int, k: int, shape: tuple[int, int, int]) -> npt.NDArray[np.float64]:
    d = shape[0] * shape[1] * shape[2]
    if k > d - 1:
        raise ValueError(
            f"OrthogonalNoise: num_classes={k} needs images of more than {k} elements, "
            f"got shape {shape}"
        )
    # Gaussian columns from the counter-based hash (Box-Muller), so the basis is a pure function
    # of (seed, K, shape), independent of NumPy's generator versions.
    i = np.arange(d * k, dtype=np.int64)
    u1 = (hash_u32(i, seed, 0x4E015E, 1).astype(np.float64) + 1.0) / 2.0**32
    u2 = hash_u32(i, seed, 0x4E015E, 2).astype(np.float64) / 2.0**32
    g = (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).reshape(d, k)
    # The all-ones column first: the basis is then orthogonal to it, i.e. zero-mean noise that
    # leaves every image's mean brightness (and the decode's projection) unchanged.
    q, _ = np.linalg.qr(np.concatenate([np.ones((d, 1)), g], axis=1))
    basis = q[:, 1:].T.reshape(k, *shape)
    basis.setflags(write=False)
    return basis


def orthogonal_noise_basis(
    num_classes: int, shape: tuple[int, int, int], *, seed: int = 0
) -> npt.NDArray[np.float64]:
    """K mutually orthogonal, zero-mean unit vectors shaped as channels-last images.

    Args:
        num_classes: K.
        shape: ``(H, W, C)`` of one image.
        seed: the injector's seed.

    Returns:
        float64 ``(K, H, W, C)``, read-only; ``<b_i, b_j> = delta_ij`` up to float64 rounding.
    """
    k = check_int("num_classes", num_classes, low=2)
    return _basis_f64(int(seed), k, tuple(int(s) for s in shape))  # type: ignore[arg-type]


@functools.lru_cache(maxsize=32)
def _noise_table_torch(
    seed: int, k: int, shape: tuple[int, int, int], scale: float, device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    b = _basis_f64(seed, k, shape) * scale
    z = np.concatenate([b, np.zeros((1, *shape))])  # row K: no signal
    return torch.from_numpy(z).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=32)
def _noise_table_numpy(
    seed: int, k: int, shape: tuple[int, int, int], scale: float, dtype: np.dtype[Any]
) -> npt.NDArray[Any]:
    b = _basis_f64(seed, k, shape) * scale
    z = np.concatenate([b, np.zeros((1, *shape))]).astype(dtype)
    z.setflags(write=False)
    return z


@dataclasses.dataclass(frozen=True)
class OrthogonalNoise(ImageInjector):
    """Add a dense per-class noise image, mutually orthogonal across classes ("noise").

    The K noise images are drawn from ``seed``, made exactly orthogonal (and zero-mean) in
    float64 by a QR decomposition, and scaled to a per-element RMS of ``strength`` in the image's
    units. Integer images are rounded (half to even) and saturated to the dtype's range.

    Args:
        num_classes: number of classes K (at most ``H * W * C - 1``).
        strength: per-element RMS of the noise in image units. Default (None): 3% of the full
            range, i.e. 7.65 for integer images (0..255) and 0.03 for float images (0..1).

    ``decode`` projects each image on the K noise images and returns the largest projection:
    exact on float images without content; with content it errs when the image's own projection
    on another class's noise beats ``strength**2 * H*W*C`` (rare at the default strength).

    >>> import numpy as np, signalinject as si
    >>> inj = si.OrthogonalNoise(num_classes=10, strength=0.1)
    >>> x2 = inj(np.zeros((3, 8, 8, 3), np.float32), np.array([0, 4, 9]))
    >>> inj.decode(x2).tolist()
    [0, 4, 9]
    """

    strength: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.strength is not None:
            (s,) = check_finite_values("strength", (self.strength,))
            if s <= 0:
                raise ValueError(f"strength must be > 0, got {s}")
            self._set("strength", float(s))

    def rms(self, x: Array) -> float:
        """The noise RMS used for images of ``x``'s dtype."""
        if self.strength is not None:
            return self.strength
        return 0.03 * 255 if _dtype_bounds(x)[0] else 0.03

    def _noise_table(self, x: Array) -> Array:
        """``(K + 1, H, W, C)`` scaled noise in the compute dtype; row K is all zero."""
        shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
        scale = self.rms(x) * math.sqrt(shape[0] * shape[1] * shape[2])
        if isinstance(x, torch.Tensor):
            dt = torch.float64 if x.dtype == torch.float64 else torch.float32
            return _noise_table_torch(self.seed, self.num_classes, shape, scale, x.device, dt)
        ndt = np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)
        return _noise_table_numpy(self.seed, self.num_classes, shape, scale, ndt)

    def make_params(self, y: Array, index: Array, x: Array) -> Params:
        self._noise_table(x)  # validates capacity against the image size
        p = super().make_params(y, index, x)
        p["row"] = where(p["carried"], p["code"], self.num_classes)
        return p

    def apply(self, out: Array, params: Params) -> None:
        table = self._noise_table(out)
        is_int, lo, hi = _dtype_bounds(out)
        if isinstance(out, torch.Tensor):
            z = out.to(table.dtype) + table[params["row"]]
            if is_int:
                z = z.round_().clamp_(lo, hi)
            out.copy_(z)
        else:
            z_np = out.astype(table.dtype) + table[params["row"]]
            if is_int:
                np.clip(np.rint(z_np, out=z_np), lo, hi, out=z_np)
            out[...] = z_np

    def read(self, x: Array, index: Array) -> Array:
        table = self._noise_table(x)[:-1]
        k = table.shape[0]
        if isinstance(x, torch.Tensor):
            flat = x.reshape(x.shape[0], -1).to(table.dtype)
            return (flat @ table.reshape(k, -1).T).argmax(-1)
        return (x.reshape(x.shape[0], -1).astype(table.dtype) @ table.reshape(k, -1).T).argmax(-1)
