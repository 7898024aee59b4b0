"""The triggers beyond the paper against IBM ART's nearest triggers, on the same NumPy batch.

IBM's Adversarial Robustness Toolbox (ART, ``adversarial-robustness-toolbox``) ships three image
triggers in ``art.attacks.poisoning.perturbations``; each is matched with our nearest signal:

| ART                | writes                                           | ours               |
|--------------------|--------------------------------------------------|--------------------|
| ``add_single_bd``  | one pixel near the bottom-right corner           | `OnePixelShortcut` |
| ``add_pattern_bd`` | a 4-pixel checkerboard near the bottom-right     | `ClassPatch`       |
| ``insert_image``   | a trigger image from a file, blended in (PIL)    | `Blend`            |

ART has no sinusoidal (SIG) trigger: `Sinusoid` is timed alone. ART's triggers ignore the label
(one value for every sample); to make one reveal the label, as ours do, it is called once per
class on ``x[y == k]`` with class k's value (its pixel value, or class k's pattern image for
``insert_image``), which is how it is timed here ("by class"), beside the plain call.

Every trigger is timed against a fresh copy of the same batch (``x.copy()``, the copy floor),
alternately, median of ``repeats`` runs after ``warmup``: ``ratio_to_floor = floor / time``
(1.0: as fast as a copy). The batch is random uint8 ``(n, H, W, C)``, labels uniform in
``[0, K)``; ``insert_image`` takes floats in [0, 1] only (it multiplies by 255), so it and a
float32 `Blend` run on the batch divided by 255. Run ``python -m
signalinject.benchmarks.perf.art`` (``--help``); without ART installed (``pip install
'signalinject[art]'``) it says so and exits 0. The numbers measured are in ``docs/signals.md``.

Examples:
    >>> rows = compare(n=64, repeats=1, warmup=0) if art_missing() is None else []
    >>> all(r["ratio_to_floor"] > 0 for r in rows)
    True
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import signalinject as si
from signalinject.core import check_int

__all__ = ["compare", "main"]

Batch = npt.NDArray[Any]


def art_missing() -> str | None:
    """Why ART's triggers cannot run here (a sentence), or None when they can."""
    try:
        importlib.import_module("art.attacks.poisoning.perturbations")
        importlib.import_module("PIL.Image")
    except Exception as e:  # an optional third-party import: any failure only skips it
        return (
            f"IBM ART (adversarial-robustness-toolbox) and Pillow are needed for the comparison "
            f"and could not be imported ({type(e).__name__}: {e}); install them with "
            f"pip install 'signalinject[art]'"
        )
    return None


@dataclasses.dataclass(frozen=True)
class _Trigger:
    name: str
    library: str  # "signalinject" or "art"
    nearest: str  # our signal it is compared with
    by_class: bool  # reveals the label
    data: str  # "uint8" or "float32"
    fn: Callable[[Batch, Batch], Any]


def _by_class(trigger: Callable[..., Any], values: Sequence[Any], key: str) -> Callable[..., Any]:
    """ART's label-independent ``trigger`` called once per class k on ``x[y == k]`` with
    ``key=values[k]``, written back into a copy: a label-revealing trigger."""

    def run(x: Batch, y: Batch) -> Batch:
        out = np.copy(x)
        for k in np.unique(y).tolist():
            rows = y == k
            out[rows] = trigger(x[rows], **{key: values[k]})
        return out

    return run


def _triggers(x: Batch, y: Batch, k: int, tmp: Path) -> list[_Trigger]:
    """Ours and ART's, ready to time on ``x`` (uint8) and ``x / 255`` (float32)."""
    art: Any = importlib.import_module("art.attacks.poisoning.perturbations")
    image: Any = importlib.import_module("PIL.Image")
    h, w, c = (int(s) for s in x.shape[1:])
    shortcut = si.OnePixelShortcut(k).fit(x, y)
    patch, blend, sine = si.ClassPatch(k), si.Blend(k), si.Sinusoid(k)
    step = 255 // k
    values = [(j + 1) * step for j in range(k)]  # a visible pixel value per class
    pngs = []  # class j's Blend pattern as the image file ART's insert_image reads
    for j, pat in enumerate(si.blend_patterns(k, (h, w, c))):
        pixels = np.rint(pat * 255).astype(np.uint8)
        path = tmp / f"class{j}.png"
        image.fromarray(pixels[..., 0] if c == 1 else pixels, "L" if c == 1 else "RGB").save(path)
        pngs.append(str(path))

    def insert(xs: Batch, backdoor_path: str) -> Any:
        return art.insert_image(
            xs, backdoor_path=backdoor_path, random=False, size=(h, w),
            mode="L" if c == 1 else "RGB", blend=blend.strength,
        )  # fmt: skip

    rows: list[_Trigger] = []
    for ours, rival in ((shortcut, "add_single_bd"), (patch, "add_pattern_bd")):
        fn, mine = getattr(art, rival), type(ours).__name__
        per_class = _by_class(fn, values, "pixel_value")
        rows += [
            _Trigger(mine, "signalinject", mine, True, "uint8", ours),
            _Trigger(rival, "art", mine, False, "uint8", functools.partial(_plain, fn)),
            _Trigger(f"{rival} by class", "art", mine, True, "uint8", per_class),
        ]
    inserted = _by_class(insert, pngs, "backdoor_path")
    return [
        *rows,
        _Trigger("Blend", "signalinject", "Blend", True, "uint8", blend),
        _Trigger("Blend", "signalinject", "Blend", True, "float32", blend),
        _Trigger("insert_image by class", "art", "Blend", True, "float32", inserted),
        _Trigger("Sinusoid", "signalinject", "Sinusoid", True, "uint8", sine),
    ]


def _plain(trigger: Callable[..., Any], x: Batch, y: Batch) -> Any:
    """ART's trigger as it comes: one value (255) for every sample, whatever its label."""
    return trigger(x, pixel_value=255)


def _timed(fn: Callable[[], object], floor: Callable[[], object], repeats: int, warmup: int) -> Any:
    """Median seconds of ``fn`` and of ``floor``, run alternately (the same machine load); the
    output is freed after the clock stops."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(warmup + repeats):
        for j, f in enumerate((floor, fn)):
            t = time.perf_counter()
            out = f()
            dt = time.perf_counter() - t
            del out
            if i >= warmup:
                times[j].append(dt)
    return statistics.median(times[0]), statistics.median(times[1])


def compare(
    *,
    n: int = 10_000,
    shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    repeats: int = 5,
    warmup: int = 1,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Time our triggers and ART's nearest on one batch of ``n`` random images of ``shape``.

    Args:
        n: images in the batch.
        shape: ``(H, W, C)`` of each image (C 1 or 3: what ART's ``insert_image`` reads).
        num_classes: K, labels uniform in ``[0, K)`` (at most ``(W - 1) // 2`` for Sinusoid).
        repeats: timed runs per trigger (the median is kept); warmup: untimed runs first.
        seed: the NumPy seed of the batch and the labels.

    Returns:
        One row per trigger: ``name``, ``library``, ``nearest`` (our signal it pairs with),
        ``by_class`` (it reveals the label), ``dtype``, ``n``, ``ms`` and ``floor_ms`` (medians,
        milliseconds), ``ratio_to_floor`` (floor / time) and ``art_over_ours`` (on ART's rows:
        its time over our paired signal's on the same dtype; None without one).

    Raises:
        ModuleNotFoundError: ART or Pillow missing (the message says how to install them).
        ValueError: a bad size, shape or count.
    """
    why = art_missing()
    if why is not None:
        raise ModuleNotFoundError(why)
    n = check_int("n", n, low=1)
    repeats, warmup = check_int("repeats", repeats, low=1), check_int("warmup", warmup, low=0)
    if isinstance(shape, str | bytes) or not isinstance(shape, tuple | list) or len(shape) != 3:
        raise ValueError(f"shape must be (H, W, C), got {shape!r}")
    h, w, c = (check_int(f"shape[{i}]", s, low=1) for i, s in enumerate(shape))
    if c not in (1, 3):
        raise ValueError(f"shape[2] (channels) must be 1 or 3 (what insert_image reads), got {c}")
    k = check_int("num_classes", num_classes, low=2, high=(w - 1) // 2)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    x = rng.integers(0, 256, (n, h, w, c), dtype=np.uint8)
    y = rng.integers(0, k, n)
    batches = {"uint8": x, "float32": x.astype(np.float32) / np.float32(255)}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for t in _triggers(x, y, k, Path(tmp)):
            xb = batches[t.data]
            floor_s, s = _timed(functools.partial(t.fn, xb, y), xb.copy, repeats, warmup)
            rows.append(
                {
                    "name": t.name,
                    "library": t.library,
                    "nearest": t.nearest,
                    "by_class": t.by_class,
                    "dtype": t.data,
                    "n": n,
                    "ms": s * 1e3,
                    "floor_ms": floor_s * 1e3,
                    "ratio_to_floor": floor_s / s,
                }
            )
    ours = {(r["name"], r["dtype"]): r["ms"] for r in rows if r["library"] == "signalinject"}
    for r in rows:
        mine = ours.get((r["nearest"], r["dtype"])) if r["library"] == "art" else None
        r["art_over_ours"] = None if mine is None else r["ms"] / mine
    return rows


def to_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as a Markdown table of 8 columns."""
    lines = [
        "| trigger | library | dtype | reveals the label | ms | copy ms | copy / trigger "
        "| ART / ours |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        vs = "" if r["art_over_ours"] is None else f"{r['art_over_ours']:.1f}x"
        lines.append(
            f"| {r['name']} | {r['library']} | {r['dtype']} | {'yes' if r['by_class'] else 'no'} "
            f"| {r['ms']:.2f} | {r['floor_ms']:.2f} | {r['ratio_to_floor']:.2f} | {vs} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m signalinject.benchmarks.perf.art``."""
    p = argparse.ArgumentParser(
        prog="python -m signalinject.benchmarks.perf.art",
        description="Our triggers beyond the paper against IBM ART's nearest, same batch.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--n", type=int, default=10_000, help="images in the batch")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per trigger (median)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    p.add_argument("--seed", type=int, default=0, help="seed of the batch and the labels")
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m signalinject.benchmarks.perf.art``: print the table (and write JSON)."""
    p = build_parser()
    args = p.parse_args(argv)
    why = art_missing()
    if why is not None:
        print(f"skipped: {why}", file=sys.stderr)
        return 0
    try:
        rows = compare(n=args.n, repeats=args.repeats, warmup=args.warmup, seed=args.seed)
    except ValueError as e:
        p.error(str(e))
    print(to_markdown(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
