"""mkdocs hooks for the whole site: the footer's version line, and figures that open full size.

- The footer (``copyright``) names the package's version, read from ``src/signalinject``'s
  ``__version__`` (the one the wheel carries), its license and the Cite page, so that no page
  has to be edited at a release.
- Every image of a page that is not already a link becomes a link to the image file itself: on
  a phone a tap opens the figure alone, where the browser zooms it (no script, nothing loaded
  from the network).
- Code in a table cell that holds spaces (a default such as ``(0, 0)``) is
  marked ``si-wrap``: the stylesheet lets it wrap at its spaces; so is a long qualified name or
  path (``signalinject.benchmarks.datasets.DATASETS``), which gets break opportunities after its
  dots and slashes. Other code (an identifier such as ``shallow_max``) never wraps, so no
  identifier is cut in two.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LICENSE = "BSD-3-Clause"


def package_version(root: Path = ROOT) -> str:
    """``__version__`` of ``src/signalinject/__init__.py``, read without importing the package."""
    tree = ast.parse((root / "src" / "signalinject" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            return str(ast.literal_eval(node.value))
    raise ValueError("src/signalinject/__init__.py sets no __version__")


def footer(version: str, repo_url: str) -> str:
    """The footer's line: the version, the license (a link to the LICENSE file) and how to cite."""
    repo = repo_url.rstrip("/")
    return (
        f"signalinject {version} · "
        f'<a href="{repo}/blob/main/LICENSE">{LICENSE} license</a> · '
        f'<a href="{repo}/blob/main/CITATION.cff">CITATION.cff</a>'
    )


_TAG = re.compile(r"<a\b[^>]*>|</a\s*>|<img\b[^>]*>", re.IGNORECASE)
_SRC = re.compile(r'\bsrc="([^"]+)"')


def zoomable(html: str) -> str:
    """``html`` with every ``<img>`` that is not inside a link wrapped in a link to its ``src``."""
    out: list[str] = []
    last = 0
    depth = 0  # open <a> elements at this point
    for m in _TAG.finditer(html):
        tag = m.group(0)
        low = tag.lower()
        if low.startswith("</a"):
            depth = max(depth - 1, 0)
        elif low.startswith("<a"):
            depth += 1
        elif depth == 0:
            src = _SRC.search(tag)
            if src:
                out.append(html[last : m.start()])
                out.append(
                    f'<a class="si-zoom" href="{src.group(1)}" '
                    f'title="Open the full-size image">{tag}</a>'
                )
                last = m.end()
    out.append(html[last:])
    return "".join(out)


_CELL = re.compile(r"<t[dh]\b[^>]*>.*?</t[dh]>", re.DOTALL)
_CODE = re.compile(r"<code\b([^>]*)>(.*?)</code>", re.DOTALL)


LONG_PATH = 24  # characters: a dotted or slashed name longer than this may wrap at . and /


def _mark_code(cell: re.Match[str]) -> str:
    def mark(code: re.Match[str]) -> str:
        attrs, inner = code.group(1), code.group(2)
        text = re.sub(r"<[^>]+>", "", inner).strip()
        if not re.search(r"\s", text):
            if len(text) <= LONG_PATH or not re.search(r"[./]", text):
                return code.group(0)  # an identifier: never cut
            # a long qualified name or path: break opportunities after its dots and slashes
            # (in the text between tags, not in a link's address)
            inner = re.sub(
                r"(?<=>)([^<]+)|^([^<]+)",
                lambda m: re.sub(r"([./])", r"\1<wbr>", m.group(0)),
                inner,
            )
        if 'class="' in attrs:
            attrs = attrs.replace('class="', 'class="si-wrap ', 1)
        else:
            attrs += ' class="si-wrap"'
        return f"<code{attrs}>{inner}</code>"

    return _CODE.sub(mark, cell.group(0))


def wrappable_table_code(html: str) -> str:
    """``html`` with each ``<code>`` of a table cell that may wrap marked ``si-wrap``: text with
    a space, or a qualified name or path longer than ``LONG_PATH`` (with ``<wbr>`` after each
    ``.`` and ``/``)."""
    return _CELL.sub(_mark_code, html)


def on_config(config: Any) -> Any:
    config["copyright"] = footer(package_version(), config["repo_url"])
    return config


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    return wrappable_table_code(zoomable(html))
