"""The shared vectorized kernels of the image signals: how a signal's parameters are written.

The signals (`signalinject.image`, `signalinject.image_noise`, `signalinject.triggers`) sample
their per-sample parameters; the kernels here write them into a channels-last batch (or read
them back), on NumPy arrays and torch tensors alike, with no Python loop over samples:

- `put_pixels`, `put_fixed`, `read_pixels`: pixels at per-sample or fixed positions;
- `add_rows`: one row of a per-class table added to every sample, rounded and saturated
  (``OrthogonalNoise``, ``Sinusoid``), block by block of samples (`row_blocks`);
- `blend_rows_u8`: the fixed-point blend of uint8 images with a per-class pattern (``Blend``);
- `nearest`, `copy_from`: a read value's nearest code, a batch copied into another.

A private module: its names serve the signal families, not users (it has no ``__all__``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from signalinject._backend import (
    Array,
    arange_like,
    copy_into,
    device_table,
    dtype_bounds,
    dtype_is,
    is_torch,
    native_kernels,
    row_blocks,
    where,
)

if TYPE_CHECKING:
    import torch
else:  # imported at its first use (see signalinject._backend)
    from signalinject._backend import torch


@functools.cache
def _unsigned_views() -> dict[torch.dtype, torch.dtype]:
    """Signed twins of the unsigned torch dtypes that ``index_put`` and type promotion lack
    (built at the first tensor: torch is imported by then)."""
    return {torch.uint16: torch.int16, torch.uint32: torch.int32, torch.uint64: torch.int64}


# -- dtypes --------------------------------------------------------------------------------------
def _itemsize(x: Array) -> int:
    """Bytes per element of ``x``."""
    return x.element_size() if isinstance(x, torch.Tensor) else x.itemsize


def _memory_order(x: Array) -> tuple[int, ...]:
    """The axes of a 4-D ``x`` from the largest stride to the smallest, the batch axis first:
    ``(0, 3, 1, 2)`` for a channels-first tensor seen channels-last."""
    st = x.stride() if isinstance(x, torch.Tensor) else x.strides
    return (0, *sorted(range(1, 4), key=lambda d: -st[d]))


# -- pixels --------------------------------------------------------------------------------------
def put_pixels(
    out: Array, n: Array, r: Array | int, c: Array | int, values: Array, carried: Array | None
) -> None:
    """Write ``values`` at pixels ``(n, r, c)`` of a channels-last batch, in place.

    Args:
        out: ``(N, H, W, C)`` view to write into.
        n: int64 sample indices, broadcastable with ``r`` and ``c`` to one shape ``S``
            (``(N,)`` or ``(N, P)``).
        r: int64 rows (or one int); the pixels of one sample must be distinct.
        c: int64 columns (or one int).
        values: per-pixel values of shape ``S`` in ``out``'s dtype, written to every channel.
        carried: bool ``(N,)``, rows where it is False are left as they are; None: every row
            (``coverage == 1``: nothing to read back, and no mask to look at).
    """
    v: Any = values[..., None]  # (*S, 1): the same value in every channel
    keep: Any = None if carried is None else carried.reshape((-1,) + (1,) * (values.ndim - 1))
    if isinstance(out, torch.Tensor) and out.dtype in _unsigned_views():
        # torch's index_put has no unsigned 16-64 bit kernels; moving the same bits as the
        # signed integer of the same size writes the same values.
        out, v = out.view(_unsigned_views()[out.dtype]), v.view(_unsigned_views()[out.dtype])
    flat = _flat_storage(out)
    if flat is None:
        # Rows without the signal write back what they hold (gathered first).
        out[n, r, c] = v if keep is None else where(keep[..., None], v, out[n, r, c])
        return
    # Indexing a strided 4-D view costs far more than one write through linear offsets into
    # the dense storage behind it (same elements, same values): the fast path of every layout.
    if (items := _pixel_items(out)) is not None:
        # A dense channels-last batch: one indexed write of whole pixels.
        pixels, (pn, pr, pc) = items
        idx = n * pn + r * pr + c * pc  # (*S,)
        vals = _as_items(np.broadcast_to(values, idx.shape), pixels.dtype, out.dtype)
        _put_items(pixels, idx, vals, keep)
        return
    base, (sn, sr, sc, sch) = flat
    pix = n * sn + r * sr + c * sc  # (*S,): offsets of channel 0
    if isinstance(base, np.ndarray):
        # One write per channel: NumPy's fancy assignment is faster for C index arrays of
        # shape S than for one of shape (*S, C) (measured: 1.3-1.6x at N = 50,000).
        vals = np.broadcast_to(values, pix.shape)
        for ch in range(out.shape[3]):
            off = pix + ch * sch
            base[off] = vals if keep is None else np.where(keep, vals, base[off])
        return
    off = pix[..., None] + arange_like(out.shape[3], out) * sch  # (*S, C)
    base[off] = v if keep is None else where(keep[..., None], v, base[off])


def put_fixed(out: Array, r: int, c: int, values: Array, carried: Array | None) -> None:
    """Write ``values`` ``(N,)`` at the same pixel ``(r, c)`` of every sample, every channel.

    A strided view of that pixel across the batch, written with no index arrays at all: the
    cheapest write of the fixed-position signals. ``carried`` as in
    `put_pixels`.
    """
    dst: Any = out[:, r, c]  # (N, C) view
    if isinstance(dst, torch.Tensor):
        src: Any = values[:, None]
        keep: Any = None if carried is None else carried[:, None]
        dst.copy_(src if keep is None else torch.where(keep, src, dst))
        return
    if (items := _pixel_items(out)) is not None and (n := int(out.shape[0])):
        # A dense channels-last batch: one strided copy of whole pixels, where a copy per
        # channel passes over every sample's cache line C times (2.1x faster for uint8 RGB).
        pixels, (pn, pr, pc) = items
        start = r * pr + c * pc
        step = pn if n > 1 else 1  # a single sample's stride may be anything
        dst_items = pixels[start : start + (n - 1) * step + 1 : step]
        vals = _as_items(values, pixels.dtype, out.dtype)
        np.copyto(dst_items, vals, where=True if carried is None else carried)
        return
    # Other layouts: one 1-D strided copy per channel: NumPy's (N, C) copy runs an inner loop
    # of C elements per sample, several times slower for small C (measured 3.8x for uint8 RGB).
    for ch in range(dst.shape[1]):
        np.copyto(dst[:, ch], values, where=True if carried is None else carried)


def put_colours(out: Array, r: Array, c: Array, colours: Array, carried: Array | None) -> None:
    """Write ``colours`` ``(N, C)`` at pixel ``(r[i], c[i])`` of each sample ``i``, in place.

    Args:
        out: ``(N, H, W, C)`` view to write into.
        r, c: int64 ``(N,)`` row and column of each sample's pixel.
        colours: ``(N, C)`` in ``out``'s dtype, channel by channel.
        carried: as in `put_pixels`.

    A dense channels-last NumPy batch is written as one array of ``C``-element pixels: one
    indexed store per sample (measured 1.7x faster than indexing ``(n, r, c)`` with ``C``
    elements each at N = 50,000 RGB); other layouts index ``out`` itself.
    """
    n = arange_like(int(out.shape[0]), out)
    if (items := _pixel_items(out)) is not None:
        pixels, (pn, pr, pc) = items
        idx = n * pn + r * pr + c * pc
        dt: Any = out.dtype
        vals = np.ascontiguousarray(colours, dt).view(pixels.dtype).reshape(-1)
        _put_items(pixels, idx, vals, carried)
        return
    dst: Any = out
    keep: Any = carried
    dst[n, r, c] = colours if keep is None else where(keep[:, None], colours, dst[n, r, c])


def put_patch(out: Array, r: int, c: int, patch: Array, carried: Array | None) -> None:
    """Write ``patch`` ``(N, h, w, C)`` into the block ``out[:, r:r+h, c:c+w]``, in place.

    One copy of the block per batch: each sample's patch rows are ``w * C`` contiguous
    elements, one inner loop each (for a 3x3 RGB patch 1.8x faster than a strided copy per
    pixel and channel). ``carried`` as in `put_pixels`.
    """
    h, w = int(patch.shape[1]), int(patch.shape[2])
    dst: Any = out[:, r : r + h, c : c + w, :]
    if isinstance(dst, torch.Tensor):
        keep: Any = carried
        p: Any = patch
        dst.copy_(p if keep is None else torch.where(keep[:, None, None, None], p, dst))
        return
    np.copyto(dst, patch, where=True if carried is None else carried[:, None, None, None])


def _pixel_items(out: Array) -> tuple[npt.NDArray[Any], tuple[int, int, int]] | None:
    """A dense channels-last NumPy batch as one item per pixel (its ``C`` elements as one void
    item: a write of whole pixels touches each cache line once, not once per channel) and the
    (sample, row, column) strides in pixels; None for other layouts and for tensors."""
    flat = _flat_storage(out) if isinstance(out, np.ndarray) else None
    ch = int(out.shape[3])
    if flat is None or flat[1][3] != 1 or flat[1][2] != ch:
        return None
    base: Any = flat[0]
    sn, sr, _, _ = flat[1]
    item = np.dtype((np.void, ch * base.itemsize))
    return base.reshape(-1, ch).view(item).reshape(-1), (sn // ch, sr // ch, 1)


def _put_items(pixels: Any, idx: Any, vals: Any, keep: Any) -> None:
    """``pixels[idx] = vals`` (`_pixel_items`), only where ``keep`` (broadcast to ``idx``'s
    shape) is True; None: everywhere."""
    if keep is None:
        pixels[idx] = vals
        return
    m = np.broadcast_to(keep, idx.shape)
    pixels[idx[m]] = vals[m]


def _as_items(values: Array, item: np.dtype[Any], dtype: Any) -> npt.NDArray[Any]:
    """``values`` (shape ``S``) in the images' ``dtype``, repeated over the channels of
    ``item`` (`_pixel_items`), as items of shape ``S``."""
    v = np.asarray(values, dtype)
    ch = item.itemsize // v.dtype.itemsize
    return np.repeat(v[..., None], ch, axis=-1).view(item).reshape(v.shape)


def copy_from(out: Array, source: Array | None) -> None:
    """Copy ``source`` (if any) into ``out``, both channels-last views of one shape."""
    if source is not None:
        copy_into(out, source)


def _flat_storage(out: Array) -> tuple[Array, tuple[int, int, int, int]] | None:
    """A 1-D view of the dense storage behind ``out`` and ``out``'s element strides, if any.

    None where ``out`` does not cover one dense block (a slice, a broadcast, negative strides).
    """
    if isinstance(out, torch.Tensor):
        st = tuple(int(s) for s in out.stride())
        order = sorted(range(4), key=lambda d: -st[d])
        dense = out.permute(order)
        if not dense.is_contiguous():
            return None
        return dense.view(-1), (st[0], st[1], st[2], st[3])
    if out.itemsize == 0 or any(s < 0 or s % out.itemsize for s in out.strides):
        return None
    st = tuple(s // out.itemsize for s in out.strides)
    order = sorted(range(4), key=lambda d: -st[d])
    dense_np = out.transpose(order)
    if not dense_np.flags.c_contiguous or not dense_np.flags.writeable:
        return None
    return dense_np.reshape(-1), (st[0], st[1], st[2], st[3])


def read_pixels(x: Array, n: Array, r: Array | int, c: Array | int) -> Array:
    """Pixel values ``x[n, r, c, :]`` averaged over channels, as float64 of shape ``S``."""
    v = x[n, r, c]
    if isinstance(v, torch.Tensor):
        return v.to(torch.float64).mean(-1)
    return np.asarray(np.asarray(v, dtype=np.float64).mean(-1))


def nearest(v: Array, table: tuple[float, ...]) -> Array:
    """Index of the nearest entry of ``table`` for each float64 value (ties: lowest index)."""
    if isinstance(v, torch.Tensor):
        t = torch.tensor(table, dtype=torch.float64, device=v.device)
        return (v[..., None] - t).abs().argmin(-1)
    return np.asarray(np.abs(v[..., None] - np.asarray(table, np.float64)).argmin(-1))


# -- per-class tables added or blended -----------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RowTable:
    """A per-class table shaped as one channels-last image, and how to build it.

    ``build(*args)`` returns the read-only NumPy table ``(R, H, W, C)`` (one row per class, and
    for `add_rows` an all-zero last row for the samples without the signal); ``build`` must be a
    module-level function whose result depends on ``args`` alone: the table's layouts and
    device copies are cached by ``(build, args)``.
    """

    build: Callable[..., npt.NDArray[Any]]
    args: tuple[Any, ...]

    def host(self) -> npt.NDArray[Any]:
        """The table as built (NumPy, channels-last)."""
        return self.build(*self.args)


def table_dtype(x: Array) -> np.dtype[Any]:
    """The dtype of an `add_rows` table for images like ``x``: int64 (rounded) for integer
    images, float64 for float64 images, float32 otherwise; the same rule for NumPy and torch, so
    both add the same numbers."""
    if dtype_bounds(x)[0]:
        return np.dtype(np.int64)
    # By kind and size, not ==: a big-endian float64 (">f8") is not np.float64.
    wide = dtype_is(x, "float64") if is_torch(x) else x.dtype.itemsize >= 8
    return np.dtype(np.float64 if wide else np.float32)


def as_table(z: npt.NDArray[np.float64], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """float64 values ``z`` (made on the host) as an `add_rows` table of ``dtype``, read-only:
    an integer ``dtype`` holds them rounded half to even and clipped to ``+-(2**63 - 1024)``,
    the largest float64 below 2**63 (beyond it any image saturates anyway)."""
    if np.issubdtype(dtype, np.integer):
        bound = float(2**63 - 1024)
        z = np.clip(np.rint(z), -bound, bound)
    out = z.astype(dtype)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=64)
def _laid_out(table: RowTable, order: tuple[int, ...]) -> npt.NDArray[Any]:
    """``table`` in the memory order ``order`` of the images (each block is then read
    contiguously), C-contiguous and read-only."""
    out = np.ascontiguousarray(table.host().transpose(order))
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=64)
def _add_operands(
    table: RowTable, bounds: tuple[bool, float, float], order: tuple[int, ...], uint8_split: bool
) -> tuple[npt.NDArray[Any], ...]:
    """An integer (int64, rounded) or float table as `add_rows` reads it, built once per layout.

    Laid out in the images' memory order ``order``. For images of up to 16 bits (``bounds``:
    ``(is_integer, min, max)`` of their dtype) a value beyond ``+-(max - min)`` saturates
    anyway, so the table is clipped there and held in int16 (8-bit images) or int32, which hold
    every sum exactly; with ``uint8_split`` it is instead the three uint8 operands of
    `_add_uint8`. Read-only.
    """
    is_int, lo, hi = bounds
    t = _laid_out(table, order)
    ops: tuple[npt.NDArray[Any], ...] = (t,)
    if is_int and hi - lo <= 0xFFFF:
        span = int(hi - lo)
        t = t.clip(-span, span)
        if uint8_split:
            m = (-t).clip(0, 255).astype(np.uint8)
            c = (255 - t.clip(0, 255)).astype(np.uint8)
            ops = (m, c, t.astype(np.int16).astype(np.uint8))  # the last: t mod 256
        else:
            ops = (t.astype(np.int16 if span <= 0xFF else np.int32),)
    out = tuple(np.ascontiguousarray(a) for a in ops)
    for a in out:
        a.setflags(write=False)
    return out


@functools.lru_cache(maxsize=64)
def _int8_parts(table: RowTable, order: tuple[int, ...]) -> npt.NDArray[np.int8]:
    """An int64 `add_rows` table as the native uint8 kernel reads it, built once per layout.

    Clipped to [-255, 255] (beyond, every uint8 image saturates anyway) and split into ``P``
    int8 parts ``(P, R, ...)`` in [-127, 127] that share each element's sign, so that adding
    them one after the other with saturation equals the single saturated sum: ``P`` is 1 for
    every table within +-127 (the noise and sinusoid defaults), at most 3. Read-only.
    """
    t = _laid_out(table, order).clip(-255, 255)
    parts = [t.clip(-127, 127)]
    while (t := t - parts[-1]).any():
        parts.append(t.clip(-127, 127))
    out = np.ascontiguousarray(np.stack(parts).astype(np.int8))
    out.setflags(write=False)
    return out


def _native_for(out: npt.NDArray[Any], src: npt.NDArray[Any]) -> ModuleType | None:
    """The native kernels if `cpu_route` allows them and both uint8 batches (in their memory
    order) are C-contiguous, as they read them; else None (NumPy's kernels)."""
    nat = native_kernels()
    if nat is None or not (out.flags.c_contiguous and src.flags.c_contiguous):
        return None
    return nat if out.flags.writeable and out.size > 0 else None


def _rows64(rows: Array) -> npt.NDArray[np.int64]:
    """``rows`` as the C-contiguous int64 NumPy array that the native kernels read."""
    return np.ascontiguousarray(np.asarray(rows), np.int64)


def _add_operand(
    table: RowTable, bounds: tuple[bool, float, float], order: tuple[int, ...]
) -> npt.NDArray[Any]:
    """`_add_operands`' table, not split (what torch's kernels add)."""
    return _add_operands(table, bounds, order, False)[0]


def _saturating_add(x: Any, t: Any, lo: int, hi: int) -> Any:
    """``clip(x + t, lo, hi)`` for int64 ``x`` and ``t``, exact even where ``x + t`` wraps."""
    z = x + t  # wraps on overflow (NumPy and torch alike): detected by the sign of t below
    z = where((t > 0) & (z < x), hi, z)
    z = where((t < 0) & (z > x), lo, z)
    return z.clip(lo, hi)


def _add_uint8(
    out: npt.NDArray[Any],
    src: npt.NDArray[Any],
    operands: tuple[npt.NDArray[Any], ...],
    rows: npt.NDArray[Any],
) -> None:
    """``out = clip(src + t[rows], 0, 255)`` for uint8 images, block by block of samples.

    NumPy has no saturating add, and widening to int16 costs passes over memory. With the
    table ``t`` (in [-255, 255]) given as ``operands`` ``m = max(-t, 0)``, ``c = 255 -
    max(t, 0)`` and ``t mod 256`` (`_add_operands`), the sum ``min(max(x, m), c) + t``
    never leaves [0, 255], so three uint8 operations give the exact saturated result. Each
    block's rows of the table are gathered into one reused buffer (``take`` with
    ``mode="clip"``: NumPy buffers ``take(out=...)`` in its default mode).
    """
    m, c, tw = operands
    sample = int(np.prod(out.shape[1:]))
    blocks = list(row_blocks(out.shape[0], sample, "image"))
    if not blocks:
        return
    buf = np.empty((blocks[0].stop - blocks[0].start, *out.shape[1:]), np.uint8)
    for b in blocks:
        o, r, g = out[b], rows[b], buf[: b.stop - b.start]
        np.take(m, r, axis=0, out=g, mode="clip")
        np.maximum(src[b], g, out=o)
        np.take(c, r, axis=0, out=g, mode="clip")
        np.minimum(o, g, out=o)
        np.take(tw, r, axis=0, out=g, mode="clip")
        np.add(o, g, out=o)


def _torch_blocks(
    out: torch.Tensor,
    src: torch.Tensor,
    rows: Any,
    carried: Any,
    table: tuple[Callable[..., npt.NDArray[Any]], tuple[Any, ...]],
    row_bytes: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any]]:
    """The walk of the dense kernels on torch's kernels: per block of samples (`row_blocks`
    of ``row_bytes`` per sample: the widest temporary), ``(out, source, table rows, carried or
    None)``, each in ``out``'s memory order; ``table`` is ``(build, args)`` of its device copy
    (`device_table`), whose ``args`` end with that order."""
    order = table[1][-1]
    o_all, s_all = out.permute(order), src.permute(order)
    t_all: Any = device_table(table[0], table[1], out)
    for b in row_blocks(out.shape[0], row_bytes, "image_torch"):
        yield o_all[b], s_all[b], t_all[rows[b]], None if carried is None else carried[b]


def add_rows(out: Array, source: Array | None, rows: Array, table: RowTable) -> None:
    """``out = source + table[rows]``, rounded and saturated to ``out``'s dtype, in place.

    Args:
        out: ``(N, H, W, C)`` channels-last view to write (any strides).
        source: the clean images, shaped as ``out``; None: ``out`` holds them.
        rows: int64 ``(N,)``, each sample's row of ``table`` (its class, or the zero row).
        table: ``(R, H, W, C)``: int64 (already rounded) for integer images, which saturate to
            their dtype's range; float32 (float64 for float64 images) for float images, whose
            sum is rounded once to their dtype (half precision sums in float32).

    Walks ``out`` in its memory order (NCHW for a channels-first tensor) with ``source`` and
    the table laid out alike, so that every block is read and written contiguously; blocks of
    samples (`row_blocks`) fit in cache, so the gather, add, clip and cast of a block are one
    pass over its memory and the temporaries stay O(block), not O(N). Integer images of up to
    16 bits add in int16/int32 (uint8 through NumPy: three uint8 operations), wider ones in
    int64 with an exact saturating add.
    """
    src: Any = out if source is None else source
    bounds = dtype_bounds(out)
    is_int, lo, hi = bounds
    small = is_int and hi - lo <= 0xFFFF  # the table is clipped and narrowed (see operands)
    order = _memory_order(out)
    sample_bytes = int(np.prod(out.shape[1:])) * _itemsize(out)
    if isinstance(out, torch.Tensor):
        args = (table, bounds, order)
        blocks = _torch_blocks(out, src, rows, None, (_add_operand, args), sample_bytes)
        for o, x, t, _ in blocks:
            if small:
                # torch promotes no unsigned 16-bit dtype: widen such images explicitly.
                x = x.to(t.dtype) if x.dtype in _unsigned_views() else x
                o.copy_(t.add_(x).clamp_(lo, hi))
            elif is_int:
                o.copy_(_saturating_add(x.to(torch.int64), t, int(lo), int(hi)))
            elif t.dtype == o.dtype and not x.requires_grad:  # out= has no autograd
                torch.add(x, t, out=o)
            else:  # float16/bfloat16 (summed in float32, rounded once), or autograd
                o.copy_(t.add_(x))
        return
    on_all, sn_all = np.asarray(out).transpose(order), np.asarray(src).transpose(order)
    uint8 = on_all.dtype == np.uint8
    if uint8 and (nat := _native_for(on_all, sn_all)) is not None:
        parts = _int8_parts(table, order)
        nat.add_rows_u8(on_all, sn_all, _rows64(rows), parts, on_all[0].size, len(parts))
        return
    operands = _add_operands(table, bounds, order, uint8)
    if uint8:
        _add_uint8(on_all, sn_all, operands, np.asarray(rows))
        return
    (tn_all,) = operands
    for b in row_blocks(out.shape[0], sample_bytes, "image"):
        on, xn, tn = on_all[b], sn_all[b], tn_all[rows[b]]
        if small:
            np.add(tn, xn, out=tn)
            on[...] = np.clip(tn, lo, hi, out=tn)
        elif is_int:
            on[...] = _saturating_add(xn.astype(np.int64), tn, int(lo), int(hi))
        elif tn.dtype == on.dtype:
            np.add(xn, tn, out=on)
        else:  # float16 images: the sum in float32, then rounded once
            np.add(tn, xn, out=tn)
            on[...] = tn


def scale_add_rows(
    out: Array,
    source: Array | None,
    rows: Array,
    table: RowTable,
    scale: float,
    carried: Array | None = None,
) -> None:
    """``out = source * scale + table[rows]`` for float images, in place (``Blend``).

    Args:
        out: float ``(N, H, W, C)`` channels-last view to write (any strides).
        source: the clean images, shaped as ``out``; None: ``out`` holds them.
        rows: int64 ``(N,)``, each sample's row of ``table``.
        table: float32 or float64 ``(R, H, W, C)``, the dtype the sum is computed in (half
            precision images: float32, rounded once to their dtype at the end).
        scale: the images' weight.
        carried: bool ``(N,)``; samples where it is False keep their pixels. None: every one.

    Walked in the memory order of ``out``, block by block (`row_blocks`), as `add_rows`.
    """
    src: Any = out if source is None else source
    order = _memory_order(out)
    row_bytes = int(np.prod(out.shape[1:])) * 8
    if isinstance(out, torch.Tensor):
        blocks = _torch_blocks(out, src, rows, carried, (_laid_out, (table, order)), row_bytes)
        for o, x, t, keep in blocks:
            x = x.to(t.dtype)
            v = x * scale + t
            o.copy_(v if keep is None else torch.where(keep.reshape(-1, 1, 1, 1), v, x))
        return
    on_all, sn_all = np.asarray(out).transpose(order), np.asarray(src).transpose(order)
    tn_all = _laid_out(table, order)
    rows_np = np.asarray(rows)
    for b in row_blocks(out.shape[0], row_bytes, "image"):
        on, xn, tn = on_all[b], sn_all[b], tn_all[rows_np[b]]
        if carried is None and on.dtype == tn.dtype:
            np.multiply(xn, scale, out=on)
            np.add(on, tn, out=on)
            continue
        # Half precision (computed in float32, rounded once), or only the carried samples
        # written (``out`` may be ``source`` itself).
        v = np.multiply(xn, scale, dtype=tn.dtype)
        np.add(v, tn, out=v)
        if carried is None:
            on[...] = v
        else:
            np.copyto(on, v, where=np.asarray(carried[b]).reshape(-1, 1, 1, 1))
            if source is not None:
                np.copyto(on, xn, where=~np.asarray(carried[b]).reshape(-1, 1, 1, 1))


@functools.lru_cache(maxsize=64)
def _blend_terms(table: RowTable, weight: int, order: tuple[int, ...]) -> npt.NDArray[np.uint16]:
    """The per-class term ``pattern * (256 - weight) + 128`` ``(R, ...)`` uint16 of
    `blend_rows_u8`'s NumPy and torch kernels, laid out in the images' memory order ``order``
    (128 rounds the shift half up; at most ``255 * 255 + 128``). Read-only."""
    p = _laid_out(table, order).astype(np.uint16)
    out = np.ascontiguousarray(p * np.uint16(256 - weight) + np.uint16(128))
    out.setflags(write=False)
    return out


def blend_rows_u8(
    out: Array,
    source: Array | None,
    rows: Array,
    table: RowTable,
    weight: int,
    carried: Array | None = None,
) -> None:
    """The fixed-point blend of uint8 images:
    ``out = (x * weight + table[rows] * (256 - weight) + 128) >> 8``.

    Args:
        out: uint8 ``(N, H, W, C)`` channels-last view to write (any strides).
        source: the clean images, shaped as ``out``; None: ``out`` holds them.
        rows: int64 ``(N,)``, each sample's row of ``table``.
        table: uint8 ``(R, H, W, C)``: each class's pattern in 0..255.
        weight: the image's weight in 256ths, 1..255 (the sum stays below 2**16; 128 rounds
            the shift half up).
        carried: bool ``(N,)``; samples where it is False keep their pixels. None: every one
            is blended.

    Integers only, so NumPy and torch (any device) give the same bits: the compiled kernel reads
    the uint8 patterns (all classes stay in L1); NumPy adds the uint16 term `_blend_terms` block
    by block (one multiply, one gather, one add, one shift, one narrowing copy), torch in int32.
    """
    src: Any = out if source is None else source
    order = _memory_order(out)
    w = int(weight)
    if isinstance(out, torch.Tensor):
        row_bytes = int(np.prod(out.shape[1:])) * 4
        terms = (_blend_terms, (table, w, order))
        walk = _torch_blocks(out, src, rows, carried, terms, row_bytes)
        for o, x, t, keep in walk:
            x = x.to(torch.int32)
            v = (x * w + t.to(torch.int32)) >> 8
            o.copy_(v if keep is None else torch.where(keep.reshape(-1, 1, 1, 1), v, x))
        return
    on_all, sn_all = np.asarray(out).transpose(order), np.asarray(src).transpose(order)
    nat = _native_for(on_all, sn_all) if carried is None or source is not None else None
    if nat is not None:
        pattern = _laid_out(table, order)
        nat.blend_rows_u8(on_all, sn_all, _rows64(rows), pattern, on_all[0].size, w)
        if carried is not None:  # the samples without the signal: their clean pixels
            keep = np.flatnonzero(~np.asarray(carried))
            on_all[keep] = sn_all[keep]
        return
    tn_all = _blend_terms(table, w, order)
    rows_np = np.asarray(rows)
    blocks = list(row_blocks(out.shape[0], int(np.prod(out.shape[1:])) * 2, "image"))
    if not blocks:
        return
    shape = (blocks[0].stop - blocks[0].start, *on_all.shape[1:])
    acc, gathered = np.empty(shape, np.uint16), np.empty(shape, np.uint16)
    for b in blocks:
        a, g = acc[: b.stop - b.start], gathered[: b.stop - b.start]
        np.multiply(sn_all[b], np.uint16(w), out=a)
        np.take(tn_all, rows_np[b], axis=0, out=g, mode="clip")
        np.add(a, g, out=a)
        np.right_shift(a, 8, out=a)
        if carried is not None:
            np.copyto(a, sn_all[b], where=~np.asarray(carried[b]).reshape(-1, 1, 1, 1))
        np.copyto(on_all[b], a, casting="unsafe")
