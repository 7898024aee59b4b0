"""mkdocs hook: a summary table atop each API page (name, one line, link), made from the page.

An API page (``docs/api/*.md``) marks where its summary goes with the line
``<!-- api-summary -->``. When the page is built, the marker becomes a table of every object the
page documents at module level (classes, functions, type aliases, constants, modules), in the
page's order: the object's kind, its name linking to its section, and the first sentence of its
docstring as rendered there. A page of more than ``MAX_ROWS`` objects (the benchmarks, module
by module) gets one row per module instead, its objects listed as links. The table is read off
the rendered page, so it cannot drift from it.
"""

from __future__ import annotations

import html
import importlib.util
import re
from typing import Any

MARKER = "<!-- api-summary -->"
HEADING = re.compile(
    r'<h(?P<level>[2-6]) id="(?P<id>signalinject(?:\.\w+)*)" class="doc doc-heading[^"]*">'
    r"(?P<inner>.*?)</h(?P=level)>",
    re.DOTALL,
)
KIND = re.compile(r"doc-symbol-(?P<kind>module|class|function|attribute|type_alias)\b")
PARAGRAPH = re.compile(r"<p>(?P<p>.*?)</p>", re.DOTALL)
# A sentence ends at a full stop before a capital letter or a parenthesis (not after "e.g",
# "i.e" or "et al").
SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)(?<!\bal)\.(?=\s+[A-Z(])")
LONG = 160  # characters of text: a longer first paragraph is cut to its first sentence
MAX_ROWS = 40  # a page documenting more objects gets one row per module, its objects as links
LABELS = {
    "module": "mod",
    "class": "class",
    "function": "func",
    "attribute": "attr",
    "type_alias": "type",
}


def _is_module(path: str) -> bool:
    try:
        return importlib.util.find_spec(path) is not None
    except (ImportError, ValueError):
        return False


def _cuts(text: str) -> list[tuple[int, str]]:
    """``(index, char)`` of each character of ``text`` (HTML) outside tags and code spans."""
    out = []
    depth = 0  # open <code> elements
    tag = False
    for i, ch in enumerate(text):
        if ch == "<":
            tag = True
            if text.startswith("<code", i):
                depth += 1
            elif text.startswith("</code", i):
                depth -= 1
        elif ch == ">":
            tag = False
        elif not tag and depth == 0:
            out.append((i, ch))
    return out


def _length(html_text: str) -> int:
    return len(html.unescape(re.sub(r"<[^>]+>", "", html_text)))


def first_sentence(paragraph: str) -> str:
    """The paragraph's HTML (links dropped, code kept), cut when long: to its first sentence,
    and a sentence still longer than ``LONG`` at its last clause (``;``, ``:``, ``,``) that
    ends before it, marked with an ellipsis."""
    text = re.sub(r"</?a\b[^>]*>", "", paragraph)
    text = re.sub(r"<(?!/?code\b)[^>]+>", "", text)  # only <code> stays
    text = " ".join(text.split())
    if _length(text) <= LONG:
        return text
    chars = _cuts(text)
    end = next((i for i, ch in chars if ch == "." and SENTENCE_END.match(text, i)), None)
    if end is not None:
        text = text[: end + 1]
    if _length(text) <= LONG:
        return text
    clauses, parens = [], 0
    for i, ch in chars:
        parens += (ch == "(") - (ch == ")")
        if ch in ";:," and parens == 0 and i < len(text) and _length(text[:i]) <= LONG:
            clauses.append(i)  # a clause's end outside parentheses
    if clauses:
        return text[: clauses[-1]] + " …"
    return text


def entries(page_html: str) -> list[tuple[str, str, str, str]]:
    """``(kind, id, name, summary)`` of each object of ``page_html`` documented at module level
    (its parent is a module), in the page's order."""
    heads = list(HEADING.finditer(page_html))
    out = []
    for i, m in enumerate(heads):
        kind = KIND.search(m.group("inner"))
        if kind is None:
            continue
        path = m.group("id")
        parent = path.rsplit(".", 1)[0]
        if kind.group("kind") != "module" and not _is_module(parent):
            continue  # a member of a class
        end = heads[i + 1].start() if i + 1 < len(heads) else len(page_html)
        body = page_html[m.end() : end]
        start = body.find('class="doc doc-contents')
        p = PARAGRAPH.search(body, max(start, 0))
        summary = first_sentence(p.group("p")) if p and start >= 0 else ""
        name = path if kind.group("kind") == "module" else path.rsplit(".", 1)[1]
        out.append((kind.group("kind"), path, name, summary))
    return out


Row = tuple[str, str, str, str, list[tuple[str, str, str]]]  # kind, id, name, line, members


def grouped(rows: list[tuple[str, str, str, str]]) -> list[Row]:
    """The rows with each object that a module documented on the page holds folded into its
    module's row (as a list of links), where the page has more than ``MAX_ROWS`` rows; else
    the rows as they are (each with no members)."""
    if len(rows) <= MAX_ROWS:
        return [(*r, []) for r in rows]
    modules = {path for kind, path, _, _ in rows if kind == "module"}
    out: list[Row] = []
    index: dict[str, int] = {}
    for kind, path, name, summary in rows:
        parent = path.rsplit(".", 1)[0]
        if kind != "module" and parent in modules and parent in index:
            out[index[parent]][4].append((kind, path, name))
            continue
        if kind == "module":
            index[path] = len(out)
        out.append((kind, path, name, summary, []))
    return out


def _link(kind: str, path: str, name: str) -> str:
    return (
        f'<code class="doc-symbol doc-symbol-toc doc-symbol-{kind}"></code> '
        f'<a href="#{path}"><code>{html.escape(name)}</code></a>'
    )


def table(rows: list[tuple[str, str, str, str]]) -> str:
    """The summary table's HTML: one row per object, or per module with its objects' links
    (``grouped``)."""
    body = []
    for kind, path, name, summary, members in grouped(rows):
        inner = summary
        if members:
            links = ", ".join(
                f'<a href="#{p}"><code>{html.escape(n)}</code></a>' for _, p, n in members
            )
            inner += f'<br><span class="si-summary-members">{links}</span>'
        body.append(f"<tr><td>{_link(kind, path, name)}</td><td>{inner}</td></tr>")
    return (
        '<div class="si-summary"><table>'
        "<thead><tr><th>name</th><th>what it is</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def summarize(page_html: str) -> str:
    """``page_html`` with its marker replaced by the summary of the page's objects."""
    if MARKER not in page_html:
        return page_html
    return page_html.replace(MARKER, table(entries(page_html)), 1)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    return summarize(html)
