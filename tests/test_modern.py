"""The modern image models: names and sizes, shapes on any image, parameter counts, learning,
determinism by seed, and the runner, scan and sweep accepting their names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from signalinject.benchmarks.models import build_model, count_parameters, is_torch_model
from signalinject.benchmarks.modern import (
    MLP,
    MLPMixer,
    ResNet18,
    ViT,
    build_modern,
    parse_model_name,
)
from signalinject.benchmarks.runner import BenchConfig
from signalinject.benchmarks.settings import RunSettings

pytestmark = pytest.mark.usefixtures("one_thread")


TINY = ("resnet18-w4", "vit-w16-d1-h2", "mixer-w16-d1", "mlp-w16-d1")

# (name, input shape) -> parameters for 10 classes: the table in signalinject.benchmarks.modern
SIZES = {
    ("resnet18", (3, 32, 32)): 11_173_962,
    ("resnet18", (1, 8, 8)): 11_172_810,
    ("resnet18-w16", (3, 32, 32)): 701_466,
    ("resnet18-w16", (1, 8, 8)): 701_178,
    ("vit", (3, 32, 32)): 3_722_250,
    ("vit", (1, 8, 8)): 3_698_698,
    ("vit-w64-d4", (3, 32, 32)): 142_026,
    ("vit-w64-d4", (1, 8, 8)): 136_138,
    ("mixer", (3, 32, 32)): 4_360_970,
    ("mixer", (1, 8, 8)): 4_229_418,
    ("mixer-w128-d4", (3, 32, 32)): 569_994,
    ("mixer-w128-d4", (1, 8, 8)): 534_938,
    ("mlp", (3, 32, 32)): 2_103_818,
    ("mlp", (1, 8, 8)): 563_722,
}


@pytest.mark.parametrize(("name", "shape"), list(SIZES))
def test_parameter_counts(name: str, shape: tuple[int, int, int]) -> None:
    assert count_parameters(build_model(name, shape, 10)) == SIZES[(name, shape)]


def test_resnet18_is_the_cifar_form() -> None:
    net = ResNet18(10)
    assert net.stem[0].kernel_size == (3, 3)
    assert net.stem[0].stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())


@pytest.mark.parametrize("name", TINY)
@given(c=st.integers(1, 3), h=st.integers(1, 12), w=st.integers(1, 12), k=st.integers(2, 6))
@settings(max_examples=8, deadline=None)
def test_any_image_shape(name: str, c: int, h: int, w: int, k: int) -> None:
    torch.manual_seed(0)
    net = build_model(name, (c, h, w), k).eval()
    out = net(torch.rand(2, c, h, w))
    assert out.shape == (2, k)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", TINY)
def test_training_steps_reduce_the_loss(name: str) -> None:
    torch.manual_seed(0)
    x, y = torch.rand(32, 1, 8, 8), torch.arange(32) % 4
    net = build_model(name, (1, 8, 8), 4)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    first = F.cross_entropy(net(x), y).item()
    for _ in range(40):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    assert F.cross_entropy(net(x), y).item() < 0.5 * first


@pytest.mark.parametrize("name", TINY)
def test_deterministic_by_seed(name: str) -> None:
    x = torch.rand(3, 2, 8, 8)

    def out(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return build_model(name, (2, 8, 8), 5).eval()(x)

    assert torch.equal(out(1), out(1))
    assert not torch.equal(out(1), out(2))


def test_names_carry_sizes() -> None:
    assert parse_model_name("mixer-w128-d4-p2") == ("mixer", {"width": 128, "depth": 4, "patch": 2})
    net = build_modern("vit-w32-d2-h4-p2", (1, 8, 8), 3)
    assert isinstance(net, ViT)
    assert len(net.blocks) == 2
    assert net.patches.num_patches == 16
    assert isinstance(build_modern("mixer", (1, 8, 8), 3), MLPMixer)
    mlp = build_modern("mlp-w8-d2", (1, 4, 4), 3, width=16)  # options override the name
    assert isinstance(mlp, MLP)
    assert mlp.layers[0].out_features == 16
    assert is_torch_model("resnet18-w16")
    assert not is_torch_model("resnet18-d4")
    assert not is_torch_model(3)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("resnet34", "unknown model 'resnet34'"),
        ("resnet18-d4", "resnet18 has no option -d"),
        ("vit-w64-w32", "option -w given twice"),
        ("vit-w", "unknown model 'vit-w'"),
        ("ViT", "unknown model 'ViT'"),
    ],
)
def test_bad_names(name: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_model_name(name)
    with pytest.raises(ValueError, match="unknown model"):
        build_model(name, (1, 8, 8), 10)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="model name must be a string"):
        parse_model_name(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"width must be a multiple of heads=4, got width=10"):
        ViT(10, width=10)
    with pytest.raises(ValueError, match="width"):
        ResNet18(10, width=0)
    with pytest.raises(ValueError, match="depth"):
        MLP(10, 64, depth=0)
    with pytest.raises(ValueError, match="patch"):
        MLPMixer(10, patch=0)
    with pytest.raises(ValueError, match=r"image.s \(C, H, W\), got \(64,\)"):
        build_model("resnet18", (64,), 10)
    with pytest.raises(TypeError, match=r"image_size must be a \(height, width\) pair, got 8"):
        ViT(10, 1, 8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="in_channels"):
        MLPMixer(10, 0)
    with pytest.raises(TypeError, match="input_shape must be"):
        build_modern("vit", "1x8x8", 10)  # type: ignore[arg-type]


def test_bench_config_accepts_the_names() -> None:
    cfg = BenchConfig.for_suite("images", models=("resnet18-w16", "vit", "mixer", "mlp"))
    assert cfg.models == ("resnet18-w16", "vit", "mixer", "mlp")
    with pytest.raises(ValueError, match="unknown model 'resnet18-q3'"):
        BenchConfig.for_suite("images", models=("resnet18-q3",))


def test_bench_runs_a_modern_model(tmp_path: Path) -> None:
    from signalinject.benchmarks.runner import run

    cfg = BenchConfig.for_suite(
        "images", models=("mlp-w16-d1",), signals=("one_pixel",), epochs=1, limit=60,
        out=tmp_path, progress=False,
    )  # fmt: skip
    rows = run(cfg)
    assert [(r["signal"], r["model"]) for r in rows] == [
        ("clean", "mlp-w16-d1"), ("one_pixel", "mlp-w16-d1")
    ]  # fmt: skip
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)


def test_scan_and_sweep_accept_the_names(tmp_path: Path) -> None:
    from signalinject.benchmarks.scan import ScanConfig
    from signalinject.benchmarks.sweep import SweepConfig, sweep

    scan_cfg = ScanConfig(models=("resnet18-w16", "mixer"))
    assert scan_cfg.bench_config().models == ("resnet18-w16", "mixer")
    sweep_cfg = SweepConfig(
        models=("mlp-w8-d1",), signals=("one_pixel",), strengths=(10.0,),
        settings=RunSettings(epochs=1, limit=40, out=str(tmp_path), progress=False),
    )  # fmt: skip
    assert {r["model"] for r in sweep(sweep_cfg)} == {"mlp-w8-d1"}
