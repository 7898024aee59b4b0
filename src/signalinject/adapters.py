"""Adapters: inject signals inside torch, torchvision and Hugging Face ``datasets`` pipelines.

Every adapter keys the per-sample draws by the sample's *dataset index*, so a sample is injected
the same way whatever the batch, shuffling, DataLoader worker, epoch or DDP rank:

- :class:`InjectedDataset` wraps a map-style dataset of ``(sample, label)`` items and injects on
  the CPU, in ``__getitem__``, into the raw sample (before any ``transform``).
- :class:`IndexedDataset` + :func:`inject_batch`: the loader yields ``(x, y, index)`` and whole
  batches are injected after they reach the GPU; the result equals :class:`InjectedDataset`'s,
  sample by sample.
- :class:`InjectTransform` is a transform of ``(image, label, index)`` for
  ``torchvision.transforms.v2.Compose`` (the index comes from :class:`IndexedDataset`).
- :class:`HFInjectMap` is a function for ``datasets.Dataset.map(batched=True,
  with_indices=True)``.

PIL images are converted to NumPy arrays, channels-last ``(H, W, C)`` (grayscale gets ``C=1``),
in the image's own dtype, before injection. Pillow is never imported by this module: a sample is
a PIL image only if ``PIL.Image`` is already loaded.
"""

from __future__ import annotations

import dataclasses
import numbers
import operator
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from signalinject._backend import to_backend
from signalinject.core import Compose, Injector

__all__ = [
    "HFInjectMap",
    "IndexedDataset",
    "InjectTransform",
    "InjectedDataset",
    "inject_batch",
    "pil_to_array",
]


class MapDataset(Protocol):
    """A map-style dataset: ``base[i]`` for integer ``i`` (``len`` is used where needed)."""

    def __getitem__(self, index: int, /) -> Any: ...


# -- small helpers ------------------------------------------------------------------------------
def _check_injector(who: str, injector: object) -> Injector | Compose:
    if not isinstance(injector, (Injector, Compose)):
        raise TypeError(
            f"{who}: injector must be a signalinject Injector or Compose, got "
            f"{type(injector).__name__}"
        )
    return injector


def _num_classes(injector: Injector | Compose) -> int:
    """The largest label + 1 every child accepts."""
    if isinstance(injector, Compose):
        return min(inj.num_classes for inj in injector.injectors)
    return injector.num_classes


def _key(who: str, index: object) -> int:
    """A dataset index as a Python int (ints, NumPy integers, 0-d integer tensors)."""
    if isinstance(index, bool):
        raise TypeError(f"{who}: index must be an integer, got {index!r}")
    try:
        return operator.index(index)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{who}: index must be an integer, got {index!r} ({type(index).__name__})"
        ) from None


def _pil_image_type() -> type | None:
    """``PIL.Image.Image`` if Pillow is loaded (a sample cannot be a PIL image otherwise)."""
    mod = sys.modules.get("PIL.Image")
    cls = getattr(mod, "Image", None)
    return cls if isinstance(cls, type) else None


def _is_pil(x: object) -> bool:
    cls = _pil_image_type()
    return cls is not None and isinstance(x, cls)


# PIL modes whose array is not pixel intensities (palette indices) or not a numeric image (bits).
_PIL_REFUSED = {"P": "a palette image", "PA": "a palette image", "1": "a 1-bit image"}


def pil_to_array(image: Any) -> npt.NDArray[Any]:
    """A PIL image as a NumPy array ``(H, W, C)`` in the image's own dtype (a copy).

    ``"L"`` gives uint8 ``(H, W, 1)``, ``"RGB"`` uint8 ``(H, W, 3)``, ``"I;16"`` uint16
    ``(H, W, 1)``, ``"F"`` float32 ``(H, W, 1)``.

    Raises:
        TypeError: ``image`` is not a PIL image, or a palette/1-bit image (convert it first).
    """
    if not _is_pil(image):
        raise TypeError(f"pil_to_array: expected a PIL image, got {type(image).__name__}")
    if image.mode in _PIL_REFUSED:
        raise TypeError(
            f"pil_to_array: got {_PIL_REFUSED[image.mode]} (mode {image.mode!r}), whose values "
            f"are not pixel intensities; convert it first, e.g. image.convert('RGB')"
        )
    arr = np.array(image)  # np.asarray would give a read-only view
    return arr[:, :, None] if arr.ndim == 2 else arr


def _array_to_pil(arr: npt.NDArray[Any], like: Any) -> Any:
    """The inverse of :func:`pil_to_array`, refusing a result whose mode differs from ``like``."""
    from PIL import Image  # Pillow is loaded: ``like`` is a PIL image

    out = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    if out.mode != like.mode:
        raise TypeError(
            f"a PIL image of mode {like.mode!r} cannot be rebuilt after injection (it would "
            f"come back as {out.mode!r}); convert it first, e.g. image.convert('RGB')"
        )
    return out


def _rewrap(out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``out`` as the tensor subclass of ``like`` (e.g. ``tv_tensors.Image``), metadata kept."""
    if type(like) is torch.Tensor or type(out) is type(like):
        return out
    tvt = sys.modules.get("torchvision.tv_tensors")
    if tvt is not None and isinstance(like, tvt.TVTensor):
        return tvt.wrap(out, like=like)  # type: ignore[no-any-return]
    return out.as_subclass(type(like))


def _inject_one(
    injector: Injector | Compose, sample: Any, label: Any, key: int, kwargs: Mapping[str, Any]
) -> Any:
    """Inject one raw sample keyed by ``key``; PIL images come back as arrays."""
    if _is_pil(sample):
        sample = pil_to_array(sample)
    if not isinstance(sample, (np.ndarray, torch.Tensor, str)):
        raise TypeError(
            f"samples must be NumPy arrays, torch tensors, PIL images or str, got "
            f"{type(sample).__name__}"
        )
    if isinstance(sample, torch.Tensor) and type(sample) is not torch.Tensor:
        plain = sample.as_subclass(torch.Tensor)
        return _rewrap(injector(plain, label, index=key, **kwargs), sample)
    return injector(sample, label, index=key, **kwargs)


def _reraise_at(e: Exception, where: str) -> Exception:
    """``e`` with ``where`` prefixed to its message (for ValueError/TypeError), else ``e``."""
    if type(e) in (ValueError, TypeError):
        return type(e)(f"{where}: {e}")
    return e


def _split_item(who: str, item: object, i: int, base: object) -> tuple[Any, Any]:
    if isinstance(item, (str, bytes)) or not isinstance(item, (tuple, list)) or len(item) != 2:
        what = (
            f"{type(item).__name__} of length {len(item)}"
            if isinstance(item, (tuple, list))
            else type(item).__name__
        )
        raise TypeError(
            f"{who}: item {i} of {type(base).__name__} must be a (sample, label) pair, got {what}"
        )
    return item[0], item[1]


def _normalize_key(i: int, base: Any) -> int:
    """A negative index as its positive equivalent (``base[-1]`` is ``base[len - 1]``)."""
    return i + len(base) if i < 0 else i


# -- torch datasets -------------------------------------------------------------------------------
class InjectedDataset(Dataset[tuple[Any, ...]]):
    """A map-style dataset whose samples carry the signal of their label.

    ``ds[i]`` reads ``(sample, label) = base[i]``, injects into the raw ``sample`` keyed by the
    dataset index ``i`` (before ``transform``: "the pixel holds the class number" means the raw
    pixel), then applies ``transform`` to the injected sample.

    Args:
        base: map-style dataset of ``(sample, label)`` items; samples are NumPy arrays, torch
            tensors (subclasses kept), PIL images (returned as NumPy ``(H, W, C)`` arrays, see
            :func:`pil_to_array`) or ``str`` (for text injectors).
            Labels are integers in ``[0, num_classes)`` (int, NumPy or 0-d tensor).
        injector: an :class:`~signalinject.core.Injector` or
            :class:`~signalinject.core.Compose`.
        transform: applied to the injected sample (e.g. ``ToTensor``, normalization).
        return_index: yield ``(sample, label, index)`` instead of ``(sample, label)``.
        channels_last: layout override passed to image injectors (default: the injector's,
            channels-last for NumPy, channels-first for torch).

    ``len`` and indexing errors are the base dataset's; the base is never modified. A bad item
    raises a ``TypeError``/``ValueError`` naming its index. The wrapper pickles whenever ``base``
    and ``transform`` do (DataLoader workers).

    >>> import numpy as np, signalinject as si
    >>> base = [(np.zeros((4, 4, 1), np.uint8), 3), (np.zeros((4, 4, 1), np.uint8), 7)]
    >>> ds = si.InjectedDataset(base, si.OnePixel(num_classes=10))
    >>> x, y = ds[1]
    >>> raw, _ = base[1]
    >>> int(x[0, 0, 0]), y, int(raw[0, 0, 0])
    (7, 7, 0)
    """

    def __init__(
        self,
        base: MapDataset,
        injector: Injector | Compose,
        *,
        transform: Callable[[Any], Any] | None = None,
        return_index: bool = False,
        channels_last: bool | None = None,
    ) -> None:
        self.base = base
        self.injector = _check_injector("InjectedDataset", injector)
        if transform is not None and not callable(transform):
            raise TypeError(
                f"InjectedDataset: transform must be callable or None, got "
                f"{type(transform).__name__}"
            )
        self.transform = transform
        if not isinstance(return_index, bool):
            raise TypeError(f"InjectedDataset: return_index must be a bool, got {return_index!r}")
        self.return_index = return_index
        if channels_last is not None and not isinstance(channels_last, bool):
            raise TypeError(
                f"InjectedDataset: channels_last must be a bool or None, got {channels_last!r}"
            )
        self.channels_last = channels_last

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        i = _key("InjectedDataset", index)
        sample, label = _split_item("InjectedDataset", self.base[i], i, self.base)
        key = _normalize_key(i, self.base)
        kw = {} if self.channels_last is None else {"channels_last": self.channels_last}
        try:
            x = _inject_one(self.injector, sample, label, key, kw)
        except (ValueError, TypeError) as e:
            raise _reraise_at(e, f"InjectedDataset: item {i} of {type(self.base).__name__}") from e
        if self.transform is not None:
            x = self.transform(x)
        return (x, label, key) if self.return_index else (x, label)

    def __repr__(self) -> str:
        return (
            f"InjectedDataset(base={type(self.base).__name__}, injector={self.injector!r}, "
            f"transform={self.transform!r}, return_index={self.return_index})"
        )


class IndexedDataset(Dataset[tuple[Any, ...]]):
    """Yield ``(sample, label, index)``: the dataset index travels with the sample.

    The index is what :func:`inject_batch` (on-device injection) and :class:`InjectTransform`
    (inside torchvision v2 pipelines) need, since a transform alone never sees it.

    Args:
        base: map-style dataset of ``(sample, label)`` items (not modified).
        transforms: optional joint transform called as ``transforms(sample, label, index)`` and
            returning ``(sample, label, index)``, e.g. a ``torchvision.transforms.v2.Compose``
            that holds an :class:`InjectTransform`.

    >>> import numpy as np, signalinject as si
    >>> ds = si.IndexedDataset([(np.zeros((2, 2, 1)), 1), (np.ones((2, 2, 1)), 0)])
    >>> _, y, i = ds[-1]
    >>> y, i
    (0, 1)
    """

    def __init__(self, base: MapDataset, *, transforms: Callable[..., Any] | None = None) -> None:
        self.base = base
        if transforms is not None and not callable(transforms):
            raise TypeError(
                f"IndexedDataset: transforms must be callable or None, got "
                f"{type(transforms).__name__}"
            )
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        i = _key("IndexedDataset", index)
        sample, label = _split_item("IndexedDataset", self.base[i], i, self.base)
        key = _normalize_key(i, self.base)
        if self.transforms is None:
            return sample, label, key
        out = self.transforms(sample, label, key)
        if not isinstance(out, tuple) or len(out) != 3:
            raise TypeError(
                f"IndexedDataset: transforms must return (sample, label, index), got "
                f"{type(out).__name__}"
                + (f" of length {len(out)}" if isinstance(out, tuple) else "")
            )
        return out

    def __repr__(self) -> str:
        return f"IndexedDataset(base={type(self.base).__name__}, transforms={self.transforms!r})"


# -- batches ---------------------------------------------------------------------------------------
def _check_batch_labels(who: str, y: Any, index: Any, k: int) -> None:
    """Refuse labels outside ``[0, k)``, naming the dataset index of the first offending sample."""
    if isinstance(y, torch.Tensor):
        yt = y
        if yt.dtype.is_floating_point or yt.dtype.is_complex or yt.dtype == torch.bool:
            raise TypeError(f"{who}: labels must be integers, got a tensor of dtype {yt.dtype}")
        bad_t = (yt < 0) | (yt >= k)
        if yt.ndim == 1 and bool(bad_t.any()):
            row = int(bad_t.nonzero()[0, 0])
            _raise_label(who, row, int(yt[row]), index, k)
        return
    ya = np.asarray(y)
    if ya.ndim != 1 or ya.size == 0 or not np.issubdtype(ya.dtype, np.integer):
        return  # the injector explains shapes and dtypes
    bad = (ya < 0) | (ya >= k)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        _raise_label(who, row, int(ya[row]), index, k)


def _raise_label(who: str, row: int, label: int, index: Any, k: int) -> None:
    try:
        at = f"sample index {int(index[row])} (row {row} of the batch)"
    except (IndexError, TypeError, ValueError):
        at = f"row {row} of the batch"
    raise ValueError(f"{who}: {at} has label {label}, outside [0, {k - 1}] (num_classes={k})")


def inject_batch(injector: Injector | Compose, x: Any, y: Any, index: Any, **kwargs: Any) -> Any:
    """Inject a collated batch where it lives (e.g. on the GPU), keyed by its dataset indices.

    With ``(x, y, index)`` from a DataLoader over :class:`IndexedDataset`, the result equals
    :class:`InjectedDataset`'s output sample by sample (on the same raw samples and layout).

    Args:
        injector: an :class:`~signalinject.core.Injector` or
            :class:`~signalinject.core.Compose`.
        x: the batch ``(N, ...)``: tensor (any device; subclasses kept), NumPy array, or
            ``list[str]`` for text injectors.
        y: int labels ``(N,)`` (tensor on any device, NumPy, list).
        index: int dataset indices ``(N,)`` as the loader yields them (any device).
        **kwargs: passed to the injector (``channels_last=``, ``inplace=``).

    Returns:
        The injected batch: same type, dtype, shape and device as ``x``.

    Raises:
        ValueError: a label outside ``[0, num_classes)`` (the message names its dataset index),
            or any error of the injector.
    """
    inj = _check_injector("inject_batch", injector)
    if isinstance(x, torch.Tensor):
        # Labels and indices are collated on the CPU; move them next to the data.
        if isinstance(y, torch.Tensor):
            y = y.to(x.device, non_blocking=True)
        if isinstance(index, torch.Tensor):
            index = index.to(x.device, non_blocking=True)
    _check_batch_labels("inject_batch", y, index, _num_classes(inj))
    if isinstance(x, torch.Tensor) and type(x) is not torch.Tensor:
        return _rewrap(inj(x.as_subclass(torch.Tensor), y, index=index, **kwargs), x)
    return inj(x, y, index=index, **kwargs)


# -- torchvision -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class InjectTransform:
    """A torchvision-v2-compatible transform of ``(image, label, index)``.

    Use it inside ``torchvision.transforms.v2.Compose`` over :class:`IndexedDataset` (which
    supplies the index) and place it where the image holds raw pixel values, e.g. right after
    ``v2.ToImage()`` and before ``v2.ToDtype(..., scale=True)``. ``tv_tensors.Image`` and other
    tensor subclasses keep their type (and metadata); plain tensors stay plain; PIL images stay
    PIL images of the same mode; NumPy arrays stay arrays. Labels and indices pass through.

    Args:
        injector: an :class:`~signalinject.core.Injector` or
            :class:`~signalinject.core.Compose`.
        channels_last: layout override for image injectors (default: the injector's,
            channels-first for tensors).

    >>> import torch, signalinject as si
    >>> t = si.InjectTransform(si.OnePixel(num_classes=10))
    >>> img, y, i = t(torch.zeros(3, 4, 4, dtype=torch.uint8), 6, 0)
    >>> img[:, 0, 0].tolist(), y, i
    ([6, 6, 6], 6, 0)
    """

    injector: Injector | Compose
    channels_last: bool | None = None

    def __post_init__(self) -> None:
        _check_injector("InjectTransform", self.injector)
        if self.channels_last is not None and not isinstance(self.channels_last, bool):
            raise TypeError(
                f"InjectTransform: channels_last must be a bool or None, got {self.channels_last!r}"
            )

    def __call__(self, *inputs: Any) -> tuple[Any, Any, Any]:
        """``(image, label, index) -> (injected image, label, index)``; also one such tuple."""
        if len(inputs) == 1 and isinstance(inputs[0], (tuple, list)):
            inputs = tuple(inputs[0])
        if len(inputs) != 3:
            raise TypeError(
                f"InjectTransform takes (image, label, index), got {len(inputs)} input(s); "
                f"wrap the dataset in signalinject.adapters.IndexedDataset so that the sample's "
                f"index reaches the transforms"
            )
        image, label, index = inputs
        key = _key("InjectTransform", index)
        if key < 0:
            raise ValueError(f"InjectTransform: index must be non-negative, got {key}")
        kw = {} if self.channels_last is None else {"channels_last": self.channels_last}
        try:
            if _is_pil(image):
                out = _array_to_pil(
                    _inject_one(self.injector, pil_to_array(image), label, key, kw), image
                )
            else:
                out = _inject_one(self.injector, image, label, key, kw)
        except (ValueError, TypeError) as e:
            raise _reraise_at(e, f"InjectTransform: sample index {key}") from e
        return out, label, index


# -- Hugging Face datasets ---------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class HFInjectMap:
    """A function for ``datasets.Dataset.map(fn, batched=True, with_indices=True)``.

    Injects ``batch[column]`` keyed by the row indices ``map`` passes, with labels from
    ``batch[label_column]``, and returns ``{output_column: injected}`` (default: ``column``
    itself, replaced). The column may hold PIL images (returned as PIL images of the same
    mode), NumPy arrays or tensors (formats ``"numpy"``/``"torch"``: one vectorized call),
    nested lists (returned as NumPy arrays), or ``str`` for text injectors.

    The indices are the rows of the dataset ``map`` is called on: inject before ``shuffle``,
    ``select`` or ``train_test_split`` to key each sample by its original position.

    Args:
        injector: an :class:`~signalinject.core.Injector` or
            :class:`~signalinject.core.Compose`.
        column: the column holding the samples.
        label_column: the column holding the integer labels.
        output_column: where to write the injected samples (default: ``column``).
        channels_last: layout override for image injectors.
    """

    injector: Injector | Compose
    column: str = "image"
    label_column: str = "label"
    output_column: str | None = None
    channels_last: bool | None = None

    def __post_init__(self) -> None:
        _check_injector("HFInjectMap", self.injector)
        for name in ("column", "label_column"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"HFInjectMap: {name} must be a str, got {getattr(self, name)!r}")
        if self.output_column is not None and not isinstance(self.output_column, str):
            raise TypeError(
                f"HFInjectMap: output_column must be a str or None, got {self.output_column!r}"
            )

    def __call__(self, batch: Mapping[str, Any], indices: Sequence[int]) -> dict[str, Any]:
        """Inject one batch: ``batch`` maps column names to ``N`` values, ``indices`` has ``N``."""
        for col in (self.column, self.label_column):
            if col not in batch:
                raise ValueError(
                    f"HFInjectMap: no column {col!r} in the batch; columns: {sorted(batch)}"
                )
        if isinstance(indices, numbers.Integral) or not hasattr(indices, "__len__"):
            raise TypeError(
                "HFInjectMap: indices must be a list of row indices; call "
                "Dataset.map(fn, batched=True, with_indices=True)"
            )
        idx = np.asarray(indices, dtype=np.int64)
        values, labels = batch[self.column], batch[self.label_column]
        if len(values) != len(idx) or len(labels) != len(idx):
            raise ValueError(
                f"HFInjectMap: the batch has {len(values)} samples, {len(labels)} labels and "
                f"{len(idx)} indices; call Dataset.map(fn, batched=True, with_indices=True)"
            )
        out_col = self.column if self.output_column is None else self.output_column
        return {out_col: self._inject(values, labels, idx)}

    def _inject(self, values: Any, labels: Any, idx: npt.NDArray[np.int64]) -> Any:
        kw = {} if self.channels_last is None else {"channels_last": self.channels_last}
        who = "HFInjectMap"
        if isinstance(values, torch.Tensor) or (
            isinstance(values, np.ndarray) and values.dtype != object
        ):
            index = (
                torch.from_numpy(idx).to(values.device) if isinstance(values, torch.Tensor) else idx
            )
            return inject_batch(self.injector, values, labels, index, **kw)
        values = list(values)
        y = to_backend(
            labels.to(torch.int64) if isinstance(labels, torch.Tensor) else labels,
            idx,
            name="labels",
        )
        _check_batch_labels(who, y, idx, _num_classes(self.injector))
        if values and all(isinstance(v, str) for v in values):
            return self.injector(values, y, index=idx, **kw)
        pil = [_is_pil(v) for v in values]
        arrays = [pil_to_array(v) if p else np.asarray(v) for v, p in zip(values, pil, strict=True)]
        try:
            if arrays and all(
                a.shape == arrays[0].shape and a.dtype == arrays[0].dtype for a in arrays
            ):
                # One vectorized call for a batch of equal shapes.
                injected = list(self.injector(np.stack(arrays), y, index=idx, **kw))
            else:
                injected = [
                    self.injector(a, int(yi), index=int(i), **kw)
                    for a, yi, i in zip(arrays, y, idx, strict=True)
                ]
            return [
                _array_to_pil(a, v) if p else a
                for a, v, p in zip(injected, values, pil, strict=True)
            ]
        except (ValueError, TypeError) as e:
            raise _reraise_at(e, f"{who}: rows {int(idx[0])}..{int(idx[-1])}") from e
