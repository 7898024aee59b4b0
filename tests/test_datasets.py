"""Dataset loaders: CIFAR-10 and Zhang et al. CSVs on tiny fixtures in their exact formats, and
the embedded ``digits`` and ``stdlib_docs``."""

from __future__ import annotations

import csv
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalinject.benchmarks import _stdlib_docs
from signalinject.benchmarks.datasets import (
    digits_to_rgb32,
    load_cifar10,
    load_dataset,
    load_digits32,
    load_noisy_digits,
    load_stdlib_code,
    load_stdlib_docs,
    load_zhang_csv,
    parse_zhang_csv,
)
from signalinject.benchmarks.registry import DATASETS, DataBundle, default_dataset


# -- CIFAR-10 fixtures in the official format ----------------------------------------------------
class _Py2Pickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    """Writes ``bytes`` as Python 2 ``str`` (SHORT_BINSTRING/BINSTRING), like the official files.

    Python 3 pickles bytes at protocol 2 through ``_codecs.encode``; the CIFAR-10 files were
    written by Python 2, whose ``str`` has its own opcodes (and loads as bytes with
    ``encoding="bytes"``).
    """

    dispatch: ClassVar[dict[type, Any]] = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_pickle(obj: Any) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    # The official files name NumPy's rebuild function by its historical module.
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def make_batch(rng: np.random.Generator, n: int, label: bytes) -> dict[bytes, Any]:
    return {
        b"batch_label": label,
        b"labels": [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [b"img_%d.png" % i for i in range(n)],
    }


@pytest.fixture(scope="module")
def cifar_batches() -> dict[str, dict[bytes, Any]]:
    rng = np.random.default_rng(0)
    batches = {f"data_batch_{i}": make_batch(rng, 2 + i, b"training batch %d of 5" % i)
               for i in range(1, 6)}  # fmt: skip
    batches["test_batch"] = make_batch(rng, 3, b"testing batch 1 of 1")
    return batches


def write_cifar_folder(root: Path, batches: dict[str, dict[bytes, Any]]) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, batch in batches.items():
        (folder / name).write_bytes(py2_pickle(batch))
    meta = {b"label_names": [b"airplane", b"automobile"], b"num_cases_per_batch": 10000}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    return folder


def write_cifar_archive(root: Path, batches: dict[str, dict[bytes, Any]]) -> Path:
    src = write_cifar_folder(root / "src", batches)
    archive = root / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    return archive


def expected(batches: dict[str, dict[bytes, Any]], names: list[str]) -> tuple[Any, Any]:
    """The reference decoding, pixel by pixel: row = R plane, G plane, B plane (32x32 each)."""
    data = np.concatenate([batches[n][b"data"] for n in names])
    x = np.empty((len(data), 32, 32, 3), np.uint8)
    for ch in range(3):
        for r in range(32):
            x[:, r, :, ch] = data[:, ch * 1024 + r * 32 : ch * 1024 + r * 32 + 32]
    y = np.concatenate([batches[n][b"labels"] for n in names]).astype(np.int64)
    return x, y


TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


def test_fixture_is_a_python2_pickle(cifar_batches: dict[str, Any]) -> None:
    raw = py2_pickle(cifar_batches["test_batch"])
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in raw
    assert pickle.SHORT_BINSTRING + b"\x04data" in raw  # the key b"data" as a Python 2 str
    assert b"_codecs" not in raw
    assert pickle.loads(raw, encoding="bytes")[b"labels"] == cifar_batches["test_batch"][b"labels"]


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar_folder_and_archive(
    tmp_path: Path, cifar_batches: dict[str, Any], split: str
) -> None:
    names = TRAIN if split == "train" else ["test_batch"]
    want_x, want_y = expected(cifar_batches, names)
    folder = write_cifar_folder(tmp_path / "a", cifar_batches)
    archive = write_cifar_archive(tmp_path / "b", cifar_batches)
    for root in (folder.parent, folder, archive.parent, archive):
        x, y = load_cifar10(root, split)  # type: ignore[arg-type]
        assert x.dtype == np.uint8
        assert x.shape == (len(want_y), 32, 32, 3)
        assert x.flags.c_contiguous
        np.testing.assert_array_equal(x, want_x)
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, want_y)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_cifar_planar_rows_roundtrip(seed: int, n: int) -> None:
    from signalinject.benchmarks.datasets import _read_batch

    rng = np.random.default_rng(seed)
    batch = make_batch(rng, n, b"b")
    x, y = _read_batch(io.BytesIO(py2_pickle(batch)), "mem")
    # Back to the file's layout: channel planes, each row-major.
    np.testing.assert_array_equal(x.transpose(0, 3, 1, 2).reshape(n, 3072), batch[b"data"])
    assert y.tolist() == batch[b"labels"]


def test_cifar_download_checks_md5(tmp_path: Path, cifar_batches: dict[str, Any]) -> None:
    archive = write_cifar_archive(tmp_path / "server", cifar_batches)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    dest = tmp_path / "data"
    with pytest.raises(OSError, match="md5"):
        load_cifar10(dest, "test", download=True, url=archive.as_uri(), md5="0" * 32)
    assert not dest.exists() or not any(dest.iterdir())  # nothing half-written is left
    x, _y = load_cifar10(dest, "test", download=True, url=archive.as_uri(), md5=md5)
    assert (dest / "cifar-10-python.tar.gz").read_bytes() == archive.read_bytes()
    np.testing.assert_array_equal(x, expected(cifar_batches, ["test_batch"])[0])


def test_load_dataset_cifar10(tmp_path: Path, cifar_batches: dict[str, Any]) -> None:
    write_cifar_folder(tmp_path, cifar_batches)
    b = load_dataset("cifar10", data_dir=tmp_path, limit=4)
    assert (b.kind, b.num_classes, b.x_train.shape, len(b.x_test)) == (
        "image",
        10,
        (4, 32, 32, 3),
        3,
    )
    np.testing.assert_array_equal(b.x_train, expected(cifar_batches, TRAIN)[0][:4])


def test_cifar_missing_says_where(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"cifar-10-python\.tar\.gz .*cifar-10-batches-py/"):
        load_cifar10(tmp_path)


def test_cifar_bad_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        load_cifar10(tmp_path, "val")  # type: ignore[arg-type]


def test_cifar_refuses_foreign_globals(tmp_path: Path, cifar_batches: dict[str, Any]) -> None:
    folder = write_cifar_folder(tmp_path, cifar_batches)
    (folder / "test_batch").write_bytes(
        b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85R."
    )
    with pytest.raises(ValueError, match=r"refusing the global os\.system"):
        load_cifar10(tmp_path, "test")


@pytest.mark.parametrize(
    ("batch", "match"),
    [
        (
            {b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]},
            r"uint8 of shape \(N, 3072\)",
        ),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 images but 1 labels"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, "labels must be in 0..9"),
        ({b"labels": [0]}, "needs b'data' and b'labels'"),
        ([1, 2], "expected a pickled dict"),
    ],
)
def test_cifar_bad_batch(tmp_path: Path, batch: Any, match: str) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(py2_pickle(batch))
    with pytest.raises(ValueError, match=match):
        load_cifar10(tmp_path, "test")


def test_cifar_archive_missing_member(tmp_path: Path, cifar_batches: dict[str, Any]) -> None:
    write_cifar_archive(tmp_path, {"test_batch": cifar_batches["test_batch"]})
    with pytest.raises(ValueError, match="data_batch_1 is missing from the archive"):
        load_cifar10(tmp_path, "train")


# -- crafted CIFAR-10 files: clear errors, bounded memory ------------------------------------------
@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([0.5, 1.0], "b'labels' must be a list of integers 0..9, got a list holding float"),
        ([True, False], "got a list holding bool"),
        ([b"cat", b"dog"], "got a list holding bytes"),
        (np.array([0.0, 1.0]), r"got a float64 array of shape \(2,\)"),
        (np.zeros((2, 1), np.int64), r"got a int64 array of shape \(2, 1\)"),
        ({0: 1, 1: 2}, "got a dict"),
        (b"\x00\x01", "got a bytes"),
    ],
)
def test_cifar_labels_of_the_wrong_type(tmp_path: Path, labels: Any, match: str) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": labels}
    (folder / "test_batch").write_bytes(py2_pickle(batch))
    with pytest.raises(ValueError, match=match):
        load_cifar10(tmp_path, "test")


def test_cifar_integer_array_labels_are_read(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    labels = np.array([3, 9], np.uint8)
    (folder / "test_batch").write_bytes(
        py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": labels})
    )
    assert load_cifar10(tmp_path, "test")[1].tolist() == [3, 9]


@pytest.mark.parametrize(
    "opcode",
    [
        pickle.BINBYTES8 + struct.pack("<Q", 2**40),  # bytes claiming a terabyte
        pickle.BINUNICODE8 + struct.pack("<Q", 2**40),
        pickle.BYTEARRAY8 + struct.pack("<Q", 2**40),
        pickle.BINSTRING + struct.pack("<i", 2**31 - 1),  # a Python 2 str claiming 2 GB
        pickle.FRAME + struct.pack("<Q", 2**40),
    ],
    ids=["BINBYTES8", "BINUNICODE8", "BYTEARRAY8", "BINSTRING", "FRAME"],
)
def test_cifar_pickle_claiming_gigabytes(tmp_path: Path, opcode: bytes) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.PROTO + b"\x05" + opcode + b"abc")
    with pytest.raises(ValueError, match=r"test_batch: not a CIFAR-10 batch \(malformed pickle"):
        load_cifar10(tmp_path, "test")


def test_cifar_pickle_that_multiplies_one_array(tmp_path: Path) -> None:
    """A batch that builds many arrays (a crafted one can rebuild one stored buffer into many
    copies, each as large as the file) is refused after a few."""
    a = np.zeros((1, 3072), np.uint8)
    batch = {b"data": a, b"labels": [0], b"copies": [a.copy() for _ in range(6)]}
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(py2_pickle(batch))
    with pytest.raises(ValueError, match="builds more than 4"):
        load_cifar10(tmp_path, "test")


def test_cifar_batch_too_large(
    tmp_path: Path, cifar_batches: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from signalinject.benchmarks import datasets

    folder = write_cifar_folder(tmp_path / "f", cifar_batches)
    archive = write_cifar_archive(tmp_path / "a", cifar_batches)
    size = len(py2_pickle(cifar_batches["test_batch"]))
    monkeypatch.setattr(datasets, "MAX_BATCH_BYTES", size - 1)  # one byte less than the file
    with pytest.raises(ValueError, match=r"test_batch: larger than 0 MiB; a CIFAR-10 batch is 31"):
        load_cifar10(folder, "test")
    with pytest.raises(ValueError, match=rf"test_batch: claims {size} bytes; a CIFAR-10 batch"):
        load_cifar10(archive, "test")


def test_cifar_archive_that_is_not_gzip(tmp_path: Path) -> None:
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"PK\x03\x04 a zip, not a tar.gz")
    with pytest.raises(ValueError, match=r"not a readable tar\.gz archive"):
        load_cifar10(tmp_path, "test")


def test_cifar_download_without_a_network(tmp_path: Path) -> None:
    """A URL that cannot be fetched (here a file that does not exist: urllib's URLError, as
    without a network) gives one OSError that says what to do, and leaves nothing behind."""
    url = (tmp_path / "nowhere" / "cifar-10-python.tar.gz").as_uri()
    dest = tmp_path / "data"
    with pytest.raises(OSError, match=r"cannot download file://.* check the network, or put"):
        load_cifar10(dest, "test", download=True, url=url)
    assert not any(dest.iterdir())


# -- Zhang et al. CSVs -------------------------------------------------------------------------
YELP = (
    '"5","Great place, ""really"" good.\\nWould go again! "\n'
    '"1","  Awful.\\n\\nNever again\\\\nok"\n'
    "3,unquoted text\n"
)  # fmt: skip
AMAZON = (
    '"2","Not bad","It works\\nmostly, ""fine"""\n'
    '"4"," Title ","  Body text  "\n'
)  # fmt: skip


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_zhang_two_columns(tmp_path: Path) -> None:
    texts, y = load_zhang_csv(write(tmp_path / "train.csv", YELP))
    assert texts == [
        'Great place, "really" good.\nWould go again!',
        "Awful.\n\nNever again\\\nok",  # file: again\\nok -> a backslash, then a newline
        "unquoted text",
    ]
    assert y.tolist() == [4, 0, 2]
    assert y.dtype == np.int64


def test_zhang_three_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "train.csv", AMAZON)
    texts, y = load_zhang_csv(path, num_classes=5)
    assert texts == ['Not bad It works\nmostly, "fine"', "Title Body text"]
    assert y.tolist() == [1, 3]
    rev, _ = load_zhang_csv(path, reverse_fields=True)  # Crepe's data.lua order
    assert rev == ['It works\nmostly, "fine" Not bad', "Body text Title"]
    assert load_zhang_csv(path, limit=1)[0] == texts[:1]


_field = st.text(st.sampled_from(list("ab ,\"\\n\t\r\n'é")), max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), _field, _field), min_size=1, max_size=6))
def test_zhang_csv_roundtrip(rows: list[tuple[int, str, str]]) -> None:
    """Whatever csv quoting produces, the fields come back as the reference transforms them."""
    buf = io.StringIO(newline="")
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    texts, y = parse_zhang_csv(io.StringIO(buf.getvalue(), newline=""))
    space = " \t\n\v\f\r"
    want = [f"{a.replace(chr(92) + 'n', chr(10)).strip(space)} "
            f"{b.replace(chr(92) + 'n', chr(10)).strip(space)}" for _, a, b in rows]  # fmt: skip
    assert texts == want
    assert y.tolist() == [k - 1 for k, _, _ in rows]


@pytest.mark.parametrize(
    ("text", "kwargs", "match"),
    [
        ('"1","a"\n"2","b","c"\n', {}, "line 2: malformed row: 3 field"),
        ('"1","a"\n"x","b"\n', {}, "line 2: the class must be an integer, got 'x'"),
        ('"1","a"\n"0","b"\n', {}, "line 2: class 0 is outside 1"),
        ('"1","a"\n"6","b"\n', {"num_classes": 5}, r"line 2: class 6 is outside 1\.\.5"),
        ('"1","a"\n"2","b"c"\n', {}, "line 2: malformed CSV"),
        ('"1"\n', {}, "line 1: a row needs a class and at least one text field"),
        ('"1","a"\n\n"2","b"\n', {}, "line 2: malformed row: 0 field"),
    ],
)
def test_zhang_errors(tmp_path: Path, text: str, kwargs: dict[str, Any], match: str) -> None:
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(ValueError, match=match) as info:
        load_zhang_csv(path, **kwargs)
    assert str(path) in str(info.value)


def test_zhang_multiline_record_reports_its_last_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", '"1","a\nb"\n"9","c"\n')
    with pytest.raises(ValueError, match=r"line 3: class 9 is outside 1\.\.5"):
        load_zhang_csv(path, num_classes=5)


@pytest.mark.parametrize("layout", ["folder", "tgz", "tar.gz"])
def test_load_dataset_zhang(tmp_path: Path, layout: str) -> None:
    files = {"train.csv": AMAZON, "test.csv": '"3","t","x"\n'}
    if layout == "folder":
        for name, text in files.items():
            write(tmp_path / "amazon_review_full_csv" / name, text)
    else:
        with tarfile.open(tmp_path / f"amazon_review_full_csv.{layout}", "w:gz") as tar:
            for name, text in files.items():
                data = text.encode()
                info = tarfile.TarInfo(f"amazon_review_full_csv/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    b = load_dataset("amazon_full", data_dir=tmp_path)
    assert (b.kind, b.num_classes) == ("text", 5)
    assert b.x_train == ['Not bad It works\nmostly, "fine"', "Title Body text"]
    assert b.y_train.tolist() == [1, 3]
    assert b.x_test == ["t x"]
    assert b.y_test.tolist() == [2]
    assert load_dataset("amazon_full", data_dir=tmp_path, limit=1).x_train == b.x_train[:1]


def test_load_dataset_zhang_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"yelp_review_full_csv/train\.csv .* no official"):
        load_dataset("yelp_full", data_dir=tmp_path, download=True)


def _zhang_archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    "content", [b"", b"not gzip at all", b"\x1f\x8b\x08\x00 truncated gzip header"]
)
def test_zhang_archive_that_is_not_gzip(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "yelp_review_full_csv.tgz").write_bytes(content)
    with pytest.raises(ValueError, match=r"yelp_review_full_csv\.tgz: not a readable tar\.gz"):
        load_dataset("yelp_full", data_dir=tmp_path)


def test_zhang_archive_missing_member(tmp_path: Path) -> None:
    _zhang_archive(tmp_path / "yelp_review_full_csv.tgz", {"yelp_review_full_csv/a.csv": b""})
    with pytest.raises(ValueError, match=r"yelp_review_full_csv/train\.csv is missing"):
        load_dataset("yelp_full", data_dir=tmp_path)


def test_zhang_line_too_long(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file without newlines (binary, crafted) is refused line by line, never read whole."""
    from signalinject.benchmarks import datasets

    monkeypatch.setattr(datasets, "MAX_LINE_CHARS", 100)
    path = write(tmp_path / "train.csv", '"1","ok"\n"2","' + "x" * 200 + '"\n')
    with pytest.raises(ValueError, match="line 2 is longer than 100 characters"):
        load_zhang_csv(path)
    archive = _zhang_archive(
        tmp_path / "yelp_review_full_csv.tgz",
        {"yelp_review_full_csv/train.csv": path.read_bytes(), "yelp_review_full_csv/test.csv": b""},
    )
    with pytest.raises(ValueError, match=rf"{archive.name}:.*train\.csv: line 2 is longer"):
        load_dataset("yelp_full", data_dir=tmp_path)


# -- embedded datasets ---------------------------------------------------------------------------
def test_digits_to_rgb32_values() -> None:
    img = np.zeros((1, 8, 8), np.int64)
    img[0, 0, 1], img[0, 7, 7], img[0, 3, 4] = 16, 8, 1
    x = digits_to_rgb32(img)
    assert x.shape == (1, 32, 32, 3)
    assert x.dtype == np.uint8
    assert (x[0, 0:4, 4:8] == 255).all()
    assert (x[0, 28:, 28:] == 128).all()
    assert (x[0, 12:16, 16:20] == 16).all()  # round(255 / 16) = 15.9 -> 16
    assert x.sum() == 16 * 3 * (255 + 128 + 16)


def test_digits_to_rgb32_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match=r"\(N, 8, 8\) in 0..16"):
        digits_to_rgb32(np.full((1, 8, 8), 17))


def test_digits_bundle() -> None:
    b = load_digits32()
    assert isinstance(b.x_train, np.ndarray)
    assert (b.name, b.kind, b.num_classes) == ("digits", "image", 10)
    assert b.x_train.shape == (1352, 32, 32, 3)
    assert b.x_test.shape == (445, 32, 32, 3)
    assert b.x_train.dtype == np.uint8
    assert b.y_train.dtype == np.int64
    # Stratified: a quarter of each class (rounded down) is test.
    total = np.bincount(b.y_train, minlength=10) + np.bincount(b.y_test, minlength=10)
    np.testing.assert_array_equal(np.bincount(b.y_test, minlength=10), total // 4)
    assert "stand-in" in b.description
    again = load_dataset("digits", limit=20)
    np.testing.assert_array_equal(again.x_train, b.x_train[:20])
    assert sorted(set(again.y_train.tolist())) == list(range(10))  # a limit keeps a mix


def test_stdlib_docs_bundle() -> None:
    b = load_stdlib_docs()
    assert isinstance(b.x_train, list)
    assert isinstance(b.x_test, list)
    assert (b.name, b.kind, b.num_classes) == ("stdlib_docs", "text", 5)
    n = len(b.x_train) + len(b.x_test)
    # The pinned corpus is the same on CPython 3.10-3.13 (644 docstrings); another release may
    # have edited a few, which then drop out.
    assert 0.97 * len(_stdlib_docs.PINS) <= n <= len(_stdlib_docs.PINS) == 644
    assert min(np.bincount(b.y_train, minlength=5)) >= 60
    assert min(np.bincount(b.y_test, minlength=5)) >= 15
    assert not set(b.x_train) & set(b.x_test)
    assert all(len(t) >= _stdlib_docs.MIN_CHARS for t in b.x_train + b.x_test)
    assert load_dataset("stdlib_docs", limit=7).x_train == b.x_train[:7]
    assert "stand-in" in b.description


def test_stdlib_docs_unpinned_is_a_superset() -> None:
    pinned = {s[1] for s in _stdlib_docs.collect()}
    assert pinned <= {s[1] for s in _stdlib_docs.collect(pinned=False)}


def test_stdlib_docs_pin_tool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _stdlib_docs._main([])
    mine = capsys.readouterr().out.split()
    name, text, _ = _stdlib_docs.collect()[0]
    assert f"{_stdlib_docs.pin(name, text):08x}" in mine
    (tmp_path / "a.txt").write_text("0000000a\n000000ff\n0000000b\n")
    (tmp_path / "b.txt").write_text("000000ff\n0000000a\n")
    _stdlib_docs._main(["--intersect", str(tmp_path / "a.txt"), str(tmp_path / "b.txt")])
    assert capsys.readouterr().out == "    0x0000000a, 0x000000ff,\n"


def test_noisy_digits_bundle() -> None:
    b = load_noisy_digits()
    plain = load_digits32()
    assert isinstance(b.x_train, np.ndarray)
    assert isinstance(b.x_test, np.ndarray)
    assert (b.name, b.kind, b.num_classes) == ("noisy_digits", "image", 10)
    assert b.x_train.shape == (1352, 32, 32, 3)
    assert b.x_train.dtype == np.uint8
    # the same images and split as the plain digits, made hard
    np.testing.assert_array_equal(b.y_train, plain.y_train)
    np.testing.assert_array_equal(b.y_test, plain.y_test)
    # gray: the three channels are equal
    np.testing.assert_array_equal(b.x_train[..., 0], b.x_train[..., 2])
    # noise of sd 90: where a plain digit's shifted background is black, about half the
    # pixels are clipped to 0 and the rest spread up to 255
    diff = b.x_train.astype(np.int64) - plain.x_train.astype(np.int64)
    assert 60 < diff.std() < 130
    assert 0.2 < (b.x_train == 0).mean() < 0.6
    # deterministic: a second load is identical, and a limit is a prefix
    np.testing.assert_array_equal(load_noisy_digits().x_test, b.x_test)
    np.testing.assert_array_equal(load_dataset("noisy_digits", limit=9).x_train, b.x_train[:9])
    assert "stand-in for CIFAR-10" in b.description
    assert "sigma 90" in b.description


def test_noisy_digits_are_shifted_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without noise, each image is a plain digit shifted by at most 4 pixels."""
    from signalinject.benchmarks import datasets

    monkeypatch.setitem(datasets.NOISY_DIGITS, "noise_std", 0.0)
    b = load_noisy_digits()
    plain = load_digits32()
    x, p = b.x_test[..., 0].astype(np.int64), plain.x_test[..., 0].astype(np.int64)
    for i in range(0, 445, 37):
        found = [
            (dy, dx)
            for dy in range(-4, 5)
            for dx in range(-4, 5)
            if np.array_equal(x[i], _shift(p[i], dy, dx))
        ]
        assert found, i


def _shift(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(img)
    h, w = img.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = img[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def test_stdlib_code_bundle() -> None:
    b = load_stdlib_code()
    assert isinstance(b.x_train, list)
    assert isinstance(b.x_test, list)
    assert (b.name, b.kind, b.num_classes) == ("stdlib_code", "text", 5)
    assert len(b.x_train) + len(b.x_test) > 1000
    assert min(np.bincount(b.y_test, minlength=5)) >= 30
    assert all(t.lstrip().startswith(("def ", "async def ", "@")) for t in b.x_train[:50])
    assert all(len(t) >= _stdlib_docs.MIN_CHARS for t in b.x_train + b.x_test)
    assert not set(b.x_train) & set(b.x_test)
    assert load_dataset("stdlib_code", limit=5).x_test == b.x_test[:5]
    assert "stand-in" in b.description
    assert "function sources" in b.description


# -- photo_digits, registered --------------------------------------------------------------------
def test_photo_digits_is_registered_as_built() -> None:
    """The registry's bundle is `load_photo_digits`'s arrays as they are; ``limit`` takes the head
    of its shuffled order, so a small run still holds several classes."""
    from signalinject.benchmarks.photo_digits import load_photo_digits

    d = load_photo_digits()
    b = load_dataset("photo_digits")
    assert (b.name, b.kind, b.num_classes) == ("photo_digits", "image", 10)
    for got, want in zip(
        (b.x_train, b.y_train, b.x_test, b.y_test),
        (d.x_train, d.y_train, d.x_test, d.y_test),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)
    assert b.description == d.description
    assert DATASETS["photo_digits"].size == f"{len(b.y_train)} / {len(b.y_test)}"
    small = load_dataset("photo_digits", limit=30)
    np.testing.assert_array_equal(small.x_train, d.x_train[:30])
    np.testing.assert_array_equal(small.y_test, d.y_test[:30])
    assert len(set(small.y_train.tolist())) >= 5


# -- load_dataset ------------------------------------------------------------------------------
def test_the_papers_and_the_embedded_sets_are_registered() -> None:
    paper = {"cifar10": "image", "yelp_full": "text", "amazon_full": "text"}
    embedded = {
        "photo_digits": "image", "noisy_digits": "image", "digits": "image", "stdlib_code": "text"
    }  # fmt: skip
    for name, kind in {**paper, **embedded, "stdlib_docs": "text"}.items():
        assert DATASETS[name].kind == kind, name
        assert DATASETS[name].embedded == (name not in paper), name
    # the defaults of each run: the suites' and scan's; show draws on the suites' (none of its own)
    assert (default_dataset("images"), default_dataset("text")) == ("photo_digits", "stdlib_code")
    assert default_dataset("scan") == "photo_digits"
    assert not any("show" in d.defaults for d in DATASETS.values())


def test_data_dir_from_the_environment(
    tmp_path: Path, cifar_batches: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_cifar_folder(tmp_path, cifar_batches)
    monkeypatch.setenv("SIGNALINJECT_DATA_DIR", str(tmp_path))
    assert len(load_dataset("cifar10").y_test) == 3


def test_load_dataset_unknown() -> None:
    with pytest.raises(
        ValueError, match="unknown dataset 'mnist'; known: photo_digits, noisy_digits, digits, "
    ):
        load_dataset("mnist")


def test_load_dataset_bad_limit() -> None:
    with pytest.raises(ValueError, match=r"limit must be in \[1, inf\], got 0"):
        load_dataset("digits", limit=0)


def test_bundle_checks_lengths() -> None:
    y = np.zeros(2, np.int64)
    with pytest.raises(ValueError, match="x_test holds 1 samples but y_test 2 labels"):
        DataBundle("t", "text", 2, ["a", "b"], y, ["a"], y, "d")
