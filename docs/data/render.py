"""Render the docs' measured tables from the results files kept beside them (docs/data/).

A table in a docs page is written between two markers::

    <!-- render: FILES VIEW [KEY=VALUE ...] -->
    | ... the rendered table ... |
    <!-- end render -->

``FILES``: one or more results files (``results.jsonl`` as a run writes it), relative to
docs/data/, joined by ``+``. ``VIEW`` (every view at most eight columns, the docs' limit):

- ``main``: the headline table's first half (`signalinject.benchmarks.report.headline`): per
  signal, the decode accuracy, the domain model's accuracy, reliance and verdict, the paper's;
- ``readers``: its second half: the competitor that reads each signal best, its accuracy (gain),
  reliance and verdict, the paper's best competitor;
- ``accuracy``, ``reliance``, ``verdicts``, ``drop`` (the shortcut drop, in points): one row per
  model, one column per signal;
- ``seeds``: one row per ``cells=MODEL:SIGNAL:METRIC,...``, one column per seed, then their mean
  with its interval;
- ``thresholds``: the threshold atlas's table (`bench atlas --axis coverage`), from the
  ``thresholds.json`` it writes (``FILES`` is that one file; no filters).
- ``sizes``: a control of one model and signal over training images per class (rows) and image
  sizes (columns), from the lines ``controls/multiple_locations.py`` writes (``FILES`` is that
  one file): ``metric=accuracy`` (with the clean model's accuracy) or ``metric=reliance`` (with
  its verdict), each with its 95% Wilson interval.

Filters, before the view: ``seed=0``, ``blank=true|false``, ``models=a,b``, ``signals=a,b``.

``python docs/data/render.py`` rewrites every marked table of docs/*.md from the stored results
(a change of wording or layout in the report re-renders them without retraining);
``--check`` writes nothing and exits 1 naming the pages whose tables differ
(tests/test_docs_tables.py runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from signalinject.benchmarks import report
from signalinject.benchmarks import stats as _stats
from signalinject.benchmarks.coverage import threshold_atlas_table
from signalinject.benchmarks.registry import display_name
from signalinject.benchmarks.signals import SIGNALS

DATA = Path(__file__).resolve().parent
DOCS = DATA.parent
BLOCK = re.compile(
    r"(<!-- render: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)(<!-- end render -->)", re.DOTALL
)
METRICS = ("accuracy", "reliance", "decode_accuracy", "clean_accuracy", "gain")


def _file(name: str) -> Path:
    path = DATA / name
    if not path.is_file():
        raise ValueError(f"render: no results file {path}")
    return path


def _rows(files: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in files.split("+"):
        rows.extend(report.read_rows(_file(name)))
    return rows


def _filter(rows: list[dict[str, Any]], opts: dict[str, str]) -> list[dict[str, Any]]:
    if "seed" in opts:
        seeds = {int(s) for s in opts["seed"].split(",")}
        rows = [r for r in rows if r["seed"] in seeds]
    if "blank" in opts:
        want = opts["blank"] == "true"
        rows = [r for r in rows if bool(r.get("blank")) == want]
    for key, field in (("models", "model"), ("signals", "signal")):
        if key in opts:
            keep = opts[key].split(",")
            rows = [r for r in rows if r[field] in keep]
    if not rows:
        raise ValueError(f"render: no rows left after the filters {opts}")
    return rows


def _seeds_table(rows: list[dict[str, Any]], cells: str) -> str:
    seeds = sorted({int(r["seed"]) for r in rows})
    mean = "mean (seeds " + ",".join(map(str, seeds)) + ")"
    header = ["Cell", *(f"seed {s}" for s in seeds), mean]
    body = []
    for cell in cells.split(","):
        model, signal, metric = cell.split(":")
        if metric not in METRICS:
            raise ValueError(f"render: metric must be one of {METRICS}, got {metric!r}")
        mine = [r for r in rows if r["model"] == model and r["signal"] == signal]
        per_seed = []
        for s in seeds:
            one = [r for r in mine if r["seed"] == s]
            per_seed.append(report.summarize(one)[(signal, model)][metric].pct() if one else "–")
        both = report.summarize(mine)[(signal, model)][metric].pct() if mine else "not measured"
        label = f"{display_name(model)}, {_signal(signal)}"
        body.append([f"{label}: {metric.replace('_', ' ')}", *per_seed, both])
    return _md(header, body)


def _md(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])


def _signal(signal: str) -> str:
    return (
        SIGNALS[signal].paper_name if signal in SIGNALS else signal.replace("_", " ").capitalize()
    )


def _pct_signed(s: report.Stat) -> str:
    return "–" if s.mean is None else f"{100 * s.mean:+.1f}"


def _headline(rows: list[dict[str, Any]], half: str) -> str:
    lines = report.headline(rows)
    kind = "image" if rows[0].get("suite") == "images" else "text"
    paper = report.PAPER[kind]
    main = display_name(str(report._main(rows, None)))  # the report's own rule
    if half == "main":
        header = ["Signal", "Decode", main, "Reliance", "Verdict",
                  f"Paper: {paper.model} ({paper.dataset})"]  # fmt: skip
        body = [
            [
                _signal(h.signal),
                h.decode.pct(),
                h.main_accuracy.pct(),
                h.main_reliance.pct(),
                h.main_verdict or "–",
                h.paper_main.text(),
            ]
            for h in lines
        ]
        return _md(header, body)
    header = ["Signal", "Best reader", "Accuracy (gain)", "Reliance", "Verdict",
              f"Paper: best ({paper.dataset})"]  # fmt: skip
    body = []
    for h in lines:
        if h.signal == "clean":
            continue
        if h.closest is None:
            who = "–"
        elif h.reader is None:
            who = f"no model reads it (closest: {display_name(h.closest)})"
        else:
            who = display_name(h.reader)
        acc = f"{h.reader_accuracy.pct()} ({_pct_signed(h.reader_gain)})"
        body.append([_signal(h.signal), who, acc, h.reader_reliance.pct(),
                     h.reader_verdict or "–", h.paper_best.text()])  # fmt: skip
    return _md(header, body)


def _by_model(rows: list[dict[str, Any]], metric: str) -> str:
    stats = report.summarize(rows)
    verdict = report.verdicts(rows)
    signals = list(dict.fromkeys(str(r["signal"]) for r in rows))
    if metric != "accuracy":
        signals = [s for s in signals if s != "clean"]
    models = list(dict.fromkeys(str(r["model"]) for r in rows))
    body = []
    for m in models:
        cells = []
        for sig in signals:
            if (sig, m) not in stats:
                cells.append("–")
            elif metric == "verdicts":
                cells.append(verdict.get((sig, m)) or "–")
            elif metric == "drop":
                drop = stats[(sig, m)]["shortcut_drop"]
                cells.append("–" if drop.mean is None else drop.pct())
            else:
                cells.append(stats[(sig, m)][metric].pct())
        body.append([display_name(m), *cells])
    return _md(["Model", *(_signal(s) for s in signals)], body)


def _sizes_table(rows: list[dict[str, Any]], metric: str) -> str:
    if metric not in ("accuracy", "reliance"):
        raise ValueError(f"render: the sizes view takes metric=accuracy|reliance, got {metric!r}")
    if not rows:
        raise ValueError("render: the sizes view got no rows")
    sizes = list(dict.fromkeys(tuple(r["size"]) for r in rows))
    header = ["Images per class (fit on)"]
    for size in sizes:
        values = next(r["features"] for r in rows if tuple(r["size"]) == size)
        header.append("x".join(map(str, size)) + f" ({values:,} values)")
    body = []
    for n in sorted({int(r["per_class"]) for r in rows}):
        line = [f"{n:,} ({10 * n:,})"]
        for size in sizes:
            r = next((r for r in rows if r["per_class"] == n and tuple(r["size"]) == size), None)
            if r is None:
                line.append("–")
                continue
            if metric == "accuracy":
                stat = _stats.wilson_interval(r["correct"], r["n_test"])
                value, extra = (
                    r["correct"] / r["n_test"],
                    f"clean {r['clean_correct'] / r['n_test']:.1%}",
                )
            else:
                stat = _stats.wilson_interval(r["followed"], r["carried"])
                value = r["followed"] / r["carried"]
                k = int(r["num_classes"])
                fit = _stats.learned(r["clean_correct"], r["n_test"], 1.0 / k)
                extra = str(_stats.verdict(value, k, interval=stat, learned=fit))
            line.append(f"{100 * value:.1f} [{100 * stat[0]:.1f}, {100 * stat[1]:.1f}] ({extra})")
        body.append(line)
    return _md(header, body)


def render(spec: str) -> str:
    """The Markdown table of one marker's ``spec`` (``FILES VIEW [KEY=VALUE ...]``)."""
    parts = spec.split()
    if len(parts) < 2:
        raise ValueError(f"render: expected 'FILES VIEW [KEY=VALUE ...]', got {spec!r}")
    files, view, *rest = parts
    opts = dict(p.split("=", 1) for p in rest)
    if view == "thresholds":
        if opts:
            raise ValueError(f"render: the thresholds view takes no filters, got {spec!r}")
        entries = json.loads(_file(files).read_text(encoding="utf-8"))["entries"]
        return threshold_atlas_table(entries)
    if view == "sizes":
        if set(opts) != {"metric"}:
            raise ValueError(f"render: the sizes view takes metric= and nothing else, got {spec!r}")
        lines = _file(files).read_text(encoding="utf-8").splitlines()
        return _sizes_table([json.loads(line) for line in lines if line.strip()], opts["metric"])
    rows = _filter(_rows(files), {k: v for k, v in opts.items() if k != "cells"})
    if view in ("main", "readers"):
        return _headline(rows, view)
    if view in ("accuracy", "reliance", "verdicts", "drop"):
        return _by_model(rows, view)
    if view == "seeds":
        return _seeds_table(rows, opts["cells"])
    raise ValueError(f"render: unknown view {view!r}")


def rendered(text: str) -> str:
    """``text`` with every marked table rendered again."""

    def one(m: re.Match[str]) -> str:
        return f"{m.group(1)}{render(m.group('spec')).rstrip()}\n{m.group(4)}"

    return BLOCK.sub(one, text)


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite (or, with ``--check``, compare) the marked tables of the docs pages."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    ap.add_argument("pages", nargs="*", type=Path, help="pages (default: docs/*.md)")
    args = ap.parse_args(argv)
    pages = args.pages or sorted(DOCS.glob("*.md"))
    stale = []
    for page in pages:
        text = page.read_text()
        new = rendered(text)
        if new != text:
            stale.append(page)
            if not args.check:
                page.write_text(new)
    for page in stale:
        print(f"{'stale' if args.check else 'rendered'}: {page}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
