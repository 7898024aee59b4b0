"""The adapters against real torchvision (``nox -s torchvision``; skipped without torchvision).

PyPI's torchvision only imports beside its own torch, so the default environment (torch 2.13.0)
skips this module; the nox session installs ``torch==2.14.1 torchvision==0.29.1``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import signalinject as si

torchvision = pytest.importorskip("torchvision")
image_mod = pytest.importorskip("PIL.Image")

from torchvision import tv_tensors  # noqa: E402
from torchvision.transforms import v2  # noqa: E402

pytestmark = pytest.mark.torchvision

K = 10
DOCS = Path(__file__).resolve().parents[1] / "docs" / "pipelines.md"


def pil_base(n: int = 24) -> list[tuple[Any, int]]:
    """What a torchvision dataset without transforms yields: ``(PIL RGB image, int)``."""
    rng = np.random.default_rng(0)
    return [
        (image_mod.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)), int(rng.integers(K)))
        for _ in range(n)
    ]


def test_tv_image_keeps_its_type() -> None:
    inj = si.RandomPixel(K, seed=1)
    raw = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
    img = tv_tensors.Image(raw)
    out, y, i = si.InjectTransform(inj)(img, 4, 17)
    assert type(out) is tv_tensors.Image
    assert torch.equal(out.as_subclass(torch.Tensor), inj(raw, 4, index=17))
    assert (y, i) == (4, 17)
    assert torch.equal(img.as_subclass(torch.Tensor), raw)  # the input is not modified


def test_plain_tensor_stays_plain() -> None:
    raw = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
    out, _, _ = si.InjectTransform(si.OnePixel(K))(raw, 2, 0)
    assert type(out) is torch.Tensor


def test_in_v2_compose_equals_injected_dataset() -> None:
    # ToImage then inject (in the pipeline) == inject the PIL image's array then ToImage.
    base = pil_base()
    inj = si.Compose([si.OrthogonalNoise(K, seed=3), si.RandomPixel(K, seed=2)])
    pipeline = v2.Compose([v2.ToImage(), si.InjectTransform(inj)])
    via_pipeline = si.IndexedDataset(base, transforms=pipeline)
    per_sample = si.InjectedDataset(base, inj, transform=v2.ToImage())
    for i in range(len(base)):
        img, y, idx = via_pipeline[i]
        ref, y_ref = per_sample[i]
        assert type(img) is tv_tensors.Image
        assert torch.equal(img, ref)
        assert (y, idx) == (y_ref, i)


def test_pil_in_the_pipeline_stays_pil() -> None:
    base = pil_base(4)
    inj = si.OnePixel(K)
    pipeline = v2.Compose([si.InjectTransform(inj), v2.PILToTensor()])
    for i, (img, y) in enumerate(base):
        out, _, _ = pipeline(img, y, i)
        assert torch.equal(out[:, 0, 0], torch.full((3,), y, dtype=torch.uint8))


def test_later_transforms_leave_label_and_index_alone() -> None:
    base = pil_base(6)
    inj = si.OnePixel(K)
    pipeline = v2.Compose(
        [
            v2.ToImage(),
            si.InjectTransform(inj),
            v2.RandomHorizontalFlip(p=1.0),  # moves the signal pixel, as it moves every pixel
            v2.ToDtype(torch.float32, scale=True),
        ]
    )
    for i, (img, y) in enumerate(base):
        out, y2, i2 = pipeline(img, y, i)
        assert (y2, i2) == (y, i)
        assert out.dtype == torch.float32
        assert torch.equal(out[:, 0, -1], torch.full((3,), y / 255))


def test_dataloader_workers_and_decode() -> None:
    base = pil_base(40)
    inj = si.RandomPixel(K, seed=5)
    pipeline = v2.Compose(
        [v2.ToImage(), si.InjectTransform(inj), v2.ToDtype(torch.float32, scale=True)]
    )
    loader = DataLoader(
        si.IndexedDataset(base, transforms=pipeline), batch_size=8, shuffle=True, num_workers=2
    )
    seen = []
    for x, y, index in loader:
        raw = x.mul(255).round().to(torch.uint8)
        assert torch.equal(inj.decode(raw, index=index), y)
        seen += index.tolist()
    assert sorted(seen) == list(range(40))


def test_batches_of_tv_images_on_device() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    raw = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    y, idx = torch.tensor([0, 1, 2, 3, 4]), torch.tensor([9, 8, 7, 6, 5])
    inj = si.RandomPixel(K, seed=6)
    out = si.inject_batch(inj, tv_tensors.Image(raw).to(device), y, idx)
    assert type(out) is tv_tensors.Image
    assert torch.equal(out.cpu().as_subclass(torch.Tensor), inj(raw, y, index=idx))


def test_docs_torchvision_example_runs() -> None:
    text = DOCS.read_text()
    section = re.search(r"^## torchvision v2\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, f"no '## torchvision v2' section in {DOCS}"
    block = re.search(r"^```python\n(.*?)^```", section.group(1), re.M | re.S)
    assert block, "no python block in the torchvision section"
    exec(compile(block.group(1), f"{DOCS}:torchvision", "exec"), {"__name__": "__main__"})
