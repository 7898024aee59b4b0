"""Training throughput with the signal injected on the device, inside the loop.

The claim under test: the paper's ConvNet trains at >= 250,000 images/s on one H200 GPU with
bf16 autocast, channels-last, batch 1024, the data resident on the GPU and the signal injected
on the GPU inside the training loop. The benchmark trains with
[`fit`][signalinject.benchmarks.train.fit] on random data of the real shapes:

| case | model | resident on the device | per batch, on the device |
|---|---|---|---|
| ``convnet`` | PaperConvNet | float32 ``(N, 3, 32, 32)`` in [0, 1] | nothing (pre-converted) |
| ``convnet+onepixel`` | PaperConvNet | uint8 ``(N, 3, 32, 32)``, 4x smaller | OnePixel, to float |
| ``charcnn`` | CharCNN | int64 codes ``(N, 1014)``, 0..69 | nothing |
| ``charcnn+text`` | CharCNN | the same codes | LengthEncoding (or Mnemonic) written |

Each pair shows the cost of the in-loop injection as a ratio (``vs_clean``). Throughput is
samples per epoch over the epoch's seconds (``fit``'s ``history``: wall-clock time up to the
epoch's one host sync, so every GPU kernel of the epoch is in it), averaged over the epochs
after the first, which holds the warm-up (cuDNN autotuning, ``torch.compile``). Image labels are
0..9, text labels 0..4 (Yelp/Amazon "full").

The in-loop injection uses the injectors' sampling/applying split: the labels are validated
once for the whole data set before training, and each batch runs ``make_params`` then
``apply`` on the device. For OnePixel neither waits for the GPU (its code table is built once per
dtype and device). The text injectors draw their parameters once for the whole data set (they
depend on ``(seed, index, label)`` only) and each batch gathers its rows and applies them: no
per-sample hash at every step.

Run ``python -m signalinject.benchmarks.perf.trainspeed --help``; the numbers measured on the
project's machines are in ``docs/performance.md``.

Examples:
    >>> cfg = TrainSpeedConfig(device="cpu").resolved()
    >>> cfg.n, cfg.text_n, cfg.batch_size, cfg.epochs
    (2048, 256, 256, 3)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from signalinject.benchmarks._files import atomic_write, make_dir
from signalinject.benchmarks.models import CharCNN, PaperConvNet
from signalinject.benchmarks.perf.throughput import _csv, _torch_threads, machine_info
from signalinject.benchmarks.train import (
    BatchTransform,
    TrainConfig,
    _gather,
    fit,
    resolve_device,
)
from signalinject.core import Params, check_int
from signalinject.image import ImageInjector, OnePixel
from signalinject.text import LengthEncoding, Mnemonic, TextInjector

__all__ = ["TrainSpeedConfig", "image_injection_transform", "run"]

CASES: tuple[str, ...] = ("convnet", "convnet+onepixel", "charcnn", "charcnn+text")
TEXT_SIGNALS: tuple[str, ...] = ("LengthEncoding", "Mnemonic")
#: The issue's target for the in-loop case on one H200, and the batch size it is stated at.
TARGET_IMAGES_PER_S = 250_000
TARGET_BATCH_SIZE = 1024
# Defaults per device. CPU: about a minute for the four cases on the project's 2-core VM when it
# is idle (a training step at batch 256 measured there: PaperConvNet ~400 images/s, CharCNN
# ~65 texts/s), 2-3 minutes when other jobs share the cores.
_CUDA_N, _CUDA_BATCH = 50_000, 1024
_CPU_N, _CPU_TEXT_N, _CPU_BATCH = 2048, 256, 256
_IMAGE_SHAPE = (3, 32, 32)
_TEXT_LENGTH = 1014
_CLEAN_OF = {"convnet+onepixel": "convnet", "charcnn+text": "charcnn"}


# -- the in-loop transforms ----------------------------------------------------------------------
def image_injection_transform(
    inj: ImageInjector, x: torch.Tensor, y: torch.Tensor, *, channels_last: bool = True
) -> BatchTransform:
    """A ``fit`` batch transform: inject ``inj`` into uint8 images, convert them to float.

    Checks once, before training, what a per-batch check would pay a host sync for at every
    step: the labels ``y`` of the whole data set and that the signal fits images of ``x``'s
    shape and dtype (``inj.prepare(x)``). Each batch then runs the prepared injector, which
    writes into the gathered batch in place (``fit`` gathers a new tensor per batch), and
    returns float32 ``xb / 255`` in [0, 1], laid out channels-last on CUDA when
    ``channels_last`` (as ``fit`` wants it: no second copy). The per-sample draws are keyed by
    the data set index ``idx``: training on ``x`` with this transform gives the same batches as
    training on ``inj(x, y).float() / 255``.

    Args:
        inj: an image injector (``OnePixel``, ``PatternPixels``, ...).
        x: the training images, uint8 ``(N, C, H, W)``.
        y: their int64 labels ``(N,)`` on ``x``'s device, those ``fit`` will train on.
        channels_last: channels-last float batches on CUDA (``TrainConfig.channels_last``).

    Returns:
        ``transform(xb, yb, idx) -> float32 (B, C, H, W)`` for ``fit(..., batch_transform=)``.

    Raises:
        TypeError: not an image injector, or ``x`` not a uint8 tensor.
        ValueError: ``x`` not 4-D, labels out of range or of the wrong length, or a signal that
            does not fit the images.

    Examples:
        >>> import torch, signalinject as si
        >>> x = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
        >>> t = image_injection_transform(si.OnePixel(10), x, torch.tensor([7, 0, 1, 2]))
        >>> xb = t(x[[0, 3]].clone(), torch.tensor([7, 2]), torch.tensor([0, 3]))
        >>> xb.dtype, (xb[:, :, 0, 0] * 255).round().tolist()
        (torch.float32, [[7.0, 7.0, 7.0], [2.0, 2.0, 2.0]])
    """
    if not isinstance(inj, ImageInjector):
        raise TypeError(f"image_injection_transform needs an ImageInjector, got {inj!r}")
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8:
        what = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"image_injection_transform needs uint8 images (N, C, H, W), got {what}")
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(
            f"image_injection_transform needs a non-empty batch (N, C, H, W), got shape "
            f"{tuple(x.shape)}"
        )
    inj.check_labels(y, x, single=False)  # the data set's one host sync
    fast = inj.prepare(x)  # raises if the signal cannot fit; then no check per batch

    def transform(xb: torch.Tensor, yb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        fast(xb, yb, idx)  # in place: fit gathers a new tensor per batch
        fmt = torch.channels_last if channels_last and xb.is_cuda else torch.contiguous_format
        return xb.to(torch.float32, memory_format=fmt).div_(255.0)

    return transform


def text_injection_transform(inj: TextInjector, x: torch.Tensor, y: torch.Tensor) -> BatchTransform:
    """A ``fit`` batch transform: write ``inj``'s signal into each batch of integer codes.

    Checks the codes (range, width, dtype) and the labels of the whole data set once and draws
    the per-sample parameters once for all ``N`` samples (they depend on ``(seed, index,
    label)`` only, so no step repeats the hash). Each batch gathers its rows of the parameters by
    ``idx`` and runs ``inj.apply_codes`` in place (``fit`` gathers a new tensor per batch): the
    same codes as ``inj(x, y)``'s rows.

    Args:
        inj: a text injector (``Mnemonic``, ``LengthEncoding``, ...).
        x: the training codes, integer ``(N, L)`` with ``L`` the quantizer's length.
        y: their int64 labels ``(N,)`` on ``x``'s device.

    Returns:
        ``transform(xb, yb, idx) -> codes (B, L)`` for ``fit(..., batch_transform=)``.

    Raises:
        TypeError, ValueError: not a text injector, bad codes or labels (as ``inj(x, y)``).

    Examples:
        >>> import torch, signalinject as si
        >>> x = torch.ones(3, 1014, dtype=torch.int64)
        >>> t = text_injection_transform(si.Mnemonic(5), x, torch.tensor([4, 0, 2]))
        >>> t(x[[2, 0]].clone(), torch.tensor([2, 4]), torch.tensor([2, 0]))[:, 0].tolist()
        [3, 5]
    """
    if not isinstance(inj, TextInjector):
        raise TypeError(f"text_injection_transform needs a TextInjector, got {inj!r}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"text_injection_transform needs codes as a tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(
            f"text_injection_transform needs a non-empty batch of codes (N, L), got shape "
            f"{tuple(x.shape)}"
        )
    labels = inj.check_labels(y, x, single=False)
    inj(x[:1], labels[:1])  # the injector's own checks (dtype, width, quantizer) on one row
    size = inj.resolved_quantizer.size
    lo, hi = (int(v) for v in torch.aminmax(x))  # the range of every code: one pass, one sync
    if lo < 0 or hi > size:
        raise ValueError(
            f"text_injection_transform: codes must be in [0, {size}], got {lo if lo < 0 else hi}"
        )
    params = inj.make_params(labels, torch.arange(x.shape[0], device=x.device), x)
    on_device: dict[torch.device, Params] = {x.device: params}

    def transform(xb: torch.Tensor, yb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        if idx.device not in on_device:  # x stayed on the host: parameters moved once
            on_device[idx.device] = params.map(lambda v: v.to(idx.device))
        inj.apply_codes(xb, on_device[idx.device].take(idx))
        return xb

    return transform


# -- configuration ----------------------------------------------------------------------------
def _positive(name: str, value: object) -> int:
    return check_int(name, value, low=1)


@dataclasses.dataclass(frozen=True)
class TrainSpeedConfig:
    """What to measure (every field a plain JSON value, recorded with the results).

    Attributes:
        device: ``"auto"`` (CUDA if available, else CPU) or a torch device string.
        n: images per epoch; None: 50,000 on CUDA, 2,048 on CPU.
        text_n: texts per epoch; None: 50,000 on CUDA, 256 on CPU.
        batch_size: samples per step; None: 1024 on CUDA, 256 on CPU.
        epochs: epochs per case, the first one untimed (warm-up); at least 2.
        compile: train through ``torch.compile``.
        threads: torch intra-op threads during the run (None: torch's default).
        cases: among `CASES`, in this order.
        text_signal: the ``charcnn+text`` signal, among
            `TEXT_SIGNALS`.
        seed: seed of the data, the weights, the batch order and the injectors.
    """

    device: str = "auto"
    n: int | None = None
    text_n: int | None = None
    batch_size: int | None = None
    epochs: int = 3
    compile: bool = False
    threads: int | None = None
    cases: tuple[str, ...] = CASES
    text_signal: str = "LengthEncoding"
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got "
                            f"{self.device!r}")  # fmt: skip
        resolve_device(self.device)  # a clear error now for "gpu" or CUDA where there is none
        for name in ("n", "text_n", "batch_size", "threads"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        if check_int("epochs", self.epochs) < 2:
            raise ValueError(
                f"epochs must be at least 2 (the first is warm-up, not timed), got {self.epochs}"
            )
        check_int("seed", self.seed, low=0, high=2**63 - 1)
        cases = (self.cases,) if isinstance(self.cases, str) else tuple(self.cases)
        if not cases:
            raise ValueError(f"cases must name at least one of {', '.join(CASES)}, got none")
        for c in cases:
            if c not in CASES:
                raise ValueError(f"cases must be among {', '.join(CASES)}, got {c!r}")
        if len(set(cases)) != len(cases):
            raise ValueError(f"cases must be distinct, got {', '.join(cases)}")
        object.__setattr__(self, "cases", cases)
        if self.text_signal not in TEXT_SIGNALS:
            raise ValueError(
                f"text_signal must be one of {', '.join(TEXT_SIGNALS)}, got {self.text_signal!r}"
            )

    def resolved(self) -> TrainSpeedConfig:
        """The concrete run: the device resolved, the per-device defaults filled in."""
        dev = resolve_device(self.device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        cuda = dev.type == "cuda"
        return dataclasses.replace(
            self,
            device=str(dev),
            n=self.n if self.n is not None else (_CUDA_N if cuda else _CPU_N),
            text_n=self.text_n if self.text_n is not None else (_CUDA_N if cuda else _CPU_TEXT_N),
            batch_size=self.batch_size or (_CUDA_BATCH if cuda else _CPU_BATCH),
        )


# -- measuring ----------------------------------------------------------------------------------
def _images(n: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Random CIFAR-shaped uint8 images ``(N, 3, 32, 32)`` and labels 0..9, on ``device``.

    Channels-last in memory on CUDA (the training layout there, and what CIFAR's ``(N, H, W,
    C)`` arrays give as ``torch.from_numpy(x).permute(0, 3, 1, 2)``), contiguous on the CPU.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *_IMAGE_SHAPE), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (n,), generator=g)
    fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    return x.to(device, memory_format=fmt), y.to(device)


def _codes(n: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Random int64 codes ``(N, 1014)`` in 0..69 (the quantizer's range), labels 0..4."""
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randint(0, 70, (n, _TEXT_LENGTH), generator=g)
    y = torch.randint(0, 5, (n,), generator=g)
    return x.to(device), y.to(device)


def _case_data(
    case: str, cfg: TrainSpeedConfig, device: torch.device
) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, BatchTransform | None, dict[str, Any]]:
    """The model, data, transform and description of one case."""
    torch.manual_seed(cfg.seed)  # the same initial weights in both cases of a pair
    transform: BatchTransform | None = None
    info: dict[str, Any]
    if case.startswith("convnet"):
        assert cfg.n is not None
        x, y = _images(cfg.n, cfg.seed, device)
        model: torch.nn.Module = PaperConvNet(10)
        if case == "convnet":
            x = x.to(torch.float32).div_(255.0)
            info = {"model": "PaperConvNet", "signal": None, "injection": "none"}
        else:
            inj = OnePixel(10, seed=cfg.seed)
            transform = image_injection_transform(inj, x, y)
            info = {"model": "PaperConvNet", "signal": "OnePixel", "injection": "in loop"}
    else:
        assert cfg.text_n is not None
        x, y = _codes(cfg.text_n, cfg.seed, device)
        model = CharCNN(5)
        if case == "charcnn":
            info = {"model": "CharCNN", "signal": None, "injection": "none"}
        else:
            kind = LengthEncoding if cfg.text_signal == "LengthEncoding" else Mnemonic
            transform = text_injection_transform(kind(5, seed=cfg.seed), x, y)
            info = {"model": "CharCNN", "signal": cfg.text_signal, "injection": "in loop"}
    info["data"] = f"{str(x.dtype).removeprefix('torch.')} {tuple(x.shape)}"
    info["data_bytes"] = x.numel() * x.element_size()
    return model, x, y, transform, info


def _run_case(case: str, cfg: TrainSpeedConfig) -> dict[str, Any]:
    device = torch.device(cfg.device)
    model, x, y, transform, info = _case_data(case, cfg, device)
    assert cfg.batch_size is not None
    train_cfg = TrainConfig(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        device=cfg.device,
        seed=cfg.seed,
        compile=cfg.compile,
        progress=False,
    )
    history: list[dict[str, float]] = []
    fit(model, x, y, train_cfg, history=history, batch_transform=transform)
    seconds = [h["seconds"] for h in history]
    timed = seconds[1:]
    n = int(x.shape[0])
    row: dict[str, Any] = {
        "case": case,
        **info,
        "n": n,
        "batch_size": cfg.batch_size,
        "steps_per_epoch": math.ceil(n / cfg.batch_size),
        "epoch_seconds": seconds,
        "warmup_seconds": seconds[0],
        "seconds_per_epoch": sum(timed) / len(timed),
        "samples_per_s": n * len(timed) / sum(timed),
        "final_loss": history[-1]["loss"],
    }
    if transform is not None:
        batches = _time_transform(transform, x, y, cfg.batch_size, cfg.seed)
        row["transform_ms_per_batch"] = statistics.median(batches) * 1e3
        row["transform_share"] = sum(batches) / row["seconds_per_epoch"]
    return row


def _time_transform(
    transform: BatchTransform, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int
) -> list[float]:
    """Seconds of ``transform`` alone on each batch of one epoch (gathered as ``fit`` does).

    The difference of two training runs is within the noise of a shared machine; this is the
    injection's own cost. Synchronized per batch on CUDA: each time includes the launches.
    """
    sync: Callable[[], None] = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    perm = perm.to(x.device)
    times = []
    for start in range(0, len(perm), batch_size):
        idx = perm[start : start + batch_size]
        xb, yb = _gather(x, idx, x.device), y.index_select(0, idx)
        sync()
        t0 = time.perf_counter()
        transform(xb, yb, idx)
        sync()
        times.append(time.perf_counter() - t0)
    return times


def check_target(rows: Sequence[Mapping[str, Any]], cfg: TrainSpeedConfig) -> dict[str, Any]:
    """The issue's target for a run of ``cfg`` (see
    `judge_target`)."""
    cfg = cfg.resolved()
    assert cfg.batch_size is not None
    return judge_target(rows, torch.device(cfg.device).type, cfg.batch_size)


def judge_target(
    rows: Sequence[Mapping[str, Any]], device_type: str, batch_size: int
) -> dict[str, Any]:
    """The issue's target, judged on the ``convnet+onepixel`` row of a CUDA run at batch 1024.

    Returns ``{"target", "threshold", "value", "met", "verdict"}``: ``met`` is True/False
    where judged, None elsewhere (not CUDA, another batch size, the case not run), and
    ``verdict`` says which and why; ``value`` is the row's images/s (None without the row).

    Examples:
        >>> judge_target([{"case": "convnet+onepixel", "samples_per_s": 3e5}], "cuda", 1024)["met"]
        True
    """
    target = (
        f"PaperConvNet, OnePixel injected on the GPU inside the loop: >= "
        f"{TARGET_IMAGES_PER_S:,} images/s on one H200 (bf16, channels-last, batch "
        f"{TARGET_BATCH_SIZE}, data on the GPU)"
    )
    row = next((r for r in rows if r["case"] == "convnet+onepixel"), None)
    value = None if row is None else float(row["samples_per_s"])
    met: bool | None = None
    if device_type != "cuda":
        verdict = f"not judged ({device_type.upper() if device_type == 'cpu' else device_type})"
    elif value is None:
        verdict = "not measured (the convnet+onepixel case was not run)"
    elif batch_size != TARGET_BATCH_SIZE:
        verdict = (
            f"not judged (batch size {batch_size}; the target is stated at {TARGET_BATCH_SIZE})"
        )
    else:
        met = value >= TARGET_IMAGES_PER_S
        verdict = "met" if met else "not met"
    return {
        "target": target,
        "threshold": TARGET_IMAGES_PER_S,
        "value": value,
        "met": met,
        "verdict": verdict,
    }


def run(cfg: TrainSpeedConfig, log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Train each case of ``cfg`` (resolved first) and return one row per case.

    Each row: ``case``, ``model``, ``signal``, ``injection`` (``"none"`` or ``"in loop"``),
    ``data`` (dtype and shape resident on the device) and ``data_bytes``, ``n``,
    ``batch_size``, ``steps_per_epoch``, ``epoch_seconds`` (every epoch), ``warmup_seconds``
    (the first), ``seconds_per_epoch`` and ``samples_per_s`` (the mean over the timed epochs),
    ``final_loss``, and for an injected case ``vs_clean``: its ``samples_per_s`` over that of
    the same model without injection (when both ran; below 1 is the injection's cost, within
    the noise of the machine), ``transform_ms_per_batch`` (median) and ``transform_share``
    (one epoch of the transform alone over ``seconds_per_epoch``): the injection's own cost.
    """
    cfg = cfg.resolved()
    rows: list[dict[str, Any]] = []
    with _torch_threads(cfg.threads):
        for case in cfg.cases:
            if log is not None:
                log(f"trainspeed: {case} on {cfg.device} ...")
            rows.append(_run_case(case, cfg))
            if torch.device(cfg.device).type == "cuda":
                torch.cuda.empty_cache()  # the next case's data starts from free memory
            if log is not None:
                log(f"trainspeed: {case}: {rows[-1]['samples_per_s']:,.0f} samples/s")
    rate = {r["case"]: r["samples_per_s"] for r in rows}
    for r in rows:
        clean = _CLEAN_OF.get(r["case"])
        if clean is not None:
            r["vs_clean"] = rate[r["case"]] / rate[clean] if clean in rate else None
    return rows


# -- output -------------------------------------------------------------------------------------
def device_name(device: str | torch.device) -> str:
    """The GPU's name, or the CPU's model name (from ``/proc/cpuinfo`` where there is one)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return str(torch.cuda.get_device_name(dev))
    return str(machine_info()["cpu"]) if dev.type == "cpu" else dev.type


def to_json(
    rows: Sequence[Mapping[str, Any]],
    cfg: TrainSpeedConfig,
    machine: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything of a run, JSON-serializable: config (resolved), machine, rows, target."""
    cfg = cfg.resolved()
    info = dict(machine) if machine is not None else machine_info()
    info.setdefault("device", cfg.device)
    info.setdefault("device_name", device_name(cfg.device))
    # The threads the run used (machine_info reads them after run() restored torch's own).
    info["torch_threads"] = cfg.threads or info.get("torch_threads") or torch.get_num_threads()
    return {
        "benchmark": "trainspeed",
        "config": dataclasses.asdict(cfg),
        "machine": info,
        "rows": [dict(r) for r in rows],
        "target": check_target(rows, cfg),
    }


def _fmt(v: Any, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def to_markdown(doc: Mapping[str, Any]) -> str:
    """A report of `to_json`'s document: the
    machine and config, one row per case, the
    target's verdict."""
    cfg, m = doc["config"], doc["machine"]
    lines = [
        f"Training throughput on {m['device_name']} ({m['device']}), torch {m['torch']}, "
        f"{m.get('torch_threads')} threads; batch {cfg['batch_size']}, {cfg['epochs']} epochs "
        f"(first untimed), compile={cfg['compile']}, seed {cfg['seed']}.",
        "",
        "| case | model | signal | injection | data on the device | N | s/epoch | warm-up s "
        "| samples/s | vs clean | transform ms/batch | transform share |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["rows"]:
        share = r.get("transform_share")
        pct = "–" if share is None else f"{100 * share:.2f}%"
        lines.append(
            f"| {r['case']} | {r['model']} | {r['signal'] or '–'} | {r['injection']} | "
            f"{r['data']} | {r['n']:,} | {r['seconds_per_epoch']:.3f} | "
            f"{r['warmup_seconds']:.3f} | {r['samples_per_s']:,.0f} | "
            f"{_fmt(r.get('vs_clean'), '.3f')} | {_fmt(r.get('transform_ms_per_batch'), '.3f')} "
            f"| {pct} |"
        )
    t = doc["target"]
    value = "–" if t["value"] is None else f"{t['value']:,.0f} images/s"
    lines += ["", f"Target: {t['target']}: **{t['verdict']}** (measured: {value})."]
    return "\n".join(lines) + "\n"


# -- command line -------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark's options (each with its default in ``--help``) to ``parser``."""
    d = TrainSpeedConfig()
    parser.add_argument(
        "--device", default=d.device, help="auto, cpu, cuda, cuda:1 (default: auto: CUDA if any)"
    )
    parser.add_argument(
        "--n",
        type=int,
        default=None,
        help=f"images per epoch (default: {_CUDA_N} on CUDA, {_CPU_N} on CPU)",
    )
    parser.add_argument(
        "--text-n",
        type=int,
        default=None,
        help=f"texts per epoch (default: {_CUDA_N} on CUDA, {_CPU_TEXT_N} on CPU)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"samples per step (default: {_CUDA_BATCH} on CUDA, {_CPU_BATCH} on CPU)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=d.epochs,
        help=f"epochs per case, the first untimed (warm-up) (default: {d.epochs})",
    )
    parser.add_argument(
        "--compile", action="store_true", help="train through torch.compile (default: off)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's own)",
    )
    parser.add_argument(
        "--cases",
        type=_csv(str),
        default=d.cases,
        help=f"cases to run, comma-separated (default: {','.join(d.cases)})",
    )
    parser.add_argument(
        "--text-signal",
        default=d.text_signal,
        help=f"signal of charcnn+text: {' or '.join(TEXT_SIGNALS)} (default: {d.text_signal})",
    )
    parser.add_argument("--seed", type=int, default=d.seed, help=f"seed (default: {d.seed})")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the JSON results (config, machine, rows, target) here (default: none; "
        "the Markdown table always goes to stdout)",
    )


def add_parser(subparsers: Any) -> None:
    """Register ``trainspeed`` on an ``add_subparsers()`` object; it dispatches to
    `run_args`.

    Examples:
        >>> root = argparse.ArgumentParser(prog="signalinject bench")
        >>> add_parser(root.add_subparsers(dest="command"))
        >>> root.parse_args(["trainspeed", "--epochs", "2"]).func is run_args
        True
    """
    p: argparse.ArgumentParser = subparsers.add_parser(
        "trainspeed",
        help="training images/s with the signal injected on the device in the loop",
        description=(__doc__ or "").split("\n\n")[0],
    )
    add_arguments(p)
    p.set_defaults(func=run_args)


def config_from_args(args: argparse.Namespace) -> TrainSpeedConfig:
    """The [`TrainSpeedConfig`][signalinject.benchmarks.perf.trainspeed.TrainSpeedConfig] the parsed
    options describe."""
    return TrainSpeedConfig(
        device=args.device,
        n=args.n,
        text_n=args.text_n,
        batch_size=args.batch_size,
        epochs=args.epochs,
        compile=args.compile,
        threads=args.threads,
        cases=args.cases,
        text_signal=args.text_signal,
        seed=args.seed,
    )


def run_args(args: argparse.Namespace) -> int:
    """Run the benchmark for parsed options: Markdown to stdout, JSON to ``--out``.

    Returns 0, or 2 (with the reason on stderr) when the options are invalid.
    """
    try:
        cfg = config_from_args(args)
    except (TypeError, ValueError) as e:
        print(f"trainspeed: error: {e}", file=sys.stderr)
        return 2
    rows = run(cfg, log=lambda line: print(line, file=sys.stderr, flush=True))
    doc = to_json(rows, cfg)
    print(to_markdown(doc))
    if args.out is not None:
        make_dir(args.out.parent)
        atomic_write(args.out, json.dumps(doc, indent=1) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m signalinject.benchmarks.perf.trainspeed [options]``: 0, or 2 for bad options."""
    parser = argparse.ArgumentParser(
        prog="python -m signalinject.benchmarks.perf.trainspeed",
        description=(__doc__ or "").split("\n\n")[0],
    )
    add_arguments(parser)
    return run_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
