"""A small, fast trainer for the benchmarks' torch models: CPU or CUDA, one process or DDP.

- Device ``"auto"``: CUDA when present, else CPU. On CUDA: bf16 autocast (``amp``), channels-last
  images (``channels_last``), the whole data set moved to the GPU once when it fits, and no
  host sync inside an epoch (the loss and accuracy are summed on the device and read once per
  epoch).
- Reproducible: ``torch.manual_seed(seed)`` (dropout) and the batch order drawn from a
  ``torch.Generator`` seeded with ``seed``, on the CPU, the same on every device.
- ``torch.set_flush_denormal(True)`` while training and predicting: long training on blank
  images (a signal on an all-zero background) can drive values into the denormal range, where
  CPU arithmetic is many times slower (the issue reports ~5x; a 4-epoch PaperConvNet run on
  blank images here showed no difference either way, 3.6-3.9 s).
- Under ``torchrun`` (``WORLD_SIZE`` > 1) it trains with DistributedDataParallel: every rank
  draws the same permutation and takes every ``world_size``-th index of it, padded to equal
  length (what ``DistributedSampler`` does); only rank 0 shows progress.
- ``batch_transform(xb, yb, idx)``, if given, turns every gathered batch into what the model
  sees, on the training device: the data can stay resident as uint8 (4x less memory than
  float32) and be injected and converted batch by batch on the GPU
  ([`image_injection_transform`][signalinject.benchmarks.perf.trainspeed.image_injection_transform]
  builds such a transform from an injector).

Examples:
    >>> import torch
    >>> x = torch.cat([torch.zeros(32, 2), torch.ones(32, 2)])
    >>> y = torch.cat([torch.zeros(32), torch.ones(32)]).long()
    >>> cfg = TrainConfig(epochs=40, batch_size=64, lr=0.05, progress=False)
    >>> _ = torch.manual_seed(0)  # the layer's initial weights, before fit seeds the rest
    >>> net = fit(torch.nn.Linear(2, 2), x, y, cfg)
    >>> predict(net, x, cfg).tolist() == y.tolist()
    True
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from signalinject.benchmarks._preprocess import (
    PREPROCESS_MODES,
    STD_FLOOR,
    Preprocess,
    check_preprocess,
)
from signalinject.core import check_int

__all__ = [
    "PREPROCESS_MODES",
    "BatchTransform",
    "ImageScaling",
    "Preprocess",
    "TrainConfig",
    "fit",
    "predict",
]

#: ``(xb, yb, idx) -> batch``: what `fit` calls on every training batch (see there).
BatchTransform = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How [`fit`][signalinject.benchmarks.train.fit] trains (every field a plain JSON value, so a
    result can record it).

    Attributes:
        epochs: passes over the training set.
        batch_size: samples per step (per process under DDP).
        lr: peak learning rate of AdamW; decays to 0 along a cosine (``schedule="cosine"``) or
            stays (``"constant"``).
        weight_decay: AdamW's decoupled weight decay (0.01, PyTorch's default).
        device: ``"auto"`` (CUDA if available, else CPU), or any torch device string.
        seed: seeds dropout (``torch.manual_seed``) and the batch order.
        amp: bf16 autocast on CUDA (ignored on CPU).
        channels_last: channels-last memory format for 4-D inputs on CUDA (ignored on CPU).
        compile: train through ``torch.compile(model)``.
        progress: a tqdm progress bar (rank 0 only).
        schedule: ``"cosine"`` or ``"constant"`` learning rate.
        flush_denormal: flush denormal floats to zero on the CPU during training/prediction.
        device_data_fraction: move the data to the GPU when it takes at most this fraction of
            the free GPU memory; otherwise it stays in pinned host memory and goes per batch.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01
    device: str = "auto"
    seed: int = 0
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    progress: bool = True
    schedule: Literal["cosine", "constant"] = "cosine"
    flush_denormal: bool = True
    device_data_fraction: float = 0.5

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, low=1)
        check_int("batch_size", self.batch_size, low=1)
        check_int("seed", self.seed, low=0, high=2**63 - 1)
        for name in ("lr", "weight_decay", "device_data_fraction"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise TypeError(f"{name} must be a finite number, got {v!r}")
            if v < 0 or (name == "lr" and v == 0):
                raise ValueError(f"{name} must be {'> 0' if name == 'lr' else '>= 0'}, got {v}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if not isinstance(self.device, str):
            raise TypeError(
                f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got {self.device!r}"
            )


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; anything else as ``torch.device``.

    Raises:
        ValueError: an unparsable device, or CUDA asked for where there is none.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device must be 'auto' or a torch device string, got {device!r}") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for CUDA, but CUDA is not available here")
    return dev


@dataclasses.dataclass(frozen=True, eq=False)
class ImageScaling:
    """The affine map ``(x - shift) / scale`` that turns uint8 images into a model's input.

    Build it with [`fit`][signalinject.benchmarks.train.ImageScaling.fit] from one training set;
    the same map then serves the test set, the wrong-signal copy and the clean test images (the
    statistics are the training set's only).

    Attributes:
        mode: the `Preprocess` mode it was fitted for.
        shift: float32, ``(C,)`` per channel or ``(H, W, C)`` per position (0 for ``unit`` and
            ``raw``), in 0..255 units.
        scale: float32 of ``shift``'s shape, every value >= `STD_FLOOR` (255 for ``unit``, 1 for
            ``raw``).

    Examples:
        >>> x = np.zeros((4, 2, 2, 3), np.uint8); x[0] = 10
        >>> s = ImageScaling.fit(x, "standardize")
        >>> s.shift.tolist(), [round(v, 3) for v in s.scale.tolist()]
        ([2.5, 2.5, 2.5], [4.33, 4.33, 4.33])
        >>> blank = ImageScaling.fit(np.zeros_like(x), "standardize")
        >>> blank.scale.tolist()  # the floor
        [1.0, 1.0, 1.0]
    """

    mode: Preprocess
    shift: npt.NDArray[np.float32]
    scale: npt.NDArray[np.float32]

    @classmethod
    def fit(cls, x_train: npt.NDArray[np.uint8], mode: str) -> ImageScaling:
        """The map of ``mode`` for training images ``x_train``, uint8 ``(N, H, W, C)``.

        ``standardize``: the mean and the standard deviation (population, ``ddof=0``) of each
        channel over ``(N, H, W)``; ``standardize_pixel``: of each ``(H, W, C)`` position over
        ``N``; the deviation floored at `STD_FLOOR`. ``unit``: ``x / 255``; ``raw``: ``x``. The
        sums are exact integers (int64), so the statistics do not depend on the order of the
        images or on how they are chunked.

        Raises:
            TypeError: ``x_train`` is not a uint8 NumPy array.
            ValueError: not 4-D, no image, or an unknown ``mode``.
        """
        checked = check_preprocess(mode)
        x = _check_images("ImageScaling.fit", x_train)
        c = x.shape[3]
        if checked in ("unit", "raw"):
            full = 255.0 if checked == "unit" else 1.0
            return cls(checked, np.zeros(c, np.float32), np.full(c, full, np.float32))
        if len(x) == 0:
            raise ValueError(f"ImageScaling.fit needs at least one image, got shape {x.shape}")
        # A few million values at a time: the temporaries stay a few tens of MB on CIFAR-10.
        step = max(1, (1 << 22) // x[0].size)
        if checked == "standardize":
            # A histogram of each channel's 256 values gives both sums exactly, ~5x faster
            # than summing widened copies (the sweep fits one map per cell).
            counts = np.zeros((c, 256), np.int64)
            for i in range(0, len(x), step):
                flat = x[i : i + step].reshape(-1, c)
                for k in range(c):
                    counts[k] += np.bincount(flat[:, k], minlength=256)
            levels = np.arange(256, dtype=np.int64)
            s1, s2 = counts @ levels, counts @ (levels * levels)
            n = float(x.size // c)
        else:
            s1 = np.zeros(x.shape[1:], np.int64)
            s2 = np.zeros_like(s1)
            for i in range(0, len(x), step):
                part = x[i : i + step]
                s1 += part.sum(axis=0, dtype=np.int64)
                s2 += np.square(part, dtype=np.uint16).sum(axis=0, dtype=np.int64)  # < 2**16
            n = float(len(x))
        mean = s1 / n
        var = np.maximum(s2 / n - mean * mean, 0.0)
        std = np.maximum(np.sqrt(var), STD_FLOOR)
        return cls(checked, mean.astype(np.float32), std.astype(np.float32))

    def to_tensor(
        self, x: npt.NDArray[np.uint8], *, device: str | torch.device | None = None
    ) -> torch.Tensor:
        """uint8 images ``(N, H, W, C)`` -> float32 ``(N, C, H, W)`` (contiguous) on ``device``,
        mapped. The uint8 array travels to the device before the conversion (4x less to copy).

        Raises:
            TypeError: not a uint8 NumPy array.
            ValueError: not 4-D, or images of another shape than the map's.
        """
        x = self._check(x)
        # torch refuses to share read-only memory (and warns); copy such arrays.
        arr = np.ascontiguousarray(x) if x.flags.writeable else np.array(x)
        t = torch.from_numpy(arr)
        if device is not None:
            t = t.to(resolve_device(device))
        out = t.permute(0, 3, 1, 2).to(torch.float32).contiguous()
        if self.mode == "raw":
            return out
        if self.mode == "unit":
            return out.div_(255.0)
        shift, scale = (torch.from_numpy(_chw(a)).to(out.device) for a in (self.shift, self.scale))
        return out.sub_(shift).div_(scale)

    def to_features(self, x: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """uint8 images ``(N, H, W, C)`` -> float32 ``(N, H * W * C)``, mapped (a user's
        estimator's features; the pixel order of
        [`baselines.features`][signalinject.benchmarks.baselines.features]).

        Raises:
            TypeError: not a uint8 NumPy array.
            ValueError: not 4-D, or images of another shape than the map's.
        """
        x = self._check(x)
        out = x.astype(np.float32)
        if self.mode != "raw":
            out -= self.shift
            out /= self.scale
        return out.reshape(len(out), -1)

    def _check(self, x_in: Any) -> npt.NDArray[np.uint8]:
        x = _check_images(f"ImageScaling({self.mode!r})", x_in)
        if self.shift.ndim == 3 and x.shape[1:] != self.shift.shape:
            raise ValueError(
                f"ImageScaling({self.mode!r}) was fitted on images of shape (N, "
                f"{', '.join(map(str, self.shift.shape))}), got {x.shape}"
            )
        if x.shape[3] != self.shift.shape[-1]:
            raise ValueError(
                f"ImageScaling({self.mode!r}) was fitted on {self.shift.shape[-1]} channels, "
                f"got images of shape {x.shape}"
            )
        return x


def _check_images(who: str, x: Any) -> npt.NDArray[np.uint8]:
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8:
        what = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{who} needs a uint8 numpy array (N, H, W, C), got {what}")
    if x.ndim != 4:
        raise ValueError(f"{who} needs images (N, H, W, C), got shape {x.shape}")
    return x


def _chw(a: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A per-channel ``(C,)`` or per-position ``(H, W, C)`` statistic, shaped to broadcast
    over ``(N, C, H, W)``."""
    if a.ndim == 1:
        return np.ascontiguousarray(a.reshape(-1, 1, 1))
    return np.ascontiguousarray(a.transpose(2, 0, 1))


def images_to_tensor(
    x: npt.NDArray[np.uint8],
    *,
    preprocess: Literal["unit", "raw"] | ImageScaling = "unit",
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """uint8 images ``(N, H, W, C)`` -> float32 ``(N, C, H, W)`` (contiguous) on ``device``.

    ``"unit"`` divides by 255 (values in [0, 1]); ``"raw"`` keeps 0..255; an
    [`ImageScaling`][signalinject.benchmarks.train.ImageScaling] applies its map (the
    standardising modes need the training set's statistics: fit one there). The uint8 array
    travels to the device before the conversion (4x less to copy).

    Raises:
        TypeError: not a uint8 NumPy array.
        ValueError: not 4-D, or ``preprocess`` neither ``"unit"``, ``"raw"`` nor a map.
    """
    if isinstance(preprocess, ImageScaling):
        return preprocess.to_tensor(x, device=device)
    if preprocess not in ("unit", "raw"):
        raise ValueError(
            f"preprocess must be 'unit', 'raw' or an ImageScaling (the standardising modes "
            f"need the training set's statistics: ImageScaling.fit), got {preprocess!r}"
        )
    x = _check_images("images_to_tensor", x)
    return ImageScaling.fit(x[:0], preprocess).to_tensor(x, device=device)


# -- internals ------------------------------------------------------------------------------------
@contextlib.contextmanager
def _flush_denormal(enabled: bool) -> Iterator[None]:
    """Flush denormals inside the block, then back to the default (the flag is global)."""
    on = enabled and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if on:
            torch.set_flush_denormal(False)


_LOCAL = contextvars.ContextVar("signalinject_local_training", default=False)


@contextlib.contextmanager
def local_training() -> Iterator[None]:
    """Inside the block [`fit`][signalinject.benchmarks.train.fit] trains in this process alone,
    even under torchrun (each rank
    its own cells: `run_grid` with
        ``parallel="cells"``)."""
    token = _LOCAL.set(True)
    try:
        yield
    finally:
        _LOCAL.reset(token)


def _dist_env() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment; ``(0, 1, 0)`` without it
    or inside `local_training`."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not torch.distributed.is_available() or _LOCAL.get():
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager[Any]:
    if device.type == "cuda" and amp:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _prepare(x: torch.Tensor, device: torch.device, cfg: TrainConfig) -> torch.Tensor:
    """``x`` on ``device`` when it fits there (else pinned on the host), in the right layout."""
    if x.device != device:
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            if x.numel() * x.element_size() <= cfg.device_data_fraction * free:
                x = x.to(device)
            elif x.device.type == "cpu":
                x = x.pin_memory()
        else:
            x = x.to(device)
    return _layout(x, device, cfg)


def _layout(x: torch.Tensor, device: torch.device, cfg: TrainConfig) -> torch.Tensor:
    """``x`` in the training layout: channels-last for 4-D floating inputs on CUDA."""
    if device.type == "cuda" and cfg.channels_last and x.ndim == 4 and x.is_floating_point():
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _gather(x: torch.Tensor, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Rows ``idx`` (on ``x``'s device) of ``x``, on ``device``: always a new tensor.

    A channels-last ``x`` gives a channels-last batch, gathered as whole contiguous
    ``(H, W, C)`` rows: ``index_select`` on the 4-D tensor itself would return a contiguous
    ``(N, C, H, W)`` batch through a strided gather, which the channels-last step would then
    transpose back.
    """
    cl = torch.channels_last
    if x.ndim == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=cl):
        xb = x.permute(0, 2, 3, 1).index_select(0, idx).permute(0, 3, 1, 2)
    else:
        xb = x.index_select(0, idx)
    return xb.to(device, non_blocking=True)


def _transformed(
    transform: BatchTransform, xb: torch.Tensor, yb: torch.Tensor, idx: torch.Tensor
) -> torch.Tensor:
    """``transform(xb, yb, idx)``, checked (shape and device only: no host sync)."""
    out = transform(xb, yb, idx)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"batch_transform must return a torch tensor, got {type(out).__name__}")
    if out.ndim < 1 or out.shape[0] != xb.shape[0] or out.device != xb.device:
        raise ValueError(
            f"batch_transform must return the batch's {xb.shape[0]} samples on {xb.device}, "
            f"got shape {tuple(out.shape)} on {out.device}"
        )
    return out


def _check_xy(x: Any, y: Any) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(
            f"fit needs torch tensors x and y, got {type(x).__name__} and {type(y).__name__}"
        )
    if y.ndim != 1 or y.dtype != torch.int64:
        raise ValueError(f"y must be int64 labels (N,), got {y.dtype} {tuple(y.shape)}")
    if x.ndim < 1 or x.shape[0] != y.shape[0] or y.shape[0] == 0:
        raise ValueError(
            f"x and y must hold the same number (>= 1) of samples, got x {tuple(x.shape)} and "
            f"y {tuple(y.shape)}"
        )


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    *,
    history: list[dict[str, float]] | None = None,
    batch_transform: BatchTransform | None = None,
) -> nn.Module:
    """Train ``model`` on ``(x, y)`` with cross-entropy and AdamW; return it (in eval mode).

    Args:
        model: logits ``(N, K)`` from ``x``'s samples (after ``batch_transform``, if any).
        x: inputs ``(N, ...)`` (float images, int64 codes, or anything ``batch_transform``
            turns into the model's input, such as uint8 images), on any device.
        y: int64 labels ``(N,)`` in ``0..K-1``.
        cfg: the settings.
        history: if given, one ``{"epoch", "loss", "accuracy", "seconds"}`` per epoch is
            appended: training loss and accuracy of the epoch, averaged over all its samples
            and ranks, and its wall-clock seconds on this rank, up to the epoch's one host sync
            (so on CUDA every kernel of the epoch is included; the first epoch also holds the
            warm-up: cuDNN autotuning, ``torch.compile``).
        batch_transform: if given, called on every training batch as
            ``batch_transform(xb, yb, idx)``: ``xb`` the batch as gathered from ``x`` on the
            training device (a new tensor, which the transform may overwrite; before the
            channels-last step), ``yb`` its int64 labels ``(B,)`` and ``idx`` the int64 indices
            ``(B,)`` of its samples in ``x``, both on the same device. It returns the batch the
            model sees (``B`` samples on that device); a 4-D floating result is then made
            channels-last on CUDA as usual. It should not wait for the GPU (no ``.item()``,
            no data-dependent shapes): the loop has no host sync of its own. The batch order,
            the DDP split and the seeds are the same with or without it.

    Returns:
        ``model`` itself (never a DDP or compiled wrapper), on the training device.

    Raises:
        TypeError: ``x``/``y`` not tensors, ``batch_transform`` not callable, or it returns no
            tensor.
        ValueError: bad labels or lengths, or a transformed batch of another length or device.
    """
    _check_xy(x, y)
    if batch_transform is not None and not callable(batch_transform):
        raise TypeError(
            f"batch_transform must be None or a callable (xb, yb, idx) -> tensor, got "
            f"{type(batch_transform).__name__}"
        )
    rank, world, local_rank = _dist_env()
    device = resolve_device(cfg.device)
    if device.type == "cuda" and device.index is None:  # "cuda" -> "cuda:0": comparable
        device = torch.device("cuda", torch.cuda.current_device())
    if world > 1:
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    torch.manual_seed(cfg.seed)
    model.to(device)
    if device.type == "cuda" and cfg.channels_last and x.ndim == 4:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x, y = _prepare(x, device, cfg), y.to(device)
    net: nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)  # type: ignore[assignment]

    n = x.shape[0]
    per_rank = math.ceil(n / world)
    steps_per_epoch = math.ceil(per_rank / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.schedule == "cosine":
        sched: Any = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        )
    else:
        sched = None
    order = torch.Generator().manual_seed(cfg.seed)  # CPU: the same order on every device

    bar: Any = None
    if cfg.progress and rank == 0:
        from tqdm import tqdm

        # disable=None: no bar off a terminal (a captured log gets the run's plain lines alone)
        bar = tqdm(
            total=total, desc=f"train {type(model).__name__}", unit="step", leave=False,
            disable=None,
        )  # fmt: skip
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # the first epoch's clock starts on an idle GPU
    with _flush_denormal(cfg.flush_denormal):
        model.train()
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            perm = torch.randperm(n, generator=order)
            if world > 1:  # DistributedSampler: pad by wrapping around, then stride by rank
                perm = perm.repeat(math.ceil(per_rank * world / n))[: per_rank * world]
                perm = perm[rank::world]
            # The order next to the data (and next to the labels, when they live elsewhere):
            # no index crosses devices inside the epoch.
            perm_x = perm.to(x.device)
            perm = perm_x if x.device == device else perm.to(device)
            # float64 sums: exact counts and a stable mean over millions of samples.
            loss_sum = torch.zeros((), device=device, dtype=torch.float64)
            correct = torch.zeros((), device=device, dtype=torch.int64)
            for start in range(0, len(perm), cfg.batch_size):
                idx = perm[start : start + cfg.batch_size]
                xb = _gather(x, perm_x[start : start + cfg.batch_size], device)
                yb = y.index_select(0, idx)
                if batch_transform is not None:
                    xb = _transformed(batch_transform, xb, yb, idx)
                xb = _layout(xb, device, cfg)
                with _autocast(device, cfg.amp):
                    logits = net(xb)
                loss = F.cross_entropy(logits.float(), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
                if sched is not None:
                    sched.step()
                # Summed on the device: nothing here waits for the GPU.
                loss_sum += loss.detach().double() * len(idx)
                correct += (logits.detach().argmax(1) == yb).sum()
                if bar is not None:
                    bar.update()
            stats = torch.stack([loss_sum, correct.to(loss_sum.dtype)])
            if world > 1:
                torch.distributed.all_reduce(stats)
            loss_v, correct_v = stats.tolist()  # the one host sync of the epoch
            seconds = time.perf_counter() - t0  # after the sync: the epoch's GPU work is done
            count = len(perm) * world  # every rank ran the same number of samples
            if bar is not None:
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss_v / count:.4f}",
                                acc=f"{correct_v / count:.3f}")  # fmt: skip
            if history is not None:
                history.append(
                    {
                        "epoch": epoch + 1,
                        "loss": loss_v / count,
                        "accuracy": correct_v / count,
                        "seconds": seconds,
                    }
                )
    if bar is not None:
        bar.close()
    return model.eval()


def predict(
    model: nn.Module, x: torch.Tensor, cfg: TrainConfig, batch_size: int = 1024
) -> npt.NDArray[np.int64]:
    """The class of highest logit for each sample: int64 ``(N,)`` on the host.

    Runs on the device of the model's parameters (``x`` moves there batch by batch), in eval
    mode, under inference mode and ``cfg``'s autocast; one transfer to the host at the end.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"predict needs a torch tensor x, got {type(x).__name__}")
    check_int("batch_size", batch_size, low=1)
    param = next(model.parameters(), None)
    device = param.device if param is not None else resolve_device(cfg.device)
    out = torch.empty(x.shape[0], dtype=torch.int64, device=device)
    model.eval()
    with _flush_denormal(cfg.flush_denormal), torch.inference_mode():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device, non_blocking=True)
            if device.type == "cuda" and cfg.channels_last and xb.ndim == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with _autocast(device, cfg.amp):
                out[start : start + len(xb)] = model(xb).argmax(1)
    return out.cpu().numpy()
