"""Per-sample cost of the two CPU paths, side by side: ``InjectedDataset`` (one injector call
per sample, in ``__getitem__``) against ``IndexedDataset`` + ``InjectCollate`` (one call per
batch, in the collate function), on the same DataLoader, and a check that both give the same
batches bit for bit.

Data: 4096 random uint8 images ``(3, 32, 32)`` (CIFAR-sized) in a ``TensorDataset``, batches of
256, ``num_workers=0`` (the cost lands in this process, where it is timed; with workers each
worker pays it). Each path runs 3 epochs; the best epoch counts.

    python examples/collate_speed.py

Takes about half a minute on 2 CPU cores. ``SIGNALINJECT_EXAMPLES_QUICK=1`` uses 1024 images
and one epoch (what the test suite does).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import torch
from torch.utils.data import DataLoader, TensorDataset

import signalinject as si

QUICK = os.environ.get("SIGNALINJECT_EXAMPLES_QUICK") == "1"
N, BATCH, EPOCHS = (1024, 256, 1) if QUICK else (4096, 256, 3)


def per_sample_us(loader: Iterable[object]) -> float:
    """The best epoch's wall time per sample, in microseconds."""
    best = float("inf")
    for _ in range(EPOCHS):
        t0 = time.perf_counter()
        for _batch in loader:
            pass
        best = min(best, time.perf_counter() - t0)
    return best / N * 1e6


def main() -> None:
    g = torch.Generator().manual_seed(0)
    base = TensorDataset(
        torch.randint(0, 256, (N, 3, 32, 32), dtype=torch.uint8, generator=g),
        torch.randint(0, 10, (N,), generator=g),
    )
    injectors = {
        "OnePixel": si.OnePixel(10),
        "RandomPixel": si.RandomPixel(10, seed=1, coverage=0.5, fidelity=0.9),
        "OrthogonalNoise": si.OrthogonalNoise(10, seed=2),
        "Compose": si.Compose([si.OrthogonalNoise(10, seed=2), si.RandomPixel(10, seed=1)]),
    }
    plain = per_sample_us(DataLoader(base, batch_size=BATCH))
    print(f"{N} uint8 3x32x32 samples, batches of {BATCH}, num_workers=0")
    print(f"no injection: {plain:.1f} us/sample")
    print(f"{'injector':<16} {'InjectedDataset':>16} {'InjectCollate':>14} {'ratio':>6}")
    for name, inj in injectors.items():
        slow = DataLoader(si.InjectedDataset(base, inj), batch_size=BATCH)
        fast = DataLoader(
            si.IndexedDataset(base), batch_size=BATCH, collate_fn=si.InjectCollate(inj)
        )
        for (xa, ya), (xb, yb) in zip(slow, fast, strict=True):
            assert torch.equal(xa, xb)
            assert torch.equal(ya, yb)
        a, b = per_sample_us(slow), per_sample_us(fast)
        print(f"{name:<16} {a:>13.1f} us {b:>11.1f} us {a / b:>5.1f}x")
    print("identical batches on both paths")


if __name__ == "__main__":
    main()
