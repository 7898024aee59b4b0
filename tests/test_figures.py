"""Tests of signalinject.benchmarks.figures: the paper's figures (``signalinject show``)."""

from __future__ import annotations

import argparse
import itertools
import re
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib import colormaps

import signalinject as si
from signalinject.benchmarks import figures as F
from signalinject.benchmarks import show as S
from signalinject.benchmarks.datasets import DataBundle, load_dataset

DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def digits() -> DataBundle:
    # The file order cycles through the classes: the first 40 images hold all ten.
    return load_dataset("digits", limit=40)


@pytest.fixture(scope="module")
def docs() -> DataBundle:
    return load_dataset("stdlib_docs", limit=60)


def check_png(path: Path, *, min_width: int = 500, min_height: int = 250) -> np.ndarray:
    """``path`` is a PNG of a plausible size, under 300 KB, not blank; returns its pixels."""
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    # the overview of 45 crops of photographs (photo_digits) is ~250 KB: natural images compress
    # less than the plain digits did; the bound keeps the repository's pictures small
    assert path.stat().st_size < 300_000
    img = matplotlib.image.imread(path)
    assert img.ndim == 3
    assert img.shape[2] in (3, 4)
    assert img.shape[0] >= min_height, img.shape
    assert img.shape[1] >= min_width, img.shape
    assert img[..., :3].std() > 0.05  # something is drawn
    return img


def show_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signalinject")
    S.add_show_parser(parser.add_subparsers(dest="command", required=True))
    return parser


# -- choosing the examples -----------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(labels=st.lists(st.integers(0, 5), min_size=1, max_size=40), n=st.integers(1, 50))
def test_pick_examples_is_round_robin_over_classes(labels: list[int], n: int) -> None:
    picks = F.pick_examples(np.array(labels), n).tolist()
    rank = [labels[:i].count(v) for i, v in enumerate(labels)]  # reference: occurrence number
    assert picks == sorted(range(len(labels)), key=lambda i: (rank[i], labels[i]))[:n]
    first = [labels[i] for i in picks[: len(set(labels))]]
    assert first == sorted(set(labels))[: len(first)]  # one per class first, in class order


# -- where the image signals write ---------------------------------------------------------------
PIXEL_INJECTORS = {
    "one_pixel": lambda k, cov: si.OnePixel(k, position=(1, 2), coverage=cov, seed=3),
    "pattern_pixels": lambda k, cov: si.PatternPixels(k, coverage=cov, seed=3),
    "random_pixel": lambda k, cov: si.RandomPixel(k, coverage=cov, seed=3),
    "multiple_locations": lambda k, cov: si.MultipleLocations(k, coverage=cov, seed=3),
}


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(PIXEL_INJECTORS)),
    k=st.integers(2, 4),
    hw=st.tuples(st.integers(4, 9), st.integers(4, 9)),
    c=st.sampled_from([1, 3]),
    coverage=st.sampled_from([1.0, 0.5]),
    seed=st.integers(0, 2**32),
)
def test_marks_cover_every_written_pixel(
    name: str, k: int, hw: tuple[int, int], c: int, coverage: float, seed: int
) -> None:
    h, w = hw
    rng = np.random.default_rng(seed)
    n = 12
    x = rng.integers(0, 256, (n, h, w, c), dtype=np.uint8)
    y = rng.integers(0, k, n)
    index = rng.permutation(1000)[:n].astype(np.int64)
    inj = PIXEL_INJECTORS[name](k, coverage)
    x2 = inj(x, y, index=index)
    rows, cols, carried = F.signal_pixels(inj, y, index, h, w)
    assert rows.shape == cols.shape
    assert rows.shape[0] == n
    assert carried.shape == (n,)
    marked = np.zeros((n, h, w), bool)
    marked[np.arange(n)[:, None], rows, cols] = carried[:, None]
    changed = (x2 != x).any(-1)
    assert not (changed & ~marked).any()  # every written pixel is outlined
    values = x2[np.arange(n)[:, None], rows, cols][carried]  # (carried, P, C)
    assert (values == values[..., :1]).all()  # codes fill every channel
    if name in ("one_pixel", "random_pixel"):
        np.testing.assert_array_equal(values[:, 0, 0], y[carried])
    elif name == "pattern_pixels":
        bits = (y[carried][:, None] >> np.arange(4)) & 1
        np.testing.assert_array_equal(values[..., 0], bits)
    else:  # the pair holds one value, and sits where the class's pair is
        np.testing.assert_array_equal(values[:, 0], values[:, 1])
        pairs = np.array(inj.pixel_pairs(h, w))[y[carried]]
        np.testing.assert_array_equal(rows[carried], pairs[:, 0::2])
        np.testing.assert_array_equal(cols[carried], pairs[:, 1::2])


def test_orthogonal_noise_has_no_pixel_to_mark() -> None:
    y, index = np.array([0, 1, 2]), np.arange(3)
    rows, cols, carried = F.signal_pixels(si.OrthogonalNoise(3), y, index, 8, 8)
    assert rows.shape == cols.shape == (3, 0)
    assert carried.all()


# -- the image figures ---------------------------------------------------------------------------
def injected_axes(fig: object, rows: int, n: int) -> list[object]:
    return list(fig.axes[(rows - 1) * n : rows * n])  # type: ignore[attr-defined]


@pytest.mark.parametrize("contrast", [False, True])
def test_one_pixel_figure_shows_code_label_and_mark(digits: DataBundle, contrast: bool) -> None:
    fig = F.image_figure("one_pixel", digits, n=10, contrast=contrast)
    x, y = digits.x_train[F.pick_examples(digits.y_train, 10)], np.arange(10)
    axes = injected_axes(fig, 2, 10)
    for k, ax in enumerate(axes):
        shown = ax.images[0].get_array()  # type: ignore[attr-defined]
        want = colormaps["plasma"](k / 9)[:3] if contrast else np.full(3, k / 255)
        np.testing.assert_allclose(shown[0, 0], want, atol=1e-9)
        np.testing.assert_allclose(shown[5:, 5:], x[k, 5:, 5:] / 255)  # the rest as it is
        assert len(ax.patches) == 1  # type: ignore[attr-defined]
        assert [t.get_text() for t in ax.texts] == [f"label {y[k]} → {y[k]}"]  # type: ignore[attr-defined]
    subtitle = fig.texts[1].get_text()
    assert ("blue … 9 yellow" in subtitle) == contrast
    assert ("faint" in subtitle) != contrast


def test_noise_figure_rows_and_contrast(digits: DataBundle) -> None:
    n = 4
    idx = F.pick_examples(digits.y_train, n)
    x, y = digits.x_train[idx], digits.y_train[idx]
    x2 = si.OrthogonalNoise(10)(x, y, index=idx)
    fig = F.image_figure("orthogonal_noise", digits, n=n, contrast=True)
    assert len(fig.axes) == 3 * n  # clean, class noise, injected
    for j, ax in enumerate(injected_axes(fig, 3, n)):
        want = np.clip(x[j] / 255 + F.NOISE_GAIN * (x2[j] / 255.0 - x[j] / 255), 0, 1)
        np.testing.assert_allclose(ax.images[0].get_array(), want)  # type: ignore[attr-defined]
        assert not ax.patches  # type: ignore[attr-defined]  # dense: nothing to outline
    basis = si.orthogonal_noise_basis(10, (32, 32, 3))
    for j, ax in enumerate(fig.axes[n : 2 * n]):
        shown = np.asarray(ax.images[0].get_array())
        b = basis[y[j]]
        np.testing.assert_allclose(shown, 0.5 + 0.5 * b / np.abs(b).max())


def test_overview_has_one_row_per_image_signal(digits: DataBundle) -> None:
    fig = F.overview_figure(digits, n=3, contrast=True)
    assert len(fig.axes) == 5 * 4  # three examples and the first one's code region enlarged
    labels = [fig.axes[4 * i].get_ylabel() for i in range(5)]
    assert labels == ["One pixel", "Pattern pixels", "Random pixel", "Multiple locations", "Noise"]
    patches = [len(fig.axes[4 * i].patches) for i in range(5)]
    assert patches == [1, 4, 1, 2, 0]
    # the last column: the code region of the first example, its code pixel outlined; none for
    # the dense noise, none where the code is spread over the image (the pattern's four
    # corners, the pair of pixels)
    zoomed = [fig.axes[4 * i + 3] for i in range(5)]
    assert [len(ax.patches) for ax in zoomed] == [1, 0, 1, 0, 0]
    assert [t.get_text() for t in zoomed[0].texts] == ["×10.7"]  # 32 pixels a side shown as 3


# -- the text figures ----------------------------------------------------------------------------
def test_text_marks_of_each_signal() -> None:
    m = F.text_marks("mnemonic", si.Mnemonic(3), "hello", "cello")
    assert m == F.TextMarks(changed=(0,), location=(0,), clean_length=5, length=5)
    enc = si.LengthEncoding(3, lengths=(2, 4, 8), pad="_")
    cut = F.text_marks("length_encoding", enc, "hello", "he")
    assert cut == F.TextMarks(changed=(), location=(1,), clean_length=5, length=2)
    assert F._describe(cut, "hello", "he") == "length 5 → 2 (cut by 3)"
    assert F._describe(m, "hello", "cello") == "at 0: 'h' → 'c'"
    same = F.TextMarks(changed=(), location=(2,), clean_length=5, length=5)
    assert F._describe(same, "hello", "hello") == "no character changed (length 5)"
    pad = F.text_marks("length_encoding", enc, "hello", "hello___")
    assert pad == F.TextMarks(changed=(5, 6, 7), location=(7,), clean_length=5, length=8)
    pc = si.PatternChar(4, positions=(1, 3, 5), char="~")
    got = F.text_marks("pattern_char", pc, "abcdef", pc("abcdef", 1))
    assert got == F.TextMarks(changed=(1,), location=(1, 3, 5), clean_length=6, length=6)


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(1, 700),
    location=st.lists(st.integers(0, 699), max_size=4),
    run=st.tuples(st.integers(0, 699), st.integers(0, 300)),
)
def test_grid_rows_keep_every_marked_row(
    length: int, location: list[int], run: tuple[int, int]
) -> None:
    start, size = run
    changed = tuple(p for p in range(start, start + size) if p < length)
    loc = tuple(sorted(p for p in set(location) if p < length))
    marks = F.TextMarks(changed=changed, location=loc, clean_length=length, length=length)
    rows = F.grid_rows(marks, cols=32)
    drawn = [r for r in rows if r is not None]
    assert rows[0] == 0
    assert rows[-1] is not None
    assert drawn == sorted(set(drawn))
    assert {p // 32 for p in loc} <= set(drawn)
    if changed:
        assert {changed[0] // 32, changed[-1] // 32} <= set(drawn)
    for a, b in itertools.pairwise(rows):  # a gap is elided only between drawn rows
        assert a is not None or b is not None
    gaps = [rows[i + 1] - rows[i - 1] for i in range(1, len(rows) - 1) if rows[i] is None]
    assert all(g > 2 for g in gaps)  # type: ignore[operator]


def test_text_figure_highlights_and_is_readable(docs: DataBundle) -> None:
    fig = F.text_figure("pattern_char", docs, n=5)
    assert len(fig.axes) == 5
    for ax in fig.axes:
        title = ax.get_title(loc="left")
        assert title.startswith("text ")
        assert " label " in title
        outlined = [p for p in ax.patches if not p.get_fill()]
        assert 1 <= len(outlined) <= 3  # the positions 50, 150, 200 inside the text


def test_show_draws_the_benchmarks_data_in_their_frame() -> None:
    # the pictures show what the tables were measured on: the suites' data sets, and texts in
    # the frame the text suite quantizes to (256 on the embedded stand-ins, not Zhang's 1014)
    from signalinject.benchmarks.runner import BenchConfig

    images, text = BenchConfig.for_suite("images"), BenchConfig.for_suite("text")
    assert F._show_data("one_pixel", "image", None, None, False).name == images.dataset
    bundle = F._show_data("pattern_char", "text", None, None, False)
    assert bundle.name == text.dataset
    fig = F.text_figure("pattern_char", bundle, n=5)
    subtitle = fig.texts[1].get_text()
    assert f"CharQuantizer(length={text.frame_length}" in subtitle
    assert f"the first {text.frame_length} characters" in subtitle
    for ax in fig.axes:  # no row drawn beyond the frame
        offsets = [int(t.get_text()) for t in ax.texts if t.get_text().isdigit()]
        assert max(offsets) < text.frame_length


def test_a_wrong_decode_says_why(docs: DataBundle) -> None:
    # the pattern_char.png: "label 0 → 4 · no character changed", no word of why
    fig = F.text_figure("pattern_char", docs, n=10)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    pairs = [re.search(r"label (-?\d+) → (-?\d+)", t) for t in titles]
    wrong = [t for t, m in zip(titles, pairs, strict=True) if m and m[1] != m[2]]
    assert wrong  # short docstrings: some decode wrongly
    for title in wrong:
        assert "already" in title or "past the text's end" in title, title


def test_text_figure_takes_any_loader_and_odd_characters(tmp_path: Path) -> None:
    texts = ["costs $5 and $6: 中文 ok", "tab\there\nnew"]
    bundle = DataBundle("tiny", "text", 2, texts, np.array([0, 1]), texts, np.array([0, 1]), "t")
    fig = F.text_figure("mnemonic", bundle, n=2)
    # Per grid row: the black ink, the gray stand-ins drawn over it, the row's offset.
    ink, gray, offset = (t.get_text() for t in fig.axes[0].texts)
    assert ink == "aosts $5 and $6:    ok"  # "$" kept as it is, CJK (not in the font) blanked
    assert gray == "     ·  ·   ·   ·¤¤·  "
    assert offset == "0"
    ink, gray, _ = (t.get_text() for t in fig.axes[1].texts)
    assert (ink, gray) == ("bab here new", "   ¤    ↵   ")
    fig.savefig(tmp_path / "t.png")  # mathtext would fail on "$5 and $"
    check_png(tmp_path / "t.png", min_height=100)


# -- show: every signal to a PNG -----------------------------------------------------------------
@pytest.mark.parametrize("signal", F.SHOW_SIGNALS)
def test_show_writes_a_png_for_every_signal(signal: str, tmp_path: Path) -> None:
    out = tmp_path / "sub" / f"{signal}.png"
    path = F.show(signal, out=out, n=3, contrast=True)
    assert path == out
    img = check_png(path)
    assert img.shape[1] >= 600  # at least 7 inches at 100 dpi


def test_show_defaults_to_signal_png_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = F.show("one_pixel", dpi=50, n=2)
    assert path == Path("one_pixel.png")
    check_png(tmp_path / "one_pixel.png", min_width=300, min_height=100)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"signal": "two_pixels"},
            ValueError,
            r"unknown signal 'two_pixels'; expected one of: "
            r"one_pixel, .*, all",
        ),
        ({"signal": "clean"}, ValueError, r"unknown signal 'clean'"),
        (
            {"signal": "one_pixel", "dataset": "stdlib_docs"},
            ValueError,
            r"signal 'one_pixel' needs image data, but dataset 'stdlib_docs' holds text data",
        ),
        ({"signal": "all", "dataset": "stdlib_docs"}, ValueError, r"signal 'all' needs image data"),
        (
            {"signal": "mnemonic", "dataset": "digits"},
            ValueError,
            r"signal 'mnemonic' needs text data, but dataset 'digits' holds image data",
        ),
        ({"signal": "one_pixel", "dataset": "mnist"}, ValueError, r"unknown dataset 'mnist'"),
        ({"signal": "one_pixel", "n": 0}, ValueError, r"n must be an integer in \[1, 64\], got 0"),
        (
            {"signal": "one_pixel", "n": 2.5},
            ValueError,
            r"n must be an integer in \[1, 64\], got 2.5",
        ),
        ({"signal": "one_pixel", "n": 10**9}, ValueError, r"n must be an integer in \[1, 64\]"),
        (
            {"signal": "one_pixel", "dpi": 5},
            ValueError,
            r"dpi must be an integer in \[10, 600\], got 5",
        ),
        (
            {"signal": "one_pixel", "dpi": 10**6},
            ValueError,
            r"dpi must be an integer in \[10, 600\]",
        ),
        ({"signal": "one_pixel", "seed": -1}, ValueError, r"seed must be an integer in \[0, "),
        (
            {"signal": "one_pixel", "out": "fig.jpg"},
            ValueError,
            r"out must be a .png path, got 'fig.jpg'",
        ),
    ],
)
def test_show_refuses_bad_input(
    kwargs: dict[str, object], error: type[Exception], match: str, tmp_path: Path
) -> None:
    kwargs.setdefault("out", tmp_path / "x.png")
    with pytest.raises(error, match=match):
        F.show(**kwargs)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())  # nothing written


def test_figure_functions_refuse_the_wrong_kind(digits: DataBundle, docs: DataBundle) -> None:
    with pytest.raises(ValueError, match=r"dataset 'stdlib_docs' holds text data, not images"):
        F.image_figure("one_pixel", docs)
    with pytest.raises(ValueError, match=r"dataset 'stdlib_docs' holds text data, not images"):
        F.overview_figure(docs)
    with pytest.raises(ValueError, match=r"dataset 'digits' holds image data, not text"):
        F.text_figure("mnemonic", digits)
    with pytest.raises(ValueError, match=r"signal 'mnemonic' is not an image signal"):
        F.image_figure("mnemonic", digits)
    with pytest.raises(ValueError, match=r"signal 'one_pixel' is not a text signal"):
        F.text_figure("one_pixel", docs)
    with pytest.raises(ValueError, match=r"signal 'all' is not an image signal"):
        F.image_figure("all", digits)


# -- the CLI hooks -------------------------------------------------------------------------------
def test_help_shows_every_default() -> None:
    parser = show_parser()
    sub = parser._subparsers._group_actions[0].choices["show"]  # type: ignore[union-attr]
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert "(default: " in (action.help or ""), action.dest
    text = " ".join(sub.format_help().split())  # argparse wraps lines
    assert "one_pixel, pattern_pixels, random_pixel, multiple_locations" in text


def test_run_show_prints_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.png"
    args = show_parser().parse_args(["show", "pattern_pixels", "--out", str(out), "-n", "2"])
    assert args.func is S.run_show
    assert args.func(args) == 0
    assert capsys.readouterr().out == f"{out}\n"
    check_png(out)


def test_run_show_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = show_parser().parse_args(
        ["show", "one_pixel", "--dataset", "stdlib_docs", "--out", str(tmp_path / "p.png")]
    )
    assert S.run_show(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("signalinject show: error: signal 'one_pixel' needs image data")
    args = show_parser().parse_args(
        [
            "show",
            "one_pixel",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "p.png"),
        ]
    )
    assert S.run_show(args) == 2  # real data missing: the loader's message, no traceback
    assert "signalinject show: error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        show_parser().parse_args(["show", "two_pixels"])
    assert "invalid choice: 'two_pixels'" in capsys.readouterr().err


# -- the committed pictures ----------------------------------------------------------------------
# The package's own signals (a test module's throwaway signal, once imported, is in the registry
# too, and has no picture in the docs).
SHIPPED = [
    s
    for s in (*F.IMAGE_SIGNALS, *F.TEXT_SIGNALS)
    if si.get_signal(s).__module__.startswith("signalinject.")
]


@pytest.mark.parametrize("name", ["signals", *SHIPPED])
def test_docs_pictures_are_committed_and_small(name: str) -> None:
    check_png(DOCS_IMG / f"{name}.png")


def test_the_code_region_is_drawn_enlarged(digits: DataBundle) -> None:
    fig = F.image_figure("one_pixel", digits, n=4, contrast=True)
    assert len(fig.axes) == 3 * 4  # clean, injected, the code region enlarged
    assert fig.axes[8].get_ylabel() == "code region\nenlarged"
    for injected, zoomed in zip(fig.axes[4:8], fig.axes[8:], strict=True):
        shown = np.asarray(injected.images[0].get_array())
        np.testing.assert_array_equal(zoomed.images[0].get_array(), shown[:3, :3])
        assert [t.get_text() for t in zoomed.texts] == ["×10.7"]
        (square,) = zoomed.patches
        assert square.get_xy() == (-0.5, -0.5)  # the code pixel (0, 0), outlined exactly
    dense = F.image_figure("orthogonal_noise", digits, n=4, contrast=True)
    assert len(dense.axes) == 3 * 4  # clean, class noise, injected: nothing to enlarge


@pytest.mark.parametrize(
    ("rows", "cols", "want"),
    [
        ([5], [7], (slice(4, 7), slice(6, 9))),  # centred, one pixel of context
        ([31], [31], (slice(29, 32), slice(29, 32))),  # kept inside the image
        ([2, 3], [2, 6], (slice(0, 7), slice(1, 8))),  # square around a wide code
        ([0, 31], [0, 0], None),  # spread over the image: nothing to enlarge
        ([], [], None),
    ],
)
def test_code_window(rows: list[int], cols: list[int], want: object) -> None:
    got = F.code_window(np.array(rows, np.int64), np.array(cols, np.int64), 32, 32)
    assert got == want
