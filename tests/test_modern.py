"""The modern image models: names and sizes, shapes on any image, parameter counts, learning,
determinism by seed, and the runner, scan and sweep accepting their names."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from signalinject.benchmarks.modern import MLP, MLPMixer, ResNet18, ViT, _sincos_2d
from signalinject.benchmarks.registry import build_model, count_parameters, find_model, model
from signalinject.benchmarks.runner import BenchConfig
from signalinject.benchmarks.settings import RunSettings

pytestmark = pytest.mark.usefixtures("one_thread")


TINY = ("resnet18-w4", "vit-w16-d1-h2", "mixer-w16-d1", "mlp-w16-d1")


def test_vit_lite_as_published() -> None:
    """A class token, learned positions and raw patches give ViT-Lite-7/4's 3.72M (Hassani et
    al. 2021); the defaults drop the token and the learned positions."""
    lite = ViT(10, pool="token", positions="learned", input_norm=False)
    assert count_parameters(lite) == 3_722_250
    assert lite.cls is not None
    assert isinstance(lite.pos, torch.nn.Parameter)
    assert lite.pos.shape == (1, 65, 256)
    assert isinstance(lite.patches.norm, torch.nn.Identity)
    net = ViT(10)
    assert net.cls is None
    assert not isinstance(net.pos, torch.nn.Parameter)
    assert "pos" not in net.state_dict()  # fixed: rebuilt, never loaded
    assert isinstance(net.patches.norm, torch.nn.BatchNorm2d)
    assert not net.patches.norm.affine
    out = lite.eval()(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 10)


@given(gh=st.integers(1, 9), gw=st.integers(1, 9), quarter=st.integers(1, 16))
@settings(max_examples=20, deadline=None)
def test_sincos_positions(gh: int, gw: int, quarter: int) -> None:
    """One row per patch in row-major order; sin and cos of the column, then of the row; the
    first frequency is 1; every patch has its own row."""
    pos = _sincos_2d((gh, gw), 4 * quarter)
    assert pos.shape == (1, gh * gw, 4 * quarter)
    assert pos.dtype == torch.float32
    assert pos.abs().max() <= 1.0
    q = quarter
    for r, c in [(0, 0), (gh - 1, gw - 1), (gh // 2, gw - 1)]:
        row = pos[0, r * gw + c].double()
        assert row[0].item() == pytest.approx(math.sin(c), abs=1e-6)
        assert row[q].item() == pytest.approx(math.cos(c), abs=1e-6)
        assert row[2 * q].item() == pytest.approx(math.sin(r), abs=1e-6)
        assert row[3 * q].item() == pytest.approx(math.cos(r), abs=1e-6)
    assert torch.unique(pos[0], dim=0).shape[0] == gh * gw


@given(scale=st.floats(1.0, 255.0), shift=st.floats(-1.0, 1.0), seed=st.integers(0, 2**16))
@settings(max_examples=10, deadline=None)
def test_vit_input_norm_ignores_the_input_scale(scale: float, shift: float, seed: int) -> None:
    """With ``input_norm`` a ViT sees 0..1 and 0..255 images alike (per-channel batch
    statistics in training); without, it does not."""
    torch.manual_seed(seed)
    x = torch.rand(8, 3, 8, 8)
    net = build_model("vit-w16-d1-h2", (3, 8, 8), 4).train()
    out = net(x)
    assert torch.allclose(net(x * scale + shift), out, atol=1e-3, rtol=1e-3)
    raw = build_model("vit-w16-d1-h2", (3, 8, 8), 4, input_norm=False).train()
    assert not torch.allclose(raw(x * 255 + 1), raw(x), atol=1e-3, rtol=1e-3)


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
    m = model("mixer-w128-d4-p2")
    assert (m.entry.name, dict(m.options)) == ("mixer", {"width": 128, "depth": 4, "patch": 2})
    net = build_model("vit-w32-d2-h4-p2", (1, 8, 8), 3)
    assert isinstance(net, ViT)
    assert len(net.blocks) == 2
    assert net.patches.num_patches == 16
    assert isinstance(build_model("mixer", (1, 8, 8), 3), MLPMixer)
    mlp = build_model("mlp-w8-d2", (1, 4, 4), 3, width=16)  # options override the name
    assert isinstance(mlp, MLP)
    assert mlp.layers[0].out_features == 16
    assert find_model("resnet18-w16") is not None
    assert find_model(3) is None
    with pytest.raises(ValueError, match="model 'resnet18-d4': resnet18 has no option -d"):
        find_model("resnet18-d4")


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
        model(name)
    with pytest.raises(ValueError, match="unknown model"):
        build_model(name, (1, 8, 8), 10)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="model name must be a string"):
        model(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"width must be a multiple of heads=4, got width=10"):
        ViT(10, width=10)
    with pytest.raises(ValueError, match=r"pool must be 'mean' or 'token', got 'max'"):
        ViT(10, pool="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"positions must be 'sincos' or 'learned', got 'rope'"):
        ViT(10, positions="rope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"width must be a multiple of 4 with positions='sincos'"):
        ViT(10, width=6, heads=2)
    assert ViT(10, width=6, heads=2, positions="learned").pos.shape == (1, 64, 6)
    with pytest.raises(TypeError, match="input_norm must be True or False, got 1"):
        ViT(10, input_norm=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="width"):
        ResNet18(10, width=0)
    with pytest.raises(ValueError, match="depth"):
        MLP(10, 64, depth=0)
    with pytest.raises(ValueError, match="patch"):
        MLPMixer(10, patch=0)
    with pytest.raises(ValueError, match=r"resnet18 takes images of shape \(C, H, W\), got input"):
        build_model("resnet18", (64,), 10)
    with pytest.raises(TypeError, match=r"image_size must be a \(height, width\) pair, got 8"):
        ViT(10, 1, 8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="in_channels"):
        MLPMixer(10, 0)
    with pytest.raises(TypeError, match="input_shape must be"):
        build_model("vit", "1x8x8", 10)  # type: ignore[arg-type]


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
