"""The results store and the output files: a result line is checked as strictly as it is
written (types, ranges, NaN), a bad one is set aside, and no output file is written through a
symlink or left half-written."""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalinject.benchmarks import _files, store
from signalinject.benchmarks._files import atomic_open, atomic_write, make_dir
from signalinject.benchmarks.store import (
    CORRUPT_FILE,
    RECORD_FIELDS,
    REQUIRED_FIELDS,
    append_record,
    load_records,
    record_problem,
    repair_records,
)


def good(cid: str = "ab01", **kw: Any) -> dict[str, Any]:
    """A complete, valid line of a signal cell."""
    rec: dict[str, Any] = {
        "cell_id": cid, "suite": "images", "dataset": "digits", "signal": "one_pixel",
        "model": "decision_tree", "seed": 0, "accuracy": 0.9, "clean_accuracy": 0.8, "gain": 0.1,
        "decode_accuracy": 1.0, "reliance": 0.75, "reliance_true_accuracy": 0.1,
        "injector": {"name": "one_pixel"}, "train": None, "input_scale": None,
        "text_length": None, "fit_fraction": 0.25, "blank": False, "strength": 1.0,
        "model_identity": None, "num_classes": 10, "n_train": 60, "n_fit": 15, "n_test": 60,
        "limit": 60, "data_description": "stand-in", "data_fingerprint": "0f" * 16,
        "device": "cpu", "version": "0.1.0", "seconds": 0.5, "warnings": [],
        "finished_at": "2026-12-01T00:00:00+0000",
    }  # fmt: skip
    return {**rec, **kw}


# Each: a field, a value it must refuse, the words of the refusal.
BAD_VALUES = [
    ("accuracy", "abc", "the field 'accuracy' is \"abc\", expected a number in 0..1"),
    ("accuracy", float("nan"), "the field 'accuracy' is NaN"),
    ("accuracy", float("inf"), "the field 'accuracy' is Infinity"),
    ("accuracy", 1.5, "expected a number in 0..1"),
    ("accuracy", -0.1, "expected a number in 0..1"),
    ("accuracy", True, "the field 'accuracy' is true"),
    ("accuracy", None, "the field 'accuracy' is null"),
    ("clean_accuracy", [0.5], "the field 'clean_accuracy' is [0.5]"),
    ("gain", 2.0, "expected a number in -1..1"),
    ("seed", "zero", "the field 'seed' is \"zero\", expected an integer in 0..2**32-1"),
    ("seed", 1.5, "the field 'seed' is 1.5"),
    ("seed", -1, "the field 'seed' is -1"),
    ("seed", 2**32, "the field 'seed' is 4294967296"),
    ("model", None, "the field 'model' is null, expected a non-empty string"),
    ("model", "", "the field 'model' is \"\""),
    ("model", 3, "the field 'model' is 3"),
    ("dataset", {"a": 1}, "the field 'dataset' is {\"a\": 1}"),
    ("signal", None, "the field 'signal' is null"),
    ("cell_id", 12, "the field 'cell_id' is 12, expected a non-empty string"),
    ("cell_id", "", "the field 'cell_id' is \"\""),
    ("decode_accuracy", "1", "the field 'decode_accuracy' is \"1\", expected null or a number"),
    ("reliance", 7, "the field 'reliance' is 7"),
    ("reliance_true_accuracy", float("nan"), "the field 'reliance_true_accuracy' is NaN"),
    ("num_classes", 1, "the field 'num_classes' is 1, expected an integer >= 2"),
    ("n_train", "60", "the field 'n_train' is \"60\""),
    ("blank", "no", "the field 'blank' is \"no\", expected true or false"),
    ("strength", -4, "the field 'strength' is -4"),
    ("input_scale", "milli", "the field 'input_scale' is \"milli\""),  # 0.1.x's, still checked
    ("preprocess", "milli", "the field 'preprocess' is \"milli\", expected null or one of"),
    ("text_length", 0, "the field 'text_length' is 0"),
    ("fit_fraction", 2, "the field 'fit_fraction' is 2"),
    ("warnings", "none", "the field 'warnings' is \"none\", expected a list of strings"),
    ("seconds", -1, "the field 'seconds' is -1"),
    ("injector", "one_pixel", "the field 'injector' is \"one_pixel\", expected null or an object"),
    ("accuracy", "x" * 100, "the field 'accuracy' is \"xxxxxxxx"),
]


class TestSchema:
    def test_a_good_line(self) -> None:
        assert record_problem(good()) is None
        assert record_problem(good(decode_accuracy=None, reliance=None, strength=None)) is None

    def test_required_fields_come_from_the_schema(self) -> None:
        assert tuple(k for k, f in RECORD_FIELDS.items() if f.required) == REQUIRED_FIELDS
        assert REQUIRED_FIELDS[:5] == ("cell_id", "dataset", "signal", "model", "seed")

    def test_optional_fields_may_be_absent_unknown_ones_are_kept(self) -> None:
        minimal = {k: v for k, v in good().items() if k in REQUIRED_FIELDS}
        assert record_problem(minimal) is None  # a line of an earlier version
        assert record_problem(good(something_new=object())) is None

    @pytest.mark.parametrize(("field", "value", "match"), BAD_VALUES)
    def test_bad_value(self, field: str, value: Any, match: str) -> None:
        problem = record_problem(good(**{field: value}))
        assert problem is not None
        assert match in problem

    @pytest.mark.parametrize("field", REQUIRED_FIELDS)
    def test_missing_required_field(self, field: str) -> None:
        rec = good()
        del rec[field]
        assert record_problem(rec) == f"the field {field!r} is missing"

    def test_not_an_object(self) -> None:
        assert record_problem([1, 2]) == "a line must be a JSON object, got list"

    @settings(max_examples=60, deadline=None)
    @given(
        st.sampled_from(["accuracy", "clean_accuracy", "reliance", "decode_accuracy"]),
        st.floats(allow_nan=True, allow_infinity=True),
    )
    def test_fractions_only_in_0_1(self, field: str, v: float) -> None:
        assert (record_problem(good(**{field: v})) is None) == (0.0 <= v <= 1.0)


class TestBadLinesAreSetAside:
    @pytest.mark.parametrize(("field", "value", "match"), BAD_VALUES)
    def test_load_sets_it_aside_and_repair_quarantines_it(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, field: str, value: Any, match: str
    ) -> None:
        path = tmp_path / "results.jsonl"
        bad_line = json.dumps(good("bb02", **{field: value}))  # NaN is written as NaN
        path.write_text(f"{json.dumps(good('aa01'))}\n{bad_line}\n", encoding="utf-8")
        records, bad = load_records(path)
        assert list(records) == ["aa01"]
        assert [no for no, _ in bad] == [2]
        with caplog.at_level(logging.WARNING, logger="signalinject.benchmarks"):
            repair_records(path, records, bad)
        cell = "cell bb02" if field != "cell_id" else "its cell"
        assert f"{path}:2: unusable line (" in caplog.text
        assert match in caplog.text
        assert f"{cell} will be recomputed" in caplog.text or field == "cell_id"
        assert (tmp_path / CORRUPT_FILE).read_text(encoding="utf-8") == bad_line + "\n"
        assert load_records(path) == ({"aa01": good("aa01")}, [])

    @pytest.mark.parametrize(("field", "value", "match"), BAD_VALUES)
    def test_append_refuses_it(self, tmp_path: Path, field: str, value: Any, match: str) -> None:
        path = tmp_path / "results.jsonl"
        with pytest.raises(ValueError, match="refusing to write a result line") as info:
            append_record(path, good(**{field: value}))
        assert match in str(info.value)
        assert not path.exists()


class TestNoFollow:
    def test_append_refuses_a_symlink(self, tmp_path: Path) -> None:
        target = tmp_path / "precious.txt"
        target.write_text("keep\n", encoding="utf-8")
        link = tmp_path / "results.jsonl"
        link.symlink_to(target)
        with pytest.raises(OSError, match="is a symlink; refusing to write through it") as info:
            append_record(link, good())
        assert info.value.errno == errno.ELOOP
        assert target.read_text(encoding="utf-8") == "keep\n"

    def test_repair_does_not_follow_a_symlinked_quarantine(self, tmp_path: Path) -> None:
        target = tmp_path / "precious.txt"
        target.write_text("keep\n", encoding="utf-8")
        (tmp_path / CORRUPT_FILE).symlink_to(target)
        path = tmp_path / "results.jsonl"
        path.write_text('{"cell_id": "aa", "acc\n', encoding="utf-8")
        records, bad = load_records(path)
        with pytest.raises(OSError, match="is a symlink"):
            repair_records(path, records, bad)
        assert target.read_text(encoding="utf-8") == "keep\n"

    def test_lock_is_not_followed_nor_truncated(self, tmp_path: Path) -> None:
        target = tmp_path / "precious.txt"
        target.write_text("keep\n", encoding="utf-8")
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / store.LOCK_FILE).symlink_to(target)
        with pytest.raises(OSError, match="is a symlink"), store.exclusive(tmp_path / "out"):
            pass  # pragma: no cover - never entered
        assert target.read_text(encoding="utf-8") == "keep\n"

    def test_atomic_write_replaces_a_symlink_never_its_target(self, tmp_path: Path) -> None:
        target = tmp_path / "precious.txt"
        target.write_text("keep\n", encoding="utf-8")
        link = tmp_path / "results.md"
        link.symlink_to(target)
        atomic_write(link, "# table\n")
        assert not link.is_symlink()
        assert link.read_text(encoding="utf-8") == "# table\n"
        assert target.read_text(encoding="utf-8") == "keep\n"


class TestNeverHalfWritten:
    def test_atomic_open_keeps_the_old_file_on_error(self, tmp_path: Path) -> None:
        path = tmp_path / "results.csv"
        path.write_text("old\n", encoding="utf-8")

        def half_then_fail() -> None:
            with atomic_open(path, "w") as f:
                f.write("new, half")
                raise RuntimeError("mid-write")

        with pytest.raises(RuntimeError, match="mid-write"):
            half_then_fail()
        assert path.read_text(encoding="utf-8") == "old\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]  # no temp left

    def test_atomic_open_modes(self, tmp_path: Path) -> None:
        with atomic_open(tmp_path / "b.png", "wb") as f:
            f.write(b"\x89PNG")
        assert (tmp_path / "b.png").read_bytes() == b"\x89PNG"
        assert (tmp_path / "b.png").stat().st_mode & 0o777 == 0o644
        with pytest.raises(ValueError, match="mode must be 'w' or 'wb', got 'a'"):
            atomic_open(tmp_path / "c", "a").__enter__()

    def test_a_directory_in_the_way(self, tmp_path: Path) -> None:
        (tmp_path / "results.png").mkdir()
        with pytest.raises(IsADirectoryError, match="is a directory, expected a file"):
            atomic_write(tmp_path / "results.png", b"x")
        with pytest.raises(IsADirectoryError):
            append_record(tmp_path / "results.png", good())

    def test_make_dir(self, tmp_path: Path) -> None:
        assert make_dir(tmp_path / "a" / "b").is_dir()
        (tmp_path / "f").write_text("", encoding="utf-8")
        with pytest.raises(NotADirectoryError, match="is a file, expected a directory"):
            make_dir(tmp_path / "f")

    def test_full_disk_mid_append_leaves_the_file_as_it_was(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A disk that fills after part of a line: the part is cut off again (ENOSPC cannot be
        made for real here, so ``os.write`` writes 10 bytes, then fails as a full disk does)."""
        path = tmp_path / "results.jsonl"
        append_record(path, good("aa01"))
        before = path.read_bytes()
        real_write = os.write
        calls = []

        def full_disk(fd: int, data: Any) -> int:
            calls.append(len(data))
            if len(calls) == 1:
                return real_write(fd, bytes(data[:10]))
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

        monkeypatch.setattr(_files.os, "write", full_disk)
        with pytest.raises(OSError, match="No space left on device"):
            append_record(path, good("bb02"))
        assert path.read_bytes() == before
        assert len(calls) == 2
