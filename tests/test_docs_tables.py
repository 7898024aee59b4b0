"""The docs' measured tables are the rendering of the results files kept in docs/data/: a page
whose table was edited by hand, or a report whose layout changed without re-rendering, fails
here (``python docs/data/render.py`` re-renders them)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_render", DOCS / "data" / "render.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


RENDER = _renderer()
PAGES = sorted(p for p in DOCS.glob("*.md") if "<!-- render: " in p.read_text())


def test_some_pages_hold_rendered_tables() -> None:
    names = {p.name for p in PAGES}
    assert {"reproducing.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_tables_are_the_stored_results_rendered(page: Path) -> None:
    text = page.read_text()
    assert RENDER.rendered(text) == text, f"{page.name} is stale: python docs/data/render.py"


def test_a_hand_edited_table_is_found_and_re_rendered(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    spec = "golden/results.jsonl verdicts"
    data = tmp_path / "data" / "golden"
    data.mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "golden" / "images" / "results.jsonl", data / "results.jsonl")
    old = RENDER.DATA
    RENDER.DATA = tmp_path / "data"
    try:
        page.write_text(f"# t\n\n<!-- render: {spec} -->\n| edited |\n<!-- end render -->\n")
        assert RENDER.main(["--check", str(page)]) == 1
        assert RENDER.main([str(page)]) == 0
        text = page.read_text()
        assert "| edited |" not in text
        assert "| Decision tree |" in text
        assert RENDER.main(["--check", str(page)]) == 0
    finally:
        RENDER.DATA = old


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("nothing.jsonl main", "no results file"),
        ("x", "expected 'FILES VIEW"),
        ("../../tests/golden/images/results.jsonl plot", "unknown view 'plot'"),
        ("../../tests/golden/images/results.jsonl main seed=7", "no rows left"),
        ("thresholds/photo_digits.json thresholds seed=0", "takes no filters"),
        ("thresholds/nothing.json thresholds", "no results file"),
        ("controls/nothing.jsonl sizes metric=accuracy", "no results file"),
        ("controls/multiple_locations.jsonl sizes", "takes metric= and nothing else"),
        ("controls/multiple_locations.jsonl sizes metric=gain", "metric=accuracy|reliance"),
        ("controls/multiple_locations.jsonl sizes metric=accuracy seed=0", "nothing else"),
    ],
)
def test_bad_markers_name_the_problem(spec: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RENDER.render(spec)
