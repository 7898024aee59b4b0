"""Inject inside a torchvision ``transforms.v2`` pipeline, keyed by the dataset index.

A transform never sees the sample's index, so :class:`signalinject.IndexedDataset` hands
``(image, label, index)`` to the pipeline and :class:`signalinject.InjectTransform` injects the
image there, right after ``v2.ToImage()`` (raw 0..255 pixels) and before ``ToDtype``/``Normalize``.
The base dataset here is a list of ``(PIL image, int)`` pairs built from the embedded digits, the
shape of ``torchvision.datasets.CIFAR10(root)`` items.

    python examples/torchvision_pipeline.py

torchvision is not installed in the default environment (its wheels import only beside their own
torch; ``nox -s torchvision`` installs a matching pair). Without it this script says so, runs the
same pipeline as plain callables instead, and exits 0. Takes a few seconds;
``SIGNALINJECT_EXAMPLES_QUICK=1`` passes 256 of the 1352 images (what the test suite does).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

import signalinject as si
from signalinject.benchmarks.datasets import load_digits32

MEAN, STD = 0.5, 0.25
QUICK = os.environ.get("SIGNALINJECT_EXAMPLES_QUICK") == "1"


def torchvision_pipeline(inj: si.Injector) -> Callable[..., Any]:
    """``v2.Compose`` over ``(image, label, index)``: ToImage, inject, ToDtype, Normalize."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.ToImage(),  # tv_tensors.Image, uint8 (3, 32, 32): raw pixel values
            si.InjectTransform(inj),  # (image, label, index) -> (injected image, label, index)
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=[MEAN] * 3, std=[STD] * 3),
        ]
    )


def plain_pipeline(inj: si.Injector) -> Callable[..., Any]:
    """The same steps without torchvision: PIL -> tensor, inject, scale, normalize."""
    inject = si.InjectTransform(inj)

    def pipeline(image: Image.Image, label: int, index: int) -> tuple[torch.Tensor, int, int]:
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()  # uint8 (3, H, W)
        x, label, index = inject(x, label, index)
        return (x.float() / 255 - MEAN) / STD, label, index

    return pipeline


def main() -> None:
    data = load_digits32()
    pairs = zip(data.x_train, data.y_train, strict=True)
    base = [(Image.fromarray(img), int(lab)) for img, lab in pairs]
    if QUICK:
        base = base[:256]
    inj = si.RandomPixel(num_classes=10, seed=0)

    if importlib.util.find_spec("torchvision") is None:
        print("torchvision is not installed: running the same pipeline as plain callables")
        print("(for the real one install a matching pair, e.g. torch==2.14.1 torchvision==0.29.1)")
        pipeline = plain_pipeline(inj)
    else:
        pipeline = torchvision_pipeline(inj)
        print(f"torchvision pipeline: {pipeline}")

    train = si.IndexedDataset(base, transforms=pipeline)
    loader = DataLoader(train, batch_size=64, shuffle=True)
    seen = 0
    for x, y, index in loader:
        # back to raw pixels, to read the signal where each sample's index put it
        raw = (x * STD + MEAN).mul(255).round().to(torch.uint8)
        assert torch.equal(inj.decode(raw, index=index), y)
        seen += len(y)
    print(f"{seen} samples through the pipeline, every signal read back at its drawn pixel")


if __name__ == "__main__":
    main()
