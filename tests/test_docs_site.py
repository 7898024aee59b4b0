"""The built documentation site reads as written: what a browser shows, checked on the HTML.

The site is built once (``mkdocs build --strict`` into a temporary directory, as ``nox -s docs``
does), then every page is read back:

- no raw Sphinx-style role (``:meth:`x```) left in the text;
- no ``>>>`` outside a code block (an example the API page failed to render as code), and no
  ``=====`` rule of a reStructuredText table left as text;
- no signature line over 100 characters on the API pages (signatures are formatted);
- no table with more than 8 columns on any page (wider ones need sideways scrolling at 1280 px);
- the version on the home page is the package's, and the citation names the paper's record.
"""

from __future__ import annotations

import ast
import html
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import signalinject
from signalinject.benchmarks.figures import DOCS_WIDTH_PX, MIN_TEXT_PX, shown_px

ROOT = Path(__file__).resolve().parent.parent
MAX_COLUMNS = 8
MAX_SIGNATURE = 100
ROLE = re.compile(r":(?:py:)?(?:meth|func|class|attr|mod|data|obj|exc|ref|doc|const):`")


class _Page(HTMLParser):
    """What one HTML page shows: its text outside code, its tables' widths, its signatures."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.prose: list[str] = []  # text outside <pre>/<code>
        self.columns: list[int] = []  # per table: the widest row's cell count (colspan counted)
        self.signatures: list[str] = []  # the text of each rendered signature block
        self._code = 0
        self._rows: list[list[int]] = []  # per open table: cells of the current row, widest
        self._sig_depth = 0
        self._depth = 0  # open <div>s
        self._sig: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "div":
            self._depth += 1
        if tag == "div" and "doc-signature" in (a.get("class") or "") and not self._sig_depth:
            self._sig_depth = self._depth
            self._sig = []
        if tag in ("pre", "code"):
            self._code += 1
        elif tag == "table":
            self._rows.append([0, 0])
        elif tag == "tr" and self._rows:
            self._rows[-1][0] = 0
        elif tag in ("td", "th") and self._rows:
            self._rows[-1][0] += int(a.get("colspan") or 1)
            self._rows[-1][1] = max(self._rows[-1][1], self._rows[-1][0])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("pre", "code") and self._code:
            self._code -= 1
        elif tag == "table" and self._rows:
            self.columns.append(self._rows.pop()[1])
        if tag == "div":
            if self._sig_depth == self._depth:
                self.signatures.append("".join(self._sig))
                self._sig_depth = 0
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._sig_depth:
            self._sig.append(data)
        if not self._code:
            self.prose.append(data)


def _read(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def _pages(site: Path) -> list[Path]:
    pages = sorted(p for p in site.rglob("*.html") if p.name != "404.html")
    assert len(pages) > 10, pages  # the guides and the API pages were built
    return pages


@pytest.mark.slow
@pytest.mark.ci  # the docs site: no fast test builds it
def test_no_raw_roles_and_no_unrendered_examples(site: Path) -> None:
    bad = []
    for path in _pages(site):
        prose = "".join(_read(path).prose)
        bad += [f"{path.relative_to(site)}: {m.group(0)}..." for m in ROLE.finditer(prose)]
        if re.search(r"={5,}", prose):  # a reStructuredText table's rule, unrendered
            bad.append(f"{path.relative_to(site)}: a '=====' rule outside code")
        for m in re.finditer(">>>", prose):
            bad.append(f"{path.relative_to(site)}: '>>>' outside code: {prose[m.start() :][:60]!r}")
    assert not bad, "\n".join(bad)


@pytest.mark.slow
@pytest.mark.ci  # the docs site: no fast test builds it
def test_api_signatures_are_formatted(site: Path) -> None:
    api = sorted((site / "api").rglob("*.html"))
    assert len(api) >= 5, "the API reference is split into pages per public area"
    seen = 0
    long = []
    for path in api:
        for sig in _read(path).signatures:
            seen += 1
            long += [
                f"{path.relative_to(site)}: {len(line)} chars: {line[:80]}..."
                for line in sig.splitlines()
                if len(line) > MAX_SIGNATURE
            ]
    assert seen > 50, f"only {seen} signatures rendered"
    assert not long, "\n".join(long)


@pytest.mark.slow
@pytest.mark.ci  # the docs site: no fast test builds it
def test_api_pages_show_public_objects_only(site: Path) -> None:
    private = []
    for path in sorted((site / "api").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r'<h\d id="(signalinject\.[\w.]+)"', text):
            parts = m.group(1).split(".")
            if any(p.startswith("_") and not p.startswith("__") for p in parts):
                private.append(f"{path.relative_to(site)}: {m.group(1)}")
    assert not private, "\n".join(private)


@pytest.mark.slow
@pytest.mark.ci  # the docs site: no fast test builds it
def test_no_table_is_wider_than_eight_columns(site: Path) -> None:
    wide = [
        f"{path.relative_to(site)}: a table of {n} columns"
        for path in _pages(site)
        for n in _read(path).columns
        if n > MAX_COLUMNS
    ]
    assert not wide, "\n".join(wide)


@pytest.mark.slow
@pytest.mark.ci  # the docs site: no fast test builds it
def test_home_page_shows_the_version_and_the_citation(site: Path) -> None:
    text = html.unescape((site / "index.html").read_text(encoding="utf-8"))
    assert f"version {signalinject.__version__}" in text
    for fact in ("arXiv:1802.05187", "Elad Hoffer", "Shai Fine", "Daniel Soudry", "@software"):
        assert fact in text, fact


def test_home_page_source_names_the_package_version() -> None:
    text = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    assert f"**version {signalinject.__version__}**" in text
    for fact in (
        "Elad Hoffer",
        "Shai Fine",
        "Daniel Soudry",
        "arXiv:1802.05187",
        "year    = {2018}",
    ):
        assert fact in text, fact
    assert f"version = {{{signalinject.__version__}}}" in text  # the package's BibTeX


def test_gallery_includes_every_example_with_its_docstring() -> None:
    """docs/gallery.md includes each script of examples/ (pymdownx.snippets), led by the first
    paragraph of its docstring: the page cannot drift from the tested code."""
    gallery = (ROOT / "docs" / "gallery.md").read_text(encoding="utf-8")
    flat = " ".join(gallery.split())
    scripts = sorted((ROOT / "examples").glob("*.py"))
    assert scripts
    for path in scripts:
        assert f'--8<-- "examples/{path.name}"' in gallery, path.name
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert doc, path.name
        lead = " ".join(doc.split("\n\n")[0].split())
        assert f"## {path.name} {lead}" in flat, f"{path.name}: the lead is not {lead!r}"


def test_parser_sees_what_a_browser_sees() -> None:
    """The checks above can fail: a wide table, a role, a stray ``>>>`` and a long signature."""
    page = _Page()
    cells = "".join(f"<td>{i}</td>" for i in range(9))
    sig = "f(" + ", ".join(f"a{i}: int" for i in range(20)) + ")"
    page.feed(
        f"<table><tr>{cells}</tr></table><p>see :meth:`x` and &gt;&gt;&gt; f()</p>"
        f'<div class="doc-signature highlight"><pre><code><span>{sig}</span></code></pre></div>'
        "<pre><code>&gt;&gt;&gt; fine()</code></pre>"
    )
    prose = "".join(page.prose)
    assert page.columns == [9]
    assert ROLE.search(prose)
    assert prose.count(">>>") == 1
    assert page.signatures == [sig]
    assert len(sig) > MAX_SIGNATURE


# -- figures: text a reader can read where the docs show them -------------------------------------
@pytest.fixture
def saved_figures(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, float]]:
    """Every figure saved while the test runs, with the dpi it was saved at (saved for real)."""
    from matplotlib.figure import Figure

    saved: list[tuple[Any, float]] = []
    real = Figure.savefig

    def record(self: Figure, *args: Any, **kwargs: Any) -> None:
        saved.append((self, float(kwargs.get("dpi") or self.dpi)))
        real(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return saved


def _smallest_text(fig: Any, dpi: float) -> tuple[float, str]:
    from matplotlib.text import Text

    sizes = [
        (shown_px(t.get_fontsize(), fig.get_figwidth(), dpi), t.get_text())
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip()
    ]
    assert sizes, "the figure shows no text"
    return min(sizes)


@pytest.mark.slow
@pytest.mark.ci  # the docs site: no fast test builds it
def test_figures_text_is_readable_at_the_docs_width(
    saved_figures: list[tuple[Any, float]], tmp_path: Path
) -> None:
    """The docs' figures (signals, result charts, scan heat maps, sweeps) drawn from a real tiny
    run: every text is at least MIN_TEXT_PX tall when the figure is shown DOCS_WIDTH_PX wide."""
    from signalinject.benchmarks.figures import show
    from signalinject.benchmarks.report import plot
    from signalinject.benchmarks.runner import BenchConfig, run
    from signalinject.benchmarks.scan import ScanConfig, plot_scan, scan
    from signalinject.benchmarks.settings import RunSettings
    from signalinject.benchmarks.sweep import SweepConfig, plot_sweep, sweep

    show("all", out=tmp_path / "all.png", contrast=True)
    show("one_pixel", out=tmp_path / "one_pixel.png")
    show("mnemonic", out=tmp_path / "mnemonic.png")
    quick: dict[str, Any] = {"limit": 60, "progress": False}
    signals = (
        "one_pixel",
        "pattern_pixels",
        "random_pixel",
        "multiple_locations",
        "orthogonal_noise",
    )
    rows = run(
        BenchConfig.for_suite(
            "images", models=("decision_tree",), out=str(tmp_path / "b"), **quick, signals=signals
        )
    )
    plot(rows, tmp_path / "results.png")
    srows = scan(
        ScanConfig(
            models=("decision_tree",), settings=RunSettings(out=str(tmp_path / "s"), **quick)
        )
    )
    plot_scan(srows, tmp_path / "scan.png")
    wrows = sweep(
        SweepConfig(
            models=("decision_tree",),
            signals=("one_pixel",),
            strengths=(1.0, 4.0),
            settings=RunSettings(out=str(tmp_path / "w"), **quick),
        )
    )
    plot_sweep(wrows, "one_pixel", tmp_path / "sweep.png")
    assert len(saved_figures) >= 6
    small = []
    for fig, dpi in saved_figures:
        px, text = _smallest_text(fig, dpi)
        if px < MIN_TEXT_PX:
            small.append(f"{fig.get_figwidth():.1f} in at {dpi:g} dpi: {text!r} is {px:.1f} px")
    assert not small, "\n".join(small)


def test_shown_px_scales_down_wide_figures_only() -> None:
    assert shown_px(9, DOCS_WIDTH_PX / 100, 100) == pytest.approx(12.5)
    assert shown_px(9, 2 * DOCS_WIDTH_PX / 100, 100) == pytest.approx(6.25)
    assert shown_px(9, 3.0, 100) == pytest.approx(12.5)  # narrower than the column: as drawn
