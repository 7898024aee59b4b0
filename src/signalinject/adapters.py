"""Adapters: inject signals inside torch, torchvision, Hugging Face ``datasets`` pipelines.

Every adapter keys the per-sample draws by the sample's *dataset index* (plus ``index_offset``,
which keeps the keys of a validation or test split apart from the training split's), so a sample
is injected the same way whatever the batch, shuffling, DataLoader worker, epoch or DDP rank:

- [`IndexedDataset`][signalinject.adapters.IndexedDataset] +
  [`InjectCollate`][signalinject.adapters.InjectCollate] (the fast path): the DataLoader workers
  collate and inject whole batches; the result equals
  [`InjectedDataset`][signalinject.adapters.InjectedDataset]'s, bit for bit.
- [`InjectedDataset`][signalinject.adapters.InjectedDataset] wraps a map-style dataset of ``(sample,
  label)`` items and injects on the CPU, in ``__getitem__``, into the raw sample (before any
  ``transform``).
- [`IndexedDataset`][signalinject.adapters.IndexedDataset] +
  [`inject_batch`][signalinject.adapters.inject_batch]: the loader yields ``(x, y, index)`` and
  whole batches are injected after they reach the GPU (also inside a ``torch.compile``'d step).
- [`InjectTransform`][signalinject.adapters.InjectTransform] is a transform of ``(image, label,
  index)`` for ``torchvision.transforms.v2.Compose`` (the index comes from
  [`IndexedDataset`][signalinject.adapters.IndexedDataset]).
- [`hf_inject`][signalinject.adapters.hf_inject] injects a Hugging Face ``Dataset`` or
  ``IterableDataset`` column in its stored layout and dtype;
  [`HFInjectMap`][signalinject.adapters.HFInjectMap] is the function it gives ``map``.

Layouts are never guessed: an image batch whose shape contradicts the layout in force (NumPy
channels-last, torch channels-first, or ``channels_last=``) is refused, e.g. a torch batch
``(N, 32, 32, 3)`` without ``channels_last=True``. PIL images are converted to NumPy arrays,
channels-last ``(H, W, C)`` (grayscale gets ``C=1``), in the image's own dtype, before injection.
Pillow is never imported by this module: a sample is a PIL image only if ``PIL.Image`` is loaded.

Injectors and ``Compose`` are allow-listed for ``torch.load(weights_only=True)`` as soon as torch
is imported ([`checkpoint_globals`][signalinject.core.checkpoint_globals]), so they can be stored
in checkpoints, e.g. as Lightning hyperparameters; their field checks run as they load.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import numbers
import operator
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, cast

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset, default_collate

from signalinject._backend import to_backend
from signalinject._compile import outside_graph
from signalinject.core import Compose, Injector
from signalinject.core import checkpoint_globals as checkpoint_globals  # its old place
from signalinject.image import CHANNELS, check_default_layout
from signalinject.ranges import pipeline_hint

__all__ = [
    "HFInjectMap",
    "IndexedDataset",
    "InjectCollate",
    "InjectTransform",
    "InjectedDataset",
    "decode_batch",
    "hf_inject",
    "inject_batch",
    "pil_to_array",
]

F = TypeVar("F", bound=Callable[..., Any])


def _eager(fn: F) -> F:
    """``fn`` run eagerly inside a ``torch.compile``'d function (one graph break, exact result;
    ``torch._dynamo`` is not imported for it until then)."""
    return outside_graph(fn)


def _version() -> str:
    """The installed signalinject version (part of every Hugging Face cache fingerprint)."""
    try:
        return importlib.metadata.version("signalinject")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


class MapDataset(Protocol):
    """A map-style dataset: ``base[i]`` for integer ``i`` (``len`` is used where needed)."""

    def __getitem__(self, index: int, /) -> Any: ...


# -- small helpers ------------------------------------------------------------------------------
def _check_injector(who: str, injector: object) -> Injector | Compose:
    """``injector`` if it is one (a ``Compose`` warned about its order when it was built)."""
    if not isinstance(injector, (Injector, Compose)):
        raise TypeError(
            f"{who}: injector must be a signalinject Injector or Compose, got "
            f"{type(injector).__name__}"
        )
    return injector


def _check_offset(who: str, index_offset: object) -> int:
    """``index_offset`` as a non-negative int (added to every dataset index)."""
    if isinstance(index_offset, bool) or not isinstance(index_offset, numbers.Integral):
        raise TypeError(f"{who}: index_offset must be an integer, got {index_offset!r}")
    if index_offset < 0:
        raise ValueError(f"{who}: index_offset must be >= 0, got {index_offset}")
    return int(index_offset)


def _check_layout_arg(who: str, channels_last: object) -> None:
    if channels_last is not None and not isinstance(channels_last, bool):
        raise TypeError(f"{who}: channels_last must be a bool or None, got {channels_last!r}")


def _layout(who: str, injector: Injector | Compose, x: Any, channels_last: bool | None) -> bool:
    """The layout of image batch/sample ``x``: ``channels_last`` if given, else the default one
    (NumPy channels-last, torch channels-first) unless ``x``'s shape contradicts it.

    Raises:
        ValueError: no ``channels_last`` and the default layout's channel axis holds more than
            4 channels while the other layout's holds 1 to 4, e.g. a torch ``(N, 32, 32, 3)``
            (the injectors' own rule, with ``who`` named).
    """
    default = not isinstance(x, torch.Tensor)
    if channels_last is not None:
        return channels_last
    if injector.kind != "image" or not isinstance(x, (np.ndarray, torch.Tensor)):
        return default
    if x.ndim not in (3, 4):
        return default  # the injector explains the shape
    try:
        check_default_layout(x, default)
    except ValueError as e:
        raise ValueError(f"{who}: {e}") from None
    return default


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
    """The inverse of [`pil_to_array`][signalinject.adapters.pil_to_array], refusing a result whose
    mode differs from ``like``."""
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
    who: str, injector: Injector | Compose, sample: Any, label: Any, key: int, cl: bool | None
) -> Any:
    """Inject one raw sample keyed by ``key``; PIL images come back as arrays."""
    if _is_pil(sample):
        sample = pil_to_array(sample)
    if not isinstance(sample, (np.ndarray, torch.Tensor, str)):
        raise TypeError(
            f"samples must be NumPy arrays, torch tensors, PIL images or str, got "
            f"{type(sample).__name__}"
        )
    kw = {} if isinstance(sample, str) else _layout_kw(who, injector, sample, cl)
    if isinstance(sample, torch.Tensor) and type(sample) is not torch.Tensor:
        plain = sample.as_subclass(torch.Tensor)
        return _rewrap(injector(plain, label, index=key, **kw), sample)
    return injector(sample, label, index=key, **kw)


def _layout_kw(who: str, injector: Injector | Compose, x: Any, cl: bool | None) -> dict[str, Any]:
    """``{"channels_last": ...}`` for image injectors (checked by `_layout`), else ``{}``."""
    if injector.kind != "image":
        return {} if cl is None else {"channels_last": cl}
    return {"channels_last": _layout(who, injector, x, cl)}


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

    ``ds[i]`` reads ``(sample, label) = base[i]``, injects into the raw ``sample`` keyed by
    ``i + index_offset`` (before ``transform``: "the pixel holds the class number" means the raw
    pixel), then applies ``transform`` to the injected sample.
    [`InjectCollate`][signalinject.adapters.InjectCollate] gives the same batches several times
    faster.

    Args:
        base: map-style dataset of ``(sample, label)`` items; samples are NumPy arrays, torch
            tensors (subclasses kept), PIL images (returned as NumPy ``(H, W, C)`` arrays, see
            [`pil_to_array`][signalinject.adapters.pil_to_array]) or ``str`` (for text injectors).
            Labels are integers in ``[0, num_classes)`` (int, NumPy or 0-d tensor).
        injector: an [`Injector`][signalinject.core.Injector] or
            [`Compose`][signalinject.core.Compose].
        transform: applied to the injected sample (e.g. ``ToTensor``, normalization).
        return_index: yield ``(sample, label, key)`` instead of ``(sample, label)``.
        channels_last: layout override passed to image injectors (default: the injector's,
            channels-last for NumPy, channels-first for torch; a sample whose shape contradicts
            it is refused).
        index_offset: added to every dataset index to make the key of the draws (e.g.
            ``len(train)`` for a validation split, so that its keys differ from training's).

    ``len`` and indexing errors are the base dataset's; the base is never modified. A bad item
    raises a ``TypeError``/``ValueError`` naming its index. The wrapper pickles whenever ``base``
    and ``transform`` do (DataLoader workers).

    Examples:
        >>> import numpy as np, signalinject as si
        >>> blank = np.zeros((4, 4, 1), np.uint8)
        >>> base = [(blank, 3), (blank.copy(), 7)]
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
        index_offset: int = 0,
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
        _check_layout_arg("InjectedDataset", channels_last)
        self.channels_last = channels_last
        self.index_offset = _check_offset("InjectedDataset", index_offset)

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        i = _key("InjectedDataset", index)
        sample, label = _split_item("InjectedDataset", self.base[i], i, self.base)
        key = _normalize_key(i, self.base) + self.index_offset
        try:
            x = _inject_one(
                "InjectedDataset", self.injector, sample, label, key, self.channels_last
            )
        except (ValueError, TypeError) as e:
            raise _reraise_at(e, f"InjectedDataset: item {i} of {type(self.base).__name__}") from e
        if self.transform is not None:
            x = self.transform(x)
        return (x, label, key) if self.return_index else (x, label)

    def __repr__(self) -> str:
        return (
            f"InjectedDataset(base={type(self.base).__name__}, injector={self.injector!r}, "
            f"transform={self.transform!r}, return_index={self.return_index}, "
            f"index_offset={self.index_offset})"
        )


class IndexedDataset(Dataset[tuple[Any, ...]]):
    """Yield ``(sample, label, key)``: the key of the draws (the dataset index plus
    ``index_offset``) travels with the sample.

    The index is what [`inject_batch`][signalinject.adapters.inject_batch] (on-device injection) and
    [`InjectTransform`][signalinject.adapters.InjectTransform] (inside torchvision v2 pipelines)
    need, since a transform alone never sees it.

    Args:
        base: map-style dataset of ``(sample, label)`` items (not modified).
        transforms: optional joint transform called as ``transforms(sample, label, index)`` and
            returning ``(sample, label, index)``, e.g. a ``torchvision.transforms.v2.Compose``
            that holds an [`InjectTransform`][signalinject.adapters.InjectTransform].
        index_offset: added to every dataset index (see
            [`InjectedDataset`][signalinject.adapters.InjectedDataset]).

    Examples:
        >>> import numpy as np, signalinject as si
        >>> base = [(np.zeros((2, 2, 1)), 1), (np.ones((2, 2, 1)), 0)]
        >>> ds = si.IndexedDataset(base)
        >>> _, y, i = ds[-1]
        >>> y, i
        (0, 1)
    """

    def __init__(
        self,
        base: MapDataset,
        *,
        transforms: Callable[..., Any] | None = None,
        index_offset: int = 0,
    ) -> None:
        self.base = base
        self.index_offset = _check_offset("IndexedDataset", index_offset)
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
        key = _normalize_key(i, self.base) + self.index_offset
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
        return (
            f"IndexedDataset(base={type(self.base).__name__}, transforms={self.transforms!r}, "
            f"index_offset={self.index_offset})"
        )


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


def _inject_batch(
    who: str, injector: Injector | Compose, x: Any, y: Any, index: Any, kwargs: dict[str, Any]
) -> Any:
    """[`inject_batch`][signalinject.adapters.inject_batch] without the ``torch.compile`` guard
    (also run by InjectCollate)."""
    if isinstance(x, torch.Tensor):
        # Labels and indices are collated on the CPU; move them next to the data.
        if isinstance(y, torch.Tensor):
            y = y.to(x.device, non_blocking=True)
        if isinstance(index, torch.Tensor):
            index = index.to(x.device, non_blocking=True)
    _check_batch_labels(who, y, index, injector.num_classes)
    cl = kwargs.pop("channels_last", None)
    _check_layout_arg(who, cl)
    kwargs.update(_layout_kw(who, injector, x, cl))
    if isinstance(x, torch.Tensor) and type(x) is not torch.Tensor:
        return _rewrap(injector(x.as_subclass(torch.Tensor), y, index=index, **kwargs), x)
    return injector(x, y, index=index, **kwargs)


@_eager
def inject_batch(injector: Injector | Compose, x: Any, y: Any, index: Any, **kwargs: Any) -> Any:
    """Inject a collated batch where it lives (e.g. on the GPU), keyed by its dataset indices.

    With ``(x, y, index)`` from a DataLoader over
    [`IndexedDataset`][signalinject.adapters.IndexedDataset], the result equals
    [`InjectedDataset`][signalinject.adapters.InjectedDataset]'s output sample by sample (on the
    same raw samples and layout). Inside a ``torch.compile``'d function it runs eagerly (one graph
    break) and gives the eager result.

    Args:
        injector: an [`Injector`][signalinject.core.Injector] or
            [`Compose`][signalinject.core.Compose].
        x: the batch ``(N, ...)``: tensor (any device; subclasses kept), NumPy array, or
            ``list[str]`` for text injectors.
        y: int labels ``(N,)`` (tensor on any device, NumPy, list).
        index: int dataset indices ``(N,)`` as the loader yields them (any device).
        **kwargs: passed to the injector (``channels_last=``, ``inplace=``). Without
            ``channels_last`` a tensor is channels-first ``(N, C, H, W)`` and an array
            channels-last; a batch whose shape contradicts that is refused.

    Returns:
        The injected batch: same type, dtype, shape and device as ``x``.

    Raises:
        ValueError: a label outside ``[0, num_classes)`` (the message names its dataset index),
            a shape that contradicts the layout, or any error of the injector.
    """
    return _inject_batch(
        "inject_batch", _check_injector("inject_batch", injector), x, y, index, dict(kwargs)
    )


@_eager
def decode_batch(
    injector: Injector | Compose, x: Any, *, index: Any = None, channels_last: bool | None = None
) -> Any:
    """``injector.decode(x)`` with the layout checks of
    [`inject_batch`][signalinject.adapters.inject_batch].

    Args:
        injector: an [`Injector`][signalinject.core.Injector] or
            [`Compose`][signalinject.core.Compose].
        x: an injected batch (or one sample), as
            [`inject_batch`][signalinject.adapters.inject_batch] takes it.
        index: the samples' keys, for the signals that need them (``RandomPixel``).
        channels_last: the layout (default: channels-first for tensors, channels-last for
            arrays; a batch whose shape contradicts it is refused).

    Returns:
        int64 labels ``(N,)`` (``(len(injectors), N)`` for a ``Compose``), on ``x``'s backend.
    """
    inj = _check_injector("decode_batch", injector)
    _check_layout_arg("decode_batch", channels_last)
    kw = _layout_kw("decode_batch", inj, x, channels_last)
    if index is not None:
        if isinstance(x, torch.Tensor) and isinstance(index, torch.Tensor):
            index = index.to(x.device)
        kw["index"] = index
    return inj.decode(x, **kw)


@dataclasses.dataclass(frozen=True)
class InjectCollate:
    """A DataLoader ``collate_fn`` that injects whole batches in the workers (the fast path).

    Give it a DataLoader over [`IndexedDataset`][signalinject.adapters.IndexedDataset] (whose items
    are ``(sample, label, key)``): it stacks the raw samples, injects the batch in one vectorized
    call keyed by the keys, applies ``transform`` to each injected sample and collates with
    ``collate_fn``. The batches are bit-identical to those of the same DataLoader over
    [`InjectedDataset`][signalinject.adapters.InjectedDataset] (same ``transform``,
    ``channels_last``, ``index_offset``), at a fraction of the cost.

    Args:
        injector: an [`Injector`][signalinject.core.Injector] or
            [`Compose`][signalinject.core.Compose].
        transform: applied to each injected sample (as
            [`InjectedDataset`][signalinject.adapters.InjectedDataset]'s).
        return_index: batches ``(x, y, key)`` instead of ``(x, y)``.
        channels_last: layout of the samples (as
            [`InjectedDataset`][signalinject.adapters.InjectedDataset]'s).
        collate_fn: collates the ``(sample, label)`` pairs (default:
            ``torch.utils.data.default_collate``).

    Samples may be NumPy arrays, tensors (subclasses kept), PIL images (as NumPy arrays) or
    ``str``; the samples of one batch must share their shape and dtype.

    Examples:
        >>> import torch, signalinject as si
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> images = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
        >>> base = TensorDataset(images, torch.tensor([3, 1, 4, 1]))
        >>> inj = si.OnePixel(num_classes=10)
        >>> collate = si.InjectCollate(inj)
        >>> loader = DataLoader(
        ...     si.IndexedDataset(base), batch_size=4, collate_fn=collate
        ... )
        >>> x, y = next(iter(loader))
        >>> x[:, 0, 0, 0].tolist(), y.tolist()
        ([3, 1, 4, 1], [3, 1, 4, 1])
    """

    injector: Injector | Compose
    transform: Callable[[Any], Any] | None = None
    return_index: bool = False
    channels_last: bool | None = None
    collate_fn: Callable[[list[Any]], Any] = default_collate

    def __post_init__(self) -> None:
        _check_injector("InjectCollate", self.injector)
        for name in ("transform", "collate_fn"):
            f = getattr(self, name)
            if f is not None and not callable(f):
                raise TypeError(f"InjectCollate: {name} must be callable, got {type(f).__name__}")
        if not isinstance(self.return_index, bool):
            raise TypeError(
                f"InjectCollate: return_index must be a bool, got {self.return_index!r}"
            )
        _check_layout_arg("InjectCollate", self.channels_last)

    def __call__(self, items: Sequence[Any]) -> Any:
        """``[(sample, label, key), ...]`` -> the collated injected batch."""
        who = "InjectCollate"
        if not items:
            raise ValueError(f"{who}: got an empty batch")
        for item in items:
            if not isinstance(item, (tuple, list)) or len(item) != 3:
                raise TypeError(
                    f"{who}: items must be (sample, label, key) triples, got "
                    f"{type(item).__name__}; use a DataLoader over signalinject.IndexedDataset"
                )
        samples = [pil_to_array(it[0]) if _is_pil(it[0]) else it[0] for it in items]
        labels = [it[1] for it in items]
        keys = torch.as_tensor([_key(who, it[2]) for it in items], dtype=torch.int64)
        first = samples[0]
        if isinstance(first, str):
            batch: Any = list(samples)
        elif all(
            isinstance(v, type(first)) and v.shape == first.shape and v.dtype == first.dtype
            for v in samples
        ):
            batch = (
                torch.stack([cast(torch.Tensor, v).as_subclass(torch.Tensor) for v in samples])
                if isinstance(first, torch.Tensor)
                else np.stack(samples)
            )
        else:
            raise TypeError(
                f"{who}: the samples of a batch must be arrays or tensors of one shape and dtype "
                f"(or str), got {sorted({_describe(v) for v in samples})}; use InjectedDataset"
            )
        y = [_label(who, lab, int(k)) for lab, k in zip(labels, keys, strict=True)]
        yb = keys.new_tensor(y) if isinstance(batch, torch.Tensor) else np.asarray(y, np.int64)
        kb = keys if isinstance(batch, torch.Tensor) else keys.numpy()
        kw = {} if self.channels_last is None else {"channels_last": self.channels_last}
        try:
            out = _inject_batch(who, self.injector, batch, yb, kb, kw)
        except (ValueError, TypeError) as e:
            if str(e).startswith(who):  # already names the sample
                raise
            raise _reraise_at(e, f"{who}: batch of keys {keys.tolist()[:8]}") from e
        outs = [
            _rewrap(out[r], v) if isinstance(v, torch.Tensor) else out[r]
            for r, v in enumerate(samples)
        ]
        if self.transform is not None:
            outs = [self.transform(v) for v in outs]
        if self.return_index:
            return self.collate_fn(
                [(v, lab, int(k)) for v, lab, k in zip(outs, labels, keys, strict=True)]
            )
        return self.collate_fn(list(zip(outs, labels, strict=True)))


def _label(who: str, label: object, key: int) -> int:
    """One sample's label as an int (ints, NumPy integers, 0-d integer tensors)."""
    try:
        if isinstance(label, bool):
            raise TypeError
        return operator.index(label)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{who}: the label of sample key {key} must be an integer, got {label!r}"
        ) from None


def _describe(v: Any) -> str:
    if isinstance(v, (np.ndarray, torch.Tensor)):
        return f"{type(v).__name__} {tuple(v.shape)} {v.dtype}"
    return type(v).__name__


# -- torchvision -----------------------------------------------------------------------------------
_PIPELINE_HINT = (
    " (InjectTransform: place it before v2.ToDtype(scale=True) and v2.Normalize, where the "
    "image holds its raw values)"
)


@dataclasses.dataclass(frozen=True)
class InjectTransform:
    """A torchvision-v2-compatible transform of ``(image, label, index)``.

    Use it inside ``torchvision.transforms.v2.Compose`` over
    [`IndexedDataset`][signalinject.adapters.IndexedDataset] (which supplies the index) and place it
    where the image holds raw pixel values: right after ``v2.ToImage()`` (or the PIL image
    itself), **before** ``v2.ToDtype(..., scale=True)`` and ``v2.Normalize``, and before any
    other transform that moves or resamples pixels if the code must survive exactly. After
    ``ToDtype(scale=True)`` the image is float in [0, 1], after ``Normalize`` centred around 0:
    class-number codes then land outside the data's range, or a signal scaled for 0..255 on
    values of order 1. It warns once
    ([`ValueRangeWarning`][signalinject.ranges.ValueRangeWarning]) when it sees such normalised
    or rescaled images: values beyond the range the injector assumes (``value_range``, by
    default [0, 1] for float images), codes outside it, or values within [-3, 3] where a range
    like 0..255 was declared. ``tv_tensors.Image`` and other tensor subclasses keep their
    type (and metadata); plain tensors stay plain; PIL images stay PIL images of the same mode;
    NumPy arrays stay arrays. Labels and indices pass through.

    Args:
        injector: an [`Injector`][signalinject.core.Injector] or
            [`Compose`][signalinject.core.Compose].
        channels_last: layout override for image injectors (default: the injector's,
            channels-first for tensors).

    Examples:
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
        _check_layout_arg("InjectTransform", self.channels_last)

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
        who, cl = "InjectTransform", self.channels_last
        try:
            with pipeline_hint(_PIPELINE_HINT):
                if _is_pil(image):
                    arr = pil_to_array(image)
                    out = _inject_one(who, self.injector, arr, label, key, cl)
                    out = _array_to_pil(out, image)
                else:
                    out = _inject_one(who, self.injector, image, label, key, cl)
        except (ValueError, TypeError) as e:
            raise _reraise_at(e, f"InjectTransform: sample index {key}") from e
        return out, label, index


# -- Hugging Face datasets ---------------------------------------------------------------------
def _layout_from_shape(who: str, shape: Sequence[int]) -> bool:
    """Channels-last (True) or first (False) from a sample shape ``(A, B, C)``, else refuse."""
    first, last = int(shape[0]), int(shape[-1])
    if last in CHANNELS and first not in CHANNELS:
        return True
    if first in CHANNELS and last not in CHANNELS:
        return False
    raise ValueError(
        f"{who}: the layout of images of shape {tuple(shape)} is ambiguous (either axis could "
        f"hold the channels); pass channels_last=True for (H, W, C) or False for (C, H, W)"
    )


@dataclasses.dataclass(frozen=True)
class HFInjectMap:
    """A function for ``datasets.Dataset.map(fn, batched=True, with_indices=True)``.

    [`hf_inject`][signalinject.adapters.hf_inject] builds it from the dataset's features and calls
    ``map``; use this class directly only to pass it to ``map`` yourself. Injects ``batch[column]``
    with labels from ``batch[label_column]``, keyed by ``batch[index_column]`` (a stable id) or else
    by the row indices ``map`` passes, plus ``index_offset``; returns ``{output_column: injected}``
    (default: ``column`` itself, replaced).

    The column may hold PIL images (channels-last; returned as PIL images of the same mode),
    NumPy arrays or tensors (formats ``"numpy"``/``"torch"``: one vectorized call), nested lists
    (returned as one NumPy array), or ``str`` for text injectors. Arrays and tensors are
    injected in ``dtype``, the column's stored dtype (HF formats hand a ``uint8`` column over
    as ``int64``: an integer batch wider than 16 bits is refused without ``dtype``), and in
    the layout ``channels_last``, or the one their shape shows (refused when ambiguous): HF
    stores images channels-last, and its torch format gives ``Image`` columns channels-first.

    Without ``index_column`` the keys are the rows of the dataset ``map`` runs on: inject before
    ``shuffle``, ``select`` or ``train_test_split``, and never key an ``IterableDataset`` by
    ``with_indices`` (it counts per worker and follows the shuffle).

    Args:
        injector: an [`Injector`][signalinject.core.Injector] or
            [`Compose`][signalinject.core.Compose].
        column: the column holding the samples.
        label_column: the column holding the integer labels.
        output_column: where to write the injected samples (default: ``column``).
        channels_last: the layout of array/tensor images (default: read from their shape).
        index_column: a column of stable integer ids to key the draws by.
        index_offset: added to every key (see
            [`InjectedDataset`][signalinject.adapters.InjectedDataset]).
        dtype: the stored dtype of array/tensor samples (e.g. ``"uint8"``): injected and
            returned in it.
        all_columns: True: return every column of the batch, ``output_column`` injected
            (what ``with_transform``/``set_transform`` need: they show only what the function
            returns); False: only ``output_column`` (what ``map`` needs: it keeps the other
            columns itself, and would re-encode any returned). None (default): every column
            when called without ``indices`` (as ``with_transform`` calls it), else only
            ``output_column``; pass False to ``map`` with ``index_column`` and without
            ``with_indices``.

    The installed signalinject version is a field (``version``), so ``map``'s cache fingerprint
    changes with it: an upgrade never reuses a cache written by another version.
    """

    injector: Injector | Compose
    column: str = "image"
    label_column: str = "label"
    output_column: str | None = None
    channels_last: bool | None = None
    index_column: str | None = None
    index_offset: int = 0
    dtype: str | None = None
    all_columns: bool | None = None
    version: str = dataclasses.field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        who = "HFInjectMap"
        _check_injector(who, self.injector)
        for name in ("column", "label_column"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{who}: {name} must be a str, got {getattr(self, name)!r}")
        for name in ("output_column", "index_column", "dtype"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise TypeError(f"{who}: {name} must be a str or None, got {getattr(self, name)!r}")
        if self.dtype is not None:
            try:
                np.dtype(self.dtype)
            except TypeError:
                raise TypeError(
                    f"{who}: dtype must name a NumPy dtype, got {self.dtype!r}"
                ) from None
        _check_layout_arg(who, self.channels_last)
        _check_offset(who, self.index_offset)
        if self.all_columns is not None and not isinstance(self.all_columns, bool):
            raise TypeError(
                f"{who}: all_columns must be True, False or None, got {self.all_columns!r}"
            )
        object.__setattr__(self, "version", _version())

    def __call__(
        self, batch: Mapping[str, Any], indices: Sequence[int] | None = None
    ) -> dict[str, Any]:
        """Inject one batch: ``batch`` maps column names to ``N`` values, ``indices`` has ``N``
        (``map``'s ``with_indices``; not needed with ``index_column``)."""
        who = "HFInjectMap"
        cols = [self.column, self.label_column]
        if self.index_column is not None:
            cols.append(self.index_column)
        for col in cols:
            if col not in batch:
                raise ValueError(f"{who}: no column {col!r} in the batch; columns: {sorted(batch)}")
        if self.index_column is not None:
            ids = batch[self.index_column]
            idx = np.asarray(ids.cpu() if isinstance(ids, torch.Tensor) else ids)
            if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
                raise TypeError(
                    f"{who}: index_column {self.index_column!r} must hold one integer per row, "
                    f"got {idx.dtype} of shape {idx.shape}"
                )
            idx = idx.astype(np.int64)
        else:
            if (
                indices is None
                or isinstance(indices, numbers.Integral)
                or not hasattr(indices, "__len__")
            ):
                raise TypeError(
                    f"{who}: indices must be a list of row indices; call Dataset.map(fn, "
                    f"batched=True, with_indices=True), or key by a column with index_column="
                )
            idx = np.asarray(to_backend(indices, np.empty(0), name=f"{who}: indices"))
        idx = idx + self.index_offset
        values, labels = batch[self.column], batch[self.label_column]
        if len(values) != len(idx) or len(labels) != len(idx):
            raise ValueError(
                f"{who}: the batch has {len(values)} samples, {len(labels)} labels and "
                f"{len(idx)} keys; call Dataset.map(fn, batched=True, with_indices=True)"
            )
        out_col = self.column if self.output_column is None else self.output_column
        injected = self._inject(values, labels, idx)
        every = indices is None if self.all_columns is None else self.all_columns
        return {**batch, out_col: injected} if every else {out_col: injected}

    def _inject(self, values: Any, labels: Any, idx: npt.NDArray[np.int64]) -> Any:
        who = "HFInjectMap"
        y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
        if isinstance(values, torch.Tensor) or (
            isinstance(values, np.ndarray) and values.dtype != object
        ):
            return self._inject_array(values, y, idx)
        values = list(values)
        if values and all(isinstance(v, str) for v in values):
            yt = to_backend(y, idx, name="labels")
            _check_batch_labels(who, yt, idx, self.injector.num_classes)
            return self.injector(values, yt, index=idx)
        pil = [_is_pil(v) for v in values]
        if not any(pil):
            try:
                arr = np.asarray(values)
            except ValueError:  # ragged nested lists
                arr = np.empty(0, dtype=object)
            if arr.dtype != object and arr.ndim >= 2:
                return self._inject_array(arr, y, idx)
        arrays = [pil_to_array(v) if p else np.asarray(v) for v, p in zip(values, pil, strict=True)]
        if not all(pil):
            raise TypeError(
                f"{who}: the column {self.column!r} must hold PIL images, arrays of one shape, "
                f"or str, got {sorted({_describe(a) for a in arrays})}"
            )
        _check_batch_labels(who, y, idx, self.injector.num_classes)
        kw = {"channels_last": True} if self.injector.kind == "image" else {}  # PIL is (H, W, C)
        try:
            if all(a.shape == arrays[0].shape and a.dtype == arrays[0].dtype for a in arrays):
                injected = list(self.injector(np.stack(arrays), y, index=idx, **kw))
            else:
                injected = [
                    self.injector(a, int(yi), index=int(i), **kw)
                    for a, yi, i in zip(arrays, y, idx, strict=True)
                ]
            return [_array_to_pil(a, v) for a, v in zip(injected, values, strict=True)]
        except (ValueError, TypeError) as e:
            raise _reraise_at(e, f"{who}: rows {int(idx[0])}..{int(idx[-1])}") from e

    def _inject_array(self, x: Any, y: npt.NDArray[Any], idx: npt.NDArray[np.int64]) -> Any:
        """Inject a numeric array/tensor batch in the stored dtype and the shown layout."""
        who = "HFInjectMap"
        _check_batch_labels(who, y, idx, self.injector.num_classes)
        kw: dict[str, Any] = {}
        if self.injector.kind == "image":
            x = self._stored(x)
            cl = self.channels_last
            if cl is None and x.ndim == 4:
                cl = _layout_from_shape(who, tuple(x.shape[1:]))
            kw["channels_last"] = cl
        if isinstance(x, torch.Tensor):
            yb: Any = torch.from_numpy(np.ascontiguousarray(y))
            ib: Any = torch.from_numpy(idx).to(x.device)
        else:
            yb, ib = y, idx
        return _inject_batch(who, self.injector, x, yb, ib, kw)

    def _stored(self, x: Any) -> Any:
        """``x`` in the stored dtype (refusing a lossy cast, or a widened one without dtype)."""
        who = "HFInjectMap"
        if self.dtype is None:
            itemsize = x.element_size() if isinstance(x, torch.Tensor) else x.dtype.itemsize
            is_int = (
                (not x.dtype.is_floating_point)
                if isinstance(x, torch.Tensor)
                else (np.issubdtype(x.dtype, np.integer))
            )
            if is_int and itemsize > 2:
                raise ValueError(
                    f"{who}: column {self.column!r} arrives as {x.dtype}, which HF formats give "
                    f"any integer column (its stored dtype is usually uint8) and its features "
                    f"do not say otherwise; pass the stored dtype, e.g. dtype='uint8' "
                    f"(HFInjectMap(..., dtype='uint8') or hf_inject(..., dtype='uint8'))"
                )
            return x
        target = np.dtype(self.dtype)
        if isinstance(x, torch.Tensor):
            tt = torch.from_numpy(np.empty(0, target)).dtype
            out = x.to(tt)
            exact = bool(torch.equal(out.to(x.dtype), x))
        else:
            out = x.astype(target)
            exact = bool(np.array_equal(out.astype(x.dtype), x))
        if not exact:
            raise ValueError(
                f"{who}: column {self.column!r} holds values that {self.dtype} cannot store "
                f"exactly (got {x.dtype}, range {float(x.min()):g}..{float(x.max()):g}); pass the "
                f"column's stored dtype"
            )
        return out


def _feature_dtype_layout(feature: Any) -> tuple[str | None, bool | None, bool]:
    """``(dtype, channels_last, is_image)`` of an HF feature (None where it does not say)."""
    name = type(feature).__name__
    if name == "Image":
        return None, True, True
    if hasattr(feature, "shape") and hasattr(feature, "dtype"):  # Array2D..Array5D
        shape = tuple(feature.shape)
        cl = _layout_from_shape("hf_inject", shape) if len(shape) == 3 else None
        return str(feature.dtype), cl, False
    inner = feature
    while hasattr(inner, "feature"):  # List / Sequence / LargeList, nested
        inner = inner.feature
    dt = getattr(inner, "dtype", None)
    if inner is not feature and isinstance(dt, str) and dt not in ("string", "large_string"):
        return dt, None, False
    return None, None, False


def hf_inject(
    dataset: Any,
    injector: Injector | Compose,
    *,
    column: str = "image",
    label_column: str = "label",
    output_column: str | None = None,
    index_column: str | None = None,
    index_offset: int = 0,
    channels_last: bool | None = None,
    dtype: str | None = None,
    **map_kwargs: Any,
) -> Any:
    """A Hugging Face ``Dataset`` or ``IterableDataset`` whose ``column`` carries the signal.

    Reads the column's feature to inject in its stored layout and dtype (an ``Image`` feature
    as PIL images, channels-last; an array or list feature in its NumPy dtype, e.g. ``uint8``
    stays ``uint8``, clipped in range), declares the output features so that Arrow keeps that
    dtype, and restores the dataset's format. The keys are ``batch[index_column]`` (a stable id
    column) or the row indices of ``dataset``, plus ``index_offset``.

    Args:
        dataset: a ``datasets.Dataset`` or ``datasets.IterableDataset``.
        injector: an [`Injector`][signalinject.core.Injector] or
            [`Compose`][signalinject.core.Compose].
        column: the column holding the samples.
        label_column: the column holding the integer labels.
        output_column: where to write the injected samples (default: ``column``).
        index_column: a column of stable integer ids to key the draws by (required for an
            ``IterableDataset``).
        index_offset: added to every key (see
            [`InjectedDataset`][signalinject.adapters.InjectedDataset]).
        channels_last: overrides the layout the feature declares.
        dtype: the stored dtype of array samples (e.g. ``"uint8"``) where the features do not
            declare it (a stream without features); overrides the feature's dtype.
        **map_kwargs: passed to ``map`` (``num_proc=``, ``batch_size=``, ...).

    Raises:
        ValueError: an ``IterableDataset`` without ``index_column`` (its ``with_indices``
            counts per worker and follows the shuffle: no stable key); a ``Dataset`` seen
            through an indices mapping (after ``shuffle``, ``filter``, ``train_test_split``,
            a non-contiguous ``select``) without ``index_column``: its row positions follow
            the mapping, not the rows; a missing column.
    """
    import datasets

    who = "hf_inject"
    iterable = isinstance(dataset, datasets.IterableDataset)
    if not iterable and not isinstance(dataset, datasets.Dataset):
        raise TypeError(
            f"{who}: dataset must be a datasets.Dataset or IterableDataset, got "
            f"{type(dataset).__name__}"
        )
    if iterable and index_column is None:
        raise ValueError(
            f"{who}: an IterableDataset has no stable row index (with_indices counts per "
            f"worker and follows the shuffle); pass index_column= a column of stable ids"
        )
    if not iterable and index_column is None and getattr(dataset, "_indices", None) is not None:
        raise ValueError(
            f"{who}: the dataset is seen through an indices mapping (after shuffle, filter, "
            f"train_test_split or select), so its row positions are not stable keys: row i is "
            f"another sample after each shuffle; pass index_column= a column of stable ids, "
            f"inject before shuffling, or call dataset.flatten_indices() to make the current "
            f"order the keys on purpose"
        )
    if dtype is not None and not isinstance(dtype, str):
        raise TypeError(f"{who}: dtype must be a str or None, got {dtype!r}")
    features = dataset.features
    if features is not None and column not in features:
        raise ValueError(f"{who}: no column {column!r}; columns: {sorted(features)}")
    stored, cl, is_image = (None, None, False)
    if features is not None:
        stored, cl, is_image = _feature_dtype_layout(features[column])
    if dtype is not None:
        stored = dtype
    if channels_last is not None:
        cl = channels_last
    fn = HFInjectMap(
        injector,
        column=column,
        label_column=label_column,
        output_column=output_column,
        channels_last=cl,
        index_column=index_column,
        index_offset=index_offset,
        dtype=stored,
        all_columns=False,  # map keeps the other columns itself
    )
    out_features = None
    if features is not None:
        out_features = features.copy()
        out_features[output_column or column] = features[column]
    fmt = None if iterable else dataset.format
    source = dataset.with_format(None if is_image or stored is None else "numpy")
    out = source.map(
        fn, batched=True, with_indices=index_column is None, features=out_features, **map_kwargs
    )
    if fmt is not None and fmt["type"] is not None:
        cols = fmt["columns"]
        if cols is not None and output_column is not None and output_column not in cols:
            cols = [*cols, output_column]
        out = out.with_format(
            fmt["type"],
            columns=cols,
            output_all_columns=fmt["output_all_columns"],
            **fmt["format_kwargs"],
        )
    elif fmt is not None:
        out = out.with_format(None)
    else:  # an IterableDataset: its format is not public; None when unformatted
        out = out.with_format(getattr(getattr(dataset, "_formatting", None), "format_type", None))
    return out
