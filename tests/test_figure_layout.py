"""Every figure the package draws, drawn on small real results and checked with matplotlib's
renderer: no text outside the figure, no two labels (tick labels, axis labels, titles) over one
another, every plotted line inside its axes' limits.

The figures are the ones the CLI writes (`signalinject show`, ``bench images``' results.png,
``bench sweep``'s charts, ``scan``'s and the atlas's heat map): each is captured as it is saved,
then drawn again here for the checks, at the resolution it was saved at.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

from signalinject.benchmarks import cli
from signalinject.benchmarks import figures as F
from signalinject.benchmarks.datasets import DataBundle, load_dataset
from signalinject.benchmarks.scan import plot_scan

TOL = 1.0  # pixels: anti-aliasing slack


# -- the checks ------------------------------------------------------------------------------------
def _corners(t: Text, renderer: Any) -> np.ndarray:
    """The four corners (display pixels) of the rotated rectangle ``t`` occupies.

    matplotlib gives the axis-aligned box around a rotated text; the text's own rectangle is
    recovered from it (width w and height h turned by the angle a fill W = w cos a + h sin a,
    H = w sin a + h cos a), so that two slanted neighbours whose boxes overlap but whose
    letters do not are not called overlapping."""
    box = t.get_window_extent(renderer)
    a = math.radians(t.get_rotation() % 180)
    c, s = abs(math.cos(a)), abs(math.sin(a))
    if abs(c * c - s * s) < 0.2:  # near 45 degrees the box does not tell: keep it
        w, h, a = box.width, box.height, 0.0
    else:
        w = (box.width * c - box.height * s) / (c * c - s * s)
        h = (box.height * c - box.width * s) / (c * c - s * s)
    u = np.array([math.cos(a), math.sin(a)])
    v = np.array([-math.sin(a), math.cos(a)])
    center = np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2])
    signs = ((-1, -1), (1, -1), (1, 1), (-1, 1))
    return np.array([center + sx * w / 2 * u + sy * h / 2 * v for sx, sy in signs])


def _overlap(p: np.ndarray, q: np.ndarray) -> bool:
    """Whether two convex polygons overlap by more than `TOL` (separating axis test)."""
    for poly in (p, q):
        for i in range(len(poly)):
            edge = poly[(i + 1) % len(poly)] - poly[i]
            axis = np.array([-edge[1], edge[0]]) / (np.hypot(*edge) or 1.0)
            a, b = p @ axis, q @ axis
            if min(a.max(), b.max()) - max(a.min(), b.min()) <= TOL:
                return False
    return True


def _drawn_ticklabels(ax: Axes) -> Iterator[Text]:
    for axis in (ax.xaxis, ax.yaxis):
        for tick in axis._update_ticks():  # the ticks inside the view, as drawn
            yield from (tick.label1, tick.label2)


def _labels(fig: Figure) -> list[Text]:
    """The texts that must not overlap: tick labels, axis labels, axes' and figure titles."""
    out: list[Text] = []
    for ax in fig.axes:
        out += _drawn_ticklabels(ax)
        out += [ax.xaxis.label, ax.yaxis.label, ax.title, ax._left_title, ax._right_title]
    out += [t for t in (fig._suptitle, fig._supxlabel, fig._supylabel) if t is not None]
    out += fig.texts
    unique = {id(t): t for t in out}.values()  # the suptitle is one of fig.texts too
    return [t for t in unique if t.get_visible() and t.get_text().strip()]


def layout_problems(fig: Figure) -> list[str]:
    """What is wrong with ``fig``'s layout, in words (empty: nothing)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    frame = fig.bbox
    problems = []
    # tick labels outside the view limits are in the artist tree but not drawn
    drawn = {id(t) for ax in fig.axes for t in _drawn_ticklabels(ax)}
    hidden = {
        id(label)
        for ax in fig.axes
        for axis in (ax.xaxis, ax.yaxis)
        for tick in axis.get_major_ticks() + axis.get_minor_ticks()
        for label in (tick.label1, tick.label2)
    } - drawn
    for t in fig.findobj(Text):
        if not (t.get_visible() and t.get_text().strip()) or id(t) in hidden:
            continue
        if isinstance(t.axes, Axes) and not t.axes.get_visible():
            continue
        box = t.get_window_extent(renderer)
        if (
            box.x0 < frame.x0 - TOL
            or box.y0 < frame.y0 - TOL
            or box.x1 > frame.x1 + TOL
            or box.y1 > frame.y1 + TOL
        ):
            problems.append(
                f"text {t.get_text()!r} at {box.bounds} leaves the figure {frame.bounds}"
            )
    labels = _labels(fig)
    corners = [_corners(t, renderer) for t in labels]
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            if _overlap(corners[i], corners[j]):
                problems.append(f"{labels[i].get_text()!r} overlaps {labels[j].get_text()!r}")
    for ax in fig.axes:
        box = ax.bbox
        for line in ax.get_lines():
            if not isinstance(line, Line2D) or not line.get_visible():
                continue
            xy = np.asarray(line.get_xydata(), np.float64)
            xy = xy[np.isfinite(xy).all(axis=1)]
            if not len(xy):
                continue
            px = line.get_transform().transform(xy)
            out = (
                (px[:, 0] < box.x0 - TOL)
                | (px[:, 0] > box.x1 + TOL)
                | (px[:, 1] < box.y0 - TOL)
                | (px[:, 1] > box.y1 + TOL)
            )
            if out.any():
                problems.append(
                    f"line {line.get_label()!r} has {int(out.sum())} of {len(xy)} points outside "
                    f"its axes (first: {xy[out][0].tolist()}, limits x {ax.get_xlim()}, "
                    f"y {ax.get_ylim()})"
                )
    return problems


# -- capturing what the CLI saves ------------------------------------------------------------------
@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Figure]]:
    """Each figure saved while the test runs, named by its order and title: the real
    ``savefig`` runs, and the figure is kept for the checks (at the dpi it was saved at)."""
    kept: list[tuple[str, Figure]] = []
    real = Figure.savefig

    def keep(self: Figure, fname: Any, *args: Any, **kwargs: Any) -> None:
        real(self, fname, *args, **kwargs)
        if "dpi" in kwargs:
            self.set_dpi(kwargs["dpi"])
        title = self._suptitle.get_text() if self._suptitle is not None else ""
        kept.append((f"figure {len(kept)} {title!r}", self))  # the file: a temporary's handle

    monkeypatch.setattr(Figure, "savefig", keep)
    return kept


def check(figures: list[tuple[str, Figure]], expected: int) -> None:
    assert len(figures) >= expected, [name for name, _ in figures]
    bad = [f"{name}: {p}" for name, fig in figures for p in layout_problems(fig)]
    assert not bad, "\n".join(bad)


# -- the checks find what they look for ------------------------------------------------------------
def test_the_checks_see_each_problem() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(4, 3))
    FigureCanvasAgg(fig)
    a, b = fig.subplots(1, 2)
    fig.suptitle("a title far too long to fit inside a figure only four inches wide, cut off")
    a.set_xlabel("a long axis label that runs into the label of the next panel")
    b.set_xlabel("the next label")
    a.plot([0, 1, 2], [0, 1, 5])
    a.set_ylim(0, 2)
    found = "\n".join(layout_problems(fig))
    assert "leaves the figure" in found
    assert "overlaps 'the next label'" in found
    assert "line '_child0' has 1 of 3 points outside its axes" in found

    fig = Figure(figsize=(6, 3))
    FigureCanvasAgg(fig)
    a, b = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.12, bottom=0.3)
    fig.suptitle("short")
    a.set_xticks(range(6), [f"label {i}" for i in range(6)], rotation=30, ha="right")
    a.plot([0, 5], [0, 1])
    assert layout_problems(fig) == []  # slanted labels side by side do not touch


# -- the signal pictures (signalinject show) -------------------------------------------------------
@pytest.fixture(scope="module")
def digits() -> DataBundle:
    return load_dataset("digits", limit=40)


@pytest.fixture(scope="module")
def docs() -> DataBundle:
    return load_dataset("stdlib_docs", limit=60)


@pytest.mark.parametrize("signal", F.IMAGE_SIGNALS)
def test_image_signal_pictures(signal: str, digits: DataBundle) -> None:
    fig = F.image_figure(signal, digits, contrast=True)
    assert layout_problems(fig) == []


def test_overview_picture(digits: DataBundle) -> None:
    assert layout_problems(F.overview_figure(digits, contrast=True)) == []


@pytest.mark.parametrize("signal", F.TEXT_SIGNALS)
def test_text_signal_pictures(signal: str, docs: DataBundle) -> None:
    assert layout_problems(F.text_figure(signal, docs)) == []


# -- the benchmarks' charts ------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.ci  # the benchmarks' charts: no fast test draws them
def test_bench_images_results(tmp_path: Path, saved: list[tuple[str, Figure]]) -> None:
    argv = ["bench", "images", "--limit", "60", "--models", "decision_tree,gaussian_nb"]
    assert cli.main([*argv, "--no-progress", "--out", str(tmp_path)]) == 0
    check(saved, 1)


IMAGE_SWEEP = [
    "bench", "sweep", "--dataset", "digits", "--limit", "300", "--models", "decision_tree",
    "--strengths", "4,16", "--signals", "one_pixel,pattern_pixels,random_pixel,orthogonal_noise",
    "--no-progress",
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.ci  # the benchmarks' charts: no fast test draws them
def test_sweep_charts(tmp_path: Path, saved: list[tuple[str, Figure]]) -> None:
    """On 300 digits the tree reaches 54-95% while the random pixel's and the faint noise's
    decode accuracy falls to 28-32%: the accuracy axis must reach down to the decode line (the
    docs' random-pixel chart once cut it off at 60%)."""
    assert cli.main([*IMAGE_SWEEP, "--out", str(tmp_path)]) == 0
    check(saved, 4)


@pytest.mark.slow
@pytest.mark.ci  # the benchmarks' charts: no fast test draws them
def test_text_sweep_chart(tmp_path: Path, saved: list[tuple[str, Figure]]) -> None:
    argv = ["bench", "sweep", "--dataset", "stdlib_code", "--limit", "60", "--models"]
    argv += ["decision_tree", "--strengths", "1,4", "--no-progress", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    check(saved, 1)


@pytest.mark.slow
@pytest.mark.ci  # the benchmarks' charts: no fast test draws them
def test_scan_heat_map(tmp_path: Path, saved: list[tuple[str, Figure]]) -> None:
    argv = ["scan", "decision_tree", "gaussian_nb", "--limit", "80", "--signals"]
    argv += ["one_pixel,random_pixel,multiple_locations", "--no-progress", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    check(saved, 1)


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a scan's ``scan.csv`` with the types ``plot_scan`` reads."""

    def value(key: str, v: str) -> Any:
        if v == "":
            return None
        if v in ("True", "False"):
            return v == "True"
        if key == "num_classes":
            return int(v)
        try:
            return float(v)
        except ValueError:
            return v

    with path.open(newline="", encoding="utf-8") as f:
        return [{k: value(k, v) for k, v in r.items()} for r in csv.DictReader(f)]


DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("name", ["atlas_noisy_digits.csv", "atlas_zoo_noisy_digits.csv"])
def test_the_docs_heat_maps(name: str, tmp_path: Path, saved: list[tuple[str, Figure]]) -> None:
    """The heat maps of the docs' measured atlases, the largest drawn (seven models, the data
    above the blank data), redrawn from their ``scan.csv``."""
    plot_scan(_csv_rows(DOCS / name), tmp_path / "scan.png")
    check(saved, 1)
