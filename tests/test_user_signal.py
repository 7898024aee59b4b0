"""A signal is one class: a throwaway signal defined here, as one subclass with its ``name``, is
taken by ``bench images``, ``show``, ``bench throughput`` and the shared checker, with no other
file edited (issue 14's "done when")."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

import signalinject as si
from checks import check_signal
from signalinject.benchmarks import cli


@dataclasses.dataclass(frozen=True)
class CenterParams(si.ImageParams):
    """What CenterPixel writes: the center pixel's value per sample."""

    value: Any


@dataclasses.dataclass(frozen=True)
class CenterPixel(si.ImageInjector):
    """The center pixel holds ``step * k`` for class k (every channel)."""

    name: ClassVar[str] = "test_center_pixel"
    writes: ClassVar[str] = "the center pixel, every channel"

    step: int = 20

    def make_params(self, y: Any, index: Any, x: Any) -> CenterParams:
        p = super().make_params(y, index, x)
        return p.extend(CenterParams, value=p.code * self.step)

    def write(self, out: Any, params: Any, *, source: Any = None) -> None:
        r, c = out.shape[1] // 2, out.shape[2] // 2
        keep = params.carried[:, None]
        value = params.value[:, None]
        if isinstance(out, torch.Tensor):
            out[:, r, c] = torch.where(keep, value.to(out.dtype), out[:, r, c])
        else:
            out[:, r, c] = np.where(keep, value, out[:, r, c])

    def read(self, x: Any, index: Any) -> Any:
        v = x[:, x.shape[1] // 2, x.shape[2] // 2]
        if isinstance(v, torch.Tensor):
            return (v.to(torch.float64).mean(-1) / self.step).round().to(torch.int64)
        return np.rint(np.asarray(v, np.float64).mean(-1) / self.step).astype(np.int64)

    def pixels(self, y: Any, index: Any, height: int, width: int) -> tuple[Any, Any]:
        n = len(y)
        return np.full((n, 1), height // 2), np.full((n, 1), width // 2)


def test_the_shared_checker_takes_it() -> None:
    check_signal(CenterPixel)
    x = np.zeros((3, 8, 8, 1), np.uint8)
    assert CenterPixel(10).decode(CenterPixel(10)(x, np.array([0, 4, 9]))).tolist() == [0, 4, 9]


def test_bench_images_takes_it(tmp_path: Path) -> None:
    args = ["bench", "images", "--signals", "test_center_pixel", "--limit", "60"]
    args += ["--models", "gaussian_nb,decision_tree", "--no-progress", "--out", str(tmp_path)]
    assert cli.main(args) == 0
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    ours = [r for r in rows if r["signal"] == "test_center_pixel"]
    assert len(ours) == 2
    assert all(r["decode_accuracy"] == 1.0 for r in ours)
    assert ours[0]["injector"]["name"] == "test_center_pixel"


def test_show_takes_it(tmp_path: Path) -> None:
    out = tmp_path / "center.png"
    assert cli.main(["show", "test_center_pixel", "--out", str(out), "-n", "3"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_throughput_takes_it(tmp_path: Path) -> None:
    out = tmp_path / "tp.json"
    args = ["bench", "throughput", "--signals", "test_center_pixel", "--sizes", "64"]
    args += ["--repeats", "1", "--loop-samples", "4", "--no-memory", "--backends", "numpy,torch"]
    args += ["--dtypes", "uint8", "--image-shape", "8,8,1", "--out", str(out)]
    assert cli.main(args) == 0
    rows = json.loads(out.read_text())["rows"]
    ours = [r for r in rows if r["signal"] == "test_center_pixel"]  # its name, not its class
    assert [r["backend"] for r in ours] == ["numpy", "torch"]
    assert all(r["status"] == "ok" for r in ours)


def test_the_compose_order_check_takes_it() -> None:
    from signalinject.footprint import OrderWarning, order_conflicts

    # Its pixels() name the center: a later CenterPixel overwrites a pixel code at (4, 4) of an
    # 8x8 image, and that is found at construction with no edit of the order check.
    (line,) = order_conflicts([si.OnePixel(10, position=(4, 4)), CenterPixel(10)])
    assert "both write pixel (4, 4) in a 8x8 image" in line
    with pytest.warns(OrderWarning, match=r"CenterPixel"):
        si.Compose([si.OnePixel(10, position=(4, 4)), CenterPixel(10)])
    assert order_conflicts([CenterPixel(10), si.OnePixel(10)]) == []
