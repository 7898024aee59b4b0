"""The benchmarks' torch models: output shapes, the paper's parameter counts, and what each
architecture can and cannot see."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from signalinject.benchmarks.models import CharCNN, PaperConvNet, Perceptron, ShallowMaxNet
from signalinject.benchmarks.registry import MODELS, build_model, count_parameters

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL_CHARCNN = {"width": 8, "fc_width": 16}


@pytest.mark.parametrize("k", [2, 5, 10])
@pytest.mark.parametrize(
    ("name", "shape", "options"),
    [
        ("convnet", (3, 32, 32), {}),
        ("convnet", (1, 28, 20), {}),
        ("shallow_max", (3, 32, 32), {}),
        ("perceptron", (3, 32, 32), {}),
        ("perceptron", (150,), {}),
        ("charcnn", (150,), SMALL_CHARCNN),
    ],
)
def test_forward_shape(name: str, shape: tuple[int, ...], options: dict[str, Any], k: int) -> None:
    torch.manual_seed(0)
    net = build_model(name, shape, k, **options)
    if name == "charcnn":
        x: torch.Tensor = torch.randint(0, 71, (3, *shape))
    else:
        x = torch.rand(3, *shape)
    out = net(x)
    assert out.shape == (3, k)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_the_papers_models_keep_their_0_1_0_identity() -> None:
    """Their cells are keyed by name (identity "paper"), so 0.1.0's results resume; the cell ids
    themselves are pinned in tests/test_registry.py. The Shallow MaxNN changed in 0.2.0 (batch
    normalisation, its own learning rate): keyed by its structure, none of its 0.1.0 results is
    reused."""
    paper = ("convnet", "charcnn", "charcnn_large", "charcnn_narrow", "perceptron")
    for name in paper:
        assert MODELS[name].identity == "paper", name
        assert MODELS[name].lr is None, name
    assert MODELS["shallow_max"].identity == "structure"
    assert MODELS["convnet"].inputs == ("images",)
    assert MODELS["charcnn"].inputs == ("codes",)
    assert MODELS["perceptron"].kinds == ("image", "text")


@pytest.mark.parametrize(
    ("name", "width", "fc"),
    [("charcnn", 256, 1024), ("charcnn_large", 1024, 2048), ("charcnn_narrow", 64, 256)],
)
def test_charcnn_widths_by_name(name: str, width: int, fc: int) -> None:
    net = build_model(name, (150,), 5)
    assert isinstance(net, CharCNN)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv1d)]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert {m.out_channels for m in convs} == {width}
    assert [m.out_features for m in linears] == [fc, fc, 5]
    # options given by name win over the name's widths
    small = build_model(name, (150,), 5, width=8, fc_width=16)
    assert {m.out_channels for m in small.modules() if isinstance(m, torch.nn.Conv1d)} == {8}


def test_charcnn_by_name_needs_codes() -> None:
    with pytest.raises(ValueError, match=r"charcnn_narrow takes text codes of shape \(L,\)"):
        build_model("charcnn_narrow", (3, 32, 32), 5)


def test_paper_convnet_parameter_count() -> None:
    net = PaperConvNet(10)
    assert count_parameters(net) == 608_778  # the paper's "~600K"
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.kernel_size for m in convs] == [(5, 5), (3, 3), (3, 3), (2, 2)]
    assert [m.out_channels for m in convs] == [64, 128, 256, 128]
    assert sum(p.numel() for m in convs for p in m.parameters()) == 505_088
    assert net.classifier.in_features == 128 * 9 * 9


def test_charcnn_is_zhangs_small_model() -> None:
    net = CharCNN(5)  # full size: 256 features, 1024 hidden units, length 1014
    assert count_parameters(net) == 11_340_805
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [m.kernel_size[0] for m in convs] == [7, 7, 3, 3, 3, 3]
    assert {m.out_channels for m in convs} == {256}
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [1024, 1024, 5]
    assert linears[0].in_features == 256 * 34  # 1014 characters -> 34 positions
    assert [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]


def test_charcnn_one_hot_table() -> None:
    net = CharCNN(2, alphabet_size=70, length=123, **SMALL_CHARCNN)
    codes = torch.tensor([[0, 1, 70, 5] + [0] * 119])
    onehot = F.embedding(codes, net.onehot)
    want = F.one_hot(codes, 71)[..., 1:].float()  # code 0 -> the all-zero vector
    assert torch.equal(onehot, want)
    assert onehot[0, 0].sum() == 0
    # A frozen buffer: not a parameter, saved with the model, moved by .to().
    assert all(p.data_ptr() != net.onehot.data_ptr() for p in net.parameters())
    assert "onehot" in net.state_dict()
    assert net.to(torch.float64).onehot.dtype == torch.float64


def test_charcnn_zhang_init() -> None:
    torch.manual_seed(0)
    net = CharCNN(3, length=123, init_std=0.05, **SMALL_CHARCNN)
    w = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, torch.nn.Linear)])
    assert abs(w.std().item() - 0.05) < 0.005
    assert all((m.bias == 0).all() for m in net.modules() if isinstance(m, torch.nn.Conv1d))


def test_charcnn_rejects_out_of_range_codes() -> None:
    net = CharCNN(2, alphabet_size=10, length=123, **SMALL_CHARCNN)
    with pytest.raises(IndexError):
        net(torch.full((1, 123), 11))


def test_charcnn_rejects_wrong_length() -> None:
    net = CharCNN(2, length=123, **SMALL_CHARCNN)
    with pytest.raises(ValueError, match=r"int64 codes of shape \(N, 123\), got \(1, 124\)"):
        net(torch.zeros(1, 124, dtype=torch.int64))


def test_charcnn_rejects_short_length() -> None:
    with pytest.raises(ValueError, match=r"length must be at least 123 .* got 122"):
        CharCNN(2, length=122)


def test_charcnn_rejects_bad_dropout() -> None:
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        CharCNN(2, dropout=1.0)


def test_charcnn_rejects_bad_init_std() -> None:
    with pytest.raises(ValueError, match="init_std must be a positive number, got -1"):
        CharCNN(2, length=123, init_std=-1.0, **SMALL_CHARCNN)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(2, 6), st.integers(2, 6))
def test_shallow_max_ignores_where(seed: int, h: int, w: int) -> None:
    """Per-pixel map + global max: moving pixels around never changes the output."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = ShallowMaxNet(4, in_channels=2, hidden=8)
    x = torch.rand(3, 2, h, w, generator=g)
    perm = torch.randperm(h * w, generator=g)
    moved = x.flatten(2)[:, :, perm].reshape(3, 2, h, w)
    torch.testing.assert_close(net(moved), net(x))


def test_shallow_max_sees_a_value_anywhere() -> None:
    """The same bright pixel in a different place gives the same output; a darker one does not."""
    net = ShallowMaxNet(3, in_channels=1, hidden=4)
    with torch.no_grad():
        net.pixel.weight.fill_(1.0)
        net.pixel.bias.zero_()
    a, b, c = torch.zeros(3, 1, 5, 5)
    a[0, 1, 1], b[0, 4, 2], c[0, 4, 2] = 7.0, 7.0, 6.0
    out = net(torch.stack([a, b, c]))
    torch.testing.assert_close(out[0], out[1])
    assert not torch.allclose(out[0], out[2])


def _plain_max_forward(net: ShallowMaxNet, x: torch.Tensor) -> torch.Tensor:
    """The Shallow MaxNN as written: the 1x1 conv on every pixel, ReLU, ``amax`` over pixels."""
    return net.classifier(net.norm(F.relu(net.pixel(x)).amax(dim=(2, 3))))  # type: ignore[no-any-return]


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 4), st.integers(2, 9), st.booleans())
def test_shallow_max_gather_forward_equals_the_plain_max(
    seed: int, c: int, side: int, training: bool
) -> None:
    """The forward that maps only each feature's winning pixel again gives the logits and the
    gradients of every parameter of the plain ``amax`` over the full map (float64: rounding
    out of the way; continuous random inputs: no ties)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = ShallowMaxNet(5, in_channels=c, hidden=16).double().train(training)
    x = torch.randn(6, c, side, side + 1, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (6,), generator=g)
    grads = []
    for forward in (net, lambda v: _plain_max_forward(net, v)):
        net.zero_grad()
        out = forward(x)
        F.cross_entropy(out, y).backward()  # type: ignore[no-untyped-call]
        grads.append((out.detach(), [p.grad.clone() for p in net.parameters()]))
    (fast, g_fast), (plain, g_plain) = grads
    torch.testing.assert_close(fast, plain, rtol=1e-9, atol=1e-9)
    scale = max(float(t.abs().max()) for t in g_plain)
    for a, b in zip(g_fast, g_plain, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9 * scale)


def test_shallow_max_gather_forward_float32() -> None:
    """In float32 the two forwards agree to rounding (the same max, summed in another order)."""
    torch.manual_seed(0)
    net = ShallowMaxNet(10).eval()
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net(x), _plain_max_forward(net, x), rtol=1e-5, atol=1e-5)


def test_shallow_max_normalises_the_pooled_features() -> None:
    """BatchNorm1d over the ``hidden`` max features sits between the max and the classifier."""
    net = build_model("shallow_max", (3, 32, 32), 10)
    assert isinstance(net.norm, torch.nn.BatchNorm1d)
    assert net.norm.num_features == net.pixel.out_channels == 256
    assert [type(m).__name__ for m in net.children()] == ["Conv2d", "BatchNorm1d", "Linear"]


def test_shallow_max_trains_on_a_batch_of_one() -> None:
    """A batch of one sample in training mode (a run's last batch) uses the running statistics
    instead of failing; the running statistics are left as they are."""
    torch.manual_seed(0)
    net = ShallowMaxNet(3).train()
    before = net.norm.running_mean.clone()
    out = net(torch.rand(1, 3, 4, 4))
    assert out.shape == (1, 3)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(net.norm.running_mean, before)


def test_shallow_max_has_its_own_learning_rate() -> None:
    """3e-2, the step size at which it reads the random pixel in 5 epochs, in every run (data
    and blank alike): the run's lr does not replace it; the other models take the run's."""
    from signalinject.benchmarks import runner

    assert MODELS["shallow_max"].lr == 3e-2
    cfg = runner.BenchConfig.for_suite("images", lr=5e-4, limit=20, progress=False, device="cpu")
    for blank in (False, True):
        c = dataclasses.replace(cfg, blank=blank)
        dev = torch.device("cpu")
        assert runner.train_config(c, 0, dev, c.model("shallow_max")).lr == 3e-2
        assert runner.train_config(c, 0, dev, c.model("convnet")).lr == 5e-4
        assert runner.train_config(c, 0, dev).lr == 5e-4


def test_perceptron_is_linear_on_flattened_input() -> None:
    net = Perceptron(3, 12)
    x = torch.randint(0, 255, (4, 2, 2, 3), dtype=torch.uint8)
    want = x.flatten(1).float() @ net.linear.weight.T + net.linear.bias
    torch.testing.assert_close(net(x), want)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (("resnet", (3, 32, 32), 10), ValueError, "unknown model 'resnet'; known: convnet"),
        (("charcnn", (3, 32, 32), 5), ValueError, r"text codes of shape \(L,\), got input_shape"),
        (("convnet", (1014,), 5), ValueError, r"images of shape \(C, H, W\), got input_shape"),
        (("shallow_max", (32, 32), 5), ValueError, r"images of shape \(C, H, W\)"),
        (("perceptron", "3x32x32", 5), TypeError, "input_shape must be a tuple of ints"),
        (("perceptron", (3, 0, 32), 5), ValueError, r"input_shape\[1\] must be in \[1, inf\]"),
        (("convnet", (3, 32, 32), 1), ValueError, r"num_classes must be in \[2, inf\], got 1"),
        (("convnet", (3, 3, 32), 10), ValueError, r"image_size\[0\] must be in \[4, inf\]"),
    ],
)
def test_build_model_errors(args: tuple[Any, ...], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build_model(*args)


def test_build_model_passes_options() -> None:
    net = build_model("charcnn", (123,), 4, width=8, fc_width=16, dropout=0.0)
    assert isinstance(net, CharCNN)
    assert net.features[0].out_channels == 8
    assert net.classifier[0].out_features == 16
    assert build_model("shallow_max", (1, 8, 8), 2, hidden=5).pixel.out_channels == 5
