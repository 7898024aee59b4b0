"""The benchmark datasets, registered: the paper's (CIFAR-10, Yelp and Amazon "full") and the
embedded stand-ins (``photo_digits``, ``noisy_digits``, ``digits``, ``stdlib_code``,
``stdlib_docs``), and
[`load_dataset`][signalinject.benchmarks.datasets.load_dataset], which loads any registered one.

Each is one entry of the registry
([`DatasetEntry`][signalinject.benchmarks.registry.DatasetEntry]: loader, kind, classes, how it is
built, citation, sizes); their table is generated into docs/models.md. A new data set is one
module that registers its entry, plus its name in
[`MODULES`][signalinject.benchmarks.registry.MODULES].

The embedded stand-ins need nothing downloaded and run anywhere; their
[`DataBundle.description`][signalinject.benchmarks.registry.DataBundle] says they are
stand-ins. The defaults, ``photo_digits`` and ``stdlib_code``, put the paper's domain models in the
paper's regime: the ConvNet well above chance but far from 100% (CIFAR-10: 84.7%), the char-CNN well
above the majority class; every signal of the paper decodes from ``photo_digits`` at 100%. On the
plain ``digits`` the ConvNet is at 99% and has nothing to gain from a signal; ``noisy_digits`` (the
default before 0.2.0) hides several signals in its noise (its background holds class 0's code);
on ``stdlib_docs`` the char-CNN learns nothing (all three kept by name). The real sets are read
from ``data_dir`` (default ``$SIGNALINJECT_DATA_DIR``, else ``~/.cache/signalinject``), in their
official formats. Nothing touches the network unless ``download=True`` (CIFAR-10 only: the official
archive, md5-checked).

Examples:
    >>> b = load_dataset("digits", limit=5)
    >>> b.x_train.shape, b.x_train.dtype, b.y_train.tolist()
    ((5, 32, 32, 3), dtype('uint8'), [0, 1, 2, 3, 4])
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import hashlib
import http.client
import io
import itertools
import os
import pickle
import pickletools
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from signalinject.benchmarks.photo_digits import load_photo_digits
from signalinject.benchmarks.registry import (
    DataBundle,
    DatasetEntry,
    dataset,
    default_data_dir,
    register_dataset,
)
from signalinject.core import check_int

__all__ = [
    "NOISY_DIGITS",
    "load_cifar10",
    "load_dataset",
    "load_digits32",
    "load_noisy_digits",
    "load_photo_digits_bundle",
    "load_stdlib_code",
    "load_stdlib_docs",
    "load_zhang_csv",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
_CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}

#: Zhang et al. (2015) sets: folder (also the archive's stem) and number of classes.
_ZHANG: dict[str, tuple[str, int]] = {
    "yelp_full": ("yelp_review_full_csv", 5),
    "amazon_full": ("amazon_review_full_csv", 5),
}

IntArray = npt.NDArray[np.int64]
ImageArray = npt.NDArray[np.uint8]


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    limit: int | None = None,
) -> DataBundle:
    """Load a registered data set
    ([`DATASETS`][signalinject.benchmarks.registry.DATASETS]).

    Args:
        name: the data set's name.
        data_dir: folder holding the real datasets' files (default
            `default_data_dir`); unused by the
            embedded ``digits`` and ``stdlib_docs``.
        download: fetch a missing CIFAR-10 archive (the only set with an official, checksummed
            download); the Zhang et al. CSVs must be put in place by hand.
        limit: keep only the first ``limit`` train and the first ``limit`` test samples (the
            order is fixed, so this is deterministic), for quick runs and tests.

    Raises:
        ValueError: unknown ``name`` or a bad ``limit``.
        FileNotFoundError: a real dataset is missing; the message says where to put what.
    """
    entry = dataset(name)
    if limit is not None:
        check_int("limit", limit, low=1)
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    bundle = entry.load(root, download=download, limit=limit)
    if limit is None:
        return bundle
    return _head(bundle, limit)


def _head(b: DataBundle, limit: int) -> DataBundle:
    """The first ``limit`` samples of each split (copies, so the full arrays can be freed)."""

    def cut(x: Any) -> Any:
        return list(x[:limit]) if isinstance(x, list) else np.ascontiguousarray(x[:limit])

    return dataclasses.replace(
        b,
        x_train=cut(b.x_train),
        y_train=cut(b.y_train),
        x_test=cut(b.x_test),
        y_test=cut(b.y_test),
    )


# -- digits: the embedded image stand-in ----------------------------------------------------------
def digits_to_rgb32(images: npt.NDArray[Any]) -> ImageArray:
    """sklearn digits ``(N, 8, 8)`` in 0..16 -> uint8 ``(N, 32, 32, 3)`` in 0..255.

    Each pixel becomes a 4x4 block (nearest neighbour), its value ``round(v * 255 / 16)`` (half
    up, so 16 -> 255), copied to the three channels.
    """
    v = np.asarray(images, dtype=np.int64)
    if v.ndim != 3 or v.shape[1:] != (8, 8) or (v.size and (v.min() < 0 or v.max() > 16)):
        raise ValueError(f"digits must be (N, 8, 8) in 0..16, got shape {v.shape}")
    scaled = ((v * 255 + 8) // 16).astype(np.uint8)
    big = scaled.repeat(4, axis=1).repeat(4, axis=2)
    return np.ascontiguousarray(np.broadcast_to(big[..., None], (*big.shape, 3)))


def _digits_split(y: IntArray) -> npt.NDArray[np.bool_]:
    """The test mask of the digits: within each class, in file order, every 4th image."""
    rank = np.empty_like(y)  # position of each image within its class, in file order
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        rank[members] = np.arange(len(members))
    mask: npt.NDArray[np.bool_] = rank % 4 == 3
    return mask


def load_digits32() -> DataBundle:
    """scikit-learn's bundled handwritten digits as 32x32 RGB images: the CIFAR-10 stand-in.

    1797 images, 10 classes. Split: within each class, in file order, every 4th image (the 4th,
    8th, ...) is a test image: 1352 train and 445 test, stratified, the same on every version.
    Both splits keep the file order, which cycles through the classes, so a ``limit`` keeps a mix.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    x = digits_to_rgb32(d.images)
    y = np.asarray(d.target, dtype=np.int64)
    test = _digits_split(y)
    return DataBundle(
        "digits", "image", 10, x[~test], y[~test], x[test], y[test],
        f"stand-in for CIFAR-10: scikit-learn's 8x8 handwritten digits upsampled to 32x32x3 "
        f"uint8 ({int((~test).sum())} train, {int(test.sum())} test, 10 classes)",
    )  # fmt: skip


#: How `load_noisy_digits` degrades the digits: noise standard deviation (0..255 units),
#: largest shift (pixels, each axis) and the seed of its NumPy random stream.
NOISY_DIGITS: dict[str, float] = {"noise_std": 90.0, "max_shift": 4, "seed": 20160101}


def load_noisy_digits() -> DataBundle:
    """The digits made hard: the default CIFAR-10 stand-in, in the paper's accuracy regime.

    Each of scikit-learn's 1797 8x8 digits is upsampled to 32x32 as in
    [`load_digits32`][signalinject.benchmarks.datasets.load_digits32], shifted by a random -4..4
    pixels in each axis (what leaves the canvas is cut, what enters is black), then Gaussian noise
    of standard deviation 90 (0..255 units, one draw per pixel, the same in the three channels) is
    added, rounded and clipped to uint8. Shifts and noise come from one fixed NumPy stream
    (`NOISY_DIGITS`), so the set is the same on
    every run and machine. The split is
    [`load_digits32`][signalinject.benchmarks.datasets.load_digits32]'s (1352 train, 445 test).

    Why: on the plain digits the paper's ConvNet is at 99% clean, where ignoring a signal says
    little (there is nothing left to gain). Here it is at 70-90% clean (CIFAR-10 in the paper:
    84.7%) and a decision tree at 20-40%, so a signal that gives the tree ~100% is worth a lot,
    as in the paper's Table 1 (measured in docs/reproducing.md).
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    p = NOISY_DIGITS
    shift = int(p["max_shift"])
    gray = digits_to_rgb32(d.images)[..., 0].astype(np.float64)
    n = len(gray)
    rng = np.random.default_rng(int(p["seed"]))
    offsets = rng.integers(-shift, shift + 1, size=(n, 2))
    noise = rng.normal(0.0, float(p["noise_std"]), size=(n, 32, 32))
    canvas = np.zeros((n, 32 + 2 * shift, 32 + 2 * shift), dtype=np.float64)
    for i, (dy, dx) in enumerate(offsets):  # 1797 small copies, once per load
        canvas[i, shift + dy : shift + dy + 32, shift + dx : shift + dx + 32] = gray[i]
    shifted = canvas[:, shift : shift + 32, shift : shift + 32]
    noisy = np.clip(np.rint(shifted + noise), 0, 255).astype(np.uint8)
    x = np.ascontiguousarray(np.broadcast_to(noisy[..., None], (n, 32, 32, 3)))
    y = np.asarray(d.target, dtype=np.int64)
    test = _digits_split(y)
    return DataBundle(
        "noisy_digits", "image", 10, x[~test], y[~test], x[test], y[test],
        f"stand-in for CIFAR-10: scikit-learn's 8x8 handwritten digits upsampled to 32x32x3 "
        f"uint8, shifted by up to {shift} px, Gaussian noise sigma {p['noise_std']:g} "
        f"({int((~test).sum())} train, {int(test.sum())} test, 10 classes)",
    )  # fmt: skip


# -- photo_digits: the default image stand-in ----------------------------------------------------
def load_photo_digits_bundle() -> DataBundle:
    """The default image stand-in, ``photo_digits``, as a registry bundle: 3,200 training and
    1,000 test images, uint8 ``(N, 32, 32, 3)``, 10 balanced classes, in a fixed shuffled order
    (so ``limit`` keeps a class mix).

    The digits composited over crops of scikit-learn's two photographs
    ([`load_photo_digits`][signalinject.benchmarks.photo_digits.load_photo_digits], which says
    how). Why it is the default: every signal of the paper decodes from it at 100% (on
    ``noisy_digits`` half of the background is exactly class 0's code and the random pixel
    decodes at 4%), the paper's ConvNet is in its CIFAR-10 regime (85-87% clean, inputs
    standardised; paper: 84.7%) and a decision tree is far below it (22-28%), and a quarter of its
    training set, what the baselines fit on, is 800 images (``noisy_digits``: 338).
    """
    d = load_photo_digits()
    return DataBundle(
        "photo_digits", "image", 10, d.x_train, d.y_train, d.x_test, d.y_test, d.description
    )


# -- stdlib_code: the default text stand-in ------------------------------------------------------
def load_stdlib_code() -> DataBundle:
    """Function sources of five standard-library packages, one class per package: the default
    text stand-in.

    Classes: 0 ``email``, 1 ``http``, 2 ``logging``, 3 ``unittest``, 4 ``xml``. Each sample is
    the dedented source of one function or method defined there
    (`signalinject.benchmarks._stdlib_docs.collect_sources`). Split and order by ``crc32``
    of the qualified name, about a quarter test. Unlike ``stdlib_docs`` the corpus is the running
    Python's (on CPython 3.11: 1802 sources; the largest class, xml, is ~37% of the test set).

    Why: the 644 docstrings of ``stdlib_docs`` are too few and too alike for the char-CNN, which
    stays at the majority class there; on the sources it learns the clean task (see
    docs/reproducing.md), so its response to a signal means something.
    """
    from signalinject.benchmarks import _stdlib_docs

    return _text_bundle(
        "stdlib_code",
        _stdlib_docs.collect_sources(),
        "stand-in for Yelp/Amazon reviews: function sources of the Python standard library "
        f"(Python {sys.version_info[0]}.{sys.version_info[1]}), one class per package",
    )


def _text_bundle(name: str, samples: list[tuple[str, str, int]], what: str) -> DataBundle:
    """A text set from ``(qualified name, text, class)``: stable crc32 shuffle and split."""
    from signalinject.benchmarks import _stdlib_docs

    # A stable shuffle (classes interleaved, so a ``limit`` keeps a mix) and split.
    keyed = sorted(((zlib.crc32(qn.encode()), text, c) for qn, text, c in samples))
    train = [(t, c) for h, t, c in keyed if h % 4]
    test = [(t, c) for h, t, c in keyed if h % 4 == 0]
    packages = ", ".join(_stdlib_docs.PACKAGES)
    return DataBundle(
        name, "text", len(_stdlib_docs.PACKAGES),
        [t for t, _ in train], np.array([c for _, c in train], dtype=np.int64),
        [t for t, _ in test], np.array([c for _, c in test], dtype=np.int64),
        f"{what} ({packages}); {len(train)} train, {len(test)} test",
    )  # fmt: skip


# -- stdlib_docs: the embedded text stand-in -------------------------------------------------------
def load_stdlib_docs(*, pinned: bool = True) -> DataBundle:
    """Docstrings of five standard-library packages, one class per package: the text stand-in.

    Classes: 0 ``email``, 1 ``http``, 2 ``logging``, 3 ``unittest``, 4 ``xml``. Each sample is
    one docstring of at least 40 characters (see `signalinject.benchmarks._stdlib_docs`).
    With ``pinned`` (default) the corpus is the 644 docstrings identical on CPython 3.10-3.13
    (139, 99, 163, 99 and 144 per class). Split and order by ``crc32`` of the docstring's
    qualified name: about a quarter is test (464 train, 180 test), the same on every Python.

    Args:
        pinned: False keeps every docstring this Python has (it then differs between versions).
    """
    from signalinject.benchmarks import _stdlib_docs

    return _text_bundle(
        "stdlib_docs",
        _stdlib_docs.collect(pinned=pinned),
        "stand-in for Yelp/Amazon reviews: docstrings of the Python standard library, one class "
        "per package",
    )


# -- CIFAR-10 ------------------------------------------------------------------------------------
_RECONSTRUCT: Any = np.empty(0).__reduce__()[0]  # numpy's ndarray rebuild function (pickle global)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batches, and nothing else: only NumPy array globals are resolved.

    A pickle can run any global it names; a batch only needs these, so a tampered file gets an
    error instead of running code. Both the historical (``numpy.core``, as in the official
    files) and current (``numpy._core``) module names map to the running NumPy.
    """

    _ALLOWED: ClassVar[dict[tuple[str, str], Any]] = {
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # bytes pickled by Python 3 at protocol <= 2
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._arrays = 0

    def _reconstruct(self, *args: Any) -> Any:
        """NumPy's rebuild, at most a few times per batch (memo references cannot multiply a
        large array's data into many copies)."""
        self._arrays += 1
        if self._arrays > _MAX_ARRAYS:
            raise pickle.UnpicklingError(
                f"a CIFAR-10 batch holds one image array; this one builds more than {_MAX_ARRAYS}"
            )
        return _RECONSTRUCT(*args)

    def find_class(self, module: str, name: str) -> Any:
        if name == "_reconstruct" and (module, name) in self._ALLOWED:
            return self._reconstruct
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"a CIFAR-10 batch may only hold NumPy arrays, lists and numbers; refusing the "
                f"global {module}.{name}"
            ) from None


#: The largest CIFAR-10 batch file read (the official ones are 31 MB): a file or an archive
#: member that claims more is refused before anything is allocated.
MAX_BATCH_BYTES = 64 << 20
_MAX_ARRAYS = 4  # arrays one batch may build (the official ones hold one: b'data')


def _check_pickle(raw: bytes, source: str) -> None:
    """Walk the opcodes of ``raw``: every length an opcode claims must be in the data.

    The C unpickler allocates what a length field claims before reading it, so a ten-byte file
    claiming a terabyte string would fail with an empty MemoryError (or be killed); the walk
    reads each argument from the bytes at hand and stops at the first claim beyond them.
    """
    try:
        for _ in pickletools.genops(raw):
            pass
    except ValueError as e:
        raise ValueError(f"{source}: not a CIFAR-10 batch (malformed pickle: {e})") from None


def _read_batch(f: IO[bytes], source: str) -> tuple[ImageArray, IntArray]:
    """One pickled batch -> uint8 ``(N, 32, 32, 3)`` and int64 ``(N,)``.

    At most `MAX_BATCH_BYTES` are read; the
    pickle is checked (`_check_pickle`) and may build at most a few arrays, so a crafted file fails
    with a clear error, bounded in memory.
    """
    raw = f.read(MAX_BATCH_BYTES + 1)
    if len(raw) > MAX_BATCH_BYTES:
        raise ValueError(
            f"{source}: larger than {MAX_BATCH_BYTES >> 20} MiB; a CIFAR-10 batch is 31 MB"
        )
    _check_pickle(raw, source)
    try:
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, MemoryError) as e:
        raise ValueError(f"{source}: not a CIFAR-10 batch ({type(e).__name__}: {e})") from e
    if not isinstance(batch, dict):
        raise ValueError(f"{source}: expected a pickled dict, got {type(batch).__name__}")
    # The official files are Python 2 pickles: their keys load as bytes.
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or labels is None:
        raise ValueError(f"{source}: a CIFAR-10 batch needs b'data' and b'labels' entries")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(
            f"{source}: b'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}"
        )
    y = _cifar_labels(labels, source)
    if y.shape != (data.shape[0],):
        raise ValueError(f"{source}: {data.shape[0]} images but {y.size} labels")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{source}: labels must be in 0..9, got {y.min()}..{y.max()}")
    # Each row is the red plane, then green, then blue, each 32x32 in row-major order.
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), y


def _cifar_labels(labels: Any, source: str) -> IntArray:
    """``b'labels'`` as int64 ``(N,)``: a list of ints or an integer array, nothing else (a
    float, a bool or a string label is an error, never truncated to a class)."""
    if isinstance(labels, np.ndarray):
        ok = labels.ndim == 1 and labels.dtype.kind in "iu"
    else:
        ok = isinstance(labels, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in labels
        )
    if not ok:
        what = (
            f"{labels.dtype} array of shape {labels.shape}"
            if isinstance(labels, np.ndarray)
            else type(labels).__name__
            if not isinstance(labels, list)
            else "list holding "
            + ", ".join(sorted({type(v).__name__ for v in labels if type(v) is not int}))
        )
        raise ValueError(f"{source}: b'labels' must be a list of integers 0..9, got a {what}")
    return np.asarray(labels, dtype=np.int64).reshape(-1)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(url: str, dest: Path, md5: str) -> None:
    """Fetch ``url`` to ``dest`` through a temporary file; refuse it unless its md5 matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, out, 1 << 20)
        except (OSError, http.client.HTTPException) as e:  # URLError, a timeout, a reset
            reason = getattr(e, "reason", None) or e
            raise OSError(
                f"cannot download {url} ({reason}); check the network, or put "
                f"{dest.name} in {dest.parent} by hand"
            ) from e
        got = _md5(tmp)
        if got != md5:
            raise OSError(f"download of {url} is corrupt: md5 {got}, expected {md5}")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def load_cifar10(
    root: str | os.PathLike[str],
    split: Literal["train", "test"] = "train",
    download: bool = False,
    *,
    url: str | None = None,
    md5: str | None = None,
) -> tuple[ImageArray, IntArray]:
    """Read CIFAR-10 from the official python-format files.

    Looks in ``root`` for the extracted folder ``cifar-10-batches-py/`` (``data_batch_1`` ..
    ``data_batch_5``, ``test_batch``), then for the archive ``cifar-10-python.tar.gz`` (read in
    place, not extracted); ``root`` may also be that folder or that archive itself.

    Args:
        root: where the files are.
        split: ``"train"`` (50000 images) or ``"test"`` (10000).
        download: when neither is found, fetch the archive from ``url`` (default
            `CIFAR10_URL`) into ``root`` and check
            its ``md5`` (default `CIFAR10_MD5`)
            first: the only time this function touches the network.

    Returns:
        uint8 ``(N, 32, 32, 3)`` channels-last images and int64 ``(N,)`` labels in 0..9.

    Raises:
        FileNotFoundError: nothing found and ``download`` is False; says where to put what.
        OSError: the download failed (no network, a timeout) or its md5 does not match.
        ValueError: a bad ``split``, or a file that is not a CIFAR-10 batch (a wrong layout,
            labels that are not integers 0..9, a batch over
            `MAX_BATCH_BYTES`, a pickle naming
            anything but NumPy arrays or claiming more bytes than it holds).
    """
    if split not in _CIFAR_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    url = CIFAR10_URL if url is None else url
    md5 = CIFAR10_MD5 if md5 is None else md5
    names = _CIFAR_FILES[split]
    base = Path(root).expanduser()
    folder = base if (base / names[0]).is_file() else base / _CIFAR_DIR
    archive = base if base.suffixes[-2:] == [".tar", ".gz"] else base / _CIFAR_ARCHIVE
    if folder.is_dir() and all((folder / n).is_file() for n in names):
        parts = []
        for n in names:
            with (folder / n).open("rb") as f:
                parts.append(_read_batch(f, str(folder / n)))
    else:
        if not archive.is_file():
            if not download:
                raise FileNotFoundError(
                    f"CIFAR-10 not found in {base}: put the official archive {_CIFAR_ARCHIVE} "
                    f"({url}) there, or its extracted folder {_CIFAR_DIR}/ holding "
                    f"data_batch_1..data_batch_5 and test_batch, or pass download=True"
                )
            _download(url, archive, md5)
        parts = _read_archive(archive, names)
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return x, y


def _read_archive(archive: Path, names: tuple[str, ...]) -> list[tuple[ImageArray, IntArray]]:
    """The batches ``names`` from the tar.gz, in that order, in one sequential pass."""
    found: dict[str, tuple[ImageArray, IntArray]] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                stem = member.name.rsplit("/", 1)[-1]
                if member.isfile() and stem in names and stem not in found:
                    if member.size > MAX_BATCH_BYTES:
                        raise ValueError(
                            f"{archive}:{member.name}: claims {member.size} bytes; a CIFAR-10 "
                            f"batch is 31 MB (at most {MAX_BATCH_BYTES >> 20} MiB is read)"
                        )
                    f = tar.extractfile(member)
                    assert f is not None  # a regular file always has a file object
                    with f:
                        found[stem] = _read_batch(f, f"{archive}:{member.name}")
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ValueError(f"{archive}: not a readable tar.gz archive ({e})") from e
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"{archive}: {_CIFAR_DIR}/{missing[0]} is missing from the archive")
    return [found[n] for n in names]


# -- Zhang et al. (2015) CSVs ------------------------------------------------------------------
_LUA_SPACE = " \t\n\v\f\r"  # what Lua's %s matches (C isspace): the reference's trim set


def _zhang_field(value: str) -> str:
    """One text field as the reference (Crepe's ``csv2t7b.lua``) stores it.

    The two-character sequence backslash-n becomes a newline, then leading and trailing
    whitespace is trimmed (``gsub("\\\\n", "\\n"):gsub("^%s*(.-)%s*$", "%1")``).
    """
    return value.replace("\\n", "\n").strip(_LUA_SPACE)


def parse_zhang_csv(
    lines: Iterable[str],
    source: str = "<csv>",
    *,
    num_classes: int | None = None,
    limit: int | None = None,
    reverse_fields: bool = False,
) -> tuple[list[str], IntArray]:
    """Parse Zhang et al. CSV rows (see
    [`load_zhang_csv`][signalinject.benchmarks.datasets.load_zhang_csv]) from an iterable of
    lines (a byte-order mark at the start of the first is dropped)."""
    reader = csv.reader(_without_bom(lines), strict=True)  # RFC 4180: "" inside quotes is one "
    texts: list[str] = []
    labels: list[int] = []
    width: int | None = None
    try:
        for row in reader:
            if limit is not None and len(texts) >= limit:
                break
            where = f"{source}: line {reader.line_num}"
            if width is None:
                width = len(row)
                if width < 2:
                    raise ValueError(
                        f"{where}: a row needs a class and at least one text field, got "
                        f"{len(row)} field(s)"
                    )
            if len(row) != width:
                raise ValueError(
                    f"{where}: malformed row: {len(row)} field(s), but the first row has {width}"
                )
            cls = row[0].strip(_LUA_SPACE)
            if not cls.isdecimal() or not cls.isascii():
                raise ValueError(f"{where}: the class must be an integer, got {row[0]!r}")
            k = int(cls)
            if k < 1 or (num_classes is not None and k > num_classes):
                bound = "" if num_classes is None else f"..{num_classes}"
                raise ValueError(f"{where}: class {k} is outside 1{bound}")
            fields = [_zhang_field(v) for v in row[1:]]
            texts.append(" ".join(reversed(fields) if reverse_fields else fields))
            labels.append(k - 1)
    except csv.Error as e:
        raise ValueError(f"{source}: line {reader.line_num}: malformed CSV ({e})") from e
    return texts, np.array(labels, dtype=np.int64)


def _without_bom(lines: Iterable[str]) -> Iterator[str]:
    """``lines`` with a leading byte-order mark (U+FEFF) removed from the first one: files
    saved as "UTF-8 with BOM" (Excel, ``encoding="utf-8-sig"``) start with it."""
    it = iter(lines)
    first = next(it, None)
    if first is None:
        return
    yield first.removeprefix("\ufeff")
    yield from it


def load_zhang_csv(
    path: str | os.PathLike[str],
    *,
    num_classes: int | None = None,
    limit: int | None = None,
    reverse_fields: bool = False,
) -> tuple[list[str], IntArray]:
    """Read a Zhang et al. (2015) CSV: ``"class","text"`` or ``"class","title","text"``.

    As their reference code (Crepe, ``data/csv2t7b.lua`` and ``train/data.lua``) does: doubled
    quotes inside a quoted field are one quote; in each text field the literal two characters
    backslash-n become a newline and surrounding whitespace is trimmed; the text fields are
    joined by one space. The reference joins them in *reverse* order (text, then title) because
    it then quantizes the string back to front; ``reverse_fields=True`` does the same, the default
    keeps reading order (title, then text).

    Args:
        path: the CSV file (UTF-8, with or without a byte-order mark; undecodable bytes
            become U+FFFD).
        num_classes: K; a class outside 1..K is an error (None: any class >= 1).
        limit: read only the first ``limit`` rows.

    Returns:
        The texts and their int64 labels, 0-based (class 1 -> 0).

    Raises:
        ValueError: a malformed row (field count, class, quoting), with its line number.
    """
    p = Path(path)
    with p.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        return parse_zhang_csv(
            _bounded_lines(f, str(p)),
            str(p),
            num_classes=num_classes,
            limit=limit,
            reverse_fields=reverse_fields,
        )


#: The longest physical line of a Zhang et al. CSV read (their longest is ~11 K characters);
#: a longer one is refused before it is held in memory whole.
MAX_LINE_CHARS = 1 << 20


def _bounded_lines(f: IO[str], source: str) -> Iterator[str]:
    """The lines of ``f``, refusing one longer than
    `MAX_LINE_CHARS` (e.g. a crafted or
    binary file without newlines) before it is read whole."""
    for no in itertools.count(1):
        line = f.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        if len(line) > MAX_LINE_CHARS:
            raise ValueError(
                f"{source}: line {no} is longer than {MAX_LINE_CHARS} characters; a Zhang et "
                f"al. CSV row is a few thousand"
            )
        yield line


def _load_zhang(name: str, root: Path, *, download: bool, limit: int | None) -> DataBundle:
    """A Zhang et al. set from ``root/<folder>/{train,test}.csv`` or ``root/<folder>.tgz``."""
    folder, k = _ZHANG[name]
    splits: dict[str, tuple[list[str], IntArray]] = {}
    archives = [root / f"{folder}{ext}" for ext in (".tgz", ".tar.gz")]
    archive = next((a for a in archives if a.is_file()), None)
    for split in ("train", "test"):
        csv_path = root / folder / f"{split}.csv"
        if csv_path.is_file():
            splits[split] = load_zhang_csv(csv_path, num_classes=k, limit=limit)
        elif archive is not None:
            splits[split] = _zhang_from_archive(archive, f"{folder}/{split}.csv", k, limit)
        else:
            note = " (download=True cannot fetch it: it has no official checksummed URL)"
            raise FileNotFoundError(
                f"{name} not found: put {folder}/train.csv and {folder}/test.csv (from Zhang et "
                f"al.'s {folder}.tar.gz) under {root}, or the archive itself as "
                f"{archives[0].name} or {archives[1].name}{note if download else ''}"
            )
    (x_tr, y_tr), (x_te, y_te) = splits["train"], splits["test"]
    return DataBundle(
        name, "text", k, x_tr, y_tr, x_te, y_te,
        f"{folder} (Zhang et al. 2015), the paper's text data: review stars 1-5 as 5 classes",
    )  # fmt: skip


def _zhang_from_archive(
    archive: Path, member: str, k: int, limit: int | None
) -> tuple[list[str], IntArray]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            try:
                raw = tar.extractfile(member)
            except KeyError:
                raise ValueError(f"{archive}: {member} is missing from the archive") from None
            if raw is None:
                raise ValueError(f"{archive}: {member} is not a regular file")
            with io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="") as f:
                lines = _bounded_lines(f, f"{archive}:{member}")
                return parse_zhang_csv(lines, f"{archive}:{member}", num_classes=k, limit=limit)
    except (tarfile.TarError, EOFError, zlib.error) as e:  # not gzip, truncated, corrupt
        raise ValueError(f"{archive}: not a readable tar.gz archive ({e})") from e
    except OSError as e:
        if e.filename is not None:  # the file itself could not be read: say so as it is
            raise
        raise ValueError(f"{archive}: not a readable tar.gz archive ({e})") from e


# -- the registry's entries ----------------------------------------------------------------------
def _cifar10(root: Path, *, download: bool, limit: int | None) -> DataBundle:
    x_tr, y_tr = load_cifar10(root, "train", download=download)
    x_te, y_te = load_cifar10(root, "test", download=download)
    return DataBundle(
        "cifar10", "image", 10, x_tr, y_tr, x_te, y_te,
        "CIFAR-10 (Krizhevsky 2009), the paper's image data: 32x32x3 uint8, 10 classes",
    )  # fmt: skip


def _zhang(name: str) -> Any:
    def load(root: Path, *, download: bool, limit: int | None) -> DataBundle:
        return _load_zhang(name, root, download=download, limit=limit)

    return load


def _embedded(load: Any) -> Any:
    """A loader of an embedded set (no file, no download: ``root`` and ``download`` unused)."""

    def loader(root: Path, *, download: bool, limit: int | None) -> DataBundle:
        return load()  # type: ignore[no-any-return]

    return loader


_DIGITS = "scikit-learn's digits (Alpaydin & Kaynak 1998), as shipped with scikit-learn"
_PHOTOS = "scikit-learn's digits and its two sample photographs, as shipped with scikit-learn"
_STDLIB = "the Python standard library of the running interpreter"
_ZHANG_2015 = "Zhang, Zhao & LeCun 2015, Character-level convolutional networks"
register_dataset(DatasetEntry(
    "photo_digits", _embedded(load_photo_digits_bundle), "image", 10,
    "the digits, shifted by up to 3 px, over crops of two photographs: the default",
    _PHOTOS, "3200 / 1000", embedded=True, defaults=("images", "scan"),
))  # fmt: skip
register_dataset(DatasetEntry(
    "noisy_digits", _embedded(load_noisy_digits), "image", 10,
    "the digits at 32x32x3, shifted by up to 4 px and noised (sigma 90)",
    _DIGITS, "1352 / 445", embedded=True,
))  # fmt: skip
register_dataset(DatasetEntry(
    "digits", _embedded(load_digits32), "image", 10,
    "scikit-learn's 8x8 digits upsampled to 32x32x3", _DIGITS, "1352 / 445", embedded=True,
))  # fmt: skip
register_dataset(DatasetEntry(
    "cifar10", _cifar10, "image", 10, "`cifar-10-python.tar.gz` (the paper's)",
    "Krizhevsky 2009, Learning multiple layers of features from tiny images", "50000 / 10000",
))  # fmt: skip
register_dataset(DatasetEntry(
    "stdlib_code", _embedded(load_stdlib_code), "text", 5,
    "function sources of five stdlib packages: the default", _STDLIB, "~1300 / ~460",
    embedded=True, text_length=256, defaults=("text",),
))  # fmt: skip
register_dataset(DatasetEntry(
    "stdlib_docs", _embedded(load_stdlib_docs), "text", 5,
    "docstrings of five stdlib packages, the same on Python 3.10-3.13", _STDLIB, "464 / 180",
    embedded=True, text_length=256,
))  # fmt: skip
register_dataset(DatasetEntry(
    "yelp_full", _zhang("yelp_full"), "text", 5, "`yelp_review_full_csv` (the paper's)",
    _ZHANG_2015, "650000 / 50000",
))  # fmt: skip
register_dataset(DatasetEntry(
    "amazon_full", _zhang("amazon_full"), "text", 5, "`amazon_review_full_csv` (the paper's)",
    _ZHANG_2015, "3000000 / 650000",
))  # fmt: skip
