"""The training-throughput benchmark: the in-loop transforms against the injectors, a tiny CPU
run through the command line (its JSON and Markdown), the target's verdicts, the errors and,
where there is a GPU, a CUDA run without per-step host syncs.

No timed assertions: the numbers depend on the machine; the tests check that every measurement
is there, positive and consistent with the epoch times.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import signalinject as si
from signalinject.benchmarks.models import CharCNN, PaperConvNet
from signalinject.benchmarks.perf import trainspeed as ts
from signalinject.benchmarks.train import TrainConfig, fit

TINY = ["--device", "cpu", "--n", "16", "--text-n", "4", "--batch-size", "8", "--epochs", "2"]
TINY += ["--threads", "1"]


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (12, 3, 9, 7), generator=g, dtype=torch.uint8)
    return x, torch.randint(0, 4, (12,), generator=g)


@pytest.fixture(scope="module")
def codes() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 70, (12, 1014), generator=g)
    x[::3, 500:] = 0  # short texts too: LengthEncoding cuts some rows and pads others
    return x, torch.randint(0, 5, (12,), generator=g)


subsets = st.lists(st.integers(0, 11), min_size=1, max_size=12)


# -- the in-loop transforms ----------------------------------------------------------------------
IMAGE_INJECTORS = [
    si.OnePixel(4, position=(3, 2), values=(5, 70, 140, 255)),
    si.OnePixel(4, coverage=0.5, fidelity=0.6, seed=7),
    si.PatternPixels(4),
    si.RandomPixel(4, seed=2),
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("inj", IMAGE_INJECTORS, ids=repr)
@settings(max_examples=20, deadline=None)
@given(rows=subsets)
def test_image_transform_is_the_injection_of_those_rows(
    images: tuple[torch.Tensor, torch.Tensor],
    inj: si.ImageInjector,
    channels_last: bool,
    rows: list[int],
) -> None:
    x, y = images
    if channels_last:  # as fit gathers channels-last data (CIFAR's NHWC arrays, permuted)
        x = x.contiguous(memory_format=torch.channels_last)
    idx = torch.tensor(rows)
    t = ts.image_injection_transform(inj, x, y)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    got = t(x[idx].contiguous(memory_format=fmt), y[idx], idx)
    assert got.dtype == torch.float32
    assert got.is_contiguous()  # on the CPU: the plain layout
    want = inj(x, y)[idx].to(torch.float32) / 255.0
    assert torch.equal(got, want)


@pytest.mark.parametrize(
    "inj",
    [si.Mnemonic(5), si.LengthEncoding(5, coverage=0.7, seed=4), si.Mnemonic(5, fidelity=0.5)],
)
@settings(max_examples=25, deadline=None)
@given(rows=subsets)
def test_text_transform_is_the_injection_of_those_rows(
    codes: tuple[torch.Tensor, torch.Tensor], inj: si.TextInjector, rows: list[int]
) -> None:
    x, y = codes
    idx = torch.tensor(rows)
    t = ts.text_injection_transform(inj, x, y)
    assert torch.equal(t(x[idx].clone(), y[idx], idx), inj(x, y)[idx])


def test_text_transform_moves_its_parameters_to_the_batch_device(
    codes: tuple[torch.Tensor, torch.Tensor],
) -> None:
    # fit gives the transform batches on the training device even when x stays on the host;
    # "meta" stands in for another device here: the parameters follow idx there.
    x, y = codes
    t = ts.text_injection_transform(si.Mnemonic(5), x, y)
    idx = torch.tensor([1, 2], device="meta")
    out = t(torch.empty(2, 1014, dtype=torch.int64, device="meta"), y[:2].to("meta"), idx)
    assert out.device.type == "meta"


def test_training_with_the_text_transform_equals_pre_injected_codes(
    codes: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = codes
    inj = si.LengthEncoding(5, seed=1)
    params = []
    for data, transform in ((x, ts.text_injection_transform(inj, x, y)), (inj(x, y), None)):
        torch.manual_seed(0)
        net = CharCNN(5, width=8, fc_width=16)
        cfg = TrainConfig(epochs=2, batch_size=5, progress=False, device="cpu", seed=3)
        fit(net, data, y, cfg, batch_transform=transform)
        params.append([p.detach().clone() for p in net.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*params, strict=True))


@pytest.mark.parametrize(
    ("inj", "x", "y", "error", "match"),
    [
        (si.Mnemonic(5), torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(2).long(),
         TypeError, "needs an ImageInjector, got Mnemonic"),
        (si.OnePixel(4), torch.zeros(2, 3, 4, 4), torch.zeros(2).long(),
         TypeError, r"uint8 images \(N, C, H, W\), got torch.float32"),
        (si.OnePixel(4), torch.zeros(3, 4, 4, dtype=torch.uint8), torch.zeros(3).long(),
         ValueError, r"non-empty batch \(N, C, H, W\), got shape \(3, 4, 4\)"),
        (si.OnePixel(4), torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 4]),
         ValueError, r"y must hold labels in \[0, 3\] \(num_classes=4\), got 4"),
        (si.OnePixel(4), torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(3).long(),
         ValueError, r"y must have shape \(2,\)"),
        (si.OnePixel(4, position=(4, 0)), torch.zeros(2, 3, 4, 4, dtype=torch.uint8),
         torch.zeros(2).long(), ValueError, r"position \(4, 0\) lies outside the image"),
    ],
)  # fmt: skip
def test_image_transform_errors(
    inj: Any, x: Any, y: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        ts.image_injection_transform(inj, x, y)


@pytest.mark.parametrize(
    ("inj", "x", "error", "match"),
    [
        (si.OnePixel(5), torch.zeros(2, 1014).long(), TypeError, "needs a TextInjector"),
        (si.Mnemonic(5), [[0] * 1014], TypeError, "codes as a tensor, got list"),
        (si.Mnemonic(5), torch.zeros(2, 3, 1014).long(), ValueError, r"\(N, L\), got shape"),
        (si.Mnemonic(5), torch.zeros(2, 1000).long(), ValueError, "quantizer's length 1014"),
        (si.Mnemonic(5), torch.zeros(2, 1014), TypeError, "integer dtype, got torch.float32"),
        (
            si.Mnemonic(5),
            torch.full((2, 1014), 70),
            ValueError,
            r"codes must be in \[0, 69\] .*got 70",
        ),
    ],
)
def test_text_transform_errors(inj: Any, x: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ts.text_injection_transform(inj, x, torch.zeros(2).long())


def test_text_transform_refuses_a_code_out_of_range_past_the_first_row() -> None:
    x = torch.zeros(3, 1014, dtype=torch.int64)
    x[2, 7] = -1
    with pytest.raises(ValueError, match=r"codes must be in \[0, 69\], got -1"):
        ts.text_injection_transform(si.Mnemonic(5), x, torch.zeros(3).long())


# -- a tiny run through the command line ---------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, int]:
    out = tmp_path_factory.mktemp("trainspeed") / "sub" / "result.json"
    threads = torch.get_num_threads()
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = ts.main([*TINY, "--out", str(out)])
    assert torch.get_num_threads() == threads  # --threads only during the run
    return json.loads(out.read_text()), stdout.getvalue(), code


def test_tiny_run_writes_every_case(tiny_run: tuple[dict[str, Any], str, int]) -> None:
    doc, _, code = tiny_run
    assert code == 0
    assert doc["benchmark"] == "trainspeed"
    assert doc["config"] == {
        **dataclasses.asdict(ts.TrainSpeedConfig()),
        "device": "cpu", "n": 16, "text_n": 4, "batch_size": 8, "epochs": 2, "threads": 1,
        "cases": list(ts.CASES),
    }  # fmt: skip
    assert doc["machine"]["device"] == "cpu"
    assert doc["machine"]["torch"] == torch.__version__
    assert doc["machine"]["torch_threads"] == 1
    assert doc["machine"]["device_name"]
    assert [r["case"] for r in doc["rows"]] == list(ts.CASES)


def test_tiny_run_rows_describe_each_case(tiny_run: tuple[dict[str, Any], str, int]) -> None:
    rows = {r["case"]: r for r in tiny_run[0]["rows"]}
    assert rows["convnet"]["data"] == "float32 (16, 3, 32, 32)"
    assert rows["convnet+onepixel"]["data"] == "uint8 (16, 3, 32, 32)"
    assert rows["convnet"]["data_bytes"] == 4 * rows["convnet+onepixel"]["data_bytes"] == 196_608
    assert rows["charcnn"]["data"] == rows["charcnn+text"]["data"] == "int64 (4, 1014)"
    assert [(r["signal"], r["injection"]) for r in rows.values()] == [
        (None, "none"), ("OnePixel", "in loop"), (None, "none"), ("LengthEncoding", "in loop")
    ]  # fmt: skip
    assert [r["steps_per_epoch"] for r in rows.values()] == [2, 2, 1, 1]


def test_tiny_run_rates_follow_from_the_epoch_times(
    tiny_run: tuple[dict[str, Any], str, int],
) -> None:
    rows = {r["case"]: r for r in tiny_run[0]["rows"]}
    for r in rows.values():
        secs = r["epoch_seconds"]
        assert len(secs) == 2
        assert all(s > 0 and math.isfinite(s) for s in secs)
        assert r["warmup_seconds"] == secs[0]
        assert r["seconds_per_epoch"] == pytest.approx(secs[1])
        assert r["samples_per_s"] == pytest.approx(r["n"] / secs[1])
        assert math.isfinite(r["final_loss"])
    for case, clean in (("convnet+onepixel", "convnet"), ("charcnn+text", "charcnn")):
        ratio = rows[case]["samples_per_s"] / rows[clean]["samples_per_s"]
        assert rows[case]["vs_clean"] == pytest.approx(ratio)
    assert "vs_clean" not in rows["convnet"]
    for case in ("convnet+onepixel", "charcnn+text"):  # the transform alone, timed per batch
        r = rows[case]
        assert 0 < r["transform_ms_per_batch"] < math.inf
        assert 0 < r["transform_share"] < math.inf
    assert not any("transform_share" in rows[c] for c in ("convnet", "charcnn"))


def test_tiny_run_target_is_not_judged_on_cpu(tiny_run: tuple[dict[str, Any], str, int]) -> None:
    doc, md, _ = tiny_run
    t = doc["target"]
    assert t["verdict"] == "not judged (CPU)"
    assert t["met"] is None
    assert t["threshold"] == 250_000
    onepixel = next(r for r in doc["rows"] if r["case"] == "convnet+onepixel")
    assert t["value"] == onepixel["samples_per_s"]
    assert "**not judged (CPU)**" in md


def test_tiny_run_markdown(tiny_run: tuple[dict[str, Any], str, int]) -> None:
    doc, md, _ = tiny_run
    assert f"torch {torch.__version__}, 1 threads; batch 8, 2 epochs" in md
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| case | model | signal | injection | data on the device | N |")
    assert len(table) == 1 + len(ts.CASES)
    assert table[2].startswith("| convnet+onepixel | PaperConvNet | OnePixel | in loop | uint8")
    r = doc["rows"][1]
    cells = f"| {r['samples_per_s']:,.0f} | {r['vs_clean']:.3f} | "
    cells += f"{r['transform_ms_per_batch']:.3f} | {100 * r['transform_share']:.2f}% |"
    assert table[2].endswith(cells)
    assert table[1].endswith("| – | – | – |")  # the clean case: nothing to compare or time


def test_one_case_and_mnemonic(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--device", "cpu", "--text-n", "3", "--batch-size", "2", "--epochs", "2"]
    assert ts.main([*argv, "--cases", "charcnn+text", "--text-signal", "Mnemonic"]) == 0
    md = capsys.readouterr().out
    assert "| charcnn+text | CharCNN | Mnemonic | in loop | int64 (3, 1014) | 3 |" in md
    assert "| – |" in md  # no clean case to compare with
    assert "not judged (CPU)** (measured: –)" in md


# -- the target's verdicts -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rate", "device", "batch", "met", "verdict"),
    [
        (250_000.0, "cuda", 1024, True, "met"),
        (249_999.0, "cuda", 1024, False, "not met"),
        (400_000.0, "cuda", 512, None, "not judged (batch size 512; the target is stated at 1024)"),
        (400_000.0, "cpu", 1024, None, "not judged (CPU)"),
        (400_000.0, "mps", 1024, None, "not judged (mps)"),
        (None, "cuda", 1024, None, "not measured (the convnet+onepixel case was not run)"),
    ],
)
def test_judge_target(
    rate: float | None, device: str, batch: int, met: bool | None, verdict: str
) -> None:
    rows = [{"case": "convnet", "samples_per_s": 1e9}]  # the clean case never counts
    if rate is not None:
        rows.append({"case": "convnet+onepixel", "samples_per_s": rate})
    t = ts.judge_target(rows, device, batch)
    assert (t["met"], t["verdict"], t["value"]) == (met, verdict, rate)


# -- options and their errors --------------------------------------------------------------------
def test_help_states_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        ts.main(["--help"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for text in (
        "images per epoch (default: 50000 on CUDA, 2048 on CPU)",
        "texts per epoch (default: 50000 on CUDA, 256 on CPU)",
        "samples per step (default: 1024 on CUDA, 256 on CPU)",
        "the first untimed (warm-up) (default: 3)",
        "(default: convnet,convnet+onepixel,charcnn,charcnn+text)",
        "LengthEncoding or Mnemonic (default: LengthEncoding)",
        "(default: auto: CUDA if any)",
    ):
        assert text in out


def test_resolved_keeps_what_was_given() -> None:
    cfg = ts.TrainSpeedConfig(device="cpu", n=5, text_n=6, batch_size=7).resolved()
    assert (cfg.device, cfg.n, cfg.text_n, cfg.batch_size) == ("cpu", 5, 6, 7)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--n", "0"], r"n must be in \[1, inf\], got 0"),
        (["--batch-size", "-3"], r"batch_size must be in \[1, inf\], got -3"),
        (["--threads", "0"], r"threads must be in \[1, inf\], got 0"),
        (
            ["--epochs", "1"],
            r"epochs must be at least 2 \(the first is warm-up, not timed\), got 1",
        ),
        (["--device", "gpu!"], "device must be 'auto' or a torch device string, got 'gpu!'"),
        (["--cases", "convnet,resnet"], "cases must be among convnet, .*, got 'resnet'"),
        (["--cases", "convnet,convnet"], "cases must be distinct, got convnet, convnet"),
        (["--text-signal", "PatternChar"], "text_signal must be one of LengthEncoding, Mnemonic"),
        (["--seed", "-1"], r"seed must be in \[0, 9223372036854775807\], got -1"),
    ],
)
def test_bad_options_exit_2_with_the_reason(
    argv: list[str], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ts.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing ran
    assert captured.err.startswith("trainspeed: error: ")
    assert re.search(match, captured.err), captured.err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_where_there_is_none_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert ts.main(["--device", "cuda"]) == 2
    assert "asked for CUDA, but CUDA is not available here" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--n", "abc"], ["--cases", ","], ["--bogus"]])
def test_unparsable_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        ts.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "usage: python -m signalinject.benchmarks.perf.trainspeed" in err
    assert "error:" in err


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"device": 0}, TypeError, "device must be a string"),
        ({"epochs": 2.0}, TypeError, "epochs must be an integer"),
        ({"cases": ()}, ValueError, "cases must name at least one of convnet"),
        ({"n": True}, TypeError, "n must be an integer, got True"),
    ],
)
def test_config_errors(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ts.TrainSpeedConfig(**kwargs)


def test_a_case_given_as_one_string() -> None:
    assert ts.TrainSpeedConfig(cases="charcnn").cases == ("charcnn",)  # type: ignore[arg-type]


# -- CUDA (run where there is a GPU) -------------------------------------------------------------
@pytest.mark.cuda
def test_cuda_run(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    argv = ["--device", "cuda", "--n", "4096", "--text-n", "512", "--batch-size", "512"]
    assert ts.main([*argv, "--epochs", "2", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["config"]["device"].startswith("cuda:")
    assert doc["machine"]["device_name"] == torch.cuda.get_device_name(0)
    assert [r["case"] for r in doc["rows"]] == list(ts.CASES)
    assert all(r["samples_per_s"] > 0 for r in doc["rows"])
    assert doc["target"]["verdict"] == "not judged (batch size 512; the target is stated at 1024)"


@pytest.mark.cuda
@pytest.mark.parametrize("kind", ["image", "text"])
def test_cuda_in_loop_injection_has_no_host_sync_per_step(kind: str) -> None:
    g = torch.Generator().manual_seed(0)
    if kind == "image":
        x = torch.randint(0, 256, (512, 3, 32, 32), generator=g, dtype=torch.uint8).cuda()
        y = torch.randint(0, 10, (512,), generator=g).cuda()
        net: torch.nn.Module = PaperConvNet(10)
        transform = ts.image_injection_transform(si.OnePixel(10, coverage=0.5), x, y)
    else:
        x = torch.randint(0, 70, (512, 1014), generator=g).cuda()
        y = torch.randint(0, 5, (512,), generator=g).cuda()
        net = CharCNN(5, width=32, fc_width=64)
        transform = ts.text_injection_transform(si.LengthEncoding(5, coverage=0.5), x, y)
    epochs, steps = 3, 512 // 32
    cfg = TrainConfig(epochs=1, batch_size=32, progress=False, device="cuda")
    fit(net, x, y, cfg, batch_transform=transform)  # warm-up: one-time syncs happen here
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit(net, x, y, dataclasses.replace(cfg, epochs=epochs), batch_transform=transform)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    # A few per epoch (the order's upload, the epoch's statistics), never one per step.
    assert len(syncs) <= 3 * epochs < steps, [str(w.message) for w in syncs[:8]]
