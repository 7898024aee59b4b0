"""The built documentation site reads as written: what a browser shows, checked on the HTML.

The site is built once (``mkdocs build --strict`` into a temporary directory, as ``nox -s docs``
does), then every page is read back:

- no raw Sphinx-style role (``:meth:`x```) left in the text;
- no ``>>>`` outside a code block (an example the API page failed to render as code), and no
  ``=====`` rule of a reStructuredText table left as text;
- no signature line over 80 characters on the API pages (signatures are formatted to the
  width the text column shows);
- no table with more than 8 columns on any page (wider ones need sideways scrolling at 1280 px);
- the version on the home page is the package's, and the citation names the paper's record.
"""

from __future__ import annotations

import ast
import contextlib
import html
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import signalinject
from signalinject.benchmarks.figures import DOCS_WIDTH_PX, MIN_TEXT_PX, shown_px

ROOT = Path(__file__).resolve().parent.parent
MAX_COLUMNS = 8
# Characters of code a line shows at 1280 px before its block scrolls sideways (the text column
# is ~690 px, 8.2 px a character): signatures and an API page's examples keep within it.
MAX_SIGNATURE = 80
ROLE = re.compile(r":(?:py:)?(?:meth|func|class|attr|mod|data|obj|exc|ref|doc|const):`")


class _Page(HTMLParser):
    """What one HTML page shows: its text outside code, its tables' widths, its signatures, its
    other code blocks and its classes' bases, each also with the object it documents (the id of
    the heading above it: ``signalinject.image.OnePixel``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.prose: list[str] = []  # text outside <pre>/<code>
        self.columns: list[int] = []  # per table: the widest row's cell count (colspan counted)
        self.signatures: list[str] = []  # the text of each rendered signature block
        self.at = ""  # the id of the last heading: the object (or section) being read
        self.prose_at: list[tuple[str, str]] = []  # (heading id, text outside code)
        self.signatures_at: list[tuple[str, str]] = []  # (heading id, signature)
        self.blocks: list[tuple[str, str]] = []  # (heading id, text of a <pre> not a signature)
        self.bases: list[tuple[str, str]] = []  # (heading id, text of a "Bases:" line)
        self.text_at: list[tuple[str, str]] = []  # (heading id, any text: prose and code)
        self._code = 0
        self._rows: list[list[int]] = []  # per open table: cells of the current row, widest
        self._sig_depth = 0
        self._depth = 0  # open <div>s
        self._sig: list[str] = []
        self._block: list[str] | None = None
        self._bases: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if re.fullmatch(r"h[1-6]", tag) and a.get("id"):
            self.at = a["id"] or ""
        if tag == "div":
            self._depth += 1
        if tag == "div" and "doc-signature" in (a.get("class") or "") and not self._sig_depth:
            self._sig_depth = self._depth
            self._sig = []
        if tag == "pre" and not self._sig_depth:
            self._block = []
        if tag == "p" and "doc-class-bases" in (a.get("class") or ""):
            self._bases = []
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
        if tag == "pre" and self._block is not None:
            self.blocks.append((self.at, "".join(self._block)))
            self._block = None
        if tag == "p" and self._bases is not None:
            self.bases.append((self.at, " ".join("".join(self._bases).split())))
            self._bases = None
        if tag == "div":
            if self._sig_depth == self._depth:
                self.signatures.append("".join(self._sig))
                self.signatures_at.append((self.at, self.signatures[-1]))
                self._sig_depth = 0
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        self.text_at.append((self.at, data))
        if self._sig_depth:
            self._sig.append(data)
        if self._block is not None:
            self._block.append(data)
        if self._bases is not None:
            self._bases.append(data)
        if not self._code:
            self.prose.append(data)
            self.prose_at.append((self.at, data))


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
    for fact in ("arXiv:1802.05187", "Elad Hoffer", "Shai Fine", "Daniel Soudry", "Hoffer et al."):
        assert fact in text, fact
    cite = html.unescape(re.sub(r"<[^>]+>", "", (site / "cite/index.html").read_text("utf-8")))
    for fact in ("@article{hoffer2018blindspots", "@software{signalinject", "arXiv:1802.05187"):
        assert fact in cite, fact


def test_home_and_cite_pages_name_the_package_version() -> None:
    text = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    assert f"**version {signalinject.__version__}**" in text
    for fact in ("Elad Hoffer", "Shai Fine", "Daniel Soudry", "arXiv:1802.05187", "](cite.md)"):
        assert fact in text, fact
    cite = (ROOT / "docs" / "cite.md").read_text(encoding="utf-8")
    for fact in (
        "author  = {Hoffer, Elad and Fine, Shai and Soudry, Daniel}",
        "journal = {arXiv preprint arXiv:1802.05187}",
        "year    = {2018}",
        f"version = {{{signalinject.__version__}}}",  # the package's BibTeX
        f"version {signalinject.__version__}",
    ):
        assert fact in cite, fact


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


# -- the API pages show what users call, as Markdown renders it ---------------------------------
# Raw reStructuredText and leaked internals, per (page, object) where they show. A finding is
# keyed by (page, the id of the heading above it, kind); kinds:
#   rst-backticks   ``x`` shown as text: in prose, or in a docstring block rendered as code
#   rst-table       a '=====' rule of an RST table in a docstring block rendered as code
#   rst-literal     a paragraph ending in '::' (an RST literal block's marker)
#   unresolved-ref  a '[name][path]' cross-reference left as text (prose or a docstring block)
#   checked         a field rule, 'checked(', anywhere but the rule's own documentation
#   private-name    a private name ('_Something') in a signature
#   private-base    a private base class on a class's 'Bases:' line
#   wide-code       an API page's example (or other docstring block) with a line over
#                   MAX_SIGNATURE characters: cut at the text column's edge at 1280 px
RST_BACKTICKS = re.compile(r"``")
RST_RULE = re.compile(r"^\s*={5,}(\s+={5,})*\s*$", re.MULTILINE)
RST_LITERAL = re.compile(r"\w\)?::\s*$")
REF_IN_PROSE = re.compile(r"\[[^\]\n]+\]\[[\w.]*\]")
# In a code block, only a reference's own shape: a name and a dotted path (or nothing), so that
# `a[0][1]` and `d["k"]["j"]` in an example are not taken for one.
REF_IN_CODE = re.compile(r"\[`?[A-Za-z_][\w.]*`?\]\[(?:[A-Za-z_]\w*(?:\.\w+)+)?\]")
PRIVATE = re.compile(r"(?<!\w)_[A-Za-z]\w*")
RULE_DOCS = "signalinject.core.checked"  # where `checked(` is the subject, not a leak

# Known offenders, each in src/signalinject/benchmarks/ (another change's area while this list was
# written): they are fixed by the lead after the benchmarks merge, and each entry goes as its
# docstring is fixed (an entry that no longer offends fails the test too).
KNOWN_OFFENDERS: set[tuple[str, str, str]] = {
    # benchmarks/scan.py:12-52: the module docstring's "The factory" and "The verdict" are
    # indented under a title line, so Markdown renders them as code blocks: RST double
    # backticks, the '[fit][...]' reference (l. 21) and the verdict rules' RST '=====' table
    # (ll. 37-48) shown raw, lines of 81-92 characters cut at the right edge
    ("api/benchmarks/index.html", "signalinject.benchmarks.scan", "rst-backticks"),
    ("api/benchmarks/index.html", "signalinject.benchmarks.scan", "rst-table"),
    ("api/benchmarks/index.html", "signalinject.benchmarks.scan", "unresolved-ref"),
    ("api/benchmarks/index.html", "signalinject.benchmarks.scan", "wide-code"),
    # benchmarks/figures.py:25: 'seed 0, 100 dpi)::' before the commands (a fenced block wanted);
    # l. 28: a command line of 88 characters
    ("api/benchmarks/index.html", "signalinject.benchmarks.figures", "rst-literal"),
    ("api/benchmarks/index.html", "signalinject.benchmarks.figures", "wide-code"),
    # examples wider than the text column (doctest lines of 81-97 characters): report.py:19,
    # signals.py:40, stats.py:27, sweep.py:23, registry.py:39, perf/trainspeed.py:115
    ("api/benchmarks/index.html", "signalinject.benchmarks.report", "wide-code"),
    ("api/benchmarks/index.html", "signalinject.benchmarks.signals", "wide-code"),
    ("api/benchmarks/index.html", "signalinject.benchmarks.stats", "wide-code"),
    ("api/benchmarks/index.html", "signalinject.benchmarks.sweep", "wide-code"),
    ("api/models/index.html", "signalinject.benchmarks.registry", "wide-code"),
    (
        "api/perf/index.html",
        "signalinject.benchmarks.perf.trainspeed.image_injection_transform",
        "wide-code",
    ),
}


def _rst_and_leaks(rel: str, page: _Page, api: bool) -> dict[tuple[str, str, str], str]:
    """The findings of one page: ``{(page, heading id, kind): an excerpt}``."""
    found: dict[tuple[str, str, str], str] = {}

    def add(at: str, kind: str, text: str, m: re.Match[str]) -> None:
        found.setdefault((rel, at, kind), text[max(0, m.start() - 40) : m.end() + 40])

    # prose, joined per object: a paragraph's text comes in pieces around inline elements
    joined: dict[str, list[str]] = {}
    for at, text in page.prose_at:
        joined.setdefault(at, []).append(text)
    for at, parts in joined.items():
        text = "".join(parts)
        for rx, kind in ((RST_BACKTICKS, "rst-backticks"), (REF_IN_PROSE, "unresolved-ref")):
            if m := rx.search(text):
                add(at, kind, text, m)
        for para in re.split(r"\n\s*\n", text):
            if m := RST_LITERAL.search(para.rstrip()):
                add(at, "rst-literal", para, m)
    every: dict[str, list[str]] = {}  # all text, code included
    for at, text in page.text_at:
        every.setdefault(at, []).append(text)
    for at, parts in every.items():
        text = "".join(parts)
        if at != RULE_DOCS and (m := re.search(r"checked\(", text)):
            add(at, "checked", text, m)
    for at, block in page.blocks:
        if not api:  # a guide's code is code: a docstring in an example may use ``x``
            continue
        for rx, kind in (
            (RST_BACKTICKS, "rst-backticks"),
            (RST_RULE, "rst-table"),
            (REF_IN_CODE, "unresolved-ref"),
            (re.compile(f"^.{{{MAX_SIGNATURE + 1},}}$", re.MULTILINE), "wide-code"),
        ):
            if m := rx.search(block):
                add(at, kind, block, m)
    for at, sig in page.signatures_at:
        flat = " ".join(sig.split())
        if m := PRIVATE.search(flat):
            add(at, "private-name", flat, m)
    for at, line in page.bases:
        if m := PRIVATE.search(line):
            add(at, "private-base", line, m)
    return found


def _site_findings(site: Path) -> dict[tuple[str, str, str], str]:
    found: dict[tuple[str, str, str], str] = {}
    for path in _pages(site):
        rel = path.relative_to(site).as_posix()
        found.update(_rst_and_leaks(rel, _read(path), rel.startswith("api/")))
    # the search index holds the pages' text: what a search result shows
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    for doc in index["docs"]:
        if not doc["location"].endswith("#" + RULE_DOCS) and "checked(" in doc["text"]:
            found.setdefault(("search", doc["location"], "checked"), doc["text"][:120])
    return found


@pytest.mark.slow
def test_no_raw_rst_and_no_leaked_internals_in_any_page(site: Path) -> None:
    """Every page reads as Markdown renders it: no raw RST (double backticks, '=====' tables,
    '::' literal markers, unresolved cross-references), no field rule (``checked(``) outside the
    rule's own documentation, search results included, and no private name in a signature or
    among a class's bases. The known offenders are listed above, exactly."""
    found = _site_findings(site)
    new = {k: v for k, v in found.items() if k not in KNOWN_OFFENDERS}
    fixed = KNOWN_OFFENDERS - set(found)
    msg = [f"{p} {at}: {kind}: {found[(p, at, kind)]!r}" for p, at, kind in sorted(new)]
    msg += [f"{p} {at}: {kind} is fixed: remove it from KNOWN_OFFENDERS" for p, at, kind in fixed]
    assert not msg, "\n".join(msg)


def test_rst_and_leak_checks_can_fail() -> None:
    """Each kind of finding is seen where a browser shows it, and only there."""
    page = _Page()
    page.feed(
        '<h2 id="m.f">f</h2><div class="doc-signature"><pre><code>'
        "f(a: int = checked(Integer(low=2)), b: _Rule = 1)</code></pre></div>"
        '<p class="doc doc-class-bases">Bases: <code>_ClassCodes</code>, <code>Injector</code></p>'
        "<p>see ``x`` and [fit][m.fit], then::</p>"
        "<pre><code>=====  =====\n``a``  b\n=====  =====\n[`fit`][m.fit]\n</code></pre>"
        f"<pre><code>&gt;&gt;&gt; a[0][1], d['k']['j'], {'x' * MAX_SIGNATURE}\n</code></pre>"
        '<h2 id="m.g">g</h2><p>inline <code>checked(Real())</code> too</p>'
        '<h2 id="signalinject.core.checked">checked</h2><div class="doc-signature"><pre><code>'
        "checked(rule)</code></pre></div><p>checked(Real(), default=None)</p>"
    )
    got = {(at, kind) for _, at, kind in _rst_and_leaks("p", page, api=True)}
    assert got == {
        ("m.f", k)
        for k in (
            "checked",
            "private-name",
            "private-base",
            "rst-backticks",
            "unresolved-ref",
            "rst-literal",
            "rst-table",
            "wide-code",
        )
    } | {("m.g", "checked")}
    guide = {kind for _, _, kind in _rst_and_leaks("p", page, api=False)}
    assert "rst-table" not in guide  # a guide's code block may hold anything


# Where the signals are documented, and what each signal's section shows.
SIGNAL_PAGES = ("api/image/", "api/text/", "api/triggers/")
CORE_MODULES = (
    "core",
    "footprint",
    "image",
    "image_noise",
    "ranges",
    "quantizer",
    "text",
    "triggers",
    "text_triggers",
    "adapters",
    "sklearn",
)
_OBJECT_HEADING = re.compile(r'<h([2-6]) id="(signalinject(?:\.\w+)+)" class="doc doc-heading')


def _sections(text: str) -> dict[str, str]:
    """Each documented object's HTML, from its heading to the next heading of its level or a
    higher one (its members included)."""
    heads = [(m.start(), int(m.group(1)), m.group(2)) for m in _OBJECT_HEADING.finditer(text)]
    out = {}
    for i, (start, level, ident) in enumerate(heads):
        end = next((s for s, lv, _ in heads[i + 1 :] if lv <= level), len(text))
        out[ident] = text[start:end]
    return out


@pytest.mark.slow
def test_api_pages_open_with_a_summary_and_each_signal_with_itself(site: Path) -> None:
    """Each API page opens with a summary table (name, one line, link to the section); on the
    signal pages every signal's section comes before the helpers and shows its picture (where
    docs/img has one), its signature, its parameters and an example with its output; every
    public name of the core package is documented on some page."""
    from signalinject.core import list_signals

    # the package's own signals (a test run may have registered others of its own)
    builtin = {n: c for n, c in list_signals().items() if c.__module__.startswith("signalinject.")}
    assert len(builtin) >= 13, sorted(builtin)
    bad = []
    documented: set[str] = set()
    for path in sorted((site / "api").rglob("index.html")):
        rel = path.parent.relative_to(site).as_posix() + "/"
        text = path.read_text(encoding="utf-8")
        ids = [m.group(2) for m in _OBJECT_HEADING.finditer(text)]
        documented.update(ids)
        if rel == "api/":
            continue  # the index: a table of the pages
        summary = re.search(r'<div class="si-summary">(.*?)</div>', text, re.DOTALL)
        h1 = text.find("<h1")
        first = next((m.start() for m in _OBJECT_HEADING.finditer(text)), len(text))
        if not summary or not h1 < summary.start() < first:
            bad.append(f"{rel}: no summary table between the title and the first object")
            continue
        rows = re.findall(r'<tr><td>.*?href="#([\w.]+)".*?</td><td>(.*?)</td></tr>', summary[1])
        if len(rows) < 2:
            bad.append(f"{rel}: the summary lists {len(rows)} objects")
        links = re.findall(r'href="#([\w.]+)"', summary[1])
        bad += [f"{rel}: the summary links #{i}, not on the page" for i in links if i not in ids]
        bad += [f"{rel}: #{i} has no line in the summary" for i, line in rows if not line.strip()]
    for name, cls in sorted(builtin.items()):
        ident = f"{cls.__module__}.{cls.__qualname__}"
        page = next(
            (p for p in SIGNAL_PAGES if f'id="{ident}"' in (site / p / "index.html").read_text()),
            None,
        )
        if page is None:
            bad.append(f"{name}: {ident} has no section on {SIGNAL_PAGES}")
            continue
        text = (site / page / "index.html").read_text(encoding="utf-8")
        section = _sections(text)[ident]
        if (ROOT / "docs" / "img" / f"{name}.png").is_file() and f"img/{name}.png" not in section:
            bad.append(f"{name}: its section does not show img/{name}.png")
        if 'class="doc-signature' not in section or "Parameters:" not in section:
            bad.append(f"{name}: its section lacks the signature or the parameters")
        example = re.search(r"Examples:.*?<pre>(.*?)</pre>", section, re.DOTALL)
        shown = html.unescape(re.sub(r"<[^>]+>", "", example.group(1))) if example else ""
        lines = shown.splitlines()
        if not any(line.startswith(">>> ") for line in lines) or all(
            line.startswith((">>>", "...")) for line in lines if line.strip()
        ):
            bad.append(f"{name}: its section has no example with its output")
    for page in SIGNAL_PAGES:
        text = (site / page / "index.html").read_text(encoding="utf-8")
        signals = {f"{c.__module__}.{c.__qualname__}" for c in builtin.values()}
        order = [m.group(2) for m in _OBJECT_HEADING.finditer(text) if m.group(1) == "2"]
        here = [i for i in order if i in signals]
        if order[: len(here)] != here:
            bad.append(f"{page}: the signals do not come first: {order[: len(here) + 1]}")
    import importlib

    for mod in CORE_MODULES:
        module = importlib.import_module(f"signalinject.{mod}")
        missing = [n for n in module.__all__ if f"signalinject.{mod}.{n}" not in documented]
        bad += [f"signalinject.{mod}.{n} is on no API page" for n in missing]
    assert not bad, "\n".join(bad)


# -- the docs read the source as a user calls it (hooks/griffe_fields.py) -------------------------
def _griffe_package() -> Any:
    import griffe

    hook = str(ROOT / "hooks" / "griffe_fields.py")
    extensions = griffe.load_extensions(
        "dataclasses", {hook: {"pictures": str(ROOT / "docs" / "img")}}
    )
    return griffe.load(
        "signalinject",
        search_paths=[str(ROOT / "src")],
        extensions=extensions,
        docstring_parser="google",
    )


def test_docs_signatures_are_the_signatures_python_gives() -> None:
    """Every public dataclass of the package has, in the docs, the parameters Python gives it:
    the same names, kinds (keyword-only after ``*``) and defaults (a field rule's default, a
    required field none), with no private name among its bases."""
    import dataclasses
    import importlib
    import inspect
    import pkgutil

    pkg = _griffe_package()
    names = ["signalinject"] + [
        m.name for m in pkgutil.walk_packages(signalinject.__path__, "signalinject.")
    ]
    seen, bad = 0, []
    for modname in names:
        if modname.rsplit(".", 1)[-1].startswith("_"):
            continue
        module = importlib.import_module(modname)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) and dataclasses.is_dataclass(obj)):
                continue
            if obj.__module__ != modname:
                continue  # documented where it is defined
            doc = pkg[f"{modname}.{name}".removeprefix("signalinject.")]
            seen += 1
            bad += [f"{doc.path}: base {b}" for b in doc.bases if PRIVATE.match(str(b))]
            params = [p for p in doc.members["__init__"].parameters if p.name != "self"]
            got = [(p.name, p.kind.value) for p in params]
            real = inspect.signature(obj).parameters.values()
            want = [(p.name, p.kind.description) for p in real]
            if got != want:
                bad.append(f"{doc.path}: parameters {got} != {want}")
                continue
            for p, q in zip(params, real, strict=True):
                if q.default is inspect.Parameter.empty:
                    if p.default is not None:
                        bad.append(f"{doc.path}({p.name}): required, shown = {p.default}")
                    continue
                namespace = vars(module) | {"field": dataclasses.field}
                try:
                    value = eval(str(p.default), namespace)  # the default as the docs show it
                except Exception as e:
                    bad.append(f"{doc.path}({p.name}): default {p.default} ({e})")
                    continue
                field = {f.name: f for f in dataclasses.fields(obj)}.get(p.name)
                want_value = q.default
                if field is not None and field.default_factory is not dataclasses.MISSING:
                    want_value = field.default_factory()  # shown as the factory's call
                if value != want_value:
                    bad.append(f"{doc.path}({p.name}): default {p.default} != {want_value!r}")
    assert seen > 30, seen
    assert not bad, "\n".join(bad)


def test_docs_show_a_signals_own_members_and_picture() -> None:
    """A private base's public members are documented on the class; the signal's picture sits
    after its docstring's first paragraph; a parameter the class does not describe takes its
    base's description; a constant documented by a #: comment has it as its docstring."""
    pkg = _griffe_package()
    one = pkg["image.OnePixel"]
    assert [str(b) for b in one.bases] == ["ImageInjector"]
    for member in ("code_values", "capacity_for", "for_benchmark"):
        assert member in one.members, member
    first, picture = one.docstring.value.split("\n\n")[:2]
    assert first.startswith("One fixed pixel")
    assert picture == "![OnePixel: what it writes](../img/one_pixel.png)"
    (params,) = [s for s in one.docstring.parsed if s.kind.value == "parameters"]
    seed = next(p for p in params.value if p.name == "seed")
    assert seed.description.startswith("seed of every per-sample draw")  # Injector's
    assert str(seed.default) == "0"
    assert pkg["image.Footprint"].docstring.value.startswith("Where an image signal may write")
    assert pkg["core.Injector.num_classes"].value is None  # required: no checked(...) value
    assert str(pkg["text.LengthEncoding.__init__"].parameters["pad"].default) == "' '"


def test_summary_hook_lists_a_pages_module_level_objects() -> None:
    summary = _hook("api_summary")
    page = (
        "<h1>T</h1><p>intro</p>" + summary.MARKER + '<h2 id="signalinject.image.OnePixel" '
        'class="doc doc-heading"><code class="doc-symbol doc-symbol-heading doc-symbol-class">'
        '</code> OnePixel</h2><div class="doc-signature"><pre>OnePixel()</pre></div><div '
        'class="doc doc-contents first"><p>One fixed pixel. <a href="x">More</a>.</p></div>'
        '<h3 id="signalinject.image.OnePixel.decode" class="doc doc-heading"><code '
        'class="doc-symbol doc-symbol-heading doc-symbol-method"></code>decode</h3>'
        '<div class="doc doc-contents"><p>Read it.</p></div>'
    )
    out = summary.summarize(page)
    assert summary.MARKER not in out
    rows = re.findall(r'<tr><td>.*?href="#([\w.]+)".*?</td><td>(.*?)</td></tr>', out)
    assert rows == [("signalinject.image.OnePixel", "One fixed pixel. More.")]  # not a method
    long = "A sentence of <code>x. Y</code> words. " + "Then more words, and more; " * 10
    assert summary.first_sentence(long) == "A sentence of <code>x. Y</code> words."
    clause = "First clause, " + "a long tail of words " * 10
    assert summary.first_sentence(clause) == "First clause …"
    many = [("module", "m", "m", "M.")] + [("class", f"m.C{i}", f"C{i}", "") for i in range(40)]
    (row,) = summary.grouped(many)  # a page of many objects: one row per module
    assert row[:4] == ("module", "m", "m", "M.")
    assert len(row[4]) == 40
    assert len(summary.grouped(many[:10])) == 10


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


# -- a release a reader can trust: the site loads nothing remote, follows the reader --------------
# Remote addresses that Material's scripts hold, each with what makes a page use it: a page that
# carries the trigger would load it. An address not listed here fails the test until it is
# classified (a theme update that adds a remote load is caught).
THEME_REMOTES: dict[str, tuple[str | None, str]] = {
    "https://api.github.com/": ('data-md-component="source"', "the repository widget's facts"),
    "https://${e}/api/v4/projects/": ('data-md-component="source"', "the same for GitLab"),
    "https://unpkg.com/mermaid@": ('class="mermaid"', "Mermaid diagrams"),
    "https://unpkg.com/resize-observer-polyfill": (None, "only where ResizeObserver is missing"),
    "https://bit.ly/2s3ChXG": (None, "a line comment in the search worker"),
}
REMOTE_IN_JS = re.compile(r"""https?://[^\s"'`)<>\\]+""")
# link rel values whose href the browser fetches
FETCHED_LINKS = {"stylesheet", "preload", "modulepreload", "prefetch", "preconnect", "icon"}
FETCHED_LINKS |= {"dns-prefetch", "manifest", "apple-touch-icon", "shortcut"}


class _Resources(HTMLParser):
    """The addresses a browser loads for one page: scripts, stylesheets, fonts, images, frames,
    media, and ``url(...)`` in inline styles; and every ``<img>`` with the link around it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loaded: list[str] = []
        self.images: list[tuple[str, str | None]] = []  # (img src, href of the enclosing <a>)
        self._links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a":
            self._links.append(a.get("href"))
        if tag in ("script", "img", "iframe", "source", "video", "audio", "embed", "track"):
            self.loaded += [a[k] for k in ("src", "poster") if a.get(k)]
            self.loaded += [s.split()[0] for s in a.get("srcset", "").split(",") if s.strip()]
        if tag == "object" and a.get("data"):
            self.loaded.append(a["data"])
        if tag == "link" and set(a.get("rel", "").lower().split()) & FETCHED_LINKS:
            self.loaded.append(a.get("href", ""))
        if "style" in a:
            self.loaded += re.findall(r"url\(\s*['\"]?([^'\")]+)", a["style"])
        if tag == "img":
            self.images.append((a.get("src", ""), self._links[-1] if self._links else None))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._links:
            self._links.pop()

    def handle_data(self, data: str) -> None:
        pass


def _resources(path: Path) -> _Resources:
    r = _Resources()
    r.feed(path.read_text(encoding="utf-8"))
    return r


def _remote(url: str) -> bool:
    return bool(re.match(r"(?:https?:)?//", url.strip(), re.IGNORECASE))


def _all_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


@pytest.mark.slow
def test_no_page_loads_anything_from_the_network(site: Path) -> None:
    """Fonts, icons, scripts, styles and images come from the site itself; no script of the
    theme is triggered to fetch from elsewhere (the GitHub API of the repository widget)."""
    bad = []
    pages = _all_pages(site)
    for path in pages:
        r = _resources(path)
        rel = path.relative_to(site)
        bad += [f"{rel}: loads {u}" for u in r.loaded if _remote(u)]
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"<style\b[^>]*>(.*?)</style>", text, re.DOTALL):
            bad += [
                f"{rel}: <style> loads {u}"
                for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", m.group(1))
                if _remote(u)
            ]
    for css in sorted(site.rglob("*.css")):
        text = css.read_text(encoding="utf-8")
        urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", text)
        urls += re.findall(r"@import\s+(?:url\()?['\"]?([^'\")\s;]+)", text)
        bad += [f"{css.relative_to(site)}: loads {u}" for u in urls if _remote(u)]
    html_text = "\n".join(p.read_text(encoding="utf-8") for p in pages)
    # lunr's language files (stemmers, segmenters) are loaded only for the search languages
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    assert index["config"]["lang"] == ["en"], "another search language loads lunr/ files"
    for js in sorted(site.rglob("*.js")):
        if "lunr" in js.relative_to(site).parts:
            continue
        code = re.sub(r"/\*.*?\*/", "", js.read_text(encoding="utf-8"), flags=re.DOTALL)
        for m in REMOTE_IN_JS.finditer(code):  # block comments (licenses) dropped
            url = m.group(0)
            known = [k for k in THEME_REMOTES if url.startswith(k)]
            if not known:
                bad.append(f"{js.relative_to(site)}: an unclassified remote address {url}")
                continue
            trigger, what = THEME_REMOTES[known[0]]
            if trigger is not None and trigger in html_text:
                bad.append(
                    f"{js.relative_to(site)} would fetch {url} ({what}): a page has {trigger}"
                )
    assert len(pages) > 10
    assert not bad, "\n".join(bad)


def test_resource_scan_can_fail() -> None:
    r = _Resources()
    r.feed(
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
        '<link rel="preconnect" href="https://fonts.gstatic.com">'
        '<script src="//cdn.example.org/x.js"></script><img src="img/a.png">'
        '<a href="img/b.png"><img src="img/b.png"></a><div style="background: url(\'http://x.org/y.png\')">'
        '<a href="https://github.com/signalinject/signalinject">a link is not a load</a>'
    )
    assert [u for u in r.loaded if _remote(u)] == [
        "https://fonts.googleapis.com/css?family=Roboto",
        "https://fonts.gstatic.com",
        "//cdn.example.org/x.js",
        "http://x.org/y.png",
    ]
    assert r.images == [("img/a.png", None), ("img/b.png", "img/b.png")]
    js = "fetch(`https://api.github.com/repos/${e}`);/i.test(n)"
    assert REMOTE_IN_JS.findall(js) == ["https://api.github.com/repos/${e}"]


@pytest.mark.slow
def test_every_figure_opens_full_size(site: Path) -> None:
    """A tap on a figure opens the image file alone, where a phone's browser zooms it."""
    bad, seen = [], 0
    for path in _all_pages(site):
        for src, href in _resources(path).images:
            seen += 1
            if href != src:
                bad.append(f"{path.relative_to(site)}: <img src={src!r}> is in a link to {href!r}")
            elif not (path.parent / src).is_file():
                bad.append(f"{path.relative_to(site)}: {src} does not exist")
    assert seen > 10, seen
    assert not bad, "\n".join(bad)


@pytest.mark.slow
def test_pages_follow_the_readers_colour_scheme_with_a_toggle(site: Path) -> None:
    text = (site / "index.html").read_text(encoding="utf-8")
    for media in ("(prefers-color-scheme)", "(prefers-color-scheme: light)"):
        assert f'data-md-color-media="{media}"' in text, media
    dark = re.search(r'<input[^>]*data-md-color-media="\(prefers-color-scheme: dark\)"[^>]*>', text)
    assert dark, "no palette for a dark preference"
    assert 'data-md-color-scheme="slate"' in dark.group(0)
    assert text.count('name="__palette"') == 3  # the toggle cycles auto -> light -> dark
    assert 'data-md-component="palette"' in text


@pytest.mark.slow
def test_footer_version_license_and_edit_links(site: Path) -> None:
    version = signalinject.__version__
    repo = re.search(r"^repo_url: (\S+)$", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE)
    assert repo
    bad = []
    docs = ROOT / "docs"
    for md in sorted(docs.rglob("*.md")):
        rel = md.relative_to(docs).as_posix()
        page = site / (rel[:-3] + ".html" if rel.endswith("index.md") else rel[:-3] + "/index.html")
        text = html.unescape(page.read_text(encoding="utf-8"))
        footer = text[text.index('class="md-copyright"') :]
        if f"signalinject {version}" not in footer or "BSD-3-Clause" not in footer:
            bad.append(f"{rel}: the footer lacks the version {version} or the license")
        if f'href="{repo.group(1)}/edit/main/docs/{rel}"' not in text:
            bad.append(f"{rel}: no 'edit this page' link")
    assert not bad, "\n".join(bad)


@pytest.mark.slow
def test_copy_button_leaves_prompts_and_output_behind(site: Path) -> None:
    """Material copies a block's innerText with ``data-md-copying`` set on it; our stylesheet
    hides the console prompts (Pygments' ``.gp``) and printed output (``.go``) then, so a copied
    ``>>>`` example pastes as code. The theme must still copy that way, and console examples
    must be highlighted with those classes."""
    bundle = "\n".join(p.read_text(encoding="utf-8") for p in site.rglob("bundle.*.min.js"))
    assert 'setAttribute("data-md-copying"' in bundle
    assert ".innerText" in bundle
    css = (site / "css" / "extra.css").read_text(encoding="utf-8")
    rule = re.search(
        r"\[data-md-copying\] \.gp,\s*\.md-typeset \[data-md-copying\] \.go \{\s*display: none;",
        css,
    )
    assert rule, "extra.css no longer hides prompts and output while copying"
    consoles = [
        p for p in _all_pages(site) if 'class="gp">&gt;&gt;&gt; ' in p.read_text(encoding="utf-8")
    ]
    assert consoles, "no console example is highlighted with prompts (.gp)"


@pytest.mark.slow
def test_tables_keep_identifiers_whole(site: Path) -> None:
    """Code in a table cell does not wrap inside the identifier (`shallow_max`, not
    `shallow_` / `max`); prose cells wrap at spaces. Checked on the stylesheet the pages load."""
    css = (site / "css" / "extra.css").read_text(encoding="utf-8")
    rule = re.search(r"\.md-typeset table:not\(\[class\]\) code \{([^}]*)\}", css)
    assert rule, "extra.css has no rule for code in tables"
    assert "white-space: nowrap" in rule.group(1)
    assert "word-break: normal" in rule.group(1)
    link = re.compile(r'<link rel="stylesheet" href="(?:\.\./)*css/extra\.css"')
    without = [str(p.relative_to(site)) for p in _pages(site) if not link.search(p.read_text())]
    assert not without, f"pages without the stylesheet: {without}"


@pytest.mark.slow
def test_gallery_shows_each_examples_output(site: Path) -> None:
    """The gallery's hook ran every script when the site was built: each section ends with
    what the script printed, and the figures it drew are in the site."""
    text = html.unescape((site / "gallery" / "index.html").read_text(encoding="utf-8"))
    for script in sorted((ROOT / "examples").glob("*.py")):
        section = text[text.index(f'id="{script.stem}py"') :]
        nxt = section.find("<h2 ", 10)
        section = section[: nxt if nxt > 0 else None]
        title = re.search(r'class="si-output-title">What <code>([^<]*)</code> printed', section)
        assert title, f"{script.name}: no output"
        assert f"python examples/{script.name}" in title.group(1), title.group(1)
        assert 'class="si-output"' in section, script.name
    figures = sorted((site / "gallery").rglob("*.png"))
    assert figures, "no example drew a figure"
    assert "decode accuracy 100.00%" in text  # numpy_inject.py's output, as it printed it


# -- the paper has one name -------------------------------------------------------------------
# Every file a user reads: the docs, the package's docstrings and messages, the examples.
PAPER_NAMED_IN = [
    *sorted(
        str(p.relative_to(ROOT))
        for pattern in ("docs/**/*.md", "src/**/*.py", "examples/**/*.py", "hooks/*.py")
        for p in ROOT.glob(pattern)
    ),
    *("README.md", "mkdocs.yml", "pyproject.toml", "CITATION.cff"),
]
OTHER_NAMES = re.compile(
    r"Hoffer (?:&|and) Fine|Fine (?:&|and) Soudry|Hoffer, Fine (?:&|and) Soudry|\(2016\)"
)


@pytest.mark.parametrize("name", PAPER_NAMED_IN)
def test_the_paper_is_named_by_its_public_record(name: str) -> None:
    text = " ".join((ROOT / name).read_text(encoding="utf-8").split())
    found = [m.group(0) for m in OTHER_NAMES.finditer(text)]
    assert not found, f"{name} names the paper {found}: write Hoffer et al. (2018)"


def test_citation_cff_is_the_packages_record() -> None:
    import yaml

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    assert cff["type"] == "software"
    assert str(cff["version"]) == signalinject.__version__
    assert cff["license"] == "BSD-3-Clause"
    (paper,) = cff["references"]
    names = [(a["given-names"], a["family-names"]) for a in paper["authors"]]
    assert names == [("Elad", "Hoffer"), ("Shai", "Fine"), ("Daniel", "Soudry")]
    assert paper["year"] == 2018
    assert "arXiv:1802.05187" in paper["journal"]
    assert paper["title"] == "On the Blindspots of Convolutional Networks"


# -- read in a real browser: headless Chromium at a desktop and a phone width --------------------
def _chromium() -> str | None:
    return next(
        (p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))),
        None,
    )


class _Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (it reads commands from
    fd 3 and writes answers to fd 4, NUL-terminated JSON): no websocket, no extra package."""

    def __init__(self, exe: str, profile: Path) -> None:
        cmd_r, self._out = os.pipe()
        self._in, ans_w = os.pipe()

        def child() -> None:
            os.dup2(cmd_r, 3)
            os.dup2(ans_w, 4)

        flags = ["--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu"]
        flags += ["--disable-quic", "--no-first-run", "--disable-background-networking"]
        flags += ["--disable-component-update", "--disable-sync", "--hide-scrollbars"]
        self.proc = subprocess.Popen(
            [exe, *flags, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=child,
        )
        os.close(cmd_r)
        os.close(ans_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def _next(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed its pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return dict(json.loads(raw))

    def send(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            answer = self._next(deadline)
            if answer.get("id") == self._id:
                assert "error" not in answer, f"{method}: {answer['error']}"
                return answer["result"]
            self.events.append(answer)

    def wait(self, method: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._next(deadline))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._in)
        os.close(self._out)


# What one page shows, measured in the page (JavaScript run by the browser after load).
_MEASURE = """(() => {
  const split = [...document.querySelectorAll('.md-typeset table code')]
    .filter(c => !c.classList.contains('si-wrap') && c.getClientRects().length > 1)
    .map(c => c.textContent);
  const scrolling = [...document.querySelectorAll('.md-typeset__scrollwrap')]
    .filter(w => w.scrollWidth > w.clientWidth + 1)
    .map(w => [...w.querySelectorAll('th')].map(h => h.textContent.trim()).join(' | ')
              + ` (${w.scrollWidth} px in ${w.clientWidth})`);
  const code = [...document.querySelectorAll('pre code')].find(c => c.querySelector('.gp'));
  let copied = null;
  if (code) {  // what Material's copy button copies (bundle: extract())
    code.setAttribute('data-md-copying', '');
    copied = code.innerText;
    code.removeAttribute('data-md-copying');
  }
  return {split, scrolling, copied,
          sideways: document.documentElement.scrollWidth > window.innerWidth + 1,
          dark: getComputedStyle(document.body).getPropertyValue('--md-default-bg-color')};
})()"""


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The built site over HTTP on 127.0.0.1 (a free port), as a reader's browser gets it."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def _read_in_browser(
    base: str, pages: list[str], width: int, height: int, tmp: Path, dark: bool = False
) -> dict[str, dict[str, Any]]:
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    browser = _Browser(exe, tmp / f"profile-{width}-{dark}")
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        sid = sid["sessionId"]
        for domain in ("Network", "Page", "Runtime"):
            browser.send(f"{domain}.enable", session=sid)
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
        browser.send("Emulation.setDeviceMetricsOverride", metrics, session=sid)
        scheme = [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]
        browser.send("Emulation.setEmulatedMedia", {"features": scheme}, session=sid)
        seen: dict[str, dict[str, Any]] = {}
        for page in pages:
            browser.events.clear()
            browser.send("Page.navigate", {"url": base + page}, session=sid)
            browser.wait("Page.loadEventFired")
            time.sleep(0.5)  # the theme's scripts run on load: let any fetch they start begin
            result = browser.send(
                "Runtime.evaluate", {"expression": _MEASURE, "returnByValue": True}, session=sid
            )["result"]["value"]
            result["requests"] = [
                e["params"]["request"]["url"]
                for e in browser.events
                if e.get("method") == "Network.requestWillBeSent"
            ]
            seen[page] = result
        return seen
    finally:
        browser.close()


def _elsewhere(url: str, base: str) -> bool:
    """Whether the browser asked the network for ``url``: not the site, not inline data."""
    return not url.startswith((base, "data:", "blob:", "about:"))


def _site_pages(site: Path) -> list[str]:
    return [p.relative_to(site).as_posix().removesuffix("index.html") for p in _pages(site)]


@pytest.mark.slow
def test_in_a_browser_at_1280_px(site: Path, served: str, tmp_path: Path) -> None:
    """Every page at 1280x900: nothing requested from anywhere but the site, no identifier (code
    that hooks/pages.py did not mark si-wrap) in a table split over two lines, no table that
    scrolls sideways, and the copy button's text of a console example without its prompts."""
    seen = _read_in_browser(served, _site_pages(site), 1280, 900, tmp_path)
    bad = []
    for page, r in seen.items():
        bad += [f"{page}: requested {u}" for u in r["requests"] if _elsewhere(u, served)]
        bad += [f"{page}: a table splits {c!r}" for c in r["split"]]
        bad += [f"{page}: a table scrolls sideways at 1280 px: {s}" for s in r["scrolling"]]
        if r["copied"] is not None and re.search(r"^(>>>|\.\.\.)( |$)", r["copied"], re.M):
            bad.append(f"{page}: the copy button copies prompts: {r['copied'][:80]!r}")
    assert any(r["copied"] for r in seen.values()), "no console example was copied"
    assert all(r["requests"] for r in seen.values())  # the page and its assets were seen
    assert not bad, "\n".join(bad)


@pytest.mark.slow
def test_in_a_browser_on_a_phone_in_the_dark(site: Path, served: str, tmp_path: Path) -> None:
    """Every page at 390x844 with a dark preference: the page never scrolls sideways (wide
    tables scroll inside their frame), the dark scheme is applied, and nothing is requested
    from elsewhere."""
    seen = _read_in_browser(served, _site_pages(site), 390, 844, tmp_path, dark=True)
    bad = []
    for page, r in seen.items():
        bad += [f"{page}: requested {u}" for u in r["requests"] if _elsewhere(u, served)]
        if r["sideways"]:
            bad.append(f"{page}: the page scrolls sideways at 390 px")
        if r["dark"].strip().lower() in ("#fff", "#ffffff", "white", ""):
            bad.append(f"{page}: a dark preference gets a white page ({r['dark']!r})")
    assert not bad, "\n".join(bad)


def _hook(name: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"_docs_hook_{name}", ROOT / "hooks" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pages_hook_links_figures_and_marks_code_with_spaces() -> None:
    pages = _hook("pages")
    got = pages.zoomable('<p><img alt="a" src="img/a.png"></p><a href="x"><img src="b.png"></a>')
    assert got == (
        '<p><a class="si-zoom" href="img/a.png" title="Open the full-size image">'
        '<img alt="a" src="img/a.png"></a></p><a href="x"><img src="b.png"></a>'
    )
    cell = '<td><code>shallow_max</code> or <code class="n">f(a, b)</code></td><p><code>x y</code>'
    assert pages.wrappable_table_code(cell) == (
        '<td><code>shallow_max</code> or <code class="si-wrap n">f(a, b)</code></td>'
        "<p><code>x y</code>"
    )
    long = '<td><code><a href="x.y.html">signalinject.benchmarks.DATASETS</a></code></td>'
    assert pages.wrappable_table_code(long) == (
        '<td><code class="si-wrap"><a href="x.y.html">signalinject.<wbr>benchmarks.<wbr>DATASETS'
        "</a></code></td>"
    )
    assert pages.wrappable_table_code("<td><code>a.b</code></td>") == "<td><code>a.b</code></td>"
    assert pages.package_version() == signalinject.__version__
    assert f"signalinject {signalinject.__version__}" in pages.footer("0.2.0", "https://x/y/")


def test_gallery_hook_appends_each_scripts_output_to_its_section() -> None:
    gallery = _hook("gallery")
    page = "# Examples\n\nintro\n\n## numpy_inject.py\n\ncode\n\n## nothing_here.py\n\nmore\n"
    assert gallery.scripts(page) == ["numpy_inject.py"]  # only scripts that exist
    run = {"stdout": "hello\n", "command": "python examples/numpy_inject.py", "quick": True}
    out = gallery.output_markdown("numpy_inject.py", run, ["gallery/numpy_inject/a_b.png"])
    assert "<code>SIGNALINJECT_EXAMPLES_QUICK=1 python examples/numpy_inject.py</code>" in out
    assert "printed and drew" in out
    assert "```text\nhello\n```" in out
    assert "![numpy_inject.py: a b](gallery/numpy_inject/a_b.png)" in out
