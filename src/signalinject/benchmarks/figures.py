"""The paper's figures: example images and texts with the injected signal marked.

[`show`][signalinject.benchmarks.figures.show] (the ``signalinject show SIGNAL`` command; its
parser: `signalinject.benchmarks.show`) draws, for one signal, a
few examples of a dataset: the clean images, the injected images with the signal's pixels
outlined in red, and under each the true label and the label read back by the injector's
``decode`` (Figs. 2–3 of Hoffer et al. 2018); for ``orthogonal_noise`` also each example's class
noise (Figs. 4–5). Text signals show a few texts as a monospace grid with the signal's characters
highlighted. ``all`` draws one overview of the five image signals (the README's picture).

Every text is at least `MIN_TEXT_PX` pixels tall when the figure is shown `DOCS_WIDTH_PX` wide,
the width of the docs' text column in a 1280 px window
([`shown_px`][signalinject.benchmarks.figures.shown_px]).

The paper's codes are faint: class k is written as the pixel value k of 0..255. With
``contrast=True`` the code pixels are *drawn* stretched (the lowest code black, the highest white)
and the orthogonal noise amplified; the figure's subtitle says what is shown. The data itself is
never changed for display, and ``decode`` always reads the real injected data.

Figures are built on `matplotlib.figure.Figure` directly (the Agg renderer, no pyplot, no
display), so that drawing never touches the user's global matplotlib state. matplotlib (the
``bench`` extra) is imported only when a figure is drawn, so the CLI starts without it.

The pictures in ``docs/img`` are this module's output, at the defaults (digits and stdlib_docs,
seed 0, 100 dpi)::

    signalinject show all --contrast --out docs/img/signals.png
    signalinject show one_pixel --contrast --out docs/img/one_pixel.png  # each image signal
    signalinject show mnemonic --out docs/img/mnemonic.png               # each text signal

Examples:
    >>> import numpy as np
    >>> pick_examples(np.array([3, 1, 1, 0, 3, 2]), 5).tolist()  # one per class, then round two
    [3, 1, 5, 0, 2]
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from signalinject.benchmarks._files import atomic_open, make_dir
from signalinject.benchmarks.registry import default_dataset
from signalinject.benchmarks.signals import SIGNALS, make_injector, signal_names
from signalinject.core import Injector, list_signals
from signalinject.image import ImageInjector
from signalinject.text import TextInjector

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["show", "shown_px"]

IntArray = npt.NDArray[np.int64]


def _names(kind: str) -> tuple[str, ...]:
    """The registered signals of ``kind`` ``show`` draws, in definition order (the paper's
    order for its signals), read from the registry at each call."""
    return tuple(list_signals(kind))


def _show_names() -> tuple[str, ...]:
    return (*_names("image"), *_names("text"), "all")


def __getattr__(name: str) -> tuple[str, ...]:
    # IMAGE_SIGNALS / TEXT_SIGNALS: the signals show draws; SHOW_SIGNALS: every name it accepts
    # ("all" is the overview of the paper's image signals). Live views of the registry.
    if name == "IMAGE_SIGNALS":
        return _names("image")
    if name == "TEXT_SIGNALS":
        return _names("text")
    if name == "SHOW_SIGNALS":
        return _show_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Most examples and dots per inch `show` draws (the figure grows with both).
MAX_N, MAX_DPI = 64, 600

DEFAULT_N = {"image": 8, "text": 5}
#: Factor by which ``contrast=True`` amplifies the orthogonal noise for display.
NOISE_GAIN = 4.0
#: Width (pixels) at which the docs show a figure: their text column in a 1280 px wide window.
DOCS_WIDTH_PX = 690
#: The smallest text height (pixels, the font size) a figure may show at `DOCS_WIDTH_PX`.
MIN_TEXT_PX = 9.0


def shown_px(fontsize_pt: float, width_in: float, dpi: float) -> float:
    """How tall (pixels) text of ``fontsize_pt`` points looks in a figure ``width_in`` inches wide
    saved at ``dpi``, shown at most `DOCS_WIDTH_PX` wide (wider PNGs are scaled down to it).

    Examples:
        >>> round(shown_px(10, 6.9, 100), 1)  # 690 px wide: shown as drawn
        13.9
        >>> round(shown_px(8, 10.6, 100), 1)  # 1060 px wide, scaled down by 0.65
        7.2
    """
    scale = min(1.0, DOCS_WIDTH_PX / (width_in * dpi))
    return fontsize_pt * dpi / 72 * scale


_RED = "#e8112d"
_OK, _WRONG = "#1a7f37", _RED
_PAD = 1.5  # half-width, in pixels, added around a marked pixel so that the square is visible


class DataBundleLike(Protocol):
    """What the figures read from
    [`load_dataset`][signalinject.benchmarks.datasets.load_dataset]."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def num_classes(self) -> int: ...

    @property
    def x_train(self) -> Any: ...

    @property
    def y_train(self) -> Any: ...


# -- choosing and preparing the examples ----------------------------------------------------------
def pick_examples(y: npt.ArrayLike, n: int) -> IntArray:
    """Indices of ``min(n, N)`` samples: the first of each class in class order, then the second...

    Args:
        y: integer labels ``(N,)``.
        n: how many examples, >= 1.

    Returns:
        int64 ``(min(n, N),)`` distinct indices into ``y``; the labels of the first
        ``min(n, number of classes present)`` are distinct and increasing.
    """
    labels = np.asarray(y).reshape(-1)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    _, first = np.unique(sorted_labels, return_index=True)
    # rank of each sample among the samples of its class, in data order
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = (
        np.arange(len(labels))
        - first[np.searchsorted(first, np.arange(len(labels)), side="right") - 1]
    )
    picks = np.lexsort((labels, rank))[:n]
    return picks.astype(np.int64)


def signal_pixels(
    inj: Injector, y: IntArray, index: IntArray, height: int, width: int
) -> tuple[IntArray, IntArray, npt.NDArray[np.bool_]]:
    """Where ``inj`` writes in each image: the pixels to outline.

    Args:
        inj: an image injector.
        y: int64 labels ``(N,)``.
        index: int64 sample indices ``(N,)`` (they key the per-sample draws).
        height: the image height in pixels.
        width: the image width in pixels.

    Returns:
        ``(rows, cols, carried)``: int64 ``(N, P)`` pixel coordinates (``P = 0`` for the dense
        ``OrthogonalNoise``) and bool ``(N,)``, True where the sample carries the signal.
    """
    carried = np.asarray(inj.codes(y, index)[1])
    if not isinstance(inj, ImageInjector):
        raise TypeError(f"signal_pixels needs an image injector, got {type(inj).__name__}")
    rows, cols = inj.pixels(y, index, height, width)  # what the signal declares
    return np.asarray(rows, np.int64), np.asarray(cols, np.int64), carried.astype(bool)


def _code_range(inj: Injector) -> tuple[float, float] | None:
    """The lowest and highest code value written, for the contrast stretch (None: no stretch)."""
    return inj.code_range() if isinstance(inj, ImageInjector) else None


def _rgb(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Channels-last float images ``(..., C)`` as RGB ``(..., 3)``: gray repeated, extra dropped."""
    return np.repeat(f, 3, axis=-1) if f.shape[-1] == 1 else f[..., :3]


def _as_rgb(x: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """uint8 ``(N, H, W, C)`` images as float64 RGB ``(N, H, W, 3)`` in [0, 1]."""
    return _rgb(x.astype(np.float64) / 255.0)


def _class_noise(inj: Injector, x: npt.NDArray[Any]) -> npt.NDArray[np.float64] | None:
    """The per-class noise images ``(K, H, W, C)`` a dense noise signal declares for images
    like ``x`` (`ImageInjector.class_noise`), else None."""
    if not isinstance(inj, ImageInjector):
        return None
    return inj.class_noise((int(x.shape[1]), int(x.shape[2]), int(x.shape[3])))


def _contrast_note(inj: Injector, contrast: bool, noisy: bool) -> str:
    if noisy:
        if contrast:
            return (
                "class noise: scaled to the full range, mid-gray = 0; contrast: the noise in the "
                f"injected images amplified ×{NOISE_GAIN:g}"
            )
        return "class noise: scaled to the full range, mid-gray = 0; noisy images shown as they are"
    rng = _code_range(inj)
    if rng is None and inj.name != "multiple_locations":
        return "the injected images shown as they are"
    if rng is None:
        return (
            "the pair's value is drawn per sample in 0..255 and shown as it is; decode picks "
            "the closest pair, ties to the rarest value (fooled if it is the background's)"
        )
    lo, hi = rng
    if contrast:
        return f"contrast: code pixels drawn in color, code {lo:g} blue … {hi:g} yellow"
    return f"code pixels shown as they are (values {lo:g}..{hi:g} of 255: faint; try contrast)"


def _display(
    inj: Injector,
    x: npt.NDArray[Any],
    x2: npt.NDArray[Any],
    marks: tuple[IntArray, IntArray, npt.NDArray[np.bool_]],
    contrast: bool,
    noisy: bool,
) -> npt.NDArray[np.float64]:
    """What to draw of the injected images ``x2``: RGB float ``(N, H, W, 3)`` in [0, 1];
    ``noisy``: the signal adds class noise (its effect is amplified with ``contrast``)."""
    shown = _as_rgb(x2)
    if not contrast:
        return shown
    if noisy:
        clean = _as_rgb(x)
        return np.clip(clean + NOISE_GAIN * (shown - clean), 0.0, 1.0)
    rng = _code_range(inj)
    rows, cols, carried = marks
    if rng is None or rows.shape[1] == 0:
        return shown
    lo, hi = rng
    n = np.arange(len(x2))[:, None]
    raw = x2[n, rows, cols].astype(np.float64).mean(-1)  # (N, P) in image units
    # A colormap rather than gray: the lowest code (0) stays visible on a black background.
    stretched = _colors(np.clip((raw - lo) / (hi - lo), 0.0, 1.0))
    keep = carried[:, None, None]
    shown[n, rows, cols] = np.where(keep, stretched, shown[n, rows, cols])
    return shown


def _image_examples(
    bundle: DataBundleLike, n: int
) -> tuple[npt.NDArray[np.uint8], IntArray, IntArray]:
    """``(x (n, H, W, C) uint8, y (n,) int64, index (n,) int64)`` from the training split."""
    if bundle.kind != "image":
        raise ValueError(f"dataset {bundle.name!r} holds {bundle.kind} data, not images")
    y_all = np.asarray(bundle.y_train, dtype=np.int64)
    index = pick_examples(y_all, n)
    x = np.asarray(bundle.x_train[index])
    if x.dtype != np.uint8 or x.ndim != 4:
        raise ValueError(
            f"dataset {bundle.name!r} must hold uint8 images (N, H, W, C), got "
            f"{x.dtype} of shape {x.shape}"
        )
    return x, y_all[index], index


@dataclasses.dataclass(frozen=True)
class _Injected:
    """One signal applied to the examples, with what the figure needs to draw it."""

    x2: npt.NDArray[np.uint8]
    codes: IntArray
    decoded: IntArray
    marks: tuple[IntArray, IntArray, npt.NDArray[np.bool_]]


def _inject(inj: Injector, x: npt.NDArray[np.uint8], y: IntArray, index: IntArray) -> _Injected:
    """Inject ``inj`` into the examples and read it back (with the index: the oracle decode)."""
    x2 = inj(x, y, index=index)
    decoded = np.asarray(inj.decode(x2, index=index), np.int64)  # type: ignore[call-arg]
    marks = signal_pixels(inj, y, index, x.shape[1], x.shape[2])
    return _Injected(x2, np.asarray(inj.codes(y, index)[0], np.int64), decoded, marks)


# -- drawing -------------------------------------------------------------------------------------
def _blank(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _new_figure(width: float, height: float, *, dpi: int = 100) -> Figure:
    """A figure of ``width`` x ``height`` inches on the Agg renderer (no pyplot, no display)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # an optional dependency: say how to get it
        raise ImportError(
            "drawing figures needs matplotlib: pip install 'signalinject[bench]'"
        ) from e
    return Figure(figsize=(width, height), dpi=dpi)


def _colors(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """RGB ``(..., 3)`` of values in [0, 1] on the ``plasma`` colormap (blue ... yellow)."""
    from matplotlib import colormaps

    return np.asarray(colormaps["plasma"](values), np.float64)[..., :3]


def _mark(ax: Any, rows: IntArray, cols: IntArray) -> None:
    """Outline pixels ``(rows[p], cols[p])`` of the image in ``ax`` with red squares."""
    from matplotlib.patches import Rectangle

    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        ax.add_patch(
            Rectangle(
                (c - 0.5 - _PAD, r - 0.5 - _PAD),
                1 + 2 * _PAD,
                1 + 2 * _PAD,
                fill=False,
                edgecolor=_RED,
                linewidth=1.3,
                clip_on=False,
            )
        )


def _caption(ax: Any, y: int, decoded: int) -> None:
    ax.text(
        0.5,
        -0.04,
        f"label {y} → {decoded}",
        transform=ax.transAxes,
        ha="center",
        va="top",
        fontsize=9.5,
        color=_OK if y == decoded else _WRONG,
    )


def _titles(fig: Figure, title: str, subtitle: str, top_in: float | None) -> None:
    """The title and the subtitle (what is shown); the axes start ``top_in`` below the top."""
    h = fig.get_figheight()
    fig.text(
        0.5,
        1 - 0.12 / h,
        title,
        ha="center",
        va="top",
        fontsize=13,
        weight="bold",
        parse_math=False,
    )
    fig.text(
        0.5,
        1 - 0.42 / h,
        subtitle,
        ha="center",
        va="top",
        fontsize=9.5,
        linespacing=1.4,
        parse_math=False,
    )
    if top_in is not None:
        fig.subplots_adjust(top=1 - top_in / h)


def _grid(rows: int, cols: int, *, top_in: float, row_in: float = 1.45) -> tuple[Figure, Any]:
    width = max(1.1 * cols + 0.6, 7.0)  # 8 columns: 9.4 in, text >= MIN_TEXT_PX from 8.8 pt
    fig = _new_figure(width, row_in * rows + top_in + 0.1)
    axes = fig.subplots(rows, cols, squeeze=False)
    fig.subplots_adjust(
        left=0.6 / width,
        right=1 - 0.1 / width,
        bottom=0.25 / fig.get_figheight(),
        wspace=0.12,
        hspace=0.3,
    )
    for ax in axes.flat:
        _blank(ax)
    return fig, axes


def _paper_name(signal: str) -> str:
    return SIGNALS[signal].paper_name


def image_figure(
    signal: str, bundle: DataBundleLike, *, n: int = 8, seed: int = 0, contrast: bool = False
) -> Figure:
    """One image signal on ``n`` examples (Figs. 2–5 of the paper).

    Rows: the clean images; for ``orthogonal_noise`` the noise of each example's class (scaled to
    the full gray range); the injected images, the written pixels outlined in red, with
    ``label y → decoded`` under each (green when equal).

    Args:
        signal: one of `IMAGE_SIGNALS`.
        bundle: an image dataset (uint8 ``(N, H, W, C)``); examples come from its training split.
        n: number of examples (columns); one per class first.
        seed: the injector's seed.
        contrast: draw the faint codes visibly (see the module doc).
    """
    _check_signal(signal, "image")
    x, y, index = _image_examples(bundle, n)
    inj = make_injector(signal, bundle.num_classes, seed, kind="image")
    assert inj is not None  # only "clean" has no injector
    inj = inj.fit(bundle.x_train, bundle.y_train)  # a signal fitted to data; others: itself
    got = _inject(inj, x, y, index)
    basis = _class_noise(inj, x)
    noisy = basis is not None
    shown = _display(inj, x, got.x2, got.marks, contrast, noisy)
    labels = ["clean", *(["class noise"] if noisy else []), "injected"]
    fig, axes = _grid(len(labels), len(y), top_in=1.1)
    rows, cols, carried = got.marks
    clean = _as_rgb(x)
    for j in range(len(y)):
        axes[0, j].imshow(clean[j], interpolation="nearest")
        ax = axes[-1, j]
        ax.imshow(shown[j], interpolation="nearest")
        if carried[j]:
            _mark(ax, rows[j], cols[j])
        _caption(ax, int(y[j]), int(got.decoded[j]))
    if basis is not None:  # each example's class noise, mid-gray = 0, full range for display
        for j in range(len(y)):
            b = basis[int(got.codes[j])] if carried[j] else np.zeros(basis.shape[1:])
            scale = max(float(np.abs(b).max()), 1e-12)
            axes[1, j].imshow(_rgb(0.5 + 0.5 * b / scale), interpolation="nearest")
    for i, lab in enumerate(labels):
        axes[i, 0].set_ylabel(lab, fontsize=10)
    # a dense signal (a blend, a wave) writes every pixel: no square marks it, none is claimed
    marked = any(bool(carried[j]) and len(rows[j]) > 0 for j in range(len(y)))
    where = "red squares: the written pixels; " if marked and not noisy else ""
    if inj.decode_needs_index:  # the oracle: a model has no index to find the pixel by
        where = "red squares: the pixel drawn for each sample (decode reads it there); "
    _titles(
        fig,
        f"{_paper_name(signal)} ({signal}) on {bundle.name}",
        f"{inj!r}\n{where}under each image: true label → label decoded from the image\n"
        f"{_contrast_note(inj, contrast, noisy)}",
        top_in=1.1,
    )
    return fig


def overview_figure(
    bundle: DataBundleLike, *, n: int = 8, seed: int = 0, contrast: bool = False
) -> Figure:
    """The five image signals on the same ``n`` examples: one row per signal (``show all``)."""
    x, y, index = _image_examples(bundle, n)
    names = signal_names("image")[1:]  # the paper's, without clean
    fig, axes = _grid(len(names), len(y), top_in=1.1)
    for i, signal in enumerate(names):
        inj = make_injector(signal, bundle.num_classes, seed, kind="image")
        assert inj is not None
        got = _inject(inj, x, y, index)
        noisy = _class_noise(inj, x) is not None
        shown = _display(inj, x, got.x2, got.marks, contrast, noisy)
        rows, cols, carried = got.marks
        for j in range(len(y)):
            ax = axes[i, j]
            ax.imshow(shown[j], interpolation="nearest")
            if carried[j]:
                _mark(ax, rows[j], cols[j])
            _caption(ax, int(y[j]), int(got.decoded[j]))
        axes[i, 0].set_ylabel(_paper_name(signal), fontsize=10)
    note = (
        f"contrast: code pixels drawn in color (lowest code blue … highest yellow), noise "
        f"amplified ×{NOISE_GAIN:g}"
        if contrast
        else "pixels shown as they are: the paper's codes (value k of 255) are faint"
    )
    _titles(
        fig,
        f"The five image signals of Hoffer et al. (2018) on {bundle.name}",
        "red squares: the written pixels (the noise is dense); under each image: true label → "
        f"label decoded from the image\n{note}",
        top_in=1.1,
    )
    return fig


_COLS = 96  # characters per row of the text grid
_FONT_PT = 9.0  # size of the text grid's monospace font
_MONO = "DejaVu Sans Mono"  # ships with matplotlib: present wherever matplotlib is
_FILL = "#ffd166"  # background of the characters the signal changed or added
_GRAY = "#8a8a8a"


@dataclasses.dataclass(frozen=True)
class TextMarks:
    """What a text signal did to one text, for drawing.

    Attributes:
        changed: positions in the injected text whose character differs from the clean text's,
            or that were added (padding), increasing.
        location: the positions that carry the signal (outlined), changed or not: the first
            character (mnemonic), the bit positions inside the text (pattern char), the last
            character (length encoding).
        clean_length, length: the lengths of the clean and of the injected text.
    """

    changed: tuple[int, ...]
    location: tuple[int, ...]
    clean_length: int
    length: int


def text_marks(signal: str, inj: Injector, clean: str, injected: str) -> TextMarks:
    """Compare ``clean`` with ``injected`` and locate ``signal`` (a `TEXT_SIGNALS` name).

    Examples:
        >>> import signalinject as si
        >>> text_marks("pattern_char", si.PatternChar(4, positions=(1, 3)), "abcdef", "a cdef")
        TextMarks(changed=(1,), location=(1, 3), clean_length=6, length=6)
    """
    _check_signal(signal, "text")
    common = min(len(clean), len(injected))
    changed = [i for i in range(common) if clean[i] != injected[i]]
    changed += range(common, len(injected))  # padding added by the signal
    location: tuple[int, ...] = ()
    if isinstance(inj, TextInjector):  # where the signal declares it writes
        location = inj.text_location(injected)
    location = tuple(p for p in location if 0 <= p < len(injected))
    return TextMarks(tuple(changed), location, len(clean), len(injected))


def grid_rows(marks: TextMarks, cols: int = _COLS) -> list[int | None]:
    """The rows of a ``cols``-wide character grid worth drawing; None marks an elided gap.

    Kept: row 0, the rows of the location, and the first and last row of each run of changed
    positions; a gap of one row is drawn rather than elided.

    Examples:
        >>> grid_rows(TextMarks(changed=(), location=(50, 150, 200), clean_length=900, length=900))
        [0, 1, 2]
        >>> grid_rows(TextMarks(changed=tuple(range(300, 900)), location=(899,), clean_length=300,
        ...                     length=900))
        [0, None, 3, None, 9]
    """
    keep = {0, *(p // cols for p in marks.location)}
    ch = marks.changed
    for i, p in enumerate(ch):
        if i == 0 or ch[i - 1] != p - 1 or i == len(ch) - 1 or ch[i + 1] != p + 1:
            keep.add(p // cols)
    last = max(0, (marks.length - 1) // cols)
    rows: list[int | None] = []
    for r in sorted(k for k in keep if k <= last):
        prev = rows[-1] if rows else None
        if prev is not None and r - prev == 2:  # a one-row gap costs as much as its ellipsis
            rows.append(prev + 1)
        elif prev is not None and r - prev > 2:
            rows.append(None)
        rows.append(r)
    return rows


@functools.lru_cache(maxsize=1)
def _mono_charmap() -> frozenset[int]:
    """The code points the monospace font draws (others would fall back to another width)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(_MONO, fallback_to_default=False)
    return frozenset(FT2Font(path).get_charmap())


def _glyphs(text: str) -> tuple[str, str]:
    """``(ink, marks)``: two strings as long as ``text`` to draw on top of each other.

    ``ink`` holds the printable characters (blanks elsewhere), drawn black; ``marks`` holds
    visible stand-ins, drawn gray: ``·`` a space, ``↵`` a new line, ``¤`` any other character
    that is not printable or that the monospace font lacks (another font would break the grid).
    """
    chars = _mono_charmap()
    ink, marks = [], []
    for ch in text:
        if ch == " ":
            ink.append(" ")
            marks.append("·")
        elif ch == "\n":
            ink.append(" ")
            marks.append("↵")
        elif ch.isprintable() and ord(ch) in chars:
            ink.append(ch)
            marks.append(" ")
        else:
            ink.append(" ")
            marks.append("¤")
    return "".join(ink), "".join(marks)


@functools.lru_cache(maxsize=8)
def _advance_px(dpi: int) -> float:
    """The monospace font's advance at ``dpi``, in pixels, as Agg lays it out.

    Agg rounds each glyph's advance to whole pixels (8 px at 100 dpi, not 0.602 em = 7.5 px), so
    the grid's cell is measured rather than computed from the font's metrics.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = _new_figure(4.0, 1.0, dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    t = fig.text(0, 0.5, "M" * 20, family=_MONO, fontsize=_FONT_PT)
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]
    return float(t.get_window_extent(renderer).width) / 20


def _draw_text(ax: Any, text: str, marks: TextMarks, rows: list[int | None]) -> None:
    """The injected ``text`` as a grid: x in character cells, y in rows (top to bottom)."""
    from matplotlib.patches import Rectangle

    ax.set_xlim(0, _COLS)
    ax.set_ylim(len(rows), 0)
    for pos in marks.changed:
        if (k := _row_at(rows, pos)) is not None:
            ax.add_patch(Rectangle((pos % _COLS, k), 1, 1, facecolor=_FILL, edgecolor="none"))
    for pos in marks.location:
        if (k := _row_at(rows, pos)) is not None:
            ax.add_patch(Rectangle((pos % _COLS, k), 1, 1, fill=False, edgecolor=_RED, lw=1.2))
    style = {
        "family": _MONO,
        "fontsize": _FONT_PT,
        "va": "center",
        "ha": "left",
        "parse_math": False,
    }  # a docstring's "$" is not mathtext
    for k, row in enumerate(rows):
        if row is None:
            ax.text(0, k + 0.5, "⋯", color=_GRAY, **style)
            continue
        ink, gray = _glyphs(text[row * _COLS : (row + 1) * _COLS])
        ax.text(0, k + 0.5, ink, color="#111111", **style)
        ax.text(0, k + 0.5, gray, color=_GRAY, **style)
        ax.text(-0.6, k + 0.5, str(row * _COLS), ha="right", va="center", fontsize=8.5, color=_GRAY)


def _row_at(rows: list[int | None], pos: int) -> int | None:
    """The grid line drawing character ``pos``, or None where its row is elided."""
    try:
        return rows.index(pos // _COLS)
    except ValueError:
        return None


def _describe(marks: TextMarks, clean: str, injected: str) -> str:
    """A short account of the change: the characters replaced, then any length change.

    Examples:
        >>> _describe(TextMarks((0, 3, 4), (0,), 3, 5), "abc", "zbc  ")
        "at 0: 'a' → 'z'; length 3 → 5 (+2 characters)"
    """
    edits = [p for p in marks.changed if p < min(marks.clean_length, marks.length)]
    parts = []
    if edits:
        shown = ", ".join(f"{p}: {clean[p]!r} → {injected[p]!r}" for p in edits[:4])
        parts.append(f"at {shown}" + (" …" if len(edits) > 4 else ""))
    if marks.length != marks.clean_length:
        added = marks.length - marks.clean_length
        how = f"+{added} characters" if added > 0 else f"cut by {-added}"
        parts.append(f"length {marks.clean_length} → {marks.length} ({how})")
    return "; ".join(parts) or f"no character changed (length {marks.length})"


def text_figure(
    signal: str,
    bundle: DataBundleLike,
    *,
    n: int = 5,
    seed: int = 0,
    contrast: bool = False,
    dpi: int = 100,
) -> Figure:
    """One text signal on ``n`` texts: the injected texts as character grids.

    Each text is drawn ``_COLS`` characters a row (the row's offset on the left; long stretches
    without the signal elided as ⋯), the characters the signal changed or added filled orange
    and its location outlined red; above each, the true label, the decoded label and what
    changed.

    Args:
        signal: one of `TEXT_SIGNALS`.
        bundle: a text dataset (``x_train`` a list of str); texts come from its training split.
        n: number of texts; one per class first.
        seed: the injector's seed.
        contrast: accepted for a uniform API; the changes are always highlighted.
        dpi: the resolution the figure will be saved at: the grid is laid out in its pixels.
    """
    _check_signal(signal, "text")
    if bundle.kind != "text":
        raise ValueError(f"dataset {bundle.name!r} holds {bundle.kind} data, not text")
    y_all = np.asarray(bundle.y_train, dtype=np.int64)
    index = pick_examples(y_all, n)
    clean = [str(bundle.x_train[i]) for i in index.tolist()]
    y = y_all[index]
    inj = make_injector(signal, bundle.num_classes, seed, kind="text")
    assert inj is not None  # only "clean" has no injector
    injected = [str(t) for t in inj(clean, y, index=index)]
    decoded = np.asarray(inj.decode(injected), np.int64)
    marks = [text_marks(signal, inj, c, t) for c, t in zip(clean, injected, strict=True)]
    rows = [grid_rows(m) for m in marks]
    # Layout in inches, top to bottom: titles, then per text a header line and its grid.
    row_in, head_in, gap_in, top_in, left_in = 0.2, 0.3, 0.14, 1.15, 0.55
    grid_w = _COLS * _advance_px(dpi) / dpi
    width = left_in + grid_w + 0.25
    height = top_in + sum(head_in + len(r) * row_in + gap_in for r in rows)
    fig = _new_figure(width, height, dpi=dpi)
    y_top = height - top_in
    for j, r in enumerate(rows):
        h = len(r) * row_in
        y_top -= head_in
        ax = fig.add_axes((left_in / width, (y_top - h) / height, grid_w / width, h / height))
        y_top -= h + gap_in
        _blank(ax)
        _draw_text(ax, injected[j], marks[j], r)
        ok = int(y[j]) == int(decoded[j])
        ax.set_title(
            f"text {int(index[j])}: label {int(y[j])} → {int(decoded[j])}   ·   "
            f"{_describe(marks[j], clean[j], injected[j])}",
            loc="left",
            fontsize=8.5,
            color=_OK if ok else _WRONG,
            pad=4,
            parse_math=False,
        )
    _titles(
        fig,
        f"{_paper_name(signal)} ({signal}) on {bundle.name}",
        f"{inj!r}\norange: characters the signal changed or added; red box: the signal's "
        "location; · a space, ↵ a new line, ⋯ rows left out\nabove each text: true label → "
        "label decoded from the text (-1: no class's signal)",
        top_in=None,
    )
    return fig


# -- the entry point -----------------------------------------------------------------------------
def _signal_kind(signal: object) -> str:
    """``"image"`` or ``"text"`` for a name ``show`` accepts (``all``: image), else ValueError."""
    if isinstance(signal, str) and ":" in signal:  # the user's MODULE:FACTORY
        return SIGNALS[signal].kinds[0]
    names = _show_names()
    if not isinstance(signal, str) or signal not in names:
        raise ValueError(f"unknown signal {signal!r}; expected one of: {', '.join(names)}")
    return "text" if signal in _names("text") else "image"


def _check_signal(signal: str, kind: str) -> None:
    """Refuse a name that is not one of ``kind``'s signals (``all`` is not one signal)."""
    if _signal_kind(signal) != kind or signal == "all":
        names = _names(kind)
        article = "an" if kind == "image" else "a"
        raise ValueError(
            f"signal {signal!r} is not {article} {kind} signal; expected one of: {', '.join(names)}"
        )


def _load(name: str, data_dir: str | os.PathLike[str] | None, download: bool) -> DataBundleLike:
    from signalinject.benchmarks.datasets import load_dataset

    return load_dataset(name, data_dir=data_dir, download=download)


def show(
    signal: str,
    *,
    out: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    n: int | None = None,
    seed: int = 0,
    contrast: bool = False,
    dpi: int = 100,
) -> Path:
    """Draw the figure of ``signal`` and save it as a PNG.

    Args:
        signal: one of `SHOW_SIGNALS` (``all``: the five image signals in one picture).
        out: the PNG path; default ``<signal>.png`` in the current directory. Parent folders are
            created.
        dataset: a [`load_dataset`][signalinject.benchmarks.datasets.load_dataset] name; default
            ``digits`` for image signals, ``stdlib_docs`` for text signals.
        data_dir: where the loader looks for real data (default: the loader's).
        download: let the loader download missing data.
        n: number of examples; default 8 images or 5 texts.
        seed: the injector's seed.
        contrast: draw faint codes visibly (display only; the subtitle says what is shown).
        dpi: resolution of the PNG in dots per inch.

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: unknown signal, a dataset of the wrong kind, a bad ``n``/``dpi`` or an
            ``out`` that is not a ``.png``.
    """
    kind = _signal_kind(signal)
    n = DEFAULT_N[kind] if n is None else n
    # Upper bounds: a figure grows with n and dpi (a huge -n or --dpi would exhaust memory
    # before anything is drawn); seeds are the 64-bit seeds of the injectors.
    bounds = (("n", n, 1, MAX_N), ("dpi", dpi, 10, MAX_DPI), ("seed", seed, 0, 2**64 - 1))
    for arg, value, low, high in bounds:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{arg} must be an integer in [{low}, {high}], got {value!r}")
    stem = SIGNALS[signal].cls.name if ":" in signal else signal  # type: ignore[union-attr]
    path = Path(f"{stem}.png") if out is None else Path(out)
    if path.suffix.lower() != ".png":
        raise ValueError(f"out must be a .png path, got {str(path)!r}")
    default = default_dataset("show", "image" if kind == "image" else "text")
    name = default if dataset is None else dataset
    bundle = _load(name, data_dir, download)
    if bundle.kind != kind:
        raise ValueError(
            f"signal {signal!r} needs {kind} data, but dataset {name!r} holds {bundle.kind} "
            f"data; use {'an' if kind == 'image' else 'a'} {kind} dataset such as "
            f"{default!r}"
        )
    if signal == "all":
        fig = overview_figure(bundle, n=n, seed=seed, contrast=contrast)
    elif kind == "image":
        fig = image_figure(signal, bundle, n=n, seed=seed, contrast=contrast)
    else:
        fig = text_figure(signal, bundle, n=n, seed=seed, contrast=contrast, dpi=dpi)
    make_dir(path.parent)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=dpi, format="png")
    return path
