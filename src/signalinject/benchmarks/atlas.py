"""The blindspot atlas: which architectures read which signals (``signalinject bench atlas``).

The grid models x signals x seeds, on the data and on blank data (the paper's information
shut-down control), run as two ordinary image benchmarks
([`run`][signalinject.benchmarks.runner.run]) into ``OUT/data`` and
``OUT/blank``: resumable like every bench, one JSON line per cell. The cells are summarized by
`summarize_scan` (the
verdicts come from there, the one place that decides them) and written by
[`write_scan_report`][signalinject.benchmarks.scan.write_scan_report] (``OUT/scan.md``,
``scan.csv``, ``scan.json``, and the heat map ``scan.png``: reliance with the verdict in each cell,
the data above the blank data), plus ``OUT/atlas.md``: the models x signals matrix.

The default models are the registry's (the entries that declare the ``atlas`` run, as named
there: the paper's ConvNet and Shallow Max NN, small variants of the modern models for a CPU,
``resnet18-w16``, ``vit-w64-d4``, ``mixer-w128-d4``, the MLP, and the decision tree); with
``full_size`` those of ``atlas_full``, the modern models at their published CIFAR sizes. Their
parameter counts are in the generated table of docs/models.md
([`signalinject.benchmarks.registry`][signalinject.benchmarks.registry]).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from signalinject.benchmarks._files import atomic_write, make_dir
from signalinject.benchmarks.grid import Share
from signalinject.benchmarks.progress import whole_run
from signalinject.benchmarks.registry import default_models
from signalinject.benchmarks.report import Stat
from signalinject.benchmarks.runner import SUITES, BenchConfig, cell_grid, run
from signalinject.benchmarks.scan import summarize_scan, write_scan_report
from signalinject.benchmarks.settings import RunSettings, WithSettings, flat_config
from signalinject.benchmarks.signals import signal_names

Row = Mapping[str, Any]
logger = logging.getLogger(__name__)

__all__ = ["AtlasConfig", "atlas", "size_warning"]


@dataclasses.dataclass(frozen=True)
class AtlasConfig(WithSettings):
    """What the atlas runs.

    Args:
        models: registered models (with size suffixes such as ``resnet18-w16``), users'
            ``MODULE:FACTORY``; None: the registry's ``atlas`` models, or ``atlas_full`` with
            ``full_size``.
        signals: image signals; None: the paper's five (the image suite's defaults,
            `signal_names`); the others (One-Pixel Shortcut, ClassPatch, Blend, Sinusoid...)
            run when named.
        full_size: the default models at their published sizes.
        settings: what every run shares
            ([`RunSettings`][signalinject.benchmarks.settings.RunSettings]): an image data set
            (by default the image suite's, the embedded ``photo_digits``), seeds, training,
            limit, the output directory (default ``signalinject-bench/atlas``; ``data/`` and
            ``blank/`` hold the runner's results), progress.
    """

    models: tuple[str, ...] | None = None
    signals: tuple[str, ...] | None = None
    full_size: bool = False
    settings: RunSettings = dataclasses.field(default_factory=RunSettings)

    DEFAULT_DATASET: ClassVar[str] = SUITES["images"].dataset
    DEFAULT_OUT: ClassVar[str] = "signalinject-bench/atlas"

    def __post_init__(self) -> None:
        if not isinstance(self.full_size, bool):
            raise TypeError(f"full_size must be True or False, got {self.full_size!r}")
        self._check_settings()
        self.bench_config()  # every other setting is validated by the runner's config

    def bench_config(self, *, blank: bool = False) -> BenchConfig:
        """The image benchmark of the data (``blank=False``) or of blank data, into
        ``out/data`` or ``out/blank``."""
        models = self.models
        if models is None:
            models = default_models("atlas_full" if self.full_size else "atlas")
        out = str(Path(self.out, "blank" if blank else "data"))
        return BenchConfig(
            suite="images",
            signals=signal_names("image") if self.signals is None else self.signals,
            models=models,
            blank=blank,
            settings=dataclasses.replace(self.settings, dataset=self.dataset, out=out),
        )


def atlas(cfg: AtlasConfig, *, share: Share | None = None) -> list[dict[str, Any]]:
    """Run the atlas (finished cells in ``cfg.out`` are reused; ``share`` of it, see
    [`run`][signalinject.benchmarks.runner.run]) and return one cell per (model, signal):
    `summarize_scan`'s rows, with the data and the blank-data results and their verdicts."""
    grids = [cfg.bench_config(), cfg.bench_config(blank=True)]
    kinds = [c.model for g in grids for c in cell_grid(g)]
    with whole_run(kinds, enabled=cfg.settings.progress):  # one estimate for both halves
        rows = run(grids[0], share=share)
        warning = size_warning(summarize_scan(rows)) if rows else None
        if warning:  # said before the blank half's time is spent, and again in atlas.md
            logger.warning("%s (the blank half runs next; a rerun resumes)", warning)
        blank = run(grids[1], share=share)
    return summarize_scan(rows, blank) if rows else []


def size_warning(cells: Sequence[Row]) -> str | None:
    """What a reader must know when the run was too small to answer for some models: those
    that did not learn the clean task (a ``learned`` of False), whose cells cannot tell whether
    they read a signal; None when every model learned.

    Examples:
        >>> cells = [{"model": "mlp", "model_name": "MLP", "learned": False, "n_train": 200},
        ...          {"model": "cnn", "model_name": "CNN", "learned": True, "n_train": 200}]
        >>> print(size_warning(cells))
        too small to answer for 1 of 2 models: at 200 training samples MLP did not learn the \
clean task: where its cells say 'did not learn', whether it reads the signal cannot be told \
(a 'reads' still says it follows it); run with more data (a larger --limit, or none) or more \
--epochs
    """
    names = {str(c["model"]): str(c.get("model_name", c["model"])) for c in cells}
    failed = list(dict.fromkeys(str(c["model"]) for c in cells if c.get("learned") is False))
    if not failed:
        return None
    n = next((c.get("n_train") for c in cells), None)
    who = ", ".join(names[m] for m in failed)
    its, they = ("its", "it reads") if len(failed) == 1 else ("their", "they read")
    return (
        f"too small to answer for {len(failed)} of {len(names)} models: at {n} training samples "
        f"{who} did not learn the clean task: where {its} cells say 'did not learn', whether "
        f"{they} the signal cannot be told (a 'reads' still says it follows it); "
        "run with more data (a larger --limit, or none) or more --epochs"
    )


def atlas_table(cells: Sequence[Row]) -> str:
    """The atlas as a Markdown matrix: one row per model (with its clean accuracy), one column
    per signal; each cell ``reliance verdict, drop D / blank reliance blank verdict`` in percent
    (``mean ± std`` over several seeds); ``drop D``: the shortcut drop in points beside the
    verdict (a measure, not a verdict of its own; absent where it does not apply)."""
    if not cells:
        raise ValueError("cells is empty: nothing to tabulate")
    models = list(dict.fromkeys(str(c["model"]) for c in cells))
    signals = list(dict.fromkeys(str(c["signal"]) for c in cells))
    by = {(str(c["model"]), str(c["signal"])): c for c in cells}
    names = {str(c["signal"]): str(c["signal_name"]) for c in cells}
    header = ["Model", "Clean", *(names[s] for s in signals)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for m in models:
        first = next(c for c in cells if c["model"] == m)
        row = [str(first["model_name"]), _pct(first.get("clean_accuracy"))]
        for s in signals:
            c = by.get((m, s))
            if c is None:
                row.append("–")
                continue
            data = f"{_pct(c.get('reliance'), c.get('reliance_std'))} {c.get('verdict') or '–'}"
            if c.get("shortcut_drop") is not None:
                data += f", drop {100 * float(c['shortcut_drop']):+.1f}"
            b = c.get("blank_reliance")
            blank = f"{_pct(b, c.get('blank_reliance_std'))} {c.get('blank_verdict') or '–'}"
            row.append(f"{data} / {blank}" if b is not None else data)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _pct(mean: Any, std: Any = None) -> str:
    return Stat(mean, std, 1).pct()


def write_atlas_report(
    cells: Sequence[Row], out: str | Path, config: AtlasConfig | None = None
) -> dict[str, Path]:
    """Write ``atlas.md`` (the matrix) and the scan report of the cells (``scan.md``,
    ``scan.csv``, ``scan.json``, ``scan.png``) into ``out``; return the paths by kind."""
    if not cells:
        raise ValueError("cells is empty: nothing to report")
    out = Path(out)
    make_dir(out)
    c0 = cells[0]
    head = (
        f"# Blindspot atlas: {c0['dataset']}\n\n"
        f"Train {c0.get('n_train')} / test {c0.get('n_test')} samples, "
        f"{c0['num_classes']} classes, seeds {c0.get('seeds')}. Each cell: reliance (%) and "
        "verdict on the data, with the shortcut drop (the clean test accuracy lost to the "
        "signal, in points; a measure beside the verdict) / the same on blank data (the "
        "shut-down control, no drop there). Per-cell details: scan.md, scan.csv, scan.json."
    )
    warning = size_warning(cells)
    if warning:
        head += f"\n\n**Warning: {warning}.**"
    md = out / "atlas.md"
    atomic_write(md, f"{head}\n\n{atlas_table(cells)}\n")
    conf = None if config is None else flat_config(config)
    return {"atlas": md, **write_scan_report(cells, out, conf)}
