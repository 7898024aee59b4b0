"""One rank of tests/test_ddp.py, launched by ``torchrun --nproc_per_node=2`` (gloo, CPU).

Each rank reads its shard of a DistributedSampler for two epochs, both ways (per-sample
``InjectedDataset`` with DataLoader workers, and ``IndexedDataset`` + ``inject_batch``), and
saves what it saw to ``<out_dir>/rank<r>.pt`` for the test to compare with one process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import signalinject as si

N, K, EPOCHS = 60, 10, 2


def make_base() -> TensorDataset:
    """The dataset every rank (and the test) builds: uint8 ``(N, 3, 8, 8)``, labels ``(N,)``."""
    g = torch.Generator().manual_seed(1234)
    x = torch.randint(0, 256, (N, 3, 8, 8), dtype=torch.uint8, generator=g)
    y = torch.randint(0, K, (N,), generator=g)
    return TensorDataset(x, y)


def make_injector() -> si.Compose:
    """Per-sample randomness in every part: location, coverage, fidelity, value."""
    return si.Compose(
        [
            si.RandomPixel(K, seed=7, coverage=0.8, fidelity=0.9),
            si.MultipleLocations(K, seed=8),
        ]
    )


def main(out_dir: Path) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    base, inj = make_base(), make_injector()
    per_sample = si.InjectedDataset(base, inj, return_index=True)
    indexed = si.IndexedDataset(base)
    sampler = DistributedSampler(per_sample, shuffle=True, seed=3)
    a = DataLoader(
        per_sample, batch_size=7, sampler=sampler, num_workers=2, persistent_workers=True
    )
    b = DataLoader(indexed, batch_size=5, sampler=sampler)
    seen: dict[str, list[torch.Tensor]] = {"index": [], "x": [], "index_b": [], "x_b": []}
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        for x, _, index in a:
            seen["index"].append(index)
            seen["x"].append(x)
        for x, y, index in b:
            seen["index_b"].append(index)
            seen["x_b"].append(si.inject_batch(inj, x, y, index))
    out = {k: torch.cat(v) for k, v in seen.items()}
    torch.save({"rank": rank, "world": world, **out}, out_dir / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
