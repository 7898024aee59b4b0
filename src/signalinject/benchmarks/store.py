"""The results store: one JSON line per finished cell, and the schema every line follows.

A benchmark's results live in ``<out>/results.jsonl`` (a process of a grid in shares writes
``results.<I>of<N>.jsonl``, see [`signalinject.benchmarks.grid`][signalinject.benchmarks.grid]).
`append_record` appends one complete line with a
single write and an fsync, so a run killed at any moment loses at most the cell in flight;
[`load_records`][signalinject.benchmarks.store.load_records] reads the finished cells back and
`repair_records` moves corrupt, truncated,
duplicated lines, and lines that break the schema, to ``results.corrupt.jsonl``. Only regular
files are read (a FIFO would block), at most `MAX_RESULTS_BYTES` of them, and a line longer
than `MAX_LINE_BYTES` is bad unparsed and quarantined cut to that length;
`exclusive` holds an advisory lock on the output
directory while a run writes. No file is written through a symlink (see
`signalinject.benchmarks._files`).

`RECORD_FIELDS` is the one declaration of a line's fields: their order (the order a line is
written in), what each may hold, which are required, and which are columns of ``results.csv``
(`CSV_FIELDS`). The store validates against it, the report and the scan read it.

Examples:
    >>> record_problem({"cell_id": "ab"})
    "the field 'dataset' is missing"
    >>> CSV_FIELDS[:4], CSV_FIELDS[-2:]
    (('dataset', 'signal', 'model', 'seed'), ('cell_id', 'injector'))
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from signalinject.benchmarks._files import (
    append_bytes,
    atomic_write,
    make_dir,
    open_regular,
    read_regular,
)
from signalinject.benchmarks.train import PREPROCESS_MODES

__all__ = ["RECORD_FIELDS", "load_records"]

logger = logging.getLogger("signalinject.benchmarks")

RESULTS_FILE = "results.jsonl"
CORRUPT_FILE = "results.corrupt.jsonl"
LOCK_FILE = ".lock"
#: The largest results file read (a line is ~1.2 KB: ~100,000 cells); a larger one is refused
#: before it is read (a 1 GB file of garbage took minutes and 4 GB of memory, then was copied).
MAX_RESULTS_BYTES = 128 << 20
#: The longest line taken for a result (a line is ~1.2 KB): a longer one is bad unparsed, and
#: only this much of it is kept in the quarantine file.
MAX_LINE_BYTES = 1 << 20


# -- the schema of a result line ----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """What one field of a result line may hold.

    Attributes:
        check: ``check(value) -> bool``, True for an acceptable value (type and range).
        expected: what ``check`` accepts, in words (for the message of a refused line).
        required: a line without the field is refused (older optional fields are checked only
            when present, so lines of earlier versions stay readable).
        column: the field's column in ``results.csv`` (0-based), None if it is not one.
    """

    check: Callable[[Any], bool]
    expected: str
    required: bool = False
    column: int | None = None


def _number(low: float = -math.inf, high: float = math.inf) -> Callable[[Any], bool]:
    """A finite int or float (not a bool) in ``[low, high]``."""

    def check(v: Any) -> bool:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        return ok and low <= v <= high

    return check


def _integer(low: int, high: int | None = None) -> Callable[[Any], bool]:
    """An int (not a bool) in ``[low, high]``."""

    def check(v: Any) -> bool:
        ok = isinstance(v, int) and not isinstance(v, bool)
        return ok and low <= v and (high is None or v <= high)

    return check


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """``check``, or None."""
    return lambda v: v is None or check(v)


def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v)


def _texts(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(t, str) for t in v)


def _mapping(v: Any) -> bool:
    return isinstance(v, dict)


def _pair(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_integer(0)(x) for x in v)


_HEX = re.compile(r"(?:[0-9a-f]{2})*")


def _hex(v: Any) -> bool:
    return isinstance(v, str) and _HEX.fullmatch(v) is not None


_UNIT = _number(0.0, 1.0)
_SOME_UNIT = _optional(_UNIT)
_SOME_DIFF = _optional(_number(-1.0, 1.0))

_TEXT = "a non-empty string"
_FRACTION = "a number in 0..1"
_SOME_FRACTION = "null or a number in 0..1"
_SOME_DIFFERENCE = "null or a number in -1..1"

#: Every field a result line may have, in the order a line is written, and what it may hold: the
#: one place the line's schema is declared. `load_records` sets aside a line that breaks it (a
#: missing required field, a wrong type, a value out of range, NaN) and its cell is recomputed;
#: `append_record` refuses to write such a line. Fields not named here are kept unchecked.
RECORD_FIELDS: dict[str, FieldSpec] = {
    "cell_id": FieldSpec(_text, _TEXT, required=True, column=35),
    "suite": FieldSpec(_text, _TEXT),
    "dataset": FieldSpec(_text, _TEXT, required=True, column=0),
    "signal": FieldSpec(_text, _TEXT, required=True, column=1),
    "model": FieldSpec(_text, _TEXT, required=True, column=2),
    "seed": FieldSpec(_integer(0, 2**32 - 1), "an integer in 0..2**32-1", required=True, column=3),
    "accuracy": FieldSpec(_UNIT, _FRACTION, required=True, column=4),
    "clean_accuracy": FieldSpec(_UNIT, _FRACTION, required=True, column=7),
    "gain": FieldSpec(_number(-1.0, 1.0), "a number in -1..1", required=True, column=8),
    "decode_accuracy": FieldSpec(_SOME_UNIT, _SOME_FRACTION, required=True, column=9),
    "reliance": FieldSpec(_SOME_UNIT, _SOME_FRACTION, required=True, column=10),
    "reliance_true_accuracy": FieldSpec(_SOME_UNIT, _SOME_FRACTION, required=True, column=13),
    # What the verdicts need (optional: lines written before them lack them, and the reports
    # then fall back: no "did not learn" test without majority_rate, finite outputs assumed).
    "majority_rate": FieldSpec(_UNIT, _FRACTION, column=18),  # the test set's most frequent class
    "clean_p_value": FieldSpec(_UNIT, _FRACTION, column=19),  # one-sided binomial p vs majority
    "accuracy_low": FieldSpec(_UNIT, _FRACTION, column=5),  # 95% Wilson interval at n_test
    "accuracy_high": FieldSpec(_UNIT, _FRACTION, column=6),
    "n_carried": FieldSpec(_optional(_integer(0)), "null or an integer >= 0", column=26),
    "reliance_low": FieldSpec(_SOME_UNIT, _SOME_FRACTION, column=11),  # Wilson at n_carried
    "reliance_high": FieldSpec(_SOME_UNIT, _SOME_FRACTION, column=12),
    # The shortcut drop (One-Pixel Shortcut's measure, beside reliance; null for clean cells,
    # on blank data and where the clean cell's answers are not stored): the clean-trained
    # model's accuracy on the clean test images minus that of the model trained with the signal
    # (same seed), with its paired 95% interval (`stats.paired_difference`)
    "clean_accuracy_injected": FieldSpec(_SOME_UNIT, _SOME_FRACTION, column=14),
    "shortcut_drop": FieldSpec(_SOME_DIFF, _SOME_DIFFERENCE, column=15),
    "shortcut_drop_low": FieldSpec(_SOME_DIFF, _SOME_DIFFERENCE, column=16),
    "shortcut_drop_high": FieldSpec(_SOME_DIFF, _SOME_DIFFERENCE, column=17),
    # (n10, n01): the test images only the clean-trained model got right, and those only the
    # model trained with the signal got right; what pools the drop over seeds
    "shortcut_discordant": FieldSpec(_optional(_pair), "null or two integers >= 0"),
    # a clean cell's answers on its test images (right or wrong, np.packbits as hex): what a
    # signal cell's drop pairs with, also when the clean cell was run before (null on blank data)
    "clean_test_correct": FieldSpec(_optional(_hex), "null or a string of hex digits"),
    "nonfinite_outputs": FieldSpec(_integer(0), "an integer >= 0", column=20),  # NaN/inf outputs
    "clean_nonfinite_outputs": FieldSpec(_integer(0), "an integer >= 0", column=21),
    # What produced the cell
    "injector": FieldSpec(_optional(_mapping), "null or an object", column=36),
    "train": FieldSpec(_optional(_mapping), "null or an object"),
    # how the images reached the model (null: text, or an estimator's raw pixels); lines of
    # 0.1.x hold "input_scale" instead, read by `preprocess_of`
    "preprocess": FieldSpec(
        _optional(lambda v: v in PREPROCESS_MODES),
        "null or one of " + ", ".join(repr(m) for m in PREPROCESS_MODES),
        column=27,
    ),
    "text_length": FieldSpec(_optional(_integer(1)), "null or an integer >= 1", column=28),
    "fit_fraction": FieldSpec(_optional(_number(0.0, 1.0)), "null or a number in 0..1", column=29),
    "blank": FieldSpec(lambda v: isinstance(v, bool), "true or false", column=30),
    "strength": FieldSpec(_optional(_number(0.0)), "null or a number >= 0", column=31),
    "model_identity": FieldSpec(_optional(_mapping), "null or an object"),
    "num_classes": FieldSpec(_integer(2), "an integer >= 2", column=22),
    "n_train": FieldSpec(_integer(0), "an integer >= 0", column=23),
    "n_fit": FieldSpec(_integer(0), "an integer >= 0", column=24),
    "n_test": FieldSpec(_integer(0), "an integer >= 0", column=25),
    "limit": FieldSpec(_optional(_integer(1)), "null or an integer >= 1"),
    "data_description": FieldSpec(lambda v: isinstance(v, str), "a string"),
    "data_fingerprint": FieldSpec(_text, _TEXT),
    "device": FieldSpec(_text, _TEXT, column=32),
    "version": FieldSpec(_text, _TEXT, column=34),
    "seconds": FieldSpec(_number(0.0), "a number >= 0", column=33),
    "warnings": FieldSpec(_texts, "a list of strings"),
    "finished_at": FieldSpec(lambda v: isinstance(v, str), "a string"),
}

#: Fields that lines of earlier versions hold and this version no longer writes: checked when
#: present (a line of 0.1.x stays readable, a damaged one is still set aside), never written.
LEGACY_FIELDS: dict[str, FieldSpec] = {
    # 0.1.x: the torch models' image scale, now `preprocess` (read both with `preprocess_of`)
    "input_scale": FieldSpec(_optional(lambda v: v in ("unit", "raw")), "null, 'unit' or 'raw'"),
}

#: The fields of `RECORD_FIELDS` that the verdicts need (intervals, the clean test,
#: non-finite counts), written by every cell of this version: those between ``majority_rate``
#: and ``clean_nonfinite_outputs``.
MEASURE_FIELDS: tuple[str, ...] = tuple(RECORD_FIELDS)[
    list(RECORD_FIELDS).index("majority_rate") : list(RECORD_FIELDS).index("injector")
]

#: The fields every complete result line has; a line without one of them is set aside.
REQUIRED_FIELDS: tuple[str, ...] = tuple(k for k, f in RECORD_FIELDS.items() if f.required)

#: The columns of ``results.csv``, in order: the fields of `RECORD_FIELDS` with a ``column``.
CSV_FIELDS: tuple[str, ...] = tuple(
    sorted((k for k, f in RECORD_FIELDS.items() if f.column is not None),
           key=lambda k: RECORD_FIELDS[k].column or 0)
)  # fmt: skip


def record_problem(rec: Any) -> str | None:
    """What makes ``rec`` an unusable result line (one sentence), or None if it is a good one.

    Examples:
        >>> record_problem({"cell_id": "ab"})
        "the field 'dataset' is missing"
    """
    if not isinstance(rec, dict):
        return f"a line must be a JSON object, got {type(rec).__name__}"
    for name, spec in {**RECORD_FIELDS, **LEGACY_FIELDS}.items():
        if name not in rec:
            if spec.required:
                return f"the field {name!r} is missing"
            continue
        if not spec.check(rec[name]):
            value = json.dumps(rec[name], allow_nan=True)
            value = value if len(value) <= 40 else value[:37] + "..."
            return f"the field {name!r} is {value}, expected {spec.expected}"
    return None


def pack_correct(correct: npt.NDArray[np.bool_]) -> str:
    """Per-sample right/wrong answers, bool ``(N,)``, as a line stores them: ``np.packbits``
    (the first sample in the highest bit) as hex, ``ceil(N / 8) * 2`` characters.

    Examples:
        >>> pack_correct(np.array([True, False, True]))
        'a0'
    """
    arr = np.asarray(correct)
    if arr.dtype != np.bool_ or arr.ndim != 1:
        raise ValueError(f"correct must be a 1-D boolean vector, got {arr.dtype} {arr.shape}")
    return np.packbits(arr).tobytes().hex()


def unpack_correct(text: object, n: int) -> npt.NDArray[np.bool_] | None:
    """`pack_correct`'s answers back, bool ``(n,)``; None when ``text`` is not the packing of
    ``n`` answers (a line without them, or of another test set).

    Examples:
        >>> unpack_correct("a0", 3).tolist(), unpack_correct("a0", 9)
        ([True, False, True], None)
    """
    if not _hex(text) or len(str(text)) != 2 * ((n + 7) // 8):
        return None
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(str(text)), np.uint8))
    return bits[:n].astype(np.bool_)


def preprocess_of(rec: Mapping[str, Any]) -> str | None:
    """How a result line's images reached its model: its ``preprocess``, or, on a line of
    0.1.x, its ``input_scale`` (``"unit"`` or ``"raw"``, the names it had then); None for text
    and for an estimator that saw raw pixels.

    Examples:
        >>> preprocess_of({"preprocess": "standardize"}), preprocess_of({"input_scale": "unit"})
        ('standardize', 'unit')
    """
    value = rec.get("preprocess", rec.get("input_scale"))
    return value if isinstance(value, str) else None


# -- the results file ---------------------------------------------------------------------------
def append_record(path: Path, record: Mapping[str, Any]) -> None:
    """Append ``record`` as one JSON line: a single write of the complete line, then fsync.

    The file is opened with O_APPEND (the line lands at the end even if the file grew) and
    O_NOFOLLOW (a symlink is refused, its target never written).

    Raises:
        ValueError: ``record`` breaks
            `RECORD_FIELDS` (nothing is written).
        OSError: ``path`` is a symlink, a directory, or cannot be written.
    """
    problem = record_problem(dict(record))
    if problem is not None:
        raise ValueError(f"refusing to write a result line to {path}: {problem}")
    data = (json.dumps(record, allow_nan=False, sort_keys=False) + "\n").encode()
    append_bytes(path, data)


_CELL_ID = re.compile(rb'"cell_id"\s*:\s*"([0-9a-f]+)"')


def load_records(path: Path) -> tuple[dict[str, dict[str, Any]], list[tuple[int, bytes]]]:
    """The finished cells in ``path`` and its bad lines.

    Returns:
        ``(records, bad)``: records by ``cell_id`` (the first line of a cell wins) and
        ``(line_number, raw_line)`` for every corrupt, truncated, duplicated line or one that
        breaks `RECORD_FIELDS`. A missing file has
        no records.

    Raises:
        OSError: ``path`` is a directory, not a regular file (a FIFO), or cannot be read.
        ValueError: ``path`` is larger than `MAX_RESULTS_BYTES`.
    """
    if not path.exists():
        return {}, []
    records: dict[str, dict[str, Any]] = {}
    bad: list[tuple[int, bytes]] = []
    raw = read_regular(path, MAX_RESULTS_BYTES, "results file")
    lines = raw.split(b"\n")
    complete = lines[:-1]  # the part after the last newline is a truncated line (or empty)
    for no, line in enumerate(complete, 1):
        if not line.strip():
            continue
        rec = None if len(line) > MAX_LINE_BYTES else _parse(line)
        if rec is None or rec["cell_id"] in records:
            bad.append((no, line))
        else:
            records[rec["cell_id"]] = rec
    if lines[-1].strip():
        bad.append((len(lines), lines[-1]))
    return records, bad


def _parse(line: bytes) -> dict[str, Any] | None:
    """The record on ``line``, or None if it is not valid JSON or breaks the schema."""
    rec, _ = _parse_why(line)
    return rec


def _parse_why(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """``(record, "")``, or ``(None, why the line is refused)``."""
    if len(line) > MAX_LINE_BYTES:
        return None, f"a line of {len(line):,} bytes, longer than any result line"
    try:
        rec = json.loads(line)
    except ValueError:  # UnicodeDecodeError included
        return None, "corrupt or truncated line"
    problem = record_problem(rec)
    if problem is not None:
        return None, f"unusable line ({problem})"
    return rec, ""


def corrupt_path(path: Path) -> Path:
    """Where `repair_records` moves ``path``'s bad
    lines: ``results.corrupt.jsonl`` beside
    ``results.jsonl``, ``results.0of2.corrupt.jsonl`` beside ``results.0of2.jsonl``."""
    return path.with_name(path.name.removesuffix(".jsonl") + ".corrupt.jsonl")


def repair_records(
    path: Path, records: Mapping[str, Mapping[str, Any]], bad: list[tuple[int, bytes]]
) -> None:
    """Say which lines are bad, move them aside and rewrite ``path`` with the good ones.

    The bad lines are appended to ``results.corrupt.jsonl`` beside ``path``; the rewrite goes
    through a temporary file and a rename, so a crash leaves either file whole. Neither file is
    written through a symlink.
    """
    quarantine = corrupt_path(path)
    good_ids = set(records)
    for no, line in bad:
        m = _CELL_ID.search(line)
        cid = m.group(1).decode() if m else None
        rec, why = _parse_why(line)
        if rec is not None and cid in good_ids:
            what = f"duplicate line for cell {cid} (the first one is kept)"
        else:
            cell = f"cell {cid}" if cid else "its cell (id unreadable)"
            what = f"{why}; {cell} will be recomputed"
        if len(line) > MAX_LINE_BYTES:
            what += f" (only its first {MAX_LINE_BYTES:,} bytes are kept)"
        logger.warning("%s:%d: %s; the line is moved to %s", path, no, what, quarantine)
    append_bytes(quarantine, b"".join(line[:MAX_LINE_BYTES] + b"\n" for _, line in bad))
    atomic_write(path, "".join(json.dumps(rec, allow_nan=False) + "\n" for rec in records.values()))


def cell_id(key: Mapping[str, Any]) -> str:
    """A cell's id: the first 20 hex digits of the SHA-256 of its identity ``key`` as sorted
    JSON (see [`run`][signalinject.benchmarks.runner.run] for what the key holds).

    Examples:
        >>> cell_id({"seed": 0})
        'de7d7744ccd7722e315c'
    """
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


class ResultsLockedError(RuntimeError):
    """Another run holds the output directory (two writers would compute cells twice)."""


@contextlib.contextmanager
def exclusive(out: Path, name: str = LOCK_FILE) -> Iterator[None]:
    """Create ``out`` and hold an advisory lock on ``out/<name>`` (POSIX ``flock``) for the block.

    The kernel drops the lock when the process dies, so a killed run never leaves it behind.
    The lock file is opened without following a symlink and never truncated. Where ``fcntl``
    does not exist (Windows) the block runs unlocked.
    """
    make_dir(out)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = open_regular(out / name, os.O_WRONLY | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResultsLockedError(
                f"another signalinject run is writing to {out}; wait for it to finish or "
                f"choose another output directory"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
