"""The trainer: devices, input conversion, learning, reproducibility, the batch order, denormal
flushing, DDP under torchrun (CPU, gloo) and, where there is a GPU, the CUDA path."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import signalinject as si
from signalinject.benchmarks.models import PaperConvNet
from signalinject.benchmarks.perf.trainspeed import image_injection_transform
from signalinject.benchmarks.train import (
    TrainConfig,
    fit,
    images_to_tensor,
    predict,
    resolve_device,
)

pytestmark = pytest.mark.usefixtures("one_thread")


QUIET = TrainConfig(progress=False, device="cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def square_images(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A separable problem: class 1 images hold a bright 3x3 square somewhere, class 0 none."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g) * 0.3
    y = torch.arange(n) % 2
    pos = torch.randint(0, 6, (n, 2), generator=g)
    for i in torch.nonzero(y).flatten().tolist():
        r, c = pos[i].tolist()
        x[i, 0, r : r + 3, c : c + 3] = 1.0
    return x, y


# -- devices and inputs --------------------------------------------------------------------------
def test_resolve_device() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_resolve_device_bad_string() -> None:
    with pytest.raises(
        ValueError, match="device must be 'auto' or a torch device string, got 'gpu"
    ):
        resolve_device("gpu!")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_resolve_device_cuda_missing() -> None:
    with pytest.raises(ValueError, match="asked for CUDA, but CUDA is not available"):
        resolve_device("cuda")


def test_images_to_tensor() -> None:
    x = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    t = images_to_tensor(x, preprocess="raw")
    assert t.dtype == torch.float32
    assert t.shape == (2, 3, 3, 4)
    assert t.is_contiguous()
    assert t[1, 2, 0, 3].item() == x[1, 0, 3, 2]  # (n, c, h, w) <- (n, h, w, c)
    unit = images_to_tensor(x, device="cpu")
    torch.testing.assert_close(unit, t / 255.0)
    x.setflags(write=False)  # read-only input (e.g. a memory map): copied, no warning
    torch.testing.assert_close(images_to_tensor(x, preprocess="raw"), t)


@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        (np.zeros((1, 2, 2, 3), np.float32), {}, TypeError, "uint8 numpy array .* got float32"),
        (torch.zeros(1, 2, 2, 3, dtype=torch.uint8), {}, TypeError, "got Tensor"),
        (np.zeros((2, 2, 3), np.uint8), {}, ValueError, r"\(N, H, W, C\), got shape \(2, 2, 3\)"),
        (np.zeros((1, 2, 2, 3), np.uint8), {"preprocess": "z"}, ValueError, "preprocess must"),
        (
            np.zeros((1, 2, 2, 3), np.uint8),
            {"preprocess": "standardize"},
            ValueError,
            "need the training set's statistics: ImageScaling.fit",
        ),
    ],
)
def test_images_to_tensor_errors(
    x: Any, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        images_to_tensor(x, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, r"epochs must be in \[1, inf\], got 0"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an integer"),
        ({"lr": 0.0}, ValueError, "lr must be > 0, got 0.0"),
        ({"weight_decay": -1.0}, ValueError, "weight_decay must be >= 0, got -1.0"),
        ({"lr": float("nan")}, TypeError, "lr must be a finite number, got nan"),
        ({"schedule": "step"}, ValueError, "schedule must be 'cosine' or 'constant', got 'step'"),
        ({"device": 0}, TypeError, "device must be a string"),
    ],
)
def test_train_config_errors(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        TrainConfig(**kwargs)


def test_train_config_is_json() -> None:
    assert json.loads(json.dumps(dataclasses.asdict(TrainConfig())))["lr"] == 1e-3


# -- training ------------------------------------------------------------------------------------
def test_fit_learns_a_separable_problem() -> None:
    x, y = square_images(64)
    torch.manual_seed(0)
    net = PaperConvNet(2, in_channels=1, image_size=(8, 8))
    history: list[dict[str, float]] = []
    cfg = dataclasses.replace(QUIET, epochs=8, batch_size=16, lr=3e-3)
    t0 = time.perf_counter()
    out = fit(net, x, y, cfg, history=history)
    elapsed = time.perf_counter() - t0
    assert out is net
    assert not net.training
    assert [h["epoch"] for h in history] == list(range(1, 9))
    assert [sorted(h) for h in history] == [["accuracy", "epoch", "loss", "seconds"]] * 8
    assert all(h["seconds"] > 0 for h in history)
    assert sum(h["seconds"] for h in history) <= elapsed  # the epochs, within fit's time
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    x_new, y_new = square_images(64, seed=1)
    pred = predict(net, x_new, cfg, batch_size=24)  # batches of 24, 24, 16
    assert pred.dtype == np.int64
    assert pred.shape == (64,)
    assert (pred == y_new.numpy()).mean() >= 0.95


def test_fit_is_reproducible() -> None:
    x, y = square_images(32)
    states = []
    for seed in (0, 0, 1):
        torch.manual_seed(0)  # the same initial weights every time
        net = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.Dropout(0.5), nn.Linear(8, 2))
        fit(net, x, y, dataclasses.replace(QUIET, epochs=2, batch_size=8, seed=seed))
        states.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    assert torch.equal(states[0], states[1])
    assert not torch.equal(states[0], states[2])  # the seed draws the order and the dropout


class Recorder(nn.Module):
    """Remembers every input it sees; its inputs are sample ids."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 2)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().flatten().long())
        return self.linear(x)


def test_batch_order_is_a_seeded_permutation_per_epoch() -> None:
    ids = torch.arange(10, dtype=torch.float32)[:, None]
    y = torch.zeros(10, dtype=torch.int64)
    orders = []
    for _ in range(2):
        rec = Recorder()
        fit(rec, ids, y, dataclasses.replace(QUIET, epochs=3, batch_size=4, seed=5))
        assert [len(b) for b in rec.seen] == [4, 4, 2] * 3  # the last batch is kept
        orders.append(torch.cat(rec.seen).view(3, 10))
    assert torch.equal(orders[0], orders[1])
    for epoch in orders[0]:
        assert sorted(epoch.tolist()) == list(range(10))
    assert not torch.equal(orders[0][0], orders[0][1])


# -- batch_transform ------------------------------------------------------------------------------
def test_batch_transform_gets_each_batch_with_its_labels_and_indices() -> None:
    ids = torch.arange(10, dtype=torch.float32)[:, None]
    y = torch.arange(10) % 2
    calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def transform(xb: torch.Tensor, yb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        calls.append((xb.clone(), yb.clone(), idx.clone()))
        return xb + 100  # what the model must see

    cfg = dataclasses.replace(QUIET, epochs=2, batch_size=4, seed=5)
    rec, plain = Recorder(), Recorder()
    fit(rec, ids, y, cfg, batch_transform=transform)
    fit(plain, ids, y, cfg)
    assert [len(idx) for _, _, idx in calls] == [4, 4, 2] * 2
    for xb, yb, idx in calls:
        assert idx.dtype == torch.int64
        assert torch.equal(xb, ids[idx])  # the rows of x at the indices, before any transform
        assert torch.equal(yb, y[idx])
    for epoch in range(2):
        order = torch.cat([idx for _, _, idx in calls[epoch * 3 : epoch * 3 + 3]])
        assert sorted(order.tolist()) == list(range(10))
    # The model saw the transform's output, in the order of a run without the transform.
    assert [(b - 100).tolist() for b in rec.seen] == [b.tolist() for b in plain.seen]
    assert torch.equal(torch.cat(rec.seen) - 100, torch.cat([idx for _, _, idx in calls]))


class LayoutProbe(nn.Module):
    """Records each input and whether it is laid out channels-last in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 2)
        self.seen: list[tuple[torch.Tensor, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((x.detach().clone(), x.is_contiguous(memory_format=torch.channels_last)))
        return self.linear(x.mean((1, 2, 3))[:, None])


def test_a_channels_last_batch_is_gathered_channels_last() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 4, 5, generator=g)
    y = torch.zeros(6, dtype=torch.int64)
    cfg = dataclasses.replace(QUIET, epochs=1, batch_size=4)
    plain, cl = LayoutProbe(), LayoutProbe()
    fit(plain, x, y, cfg)
    fit(cl, x.contiguous(memory_format=torch.channels_last), y, cfg)
    assert [b.shape[0] for b, _ in cl.seen] == [4, 2]
    assert [is_cl for _, is_cl in plain.seen] == [False, False]
    assert [is_cl for _, is_cl in cl.seen] == [True, True]
    for (a, _), (b, _) in zip(plain.seen, cl.seen, strict=True):
        assert torch.equal(a, b)  # the same rows, in the same order


def model_params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def train_convnet(
    x: torch.Tensor, y: torch.Tensor, transform: Any = None, epochs: int = 2
) -> list[torch.Tensor]:
    torch.manual_seed(0)  # the same initial weights every time
    net = PaperConvNet(4, in_channels=3, image_size=(8, 8))
    cfg = dataclasses.replace(QUIET, epochs=epochs, batch_size=8, lr=3e-3, seed=2)
    fit(net, x, y, cfg, batch_transform=transform)
    return model_params(net)


def test_injection_in_the_loop_trains_the_same_model_as_pre_injected_data() -> None:
    g = torch.Generator().manual_seed(0)
    x8 = torch.randint(0, 256, (20, 3, 8, 8), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 4, (20,), generator=g)
    # Partial coverage and fidelity: the draws depend on each sample's index, so the transform
    # must get the data set's indices, not the positions within the batch.
    inj = si.OnePixel(4, position=(2, 5), values=(0, 90, 180, 255), coverage=0.6, fidelity=0.7,
                      seed=3)  # fmt: skip
    pre = inj(x8, y).to(torch.float32) / 255.0
    in_loop = train_convnet(x8, y, image_injection_transform(inj, x8, y))
    reference = train_convnet(pre, y)
    assert all(torch.equal(a, b) for a, b in zip(in_loop, reference, strict=True))
    clean = train_convnet(x8.to(torch.float32) / 255.0, y)
    assert not all(torch.equal(a, b) for a, b in zip(in_loop, clean, strict=True))


def test_injection_in_the_loop_leaves_the_resident_data_alone() -> None:
    x8 = torch.zeros(8, 3, 8, 8, dtype=torch.uint8)
    y = torch.arange(8) % 4
    before = x8.clone()
    train_convnet(x8, y, image_injection_transform(si.OnePixel(4, values=(9, 19, 29, 39)), x8, y),
                  epochs=1)  # fmt: skip
    assert torch.equal(x8, before)


@pytest.mark.parametrize(
    ("transform", "error", "match"),
    [
        ("not callable", TypeError, "batch_transform must be None or a callable .* got str"),
        (lambda xb, yb, idx: xb.tolist(), TypeError, "must return a torch tensor, got list"),
        (
            lambda xb, yb, idx: xb[:1],
            ValueError,
            r"the batch's 4 samples on cpu, got shape \(1, 1\)",
        ),
        (lambda xb, yb, idx: xb.sum(), ValueError, r"4 samples on cpu, got shape \(\)"),
    ],
)
def test_batch_transform_errors(transform: Any, error: type[Exception], match: str) -> None:
    x, y = torch.zeros(8, 1), torch.zeros(8, dtype=torch.int64)
    with pytest.raises(error, match=match):
        fit(nn.Linear(1, 2), x, y, dataclasses.replace(QUIET, batch_size=4),
            batch_transform=transform)  # fmt: skip


class DenormalProbe(nn.Module):
    """Records whether the CPU flushes denormal floats while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 2)
        self.flushed: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tiny = torch.tensor([1e-39], dtype=torch.float32)  # below float32's smallest normal
        self.flushed.append(bool((tiny * 1.0 == 0).item()))
        return self.linear(x)


def denormals_flushed() -> bool:
    return bool((torch.tensor([1e-39], dtype=torch.float32) * 1.0 == 0).item())


def test_denormals_flushed_only_inside_fit_and_predict() -> None:
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush denormals")
    torch.set_flush_denormal(False)
    x, y = torch.zeros(4, 1), torch.zeros(4, dtype=torch.int64)
    probe = DenormalProbe()
    fit(probe, x, y, dataclasses.replace(QUIET, epochs=1))
    predict(probe, x, QUIET)
    assert probe.flushed == [True, True]
    assert not denormals_flushed()  # back to the default afterwards
    fit(probe, x, y, dataclasses.replace(QUIET, epochs=1, flush_denormal=False))
    assert probe.flushed[-1] is False


def test_fit_shows_progress_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = square_images(8)
    fit(nn.Sequential(nn.Flatten(), nn.Linear(64, 2)), x, y,
        dataclasses.replace(QUIET, epochs=2, batch_size=4, progress=True))  # fmt: skip
    assert "train Sequential" in capsys.readouterr().err
    fit(nn.Sequential(nn.Flatten(), nn.Linear(64, 2)), x, y, QUIET)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("x", "y", "error", "match"),
    [
        (np.zeros((2, 1)), torch.zeros(2, dtype=torch.int64), TypeError, "torch tensors x and y"),
        (torch.zeros(2, 1), torch.zeros(2), ValueError, "y must be int64 labels"),
        (torch.zeros(3, 1), torch.zeros(2, dtype=torch.int64), ValueError, "same number"),
        (torch.zeros(0, 1), torch.zeros(0, dtype=torch.int64), ValueError, r"same number \(>= 1\)"),
    ],
)
def test_fit_errors(x: Any, y: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        fit(nn.Linear(1, 2), x, y, QUIET)


def test_predict_needs_a_tensor() -> None:
    with pytest.raises(TypeError, match="predict needs a torch tensor x, got ndarray"):
        predict(nn.Linear(1, 2), np.zeros((2, 1)), QUIET)  # type: ignore[arg-type]


# -- DDP under torchrun --------------------------------------------------------------------------
DDP_SCRIPT = """
import json, sys, torch
from torch import nn
from signalinject.benchmarks.train import TrainConfig, fit

class Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 3)
        self.seen = []
    def forward(self, x):
        self.seen.append(x.detach().flatten().long().tolist())
        return self.linear(x)

torch.manual_seed(torch.distributed.get_rank() if torch.distributed.is_initialized() else 0)
ids = torch.arange(11, dtype=torch.float32)[:, None]
y = torch.arange(11) % 3
net, history, idxs = Recorder(), [], []
def transform(xb, yb, idx):
    idxs.append(idx.tolist())
    assert torch.equal(yb, y[idx]) and torch.equal(xb, ids[idx])
    return xb
fit(net, ids, y, TrainConfig(epochs=2, batch_size=4, progress=False, device="cpu"),
    history=history, batch_transform=transform)
rank = torch.distributed.get_rank()
for h in history:
    del h["seconds"]  # wall-clock time: differs between ranks
json.dump({"seen": net.seen, "history": history, "idx": idxs,
           "weight": net.linear.weight.flatten().tolist()},
          open(f"{sys.argv[1]}/rank{rank}.json", "w"))
torch.distributed.destroy_process_group()  # before exit: gloo's threads can abort it otherwise
"""


@pytest.mark.slow  # three processes start torch: ~10 s
@pytest.mark.ci  # the only test of the trainer's DDP
def test_ddp_under_torchrun(tmp_path: Path) -> None:
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(script), str(tmp_path)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    # Different initial weights on each rank (seeded by rank): DDP broadcast rank 0's, and the
    # all-reduced gradients kept them equal.
    assert r0["weight"] == pytest.approx(r1["weight"], abs=1e-6)
    assert r0["history"] == r1["history"]  # loss and accuracy summed over both ranks
    for r in (r0, r1):  # batch_transform got each batch's data set indices
        assert r["idx"] == r["seen"]
    for epoch in range(2):
        seen0 = [i for b in r0["seen"][epoch * 2 : epoch * 2 + 2] for i in b]
        seen1 = [i for b in r1["seen"][epoch * 2 : epoch * 2 + 2] for i in b]
        # 11 samples -> 6 per rank (one repeated, as DistributedSampler pads), together all.
        assert len(seen0) == len(seen1) == 6
        assert set(seen0) | set(seen1) == set(range(11))


# -- CUDA (run where there is a GPU) -------------------------------------------------------------
@needs_cuda
@pytest.mark.cuda
def test_cuda_amp_channels_last_learns() -> None:
    x, y = square_images(256)
    torch.manual_seed(0)
    net = PaperConvNet(2, in_channels=1, image_size=(8, 8))
    cfg = TrainConfig(epochs=6, batch_size=32, lr=3e-3, progress=False, device="cuda")
    fit(net, x, y, cfg)  # x, y on the host: moved to the GPU once
    assert next(net.parameters()).device.type == "cuda"
    conv = net.features[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    x_new, y_new = square_images(256, seed=1)
    assert (predict(net, x_new, cfg) == y_new.numpy()).mean() >= 0.95


@needs_cuda
@pytest.mark.cuda
def test_cuda_no_host_sync_inside_an_epoch() -> None:
    x, y = square_images(256)
    x, y = x.cuda(), y.cuda()
    net = PaperConvNet(2, in_channels=1, image_size=(8, 8))
    epochs, steps = 3, 256 // 16
    cfg = TrainConfig(epochs=epochs, batch_size=16, progress=False, device="cuda")
    fit(net, x, y, dataclasses.replace(cfg, epochs=1))  # warm-up: one-time syncs happen here
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit(net, x, y, cfg)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    # A few per epoch (the order's upload, the epoch's statistics), never one per step.
    assert len(syncs) <= 3 * epochs < steps, [str(w.message) for w in syncs[:8]]
