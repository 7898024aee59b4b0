"""The throughput benchmark: a smoke run at tiny sizes, its outputs, targets and errors.

No timed assertions: the numbers depend on the machine; the tests check that every measurement
is there, finite and positive, and that the targets are judged as the issue states them.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import signalinject as si
from signalinject._backend import cpu_route, native_kernels
from signalinject.benchmarks.perf import throughput as tp

TINY = {
    "sizes": (24,),
    "dtypes": ("uint8", "float32"),
    "image_shape": (8, 7, 3),  # room for 10 MultipleLocations pairs
    "text_size": 12,
    "text_length": 300,  # PatternChar writes at position 200
    "repeats": 1,
    "warmup": 0,
    "loop_samples": 4,
    "loop_repeats": 1,
    "reference_size": 24,
}

TIMED = ("floor_ms", "inject_ms", "inplace_ms", "loop_us_per_sample")
RATIOS = ("ratio_to_floor", "samples_per_s", "gb_per_s", "inplace_speedup", "loop_speedup")


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return tp.run(tp.ThroughputConfig(**TINY))


def _ok(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] == "ok"]


def test_run_covers_every_image_case(rows: list[dict[str, Any]]) -> None:
    got = [
        (r["signal"], r["backend"], r["device"], r["dtype"], r["n"])
        for r in rows
        if r["kind"] == "image"
    ]
    want = [
        (s, b, "cpu", d, 24)
        for b in ("numpy", "torch")
        for d in ("uint8", "float32")
        for s in tp.IMAGE_SIGNALS
    ]
    assert got == want


def test_every_row_is_measured_or_says_why(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        assert r["status"] in {"ok", "skipped", "error"}
        if r["status"] != "ok":
            assert r["note"], r


def test_a_failing_case_becomes_an_error_row_and_the_run_goes_on() -> None:
    # 4x4 images have room for 6 MultipleLocations pairs, not 10: a real ValueError.
    cfg = tp.ThroughputConfig(
        **{
            **TINY,
            "image_shape": (4, 4, 1),
            "dtypes": ("uint8",),
            "backends": ("numpy",),
            "signals": ("multiple_locations", "one_pixel"),
        },
        art=False,
    )
    rows = tp.run(cfg)
    assert [(r["signal"], r["status"]) for r in rows] == [
        ("multiple_locations", "error"),
        ("one_pixel", "ok"),
    ]
    assert rows[0]["note"].startswith("ValueError: MultipleLocations: an image of height 4")
    md = tp.to_markdown(rows, 24)
    assert "- error multiple_locations on numpy cpu uint8 24: ValueError" in md


def test_rows_are_finite_and_positive(rows: list[dict[str, Any]]) -> None:
    for r in _ok(rows):
        if r["kind"] == "reference":  # ART's triggers: timed like a copy, nothing else
            assert math.isfinite(r["inject_ms"])
            assert r["inject_ms"] > 0
            continue
        for key in TIMED + RATIOS:
            assert math.isfinite(r[key]), (r["signal"], key, r[key])
            assert r[key] > 0, (r["signal"], key, r[key])
        assert r["loop_samples"] == 4
        assert r["params_fraction"] > 0
        assert math.isfinite(r["params_fraction"])
        assert r["peak_extra_bytes"] is None or r["peak_extra_bytes"] >= 0
        assert r["memory_method"] in {"tracemalloc", "peak RSS", "unavailable"}
        assert len(r["inject_times_ms"]) == len(r["floor_times_ms"]) == 1


def test_derived_columns_agree_with_the_times(rows: list[dict[str, Any]]) -> None:
    for r in _ok(rows):
        assert r["ratio_to_floor"] == pytest.approx(r["floor_ms"] / r["inject_ms"])
        assert r["samples_per_s"] == pytest.approx(r["n"] / (r["inject_ms"] / 1e3))
        assert r["gb_per_s"] == pytest.approx(2 * r["batch_bytes"] / (r["inject_ms"] / 1e3) / 1e9)
        if r["kind"] == "reference":
            continue
        assert r["inplace_speedup"] == pytest.approx(r["inject_ms"] / r["inplace_ms"])
        assert r["params_fraction"] == pytest.approx(r["params_ms"] / r["inject_ms"])


def test_batch_bytes_is_the_batch_size(rows: list[dict[str, Any]]) -> None:
    for r in _ok(rows):
        if r["kind"] == "image":
            assert r["sample_shape"] in ([8, 7, 3], [3, 8, 7])  # NumPy NHWC, torch NCHW
            assert r["batch_bytes"] == 24 * 168 * np.dtype(r["dtype"]).itemsize


def test_numpy_peak_memory_counts_the_output(rows: list[dict[str, Any]]) -> None:
    for r in _ok(rows):
        if r["backend"] == "numpy" and r["kind"] == "image":
            assert r["memory_method"] == "tracemalloc"
            assert r["peak_extra_bytes"] >= r["batch_bytes"]  # the fresh output at least


def test_text_rows_or_a_note_per_text_injector(rows: list[dict[str, Any]]) -> None:
    for s in tp.TEXT_SIGNALS:
        mine = [r for r in rows if r["signal"] == s]
        assert mine, s
        for r in mine:
            if r["status"] == "ok":
                assert r["kind"] == "text"
                assert r["dtype"] == "int64"
                assert r["n"] == 12
            else:
                assert r["status"] == "skipped"
                assert r["note"]


def test_art_measured_or_skipped_with_a_note(rows: list[dict[str, Any]]) -> None:
    ref = [r for r in rows if r["kind"] == "reference"]
    assert ref
    for r in ref:
        if r["status"] == "ok":
            assert r["signal"] in {f"art.{name}" for name in tp._ART}
            assert r["ratio_to_floor"] > 0
        else:
            assert "ART" in r["note"]


def test_markdown_has_a_line_per_row_and_the_targets(rows: list[dict[str, Any]]) -> None:
    md = tp.to_markdown(rows, reference_size=24)
    assert "x floor (copy time / injection time) at N = 24" in md
    table = [ln for ln in md.splitlines() if ln.startswith("| ") and " cpu | " in ln]
    assert len(table) == len(_ok(rows))
    for t in tp.check_targets(rows, 24):
        assert t["target"] in md
    for r in rows:
        if r["status"] == "skipped":
            assert r["note"] in md


def test_json_round_trips(rows: list[dict[str, Any]]) -> None:
    cfg = tp.ThroughputConfig(**TINY)
    doc = json.loads(json.dumps(tp.to_json(rows, cfg)))
    assert doc["benchmark"] == "throughput"
    assert doc["config"]["sizes"] == [24]
    assert doc["machine"]["cpu_count"] >= 1
    assert len(doc["rows"]) == len(rows)
    assert [t["target"] for t in doc["targets"]] == [
        t["target"] for t in tp.check_targets(rows, 24)
    ]


def _parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="signalinject bench")
    tp.add_parser(root.add_subparsers(dest="command"))
    return root


def test_cli_writes_json_and_prints_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sub" / "throughput.json"
    args = _parser().parse_args(
        [
            "throughput",
            "--sizes",
            "16",
            "--image-shape",
            "4,4,1",
            "--signals",
            "one_pixel,text",
            "--backends",
            "numpy",
            "--repeats",
            "1",
            "--text-size",
            "8",
            "--loop-samples",
            "2",
            "--no-memory",
            "--out",
            str(out),
        ]
    )
    assert args.func(args) == 0
    doc = json.loads(out.read_text())
    assert doc["config"]["signals"] == ["one_pixel", *tp.TEXT_SIGNALS]
    assert doc["config"]["memory"] is False
    assert len(doc["machine"]["load_average_1_5_15min"]) == 3
    assert len(doc["machine"]["load_average_after_run"]) == 3
    ok = [r for r in doc["rows"] if r["status"] == "ok"]
    assert {r["signal"] for r in ok if r["kind"] == "image"} == {"one_pixel"}
    assert all("peak_extra_bytes" not in r for r in ok)
    printed = capsys.readouterr()
    assert "| one_pixel | numpy | cpu | uint8 | 16 |" in printed.out
    assert "one_pixel" in printed.err  # progress lines


def test_cli_quick_defaults() -> None:
    cfg = tp.config_from_args(_parser().parse_args(["throughput", "--quick"]))
    assert cfg == tp.ThroughputConfig.quick()
    assert tp.config_from_args(_parser().parse_args(["throughput"])) == tp.ThroughputConfig()


def test_cli_help_states_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["throughput", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for opt in (
        "--sizes",
        "--dtypes",
        "--backends",
        "--device",
        "--repeats",
        "--signals",
        "--out",
        "--quick",
    ):
        assert opt in text
    assert "10000,50000,200000" in text
    assert "uint8,float32" in text
    assert "numpy,torch" in text


def test_cli_bad_option_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["throughput", "--dtypes", "complex64"])
    assert args.func(args) == 2
    assert "dtypes must be among" in capsys.readouterr().err


def test_cli_refuses_a_non_integer_size() -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["throughput", "--sizes", "10,ten"])


# -- targets, judged on hand-made rows ----------------------------------------------------------
def _row(signal: str, **kw: Any) -> dict[str, Any]:
    base = {
        "kind": "text" if signal in tp.TEXT_SIGNALS else "image",
        "status": "ok",
        "signal": signal,
        "backend": "numpy",
        "device": "cpu",
        "dtype": "uint8",
        "n": 1000,
        "batch_bytes": 1_000_000,
        "ratio_to_floor": 1.0,
        "inplace_speedup": 100.0,
        "loop_speedup": 50.0,
        "params_fraction": 0.01,
        "peak_extra_bytes": 1_000_000,
    }
    if signal == "one_pixel":
        base.update(art_speedup=1.0, art_by_class_speedup=3.0)
    return {**base, **kw}


def _met(rows: list[dict[str, Any]]) -> dict[str, bool | None]:
    return {t["target"]: t["met"] for t in tp.check_targets(rows, reference_size=1000)}


def test_targets_all_met() -> None:
    rows = [_row(s) for s in tp.IMAGE_SIGNALS + tp.TEXT_SIGNALS]
    assert set(_met(rows).values()) == {True}


@pytest.mark.parametrize(
    ("signal", "change", "target"),
    [
        ("one_pixel", {"ratio_to_floor": 0.79}, "positional >= 0.8x the copy floor"),
        (
            "orthogonal_noise",
            {"ratio_to_floor": 0.49},
            "OrthogonalNoise >= 0.7x (float) / 0.5x (integer) the floor",
        ),
        (
            "orthogonal_noise",
            {"ratio_to_floor": 0.69, "dtype": "float32"},
            "OrthogonalNoise >= 0.7x (float) / 0.5x (integer) the floor",
        ),
        ("mnemonic", {"ratio_to_floor": 0.49}, "text >= 0.5x the floor"),
        (
            "random_pixel",
            {"inplace_speedup": 19.0},
            "inplace positional >= 20x faster than the copy",
        ),
        (
            "pattern_char",
            {"loop_speedup": 3.9},
            ">= 4x faster than the per-sample loop + collate (CPU)",
        ),
        (
            "pattern_pixels",
            {"art_speedup": 0.99},
            "no slower than ART's add_single_bd / add_pattern_bd (OnePixel / PatternPixels)",
        ),
        (
            "one_pixel",
            {"art_by_class_speedup": 1.99},
            ">= 2x faster than ART's add_single_bd used per class (OnePixel)",
        ),
        ("one_pixel", {"params_fraction": 0.11}, "parameter generation <= 10% of the injection"),
        (
            "one_pixel",
            {"peak_extra_bytes": 1_000_000 + 256 * 1000 + 1},
            "peak extra memory <= one copy + 256 B/sample",
        ),
    ],
)
def test_each_target_fails_on_its_own(signal: str, change: dict[str, Any], target: str) -> None:
    rows = [_row(s) for s in tp.IMAGE_SIGNALS + tp.TEXT_SIGNALS]
    rows.append(_row(signal, **change))
    met = _met(rows)
    assert met.pop(target) is False
    assert set(met.values()) == {True}


def test_targets_at_the_limits_are_met() -> None:
    rows = [
        _row(
            "one_pixel",
            ratio_to_floor=0.8,
            inplace_speedup=20.0,
            loop_speedup=4.0,
            params_fraction=0.1,
            peak_extra_bytes=1_000_000 + 256 * 1000,
            art_speedup=1.0,
            art_by_class_speedup=2.0,
        ),
        _row("orthogonal_noise", dtype="uint8", ratio_to_floor=0.5),
        _row("orthogonal_noise", dtype="float32", ratio_to_floor=0.7),
        _row("length_encoding", ratio_to_floor=0.5),
    ]
    assert set(_met(rows).values()) == {True}


def test_targets_judge_the_reference_size_on_every_device() -> None:
    rows = [_row(s) for s in tp.IMAGE_SIGNALS]
    rows.append(_row("one_pixel", n=10, ratio_to_floor=0.1))  # another size: not judged
    assert _met(rows)["positional >= 0.8x the copy floor"] is True
    cuda = _row("one_pixel", device="cuda", backend="torch", ratio_to_floor=0.1, loop_speedup=2)
    met = _met([*rows, cuda])
    assert met["positional >= 0.8x the copy floor"] is False  # the GPU is held to it too
    assert met[">= 4x faster than the per-sample loop + collate (CPU)"] is True  # reported only
    rows = [*(_row(s) for s in tp.IMAGE_SIGNALS), _row("one_pixel", n=10, ratio_to_floor=0.1)]
    # without a row at the reference size, every size is judged
    met = {t["target"]: t["met"] for t in tp.check_targets(rows, reference_size=5)}
    assert met["positional >= 0.8x the copy floor"] is False


def test_unmeasured_targets_and_skipped_rows() -> None:
    rows = [
        _row("one_pixel"),
        {"kind": "text", "signal": "mnemonic", "status": "skipped", "note": "no text"},
    ]
    met = _met(rows)
    assert met["text >= 0.5x the floor"] is None
    assert met["positional >= 0.8x the copy floor"] is True


def test_a_miss_just_below_the_limit_does_not_print_as_the_limit() -> None:
    (t,) = [
        t
        for t in tp.check_targets([_row("one_pixel", ratio_to_floor=0.7985)], 1000)
        if t["target"].startswith("positional")
    ]
    assert t["failures"] == ["one_pixel numpy cpu uint8 N=1000: 0.798x (limit 0.8x)"]


def test_worst_case_is_the_furthest_below_its_limit() -> None:
    rows = [_row("one_pixel", ratio_to_floor=0.7), _row("random_pixel", ratio_to_floor=0.3)]
    (t,) = [t for t in tp.check_targets(rows, 1000) if t["target"].startswith("positional")]
    assert len(t["failures"]) == 2
    assert t["worst"] == "random_pixel numpy cpu uint8 N=1000: 0.3x (limit 0.8x)"


# -- configuration ------------------------------------------------------------------------------
@given(
    name=st.sampled_from(tp.IMAGE_SIGNALS + tp.TEXT_SIGNALS),
    upper=st.lists(st.booleans(), min_size=20, max_size=20),
    by_class=st.booleans(),
)
def test_signal_names_in_any_spelling(name: str, upper: list[bool], by_class: bool) -> None:
    """A row names its signal by its registered name, given as that name or its class name, in
    any case."""
    spelled = si.get_signal(name).__name__ if by_class else name
    spelled = "".join(
        c.upper() if u else c.lower() for c, u in zip(spelled, upper * 2, strict=False)
    )
    assert tp.ThroughputConfig(signals=(spelled,)).signals == (name,)


def test_signal_groups_expand_without_duplicates() -> None:
    cfg = tp.ThroughputConfig(signals=("positional", "one_pixel", "orthogonal_noise", "image"))
    assert cfg.signals == tp.IMAGE_SIGNALS
    assert tp.ThroughputConfig().signals == tp.IMAGE_SIGNALS + tp.TEXT_SIGNALS


def test_default_devices_are_cpu_plus_available_cuda() -> None:
    import torch

    want = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    assert tp.ThroughputConfig().torch_devices() == want
    assert tp.ThroughputConfig(devices=("cpu",)).torch_devices() == ("cpu",)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("sizes", (), "sizes must hold at least one value"),
        ("sizes", (0,), r"sizes must hold positive integers, got 0"),
        ("sizes", (10.5,), r"sizes must hold positive integers, got 10.5"),
        ("dtypes", ("complex64",), "dtypes must be among .*, got 'complex64'"),
        ("backends", ("jax",), "backends must be among numpy, torch, got 'jax'"),
        ("devices", (), "devices must hold at least one device"),
        ("devices", ("gpu0",), "devices: 'gpu0' is not a torch device"),
        ("signals", ("Blur",), "unknown signal 'Blur'; known: one_pixel"),
        ("signals", (), "signals must name at least one injector"),
        ("repeats", 0, r"repeats must hold positive integers, got 0"),
        ("loop_samples", -1, r"loop_samples must hold positive integers, got -1"),
        ("warmup", -1, "warmup must be a non-negative integer, got -1"),
        ("image_shape", (32, 32), r"image_shape must be \(H, W, C\), got \(32, 32\)"),
        ("image_shape", (32, 0, 3), "image_shape must hold positive integers, got 0"),
        ("torch_threads", 0, "torch_threads must hold positive integers, got 0"),
    ],
)
def test_config_errors(field: str, value: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tp.ThroughputConfig(**{field: value})


def test_memory_guard_skips_a_case_predicted_not_to_fit() -> None:
    x = np.zeros((8, 4, 4, 1), np.uint8)
    case = tp._Case("image", "numpy", None, "uint8", x, np.zeros(8, np.int64))
    cfg = tp.ThroughputConfig(**{**TINY, "image_shape": (4, 4, 1)})
    guard = tp._Guard()
    row = guard.measure(case, "one_pixel", functools.partial(si.OnePixel, 10), cfg)
    assert row["status"] == "ok"
    assert guard.per_sample[("one_pixel", "numpy", "cpu", "uint8")] == row["peak_extra_bytes"] / 8
    guard.per_sample[("one_pixel", "numpy", "cpu", "uint8")] = float(2**60)  # an exabyte each
    row = guard.measure(case, "one_pixel", functools.partial(si.OnePixel, 10), cfg)
    assert row["status"] == "skipped"
    assert row["note"].startswith("would need ~")
    assert "GiB available" in row["note"]


def test_available_memory_is_positive_on_this_host() -> None:
    avail = tp.available_memory(None)
    assert avail is None or avail > 0


def test_torch_cpu_peak_memory_counts_the_output() -> None:
    # 2,000 x 16x16x3 uint8 = 1.5 MB: below glibc's mmap threshold, so its pages would be
    # reused from the heap unseen by the RSS without the trim before the measurement.
    cfg = tp.ThroughputConfig(
        **{
            **TINY,
            "sizes": (2000,),
            "image_shape": (16, 16, 3),
            "dtypes": ("uint8",),
            "backends": ("torch",),
            "signals": ("one_pixel",),
            "devices": ("cpu",),
        },
        art=False,
    )
    (row,) = tp.run(cfg)
    if row["memory_method"] == "peak RSS":  # Linux
        assert row["peak_extra_copies"] >= 0.9


def test_threads_option_sets_torch_threads_for_the_run_only() -> None:
    import torch

    before = torch.get_num_threads()
    args = _parser().parse_args(["throughput", "--threads", "1"])
    cfg = tp.config_from_args(args)
    assert cfg.torch_threads == 1
    cfg = tp.ThroughputConfig(
        **{**TINY, "backends": ("torch",), "signals": ("one_pixel",), "dtypes": ("uint8",)},
        torch_threads=1,
        art=False,
    )
    (row,) = tp.run(cfg)
    assert row["status"] == "ok"
    assert row["threads"] == 1
    assert torch.get_num_threads() == before


# -- the comparison with IBM ART -----------------------------------------------------------------
def _single_bd(x: np.ndarray[Any, Any], distance: int = 2, pixel_value: int = 1) -> Any:
    """ART's ``add_single_bd`` as its documentation states it (ART is not a dependency)."""
    out = np.copy(x)
    out[:, x.shape[1] - distance, x.shape[2] - distance, :] = pixel_value
    return out


def test_art_per_class_writes_each_class_its_own_pixel_value() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(10, 256, (9, 6, 5, 3)).astype(np.uint8)
    y = rng.integers(0, 4, 9)
    out = tp._by_class(_single_bd, x, y)
    assert np.array_equal(out[:, 4, 3, 0], y)  # (H - 2, W - 2) holds the label
    out[:, 4, 3] = x[:, 4, 3]
    assert np.array_equal(out, x)  # nothing else changed, x untouched


def test_speedups_against_art_are_ours_over_arts_in_the_same_case() -> None:
    rows = [
        _row("one_pixel", inject_ms=10.0),
        _row("pattern_pixels", inject_ms=20.0),
        _row("one_pixel", dtype="float32", inject_ms=40.0),
        {**_row("art.add_single_bd", inject_ms=12.0), "kind": "reference"},
        {**_row("art.add_pattern_bd", inject_ms=10.0), "kind": "reference"},
        {**_row("art.add_single_bd_by_class", inject_ms=35.0), "kind": "reference"},
    ]
    for r in rows[:3]:
        r.pop("art_speedup", None)
        r.pop("art_by_class_speedup", None)
    tp._compare_with_art(rows)
    assert rows[0]["art_speedup"] == pytest.approx(1.2)
    assert rows[0]["art_by_class_speedup"] == pytest.approx(3.5)
    assert rows[1]["art_speedup"] == pytest.approx(0.5)
    assert "art_speedup" not in rows[2]  # no float32 ART row in this run
    met = _met(rows[:3])
    assert (
        met["no slower than ART's add_single_bd / add_pattern_bd (OnePixel / PatternPixels)"]
        is False
    )
    assert met[">= 2x faster than ART's add_single_bd used per class (OnePixel)"] is True


def test_art_rows_when_art_is_installed() -> None:
    pytest.importorskip("art.attacks.poisoning.perturbations")
    cfg = tp.ThroughputConfig(
        sizes=(50,),
        dtypes=("uint8",),
        backends=("numpy",),
        signals=("one_pixel", "pattern_pixels"),
        repeats=1,
        loop_samples=2,
        memory=False,
    )
    rows = tp.run(cfg)
    names = {r["signal"] for r in rows}
    assert {f"art.{n}" for n in tp._ART} <= names
    one = next(r for r in rows if r["signal"] == "one_pixel")
    assert one["art_speedup"] > 0
    assert one["art_by_class_speedup"] > 0


def test_no_native_runs_numpys_kernels_and_says_so() -> None:
    cfg = tp.config_from_args(_parser().parse_args(["throughput", "--no-native"]))
    assert cfg == tp.ThroughputConfig(native=False)
    with cpu_route(native=False):
        assert tp.machine_info()["native_kernels"] is None
    built = native_kernels()
    assert tp.machine_info()["native_kernels"] == (None if built is None else built.simd())
    small = tp.ThroughputConfig(
        sizes=(64,), dtypes=("uint8",), backends=("numpy",), signals=("blend",), repeats=1,
        loop_samples=4, memory=False, art=False, native=False,
    )  # fmt: skip
    rows = tp.run(small)
    assert [r["status"] for r in rows] == ["ok"]
