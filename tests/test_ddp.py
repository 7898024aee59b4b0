"""Injection is sharding-invariant: two real DDP processes (torchrun, gloo, CPU) inject each
sample exactly as one process does.

``tests/_ddp_worker.py`` runs on each rank and saves what it saw; this test compares it with the
whole dataset injected once, here, in a single process.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "pipelines.md"

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch.distributed is not available"
)


def _worker_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_ddp_worker", HERE / "_ddp_worker.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _torchrun(script: Path, *args: str) -> None:
    """``torchrun --standalone --nproc_per_node=2 script args``; fails with both ranks' output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # also silences torchrun's notice about it
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*cmd, str(script), *args], env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, f"torchrun failed:\n{proc.stdout}\n{proc.stderr}"


def test_every_rank_injects_like_one_process(tmp_path: Path) -> None:
    _torchrun(HERE / "_ddp_worker.py", str(tmp_path))
    w = _worker_module()
    base = w.make_base()
    x_all, y_all = base.tensors
    ref = w.make_injector()(x_all, y_all)  # one process, one batch, index arange(N)
    shards: list[torch.Tensor] = []
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert (got["rank"], got["world"]) == (rank, 2)
        for ix, xs in (("index", "x"), ("index_b", "x_b")):
            index, x = got[ix], got[xs]
            assert len(index) == w.EPOCHS * w.N // 2
            assert torch.equal(x, ref[index]), f"rank {rank} ({xs}) differs from one process"
        shards.append(got["index"].reshape(w.EPOCHS, -1))
    for epoch in range(w.EPOCHS):
        # The two ranks split the dataset, and each epoch reshuffles who gets what.
        both = torch.cat([shards[0][epoch], shards[1][epoch]]).sort().values
        assert torch.equal(both, torch.arange(w.N))
    assert set(shards[0][0].tolist()) != set(shards[0][1].tolist())


def test_docs_ddp_example_runs(tmp_path: Path) -> None:
    text = DOCS.read_text()
    section = re.search(r"^## DDP with torchrun\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, f"no '## DDP with torchrun' section in {DOCS}"
    block = re.search(r"^```python\n(.*?)^```", section.group(1), re.M | re.S)
    assert block, "no python block in the DDP section"
    script = tmp_path / "train.py"
    script.write_text(block.group(1))
    _torchrun(script)
