"""Issue 28 on the benchmarks' side: files that are not results files, shard names and numbers
that name no share, a Zhang CSV with a byte-order mark, a user decode of the wrong shape, a
module path that is a directory. Each user error is one line on stderr and exit status 2."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tarfile
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from signalinject.benchmarks import cli, store
from signalinject.benchmarks._files import append_bytes, read_regular
from signalinject.benchmarks.datasets import load_zhang_csv, parse_zhang_csv
from signalinject.benchmarks.grid import merge_results, parse_shard, results_files, torchrun_env
from signalinject.benchmarks.runner import prepare

GOLDEN = Path(__file__).resolve().parent / "golden"
FIFO = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


def _one_line_error(capsys: pytest.CaptureFixture[str], code: int, match: str) -> str:
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert match in err, err
    return err


def _bench(out: Path, *more: str) -> list[str]:
    return ["bench", "images", "--limit", "40", "--models", "gaussian_nb", "--signals",
            "one_pixel", "--no-progress", "--out", str(out), *more]  # fmt: skip


def _returns_within(fn: Any, path: Path, seconds: float = 20.0) -> BaseException | None:
    """Run ``fn()``; fail if it blocks (a FIFO open), unblocking it first, else its error."""
    box: list[BaseException | None] = [None]

    def target() -> None:
        try:
            fn()
        except BaseException as e:
            box[0] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():  # the old behaviour: blocked in open(); open the other end to free it
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        os.close(fd)
        t.join(5)
        pytest.fail(f"blocked on the FIFO {path}")
    return box[0]


# -- the results store ----------------------------------------------------------------------------
class TestStore:
    @FIFO
    @pytest.mark.parametrize("name", ["results.jsonl", "results.0of2.jsonl"])
    def test_a_fifo_is_refused_not_waited_on(self, tmp_path: Path, name: str) -> None:
        path = tmp_path / name
        os.mkfifo(path)
        err = _returns_within(lambda: store.load_records(path), path)
        assert isinstance(err, OSError)
        assert "not a regular file" in str(err)
        err = _returns_within(lambda: append_bytes(path, b"x\n"), path)
        assert isinstance(err, OSError)
        assert "not a regular file" in str(err)
        err = _returns_within(lambda: merge_results(tmp_path), path)
        assert isinstance(err, OSError)
        assert "not a regular file" in str(err)

    @FIFO
    def test_a_fifo_lock_or_quarantine_is_refused(self, tmp_path: Path) -> None:
        os.mkfifo(tmp_path / ".lock")

        def lock() -> None:
            with store.exclusive(tmp_path):
                pass

        err = _returns_within(lock, tmp_path / ".lock")
        assert isinstance(err, OSError)
        assert "not a regular file" in str(err)
        os.mkfifo(tmp_path / "results.corrupt.jsonl")
        path = tmp_path / "results.jsonl"
        path.write_bytes(b"garbage\n")
        records, bad = store.load_records(path)
        err = _returns_within(lambda: store.repair_records(path, records, bad),
                              tmp_path / "results.corrupt.jsonl")  # fmt: skip
        assert isinstance(err, OSError)
        assert "not a regular file" in str(err)

    @FIFO
    def test_the_cli_on_a_fifo_says_so_in_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        os.mkfifo(tmp_path / "results.jsonl")
        code: list[int] = []
        err = _returns_within(lambda: code.append(cli.main(_bench(tmp_path))),
                              tmp_path / "results.jsonl")  # fmt: skip
        assert err is None
        _one_line_error(capsys, code[0], "results.jsonl: is not a regular file")
        code.clear()
        _returns_within(lambda: code.append(cli.main(["report", "--out", str(tmp_path)])),
                        tmp_path / "results.jsonl")  # fmt: skip
        _one_line_error(capsys, code[0], "is not a regular file")

    def test_a_gigabyte_file_is_refused_before_it_is_read(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "results.jsonl"
        with path.open("wb") as f:  # sparse: 1 GB that takes no disk
            f.truncate(1 << 30)
        with pytest.raises(ValueError, match=r"1,073,741,824 bytes, more than the 134,217,728"):
            store.load_records(path)
        _one_line_error(capsys, cli.main(_bench(tmp_path)), "more than the 134,217,728")
        assert not (tmp_path / "results.corrupt.jsonl").exists()  # no 1 GB copy
        _one_line_error(capsys, cli.main(["report", "--out", str(tmp_path)]), "bytes, more")

    def test_the_limit_is_checked_on_what_is_read(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(store, "MAX_RESULTS_BYTES", 1000)
        path = tmp_path / "results.jsonl"
        path.write_bytes(b"x" * 1001)
        with pytest.raises(ValueError, match="1,001 bytes, more than the 1,000 a results file"):
            store.load_records(path)
        path.write_bytes(b"x" * 999 + b"\n")
        assert store.load_records(path) == ({}, [(1, b"x" * 999)])
        assert read_regular(path, 1000) == b"x" * 999 + b"\n"
        with pytest.raises(IsADirectoryError):
            read_regular(tmp_path, 1000)

    def test_a_huge_line_is_quarantined_cut(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        monkeypatch.setattr(store, "MAX_LINE_BYTES", 100)
        good = (GOLDEN / "images" / "results.jsonl").read_bytes().splitlines()[0]
        monkeypatch.setattr(store, "MAX_LINE_BYTES", len(good) + 10)
        path = tmp_path / "results.jsonl"
        huge = b'{"cell_id": "ab", ' + b" " * 5000 + b"}"
        path.write_bytes(good + b"\n" + huge + b"\n")
        records, bad = store.load_records(path)
        assert len(records) == 1
        assert [no for no, _ in bad] == [2]
        store.repair_records(path, records, bad)
        kept = (tmp_path / "results.corrupt.jsonl").read_bytes()
        assert kept == huge[: len(good) + 10] + b"\n"
        assert "only its first" in caplog.text


# -- shard names and numbers ----------------------------------------------------------------------
class TestShards:
    @pytest.mark.parametrize(
        "name", ["results.5of3.jsonl", "results.3of3.jsonl", "results.0of1.jsonl",
                 "results.0of0.jsonl", "results.01of2.jsonl"],
    )  # fmt: skip
    def test_report_refuses_a_name_no_share_writes(
        self, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (tmp_path / name).write_bytes((GOLDEN / "images" / "results.jsonl").read_bytes())
        with pytest.raises(ValueError, match="no share writes this name"):
            results_files(tmp_path)
        with pytest.raises(ValueError, match="no share writes this name"):
            merge_results(tmp_path)
        _one_line_error(capsys, cli.main(["report", "--out", str(tmp_path)]), name)

    def test_share_names_that_exist_are_merged(self, tmp_path: Path) -> None:
        for name in ("results.jsonl", "results.0of2.jsonl", "results.1of2.jsonl"):
            (tmp_path / name).write_text("")
        (tmp_path / "results.corrupt.jsonl").write_text("")
        assert [p.name for p in results_files(tmp_path)] == [
            "results.jsonl", "results.0of2.jsonl", "results.1of2.jsonl"
        ]  # fmt: skip

    @pytest.mark.parametrize(
        "text", ["٠/٢", "０/２", "𝟎/𝟐", "0/٢", "-1/2", "1/-2", "+0/2", "0x0/2", "1/1", "0 /\t2"]
    )
    def test_parse_shard_takes_ascii_digits_in_range(self, text: str) -> None:
        with pytest.raises(ValueError, match="shard must be I/N with 0 <= I < N"):
            parse_shard(text)

    @pytest.mark.parametrize("shard", ["-1/2", "٠/٢", "2/2", "--out"])
    def test_the_cli_refuses_a_bad_shard_in_one_line(
        self, tmp_path: Path, shard: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        _one_line_error(capsys, cli.main(_bench(tmp_path, "--shard", shard)), "shard must be")
        assert not (tmp_path / "results.jsonl").exists()

    @pytest.mark.parametrize(
        ("env", "match"),
        [
            ({"WORLD_SIZE": "-3"}, "must hold integers"),
            ({"WORLD_SIZE": "0"}, "WORLD_SIZE must be >= 1"),
            ({"WORLD_SIZE": "٢", "RANK": "0"}, "must hold integers"),
            ({"WORLD_SIZE": "2", "RANK": "١"}, "must hold integers"),
            ({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "-1"}, "must hold integers"),
            ({"WORLD_SIZE": "+2", "RANK": "0"}, "must hold integers"),
            ({"WORLD_SIZE": "2"}, "must hold integers"),
            ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK must be in"),
        ],
    )
    def test_torchrun_variables_are_checked(
        self, env: dict[str, str], match: str, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
            monkeypatch.delenv(k, raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        with pytest.raises(ValueError, match=match):
            torchrun_env()
        _one_line_error(capsys, cli.main(_bench(tmp_path)), match.split()[0])

    def test_one_process_and_plain_torchrun_values(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
            monkeypatch.delenv(k, raising=False)
        assert torchrun_env() == (0, 1, 0)
        monkeypatch.setenv("WORLD_SIZE", "1")
        monkeypatch.setenv("RANK", "whatever")  # ignored: one process
        assert torchrun_env() == (0, 1, 0)
        monkeypatch.setenv("WORLD_SIZE", "4")
        monkeypatch.setenv("RANK", "3")
        monkeypatch.setenv("LOCAL_RANK", "1")
        assert torchrun_env() == (3, 4, 1)


# -- Zhang et al. CSVs with a byte-order mark -----------------------------------------------------
ROWS = [["1", "a title", "first text"], ["5", "another", "second text"]]


def _csv_text() -> str:
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(ROWS)
    return buf.getvalue()


def test_a_zhang_csv_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text(_csv_text(), encoding="utf-8-sig")
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    texts, labels = load_zhang_csv(path, num_classes=5)
    assert texts == ["a title first text", "another second text"]
    assert labels.tolist() == [0, 4]
    lines = ("\ufeff" + _csv_text()).splitlines(keepends=True)
    assert parse_zhang_csv(lines)[1].tolist() == [0, 4]
    # only at the start: a mark inside a field is text, a mark before a later class is refused
    with pytest.raises(ValueError, match="line 2: the class must be an integer"):
        parse_zhang_csv(['"1","a"\n', '\ufeff"2","b"\n'])


def test_a_zhang_archive_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    from signalinject.benchmarks.datasets import load_dataset

    data = _csv_text().encode("utf-8-sig")
    with tarfile.open(tmp_path / "yelp_review_full_csv.tgz", "w:gz") as tar:
        for split in ("train", "test"):
            info = tarfile.TarInfo(f"yelp_review_full_csv/{split}.csv")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    bundle = load_dataset("yelp_full", data_dir=tmp_path)
    assert bundle.y_train.tolist() == [0, 4]


# -- a user's signal whose decode is of the wrong shape or NaN ------------------------------------
BAD_DECODE = """
import dataclasses
from typing import Any, ClassVar

import numpy as np
import signalinject as si


@dataclasses.dataclass(frozen=True)
class Odd(si.OnePixel):
    name: ClassVar[str] = "{name}"

    def decode(self, x: Any, **kw: Any) -> Any:
        labels = super().decode(x, **kw)
        return {ret}


def make(num_classes, seed):
    return Odd(num_classes, seed=seed)
"""


@pytest.mark.parametrize(
    ("name", "ret", "match"),
    [
        ("odd_column", "labels[:, None]", r"returned shape \(40, 1\) for 40 test samples"),
        ("odd_short", "labels[1:]", r"returned shape \(39,\) for 40"),
        ("odd_scalar", "labels[0]", r"returned shape \(\) for 40"),
        ("odd_nan", "np.full(len(labels), np.nan)", "40 labels that are not whole numbers"),
        ("odd_half", "labels + 0.5", "not whole numbers"),
        ("odd_text", "labels.astype(str)", "returned <U21 labels; it must return integers"),
    ],
)
def test_a_user_decode_of_the_wrong_kind_names_its_class(
    tmp_path: Path, name: str, ret: str, match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    module = tmp_path / f"{name}_mod.py"
    module.write_text(textwrap.dedent(BAD_DECODE.format(name=name, ret=ret)))
    args = _bench(tmp_path / "out")
    args[args.index("one_pixel")] = f"{module}:make"
    err = _one_line_error(capsys, cli.main(args), "Odd.decode")
    assert f"signal '{name}'" in err
    assert str(module) in err
    assert re.search(match, err), err
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["signal"] for line in lines] == ["clean"]  # no 0% decode recorded


def test_decode_output_of_floats_that_are_whole_is_taken() -> None:
    import signalinject as si

    class Floats(si.OnePixel):
        name = "floats_decode_28"

        def decode(self, x: Any, **kw: Any) -> Any:
            return super().decode(x, **kw).astype(np.float32)

    x = np.zeros((6, 4, 4, 1), np.uint8)
    y = np.arange(6) % 3
    prep = prepare(Floats(3), x, y, x, y)
    assert prep.decode_accuracy == 1.0


def test_a_module_path_that_is_a_directory_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dir.py").mkdir()
    args = _bench(tmp_path / "out")
    args[args.index("one_pixel")] = f"{tmp_path / 'dir.py'}:f"
    _one_line_error(capsys, cli.main(args), "dir.py' is a directory, not a .py file")
    code = cli.main(["scan", f"{tmp_path / 'dir.py'}:f", "--out", str(tmp_path / "o")])
    _one_line_error(capsys, code, "is a directory")


def test_jsonl_lines_are_still_json(tmp_path: Path) -> None:
    # the store's rewrite after a repair keeps the good lines as they were parsed
    src = (GOLDEN / "images" / "results.jsonl").read_bytes()
    path = tmp_path / "results.jsonl"
    path.write_bytes(src + b"not json\n")
    records, bad = store.load_records(path)
    store.repair_records(path, records, bad)
    assert [json.loads(line) for line in path.read_text().splitlines()] == list(records.values())
