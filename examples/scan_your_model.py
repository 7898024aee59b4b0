"""Worked example: scan three image models for blindspots on the embedded digits.

A model for ``signalinject scan`` is a *factory*: ``factory(input_shape, num_classes)`` returns a
fresh, untrained ``torch.nn.Module`` that maps a batch to logits ``(N, num_classes)``. For images
``input_shape`` is ``(C, H, W)`` and the batch is float32 ``(N, C, H, W)``, standardised per
channel by the training set's mean and standard deviation (``--preprocess standardize``, the
default; ``unit``: 0..1, ``raw``: 0..255). This file defines three:

- ``paper_convnet``: the paper's ConvNet (Hoffer et al. 2018), the model whose blindspots the
  paper found;
- ``shallow_max``: our reading of the paper's "Shallow MaxNN" (a per-pixel linear map, ReLU, a
  global max, batch-normalised, a linear classifier): it sees *which values occur anywhere*, not
  where;
- ``tiny_resnet``: a modern small architecture, a three-stage residual net with BatchNorm and
  global average pooling (about 78K parameters). Chosen because BatchNorm and global average
  pooling are the defaults of today's image nets, and global pooling throws away *where* a feature
  occurs, which is exactly what a fixed-position code needs: a likely blindspot worth checking.

Scan them from the command line (the documented run, docs/scanning.md, measured at 0..1)::

    signalinject scan examples/scan_your_model.py:paper_convnet \\
        examples/scan_your_model.py:shallow_max examples/scan_your_model.py:tiny_resnet \\
        --dataset digits --preprocess unit --epochs 3 --lr 2e-3 --out scan-digits

or run this file, which does the same through the Python API (``--limit 200 --epochs 1`` for a
quick look)::

    python examples/scan_your_model.py --out scan-digits
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from signalinject.benchmarks.models import PaperConvNet, ShallowMaxNet
from signalinject.benchmarks.scan import (
    ScanConfig,
    config_summary,
    custom_model,
    scan,
    scan_table,
    write_scan_report,
)
from signalinject.benchmarks.settings import RunSettings
from signalinject.benchmarks.train import PREPROCESS_MODES


def paper_convnet(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The paper's ConvNet for images ``(C, H, W)``."""
    c, h, w = input_shape
    return PaperConvNet(num_classes, c, image_size=(h, w))


def shallow_max(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The shallow max-pool net: 64 per-pixel features, then their maximum over the image."""
    return ShallowMaxNet(num_classes, input_shape[0], hidden=64)


class Block(nn.Module):
    """Two 3x3 convs with BatchNorm, plus the input (through a 1x1 conv if the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


class TinyResNet(nn.Module):
    """A stem conv and three residual stages (16, 32, 64 channels; strides 1, 2, 2), then global
    average pooling and a linear classifier: float ``(N, C, H, W)`` -> logits ``(N, K)``."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.stages = nn.Sequential(
            Block(width, width, 1), Block(width, 2 * width, 2), Block(2 * width, 4 * width, 2)
        )
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(x))
        return self.head(h.mean(dim=(2, 3)))  # global average pooling: where is forgotten


def tiny_resnet(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """A small modern residual net (BatchNorm, global average pooling) for ``(C, H, W)``."""
    return TinyResNet(input_shape[0], num_classes)


def main(argv: Sequence[str] | None = None) -> int:
    """Scan the three models through the Python API; print the table and the files written."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=3, help="training epochs (default: 3)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default: 2e-3)")
    p.add_argument("--limit", type=int, default=None, help="samples per split (default: all)")
    p.add_argument("--out", default="scan-digits", help="output directory (default: scan-digits)")
    p.add_argument("--signals", default=None, help="e.g. one_pixel,noise (default: all five)")
    p.add_argument(
        "--preprocess",
        choices=PREPROCESS_MODES,
        default="unit",
        help="how the images reach the models (default: unit, 0..1, as the documented run; "
        "the library's default is standardize)",
    )
    args = p.parse_args(argv)
    cfg = ScanConfig(
        models=tuple(custom_model(f) for f in (paper_convnet, shallow_max, tiny_resnet)),
        signals=None if args.signals is None else tuple(args.signals.split(",")),
        settings=RunSettings(
            dataset="digits",
            epochs=args.epochs,
            lr=args.lr,
            preprocess=args.preprocess,
            limit=args.limit,
            out=args.out,
        ),
    )
    rows = scan(cfg)
    paths = write_scan_report(rows, cfg.out, config_summary(cfg))
    print(scan_table(rows))
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
