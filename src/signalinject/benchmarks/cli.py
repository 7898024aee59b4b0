"""The ``signalinject`` command line: a thin layer over the benchmark API.

``signalinject bench images`` and ``signalinject bench text`` run the paper's experiments
([`run`][signalinject.benchmarks.runner.run]) and write the tables
and the figure
([`write_report`][signalinject.benchmarks.report.write_report]);
``--blank`` runs the information shut-down control and ``--strength`` scales the codes of the
signals that have a strength (a pixel step, a word count).
``signalinject bench sweep`` runs the signal-strength sweep
([`signalinject.benchmarks.sweep`][signalinject.benchmarks.sweep]) and ``signalinject scan
MODULE:FACTORY`` the blindspot scan of a user's model
([`signalinject.benchmarks.scan`][signalinject.benchmarks.scan]). Each subcommand is one function
that adds its parser (``add_<name>_parser(subparsers)``) and sets ``func`` to its handler
``(argparse.Namespace) -> int``; new subcommands plug in by adding their function to
`COMMANDS` (top level) or
`BENCH_COMMANDS` (under ``bench``).

Examples:
    >>> build_parser().parse_args(["bench", "images", "--limit", "100"]).limit
    100
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signalinject.benchmarks.errors import describe_error
from signalinject.benchmarks.perf.throughput import add_parser as add_throughput_parser
from signalinject.benchmarks.perf.trainspeed import add_parser as add_trainspeed_parser
from signalinject.benchmarks.registry import DATASETS, default_models, model_names
from signalinject.benchmarks.runner import SUITES, BenchConfig, Suite, suite_for
from signalinject.benchmarks.settings import RunSettings
from signalinject.benchmarks.show import add_show_parser
from signalinject.benchmarks.signals import kind_names, signal_names
from signalinject.benchmarks.store import RESULTS_FILE, ResultsLockedError
from signalinject.benchmarks.train import PREPROCESS_MODES

__all__ = ["main"]

if TYPE_CHECKING:  # what add_subparsers() returns (not subscriptable at run time)
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction
Registrar = Callable[[Any], None]

_DATA_DIR_HELP = (
    "where the real datasets' files are (default: $SIGNALINJECT_DATA_DIR, else "
    "~/.cache/signalinject)"
)


def _text_lengths() -> str:
    """The text lengths the data sets default to, as ``bench text --help`` says them: ``per
    data set, 256 or 1014`` (each registered text set's, see docs/models.md)."""
    lengths = sorted({d.frame_length for d in DATASETS.values() if d.kind == "text"})
    return f"per data set, {' or '.join(str(n) for n in lengths)}"


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` columns, broken at spaces and after the commas of a
    list such as ``one_pixel,pattern_pixels``, never inside a name (``--text-length``) or a
    number's thousands (``569,994``)."""
    tokens = list(
        re.finditer(r"(?:[^\s,]|(?<=\d),(?=\d{3}))*(?!(?<=\d),\d{3}(?!\d)),(?=\S)|\S+", text)
    )
    lines: list[str] = []
    line = ""
    for i, tok in enumerate(tokens):
        glued = i > 0 and tokens[i - 1].end() == tok.start()  # "a,|b": no space between
        sep = "" if glued or not line else " "
        if line and len(line) + len(sep) + len(tok.group()) > width:
            lines.append(line)
            line = tok.group()
        else:
            line += sep + tok.group()
    return [*lines, line] if line else lines


class _NoBreakFormatter(argparse.HelpFormatter):
    """argparse's help, its lines broken by `_wrap` (argparse itself cuts long words)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return _wrap(text, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in _wrap(text, width - len(indent)))


class HelpFormatter(_NoBreakFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help, unless the help states it (``(default: ...)``);
    lines broken as `_NoBreakFormatter` does."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


#: A parser with more options than this shows them once, under "options:", and its usage line
#: says ``[options]`` (argparse's usage would repeat every option over 8-10 lines).
USAGE_OPTIONS = 4


def _compact_usage(parser: argparse.ArgumentParser) -> None:
    """``usage: signalinject scan [-h] [options] MODULE:FACTORY [MODULE:FACTORY ...]``."""
    if parser.usage is not None:
        return
    options = [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS]
    if len(options) <= USAGE_OPTIONS:
        return
    fmt = parser._get_formatter()
    positionals = [
        fmt._format_args(a, a.dest.upper())
        for a in parser._actions
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
    ]
    parser.usage = " ".join(["%(prog)s [-h] [options]", *positionals])


def _no_break(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and all its subcommands' parsers the no-break formatters and, where they
    have many options, a one-line usage (`_compact_usage`)."""
    base = parser.formatter_class
    defaults = isinstance(base, type) and issubclass(base, argparse.ArgumentDefaultsHelpFormatter)
    parser.formatter_class = HelpFormatter if defaults else _NoBreakFormatter
    _compact_usage(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases: one parser, once
                _no_break(sub)


def _csv(kind: str) -> Callable[[str], tuple[str, ...]]:
    """An argparse type: ``"a,b"`` -> ``("a", "b")``."""

    def parse(text: str) -> tuple[str, ...]:
        items = tuple(t.strip() for t in text.split(",") if t.strip())
        if not items:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind}, got {text!r}")
        return items

    parse.__name__ = kind  # argparse names the type in its error messages
    return parse


MAX_SEEDS = 1000  # a range such as 0-4294967295 is refused, not expanded


def _seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` -> ``(0, 1, 2)``; ``"0-4"`` -> ``(0, 1, 2, 3, 4)``; at most
    `MAX_SEEDS` seeds, a range low to high."""
    out: list[int] = []
    try:
        for part in _csv("seeds")(text):
            lo, sep, hi = part.partition("-")
            first, last = (int(lo), int(hi)) if sep else (int(part), int(part))
            if last < first or len(out) + last - first + 1 > MAX_SEEDS:
                raise ValueError
            out += range(first, last + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected seeds like 0,1,2 or 0-4 (low to high, at most {MAX_SEEDS}), got {text!r}"
        ) from None
    return tuple(out)


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _strengths(text: str) -> tuple[float, ...]:
    """``"1,4,16"`` -> ``(1.0, 4.0, 16.0)``: positive numbers."""
    try:
        out = tuple(float(t) for t in _csv("strengths")(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,4,16, got {text!r}") from None
    if any(not v > 0 or v == float("inf") for v in out):
        raise argparse.ArgumentTypeError(f"expected numbers > 0, got {text!r}")
    return out


def _positive_float(text: str) -> float:
    """``"16"`` -> ``16.0``: one finite number > 0 (a strength, a learning rate)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


def _points(text: str) -> tuple[float, ...]:
    """``"1,0.1,0.01"`` -> ``(1.0, 0.1, 0.01)``: fractions in [0, 1] (a coverage or fidelity
    grid; the sweep's config refuses what its axis cannot take)."""
    try:
        out = tuple(float(t) for t in _csv("points")(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected fractions like 1,0.1,0.01, got {text!r}"
        ) from None
    if any(not 0 <= v <= 1 for v in out):
        raise argparse.ArgumentTypeError(f"expected fractions in [0, 1], got {text!r}")
    return out


def _class(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a class number >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a class number >= 0, got {v}")
    return v


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {v}")
    return v


def _names_help(default: Sequence[str], valid: Sequence[str], note: str) -> str:
    """An option's help that names every valid value once: the others, then the default.

    Examples:
        >>> _names_help(("a", "b"), ("a", "b", "c"), "note")
        'also c, MODULE:FACTORY; note (default: a,b)'
    """
    others = [n for n in valid if n not in default]
    return f"also {', '.join([*others, 'MODULE:FACTORY'])}; {note} (default: {','.join(default)})"


def _add_grid_options(p: argparse.ArgumentParser) -> None:
    """``--shard I/N`` and ``--parallel``: the grid over several processes (see
    [`signalinject.benchmarks.grid`][signalinject.benchmarks.grid])."""
    p.add_argument(
        "--shard", default=None, metavar="I/N", help="run share I of N, from 0 (default: all)"
    )
    p.add_argument(
        "--parallel",
        choices=("cells", "ddp"),
        default="cells",
        metavar="MODE",
        help="torchrun: cells (shares) or ddp",
    )


def _add_data_options(
    p: argparse.ArgumentParser, suite: Suite | None = None, default: str | None = None
) -> None:
    """``--dataset`` (the data sets of ``suite``, else all; default ``default``, else the suite's),
    ``--data-dir`` and ``--download``."""
    names = [d for d in DATASETS if suite is None or suite_for(d) == suite.name]
    dataset = default if default is not None else None if suite is None else suite.dataset
    p.add_argument(
        "--dataset", default=dataset, help=f"one of {', '.join(names)}, or MODULE:FACTORY"
    )
    p.add_argument("--data-dir", default=None, help=_DATA_DIR_HELP)
    p.add_argument("--download", action="store_true", help="download missing real data")


def _add_run_options(
    p: argparse.ArgumentParser,
    *,
    out: str,
    epochs: int | None,
    batch_size: int,
    image: bool = True,
    lr: bool = False,
) -> None:
    """The options of [`RunSettings`][signalinject.benchmarks.settings.RunSettings] beside the
    data's (see `_add_data_options`): ``--epochs`` (None: the suite's), ``--batch-size``,
    ``--lr`` (with ``lr``), ``--seeds``, ``--device``, ``--preprocess`` (with ``image``),
    ``--limit``, ``--out`` and the output options (`_add_output_options`); `_run_settings` reads
    them back."""
    if epochs is None:
        p.add_argument(
            "--epochs", type=_positive, default=None,
            help="torch training epochs (default: images 5, text 30)",
        )  # fmt: skip
    else:
        p.add_argument("--epochs", type=_positive, default=epochs, help="torch training epochs")
    p.add_argument(
        "--batch-size", type=_positive, default=batch_size, metavar="N", help="torch batch"
    )
    # the defaults are RunSettings' own, read from its fields (declared there, once)
    if lr:
        p.add_argument(
            "--lr", type=_positive_float, default=RunSettings.lr, help="torch peak learning rate"
        )
    seeds = ",".join(str(s) for s in RunSettings.seeds)
    p.add_argument("--seeds", type=_seeds, default=seeds, metavar="0,1|0-4", help="seeds")
    p.add_argument("--device", default=RunSettings.device, help="auto, cpu, cuda, cuda:1, mps")
    if image:
        p.add_argument(
            "--preprocess", choices=PREPROCESS_MODES, default=RunSettings.preprocess,
            # one help line (the help fits a screen); the modes: docs/scanning.md, and the
            # message of a wrong one
            metavar="MODE", help=f"torch image input (default: {RunSettings.preprocess})",
        )  # fmt: skip
    p.add_argument(
        "--limit", type=_positive, default=None, help="at most this many samples per split "
        "(default: all)",
    )  # fmt: skip
    p.add_argument("--out", default=out, help="output directory")
    _add_output_options(p)


def _add_output_options(p: argparse.ArgumentParser) -> None:
    """``--threads``, ``--no-progress`` and ``--quiet``: how a run uses the machine and what it
    prints (see `_set_threads` and `_quiet`)."""
    p.add_argument(
        "--threads", type=_positive, default=None, metavar="N",
        help="torch/BLAS threads (default: $OMP_NUM_THREADS, else 1)",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress lines or bars")
    p.add_argument("--quiet", action="store_true", help="print only the paths of the results")


#: The threads per process where neither --threads nor OMP_NUM_THREADS says: one. On a shared
#: machine idle torch threads spin: issue 31 measured the docs' scan at 20-30 CPU-seconds with
#: one thread and 5.3 CPU-minutes with torch's default (one per core), for the same numbers.
DEFAULT_THREADS = 1


def threads_of(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """The threads a run uses: ``--threads``, else ``$OMP_NUM_THREADS`` (a positive integer),
    else `DEFAULT_THREADS`.

    Examples:
        >>> ns = argparse.Namespace(threads=None)
        >>> threads_of(ns, {}), threads_of(ns, {"OMP_NUM_THREADS": "4"})
        (1, 4)
        >>> threads_of(argparse.Namespace(threads=2), {"OMP_NUM_THREADS": "4"})
        2
    """
    if getattr(args, "threads", None) is not None:
        return int(args.threads)
    value = (os.environ if env is None else env).get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_THREADS


def _set_threads(args: argparse.Namespace) -> None:
    """Run torch and the BLAS libraries (NumPy's, scikit-learn's) on `threads_of` threads, for
    the rest of the process."""
    import torch
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    n = threads_of(args)
    torch.set_num_threads(n)
    threadpool_limits(limits=n)


#: glibc's ``mallopt`` parameters (malloc.h) and the size below which ``_keep_freed_memory``
#: serves blocks from the heap and keeps what is freed.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_HEAP_KEEP = 1 << 30


def _keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed blocks of up to ``_HEAP_KEEP`` bytes for reuse, for the rest of
    the process; True where it was set.

    By default glibc maps every block of 128 KiB or more afresh and unmaps it when freed, so each
    training step of a torch model on the CPU faults in its activations' pages again: measured on
    the 2-core VM (the ConvNet, one thread, 150 steps of batch 64), 1.76 million page faults and
    3.9 s of system time, against 6 thousand and 0.03 s with blocks kept (the same peak memory),
    and 15% less CPU time for a ConvNet cell. PyTorch's CPU tuning guide gives the same advice
    (a caching allocator). Only the benchmark commands call it, never ``import signalinject``; it
    does nothing where the C library is not glibc or where the user set ``MALLOC_MMAP_THRESHOLD_``,
    ``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES`` (theirs win). Results are unchanged: where a
    block lives does not change what is computed in it.
    """
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    if any(
        k in os.environ
        for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")
    ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # The mmap threshold first: set alone, the trim threshold made it worse (8.6 million faults).
    return bool(mallopt(_M_MMAP_THRESHOLD, _HEAP_KEEP)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _HEAP_KEEP)
    )


def _quiet(args: argparse.Namespace) -> bool:
    """``--quiet``: no table, no progress, no INFO log lines; only the results' paths."""
    return bool(getattr(args, "quiet", False))


def _print_results(args: argparse.Namespace, table: str, paths: Mapping[str, Any]) -> None:
    """What a finished run prints: the table, then where each file went (``--quiet``: the paths
    alone, one a line)."""
    if _quiet(args):
        for path in paths.values():
            print(path)
        return
    print(table)
    print()
    for kind, path in paths.items():
        print(f"{kind}: {path}")


def _with_results(paths: Mapping[str, Path], out: str) -> dict[str, Path]:
    """``paths`` after the results file of ``out`` (``results``)."""
    return {"results": Path(out, RESULTS_FILE), **paths}


def _run_settings(args: argparse.Namespace) -> RunSettings:
    """The [`RunSettings`][signalinject.benchmarks.settings.RunSettings] of the options that
    `_add_data_options` and `_add_run_options` added: built once per command, it travels
    unchanged to every cell (its checks run here).

    Raises:
        ValueError, TypeError: a setting it refuses (the message names it).
    """
    return RunSettings(
        dataset=args.dataset,
        data_dir=args.data_dir,
        download=args.download,
        seeds=args.seeds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=getattr(args, "lr", RunSettings.lr),
        device=args.device,
        preprocess=getattr(args, "preprocess", RunSettings.preprocess),
        limit=args.limit,
        out=args.out,
        progress=not (args.no_progress or _quiet(args)),
    )


def _add_suite_parser(subparsers: Subparsers, suite: Suite) -> None:

    what = "images (Table 1)" if suite.kind == "image" else "text (Table 3)"
    p = subparsers.add_parser(
        suite.name,
        help=f"the paper's experiments on {what}",
        description=(
            f"Inject each signal into the training and test {suite.kind} data, train every "
            "model, measure accuracy, gain, decode accuracy and reliance. Baselines fit on a "
            "quarter of the training data (as in the paper). Resumable (OUT/results.jsonl)."
        ),
        formatter_class=HelpFormatter,
    )
    _add_data_options(p, suite)
    p.add_argument(
        "--signals",
        type=_csv("signals"),
        default=",".join(signal_names(suite.kind)),
        metavar="A,B",
        help=_names_help(signal_names(suite.kind), kind_names(suite.kind), "clean always runs"),
    )
    p.add_argument(
        "--models",
        type=_csv("models"),
        default=",".join(suite.models),
        metavar="A,B",
        help=_names_help(suite.models, model_names(kind=suite.kind), "resnet18-w16: sized"),
    )
    _add_run_options(
        p,
        out=suite.out,
        epochs=suite.epochs,
        batch_size=suite.batch_size,
        image=suite.kind == "image",
    )
    p.add_argument(
        "--blank",
        action="store_true",
        help="shut-down: blank data + the signal",
    )
    if suite.kind == "image":
        p.add_argument(
            "--strength",
            type=_positive_float,
            default=None,
            help="code strength 0..255, pixel step or noise RMS (default: the paper's)",
        )
    else:
        p.add_argument(
            "--strength",
            type=_positive_float,
            default=None,
            help="copies of trigger_word's class word (run in place of the default signals: "
            "they have none) (default: 1)",
        )
        p.add_argument(
            "--text-length",
            type=_positive,
            default=argparse.SUPPRESS,
            help=f"characters per text after quantization (default: {_text_lengths()})",
        )
    _add_grid_options(p)
    p.set_defaults(func=run_bench, suite=suite.name, resumable=True)


def add_bench_images_parser(subparsers: Subparsers) -> None:
    """``signalinject bench images``."""
    _add_suite_parser(subparsers, SUITES["images"])


def add_bench_text_parser(subparsers: Subparsers) -> None:
    """``signalinject bench text``."""
    _add_suite_parser(subparsers, SUITES["text"])


def add_sweep_parser(subparsers: Subparsers) -> None:
    """``signalinject bench sweep``: the signal-strength sweep."""
    from signalinject.benchmarks.signals import sweepable
    from signalinject.benchmarks.sweep import DEFAULT_STRENGTHS, SweepConfig, sweep_signals

    def _sweepable(kind: Any) -> list[str]:
        """The signals of ``kind`` with a strength, the defaults first."""
        names = [s for s in kind_names(kind) if sweepable(s, kind)]
        first = list(sweep_signals(kind))
        return first + [s for s in names if s not in first]

    def per_kind(values: Callable[[Any], Sequence[Any]]) -> str:
        """``"image 1,4; text 1,2"``: a default of each data kind."""
        return "; ".join(
            f"{kind} {','.join(v if isinstance(v, str) else f'{v:g}' for v in values(kind))}"
            for kind in ("image", "text")
        )

    p = subparsers.add_parser(
        "sweep",
        help="accuracy and reliance against the code strength, coverage or fidelity",
        description=("Reliance and thresholds per strength, coverage or fidelity. Resumable."),
        formatter_class=HelpFormatter,
    )
    _add_data_options(p, default=SweepConfig.DEFAULT_DATASET)
    p.add_argument(
        "--axis", choices=("strength", "coverage", "fidelity"), default="strength",
        metavar="AXIS", help="strength, coverage or fidelity",
    )  # fmt: skip
    p.add_argument(
        "--points", type=_points, default=argparse.SUPPRESS, metavar="P,Q",
        help="coverage or fidelity grid (default: sized to the data)",
    )  # fmt: skip
    p.add_argument(
        "--target", type=_class, default=None, metavar="K",
        help="coverage: only class K carries (default: every class)",
    )  # fmt: skip
    p.add_argument(
        "--strengths", type=_strengths, default=argparse.SUPPRESS, metavar="S,T",
        help=f"code strengths (default: {per_kind(DEFAULT_STRENGTHS.__getitem__)}; "
        "coverage, fidelity: each signal's)",
    )  # fmt: skip
    p.add_argument(
        "--signals", type=_csv("signals"), default=argparse.SUPPRESS, metavar="A,B",
        help=f"with a strength: {per_kind(_sweepable)}; MODULE:FACTORY (default: the first "
        f"{len(sweep_signals('image'))} image, {len(sweep_signals('text'))} text; --axis "
        "coverage or fidelity: the paper's)",
    )  # fmt: skip
    p.add_argument(
        "--models", type=_csv("models"), default=argparse.SUPPRESS, metavar="A,B",
        help="those of 'bench images' or 'bench text' (their --help lists them), or "
        f"MODULE:FACTORY (default: {per_kind(lambda kind: default_models('sweep', kind))})",
    )  # fmt: skip
    p.add_argument("--blank", action="store_true", help="blank data: zero images, empty texts")
    _add_run_options(
        p, out=SweepConfig.DEFAULT_OUT, epochs=None, batch_size=SUITES["images"].batch_size
    )
    out = next(a for a in p._actions if a.dest == "out")
    out.default = None  # each axis has its own directory
    out.help = f"output dir (default: {SweepConfig.DEFAULT_OUT}[-AXIS])"
    _add_grid_options(p)
    p.set_defaults(func=run_sweep, resumable=True)


def add_atlas_parser(subparsers: Subparsers) -> None:
    """``signalinject bench atlas``: models x signals x seeds, on the data and on blank data."""
    from signalinject.benchmarks.atlas import AtlasConfig

    full = ",".join(default_models("atlas_full"))
    p = subparsers.add_parser(
        "atlas",
        help="which architectures read which signals (models x signals, data and blank data)",
        description=(
            "Run 'bench images' for every model and signal on data and on blank data; write "
            "OUT/atlas.md, scan.png, scan.md, .csv, .json. Resumable. Default models: small "
            "variants of the modern ones (--full-size: CIFAR sizes, docs/models.md). Too few "
            "samples (--limit): it names the models that did not learn."
        ),
        formatter_class=HelpFormatter,
    )
    _add_data_options(p, SUITES["images"])
    p.add_argument(
        "--models", type=_csv("models"), default=argparse.SUPPRESS, metavar="A,B",
        help=_names_help(default_models("atlas"), model_names(kind="image"), "resnet18-w32: sized"),
    )  # fmt: skip
    p.add_argument(
        "--full-size",
        action="store_true",
        help=f"the default models at published CIFAR sizes: {full}",
    )
    p.add_argument(
        "--signals", type=_csv("signals"), default=argparse.SUPPRESS, metavar="A,B",
        help=_names_help(signal_names("image")[1:], kind_names("image")[1:], "image signals"),
    )  # fmt: skip
    p.add_argument(
        "--axis", choices=("verdict", "coverage"), default="verdict", metavar="AXIS",
        help="verdict, or coverage: each pair's threshold (first seed, bisection)",
    )  # fmt: skip
    _add_run_options(
        p,
        out=AtlasConfig.DEFAULT_OUT,
        epochs=SUITES["images"].epochs,
        batch_size=SUITES["images"].batch_size,
    )
    _add_grid_options(p)
    p.set_defaults(func=run_atlas, resumable=True)


#: The subcommands of ``bench``: each adds its parser to the given subparsers.
BENCH_COMMANDS: list[Registrar] = [
    add_bench_images_parser,
    add_bench_text_parser,
    add_sweep_parser,
    add_atlas_parser,
    add_throughput_parser,
    add_trainspeed_parser,
]


def add_bench_parser(subparsers: Subparsers) -> None:
    """``signalinject bench ...``: one subcommand per
    `BENCH_COMMANDS` entry."""
    p = subparsers.add_parser(
        "bench",
        help="run a benchmark (the paper's tables)",
        description="Run a benchmark; see each subcommand's --help.",
    )
    sub = p.add_subparsers(dest="bench", metavar="SUITE", required=True)
    for add in BENCH_COMMANDS:
        add(sub)


def add_scan_parser(subparsers: Subparsers) -> None:
    """``signalinject scan MODULE:FACTORY ...``: the blindspot scan of a user's model."""
    from signalinject.benchmarks.scan import ScanConfig

    p = subparsers.add_parser(
        "scan",
        help="scan your own model for blindspots",
        description=(
            "Train your model with each signal injected, also on blank data (the shut-down "
            "control); report accuracy, reliance, a verdict. Writes OUT/scan.*; resumable."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "models",
        nargs="+",
        metavar="MODULE:FACTORY",
        help="factory(input_shape, num_classes) -> nn.Module or estimator; MODULE: a module "
        "or a .py path",
    )
    _add_data_options(p, default=ScanConfig.DEFAULT_DATASET)
    p.add_argument(
        "--signals", type=_csv("signals"), default=argparse.SUPPRESS, metavar="A,B",
        help=f"image {','.join(kind_names('image')[1:])}; text "
        f"{','.join(kind_names('text')[1:])}; MODULE:FACTORY (default: the paper's: the first "
        f"{len(signal_names('image')) - 1} image, {len(signal_names('text')) - 1} text)",
    )  # fmt: skip
    p.add_argument(
        "--text-length", type=_positive, default=argparse.SUPPRESS,
        help="characters per text (default: the data set's)",
    )  # fmt: skip
    p.add_argument(
        "--fit-fraction", type=_fraction, default=1.0, help="training share for estimators"
    )
    p.add_argument(
        "--no-shutdown", action="store_true", help="skip the blank-data shut-down control"
    )
    _add_run_options(
        p, out=ScanConfig.DEFAULT_OUT, epochs=None, batch_size=SUITES["images"].batch_size, lr=True
    )
    p.set_defaults(func=run_scan, resumable=True)


def add_report_parser(subparsers: Subparsers) -> None:
    """``signalinject report --out DIR``: the tables of every results file in DIR."""
    p = subparsers.add_parser(
        "report",
        help="write the tables of a grid run in shares (--shard, several hosts)",
        description=(
            "Read every results file in OUT (results.jsonl and the shares' "
            "results.<I>of<N>.jsonl), refuse two different results for one cell, and write the "
            "tables and figures a single-process run writes."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("--out", required=True, help="the output directory of the shares")
    p.add_argument("--sweep", action="store_true", help="the results of 'bench sweep'")
    p.add_argument("--quiet", action="store_true", help="print only the paths of the results")
    p.set_defaults(func=run_report)


#: The top-level subcommands: each adds its parser to the given subparsers.
COMMANDS: list[Registrar] = [add_bench_parser, add_scan_parser, add_show_parser, add_report_parser]


def build_parser() -> argparse.ArgumentParser:
    """The ``signalinject`` parser with every subcommand of
    `COMMANDS`."""
    from signalinject import __version__

    parser = argparse.ArgumentParser(
        prog="signalinject",
        description="Find the blindspots of models by injecting a label-revealing signal "
        "(Hoffer et al. 2018).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    _no_break(parser)
    return parser


def run_bench(args: argparse.Namespace) -> int:
    """Run ``signalinject bench images|text``; print the table and where the files went."""
    from signalinject.benchmarks.grid import run_grid
    from signalinject.benchmarks.report import paper_table, write_report
    from signalinject.benchmarks.runner import run

    suite = SUITES[args.suite]
    signals = args.signals
    strength = getattr(args, "strength", None)
    if strength is not None and signals == signal_names(suite.kind):
        from signalinject.benchmarks.sweep import sweep_signals

        signals = ("clean", *sweep_signals(suite.kind))  # the default list: the sweep's
        left = [s for s in args.signals if s not in signals]
        added = [s for s in signals if s not in args.signals]
        if left:
            print(
                f"note: --strength: {', '.join(left)} {'has' if len(left) == 1 else 'have'} "
                f"no strength, left out" + (f"; runs {', '.join(added)}" if added else ""),
                file=sys.stderr,
            )
    try:
        cfg = BenchConfig(
            suite=args.suite,
            signals=signals,
            models=args.models,
            text_length=getattr(args, "text_length", None),
            blank=args.blank,
            strength=strength,
            settings=_run_settings(args),
        )
    except (TypeError, ValueError) as e:
        print(f"signalinject bench {args.suite}: error: {describe_error(e)}", file=sys.stderr)
        return 2
    try:
        rows = run_grid(lambda share: run(cfg, share=share), args.parallel, args.shard)
    except ValueError as e:  # a setting that only the data can refuse (a strength too large)
        print(f"signalinject bench {args.suite}: error: {describe_error(e)}", file=sys.stderr)
        return 2
    if rows is None:
        return _share_done(cfg.out)
    paths = write_report(rows, cfg.out)
    _print_results(args, paper_table(rows), _with_results(paths, cfg.out))
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    """Run ``signalinject bench sweep``; print the tables and where the files went."""
    from signalinject.benchmarks.grid import run_grid
    from signalinject.benchmarks.sweep import SweepConfig, sweep, sweep_table, write_sweep_report

    if args.axis != "strength":
        return _run_poison_sweep(args)
    for given, name in (
        (hasattr(args, "points"), "--points"),
        (args.target is not None, "--target"),
    ):
        if given:
            axes = "coverage or fidelity" if name == "--points" else "coverage"
            print(
                f"signalinject bench sweep: error: {name} needs --axis {axes}; the strength "
                "axis takes --strengths",
                file=sys.stderr,
            )
            return 2
    if args.out is None:
        args.out = SweepConfig.DEFAULT_OUT
    try:
        cfg = SweepConfig(
            strengths=getattr(args, "strengths", None),  # absent: the data kind's defaults
            signals=getattr(args, "signals", None),
            models=getattr(args, "models", None),
            blank=args.blank,
            settings=_run_settings(args),
        )
        rows = run_grid(lambda share: sweep(cfg, share=share), args.parallel, args.shard)
    except (TypeError, ValueError) as e:
        print(f"signalinject bench sweep: error: {describe_error(e)}", file=sys.stderr)
        return 2
    if rows is None:
        return _share_done(cfg.out, "--sweep ")
    paths = write_sweep_report(rows, cfg.out)
    _print_results(args, sweep_table(rows), _with_results(paths, cfg.out))
    return 0


def _run_poison_sweep(args: argparse.Namespace) -> int:
    """``signalinject bench sweep --axis coverage|fidelity``: run it, print the tables and
    where the files went."""
    from signalinject.benchmarks.coverage import (
        PoisonSweepConfig,
        poison_sweep,
        poison_table,
        sweep_summary,
        write_poison_report,
    )
    from signalinject.benchmarks.grid import run_grid

    try:
        cfg = PoisonSweepConfig(
            axis=args.axis,
            points=getattr(args, "points", None),
            signals=getattr(args, "signals", None),
            models=getattr(args, "models", None),
            strengths=getattr(args, "strengths", None),
            target=args.target,
            blank=args.blank,
            settings=_run_settings(args),
        )
        rows = run_grid(lambda share: poison_sweep(cfg, share=share), args.parallel, args.shard)
    except (TypeError, ValueError) as e:
        print(f"signalinject bench sweep: error: {describe_error(e)}", file=sys.stderr)
        return 2
    if rows is None:
        return _share_done(cfg.out, "--sweep ")
    paths = write_poison_report(rows, cfg.out, sweep_summary(cfg))
    print(poison_table(rows))
    print()
    print(f"results: {cfg.out}/results.jsonl")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """Run ``signalinject report``; print the table and where the files went."""
    from signalinject.benchmarks.grid import merge_results, ordered_rows, results_files

    try:
        files = results_files(args.out)
    except ValueError as e:  # a results file name that no share writes
        print(f"signalinject report: error: {describe_error(e)}", file=sys.stderr)
        return 2
    if not files:
        print(
            f"signalinject report: error: no results file (results*.jsonl) in {args.out}",
            file=sys.stderr,
        )
        return 2
    try:
        rows = ordered_rows(merge_results(args.out))
        if args.sweep:
            from signalinject.benchmarks.coverage import axis_of, poison_table, write_poison_report
            from signalinject.benchmarks.sweep import sweep_table, write_sweep_report

            if axis_of(rows) == "strength":
                paths, table = write_sweep_report(rows, args.out), sweep_table(rows)
            else:  # a coverage, fidelity or single-target sweep
                paths, table = write_poison_report(rows, args.out), poison_table(rows)
        else:
            from signalinject.benchmarks.report import paper_table, write_report

            paths, table = write_report(rows, args.out), paper_table(rows)
    except ValueError as e:  # conflicting results, or no finished cell yet
        print(f"signalinject report: error: {describe_error(e)}", file=sys.stderr)
        return 2
    _print_results(args, table, paths)
    return 0


def run_atlas(args: argparse.Namespace) -> int:
    """Run ``signalinject bench atlas``; print the matrix and where the files went."""
    from signalinject.benchmarks.atlas import (
        AtlasConfig,
        atlas,
        atlas_table,
        size_warning,
        write_atlas_report,
    )
    from signalinject.benchmarks.grid import run_grid

    try:
        cfg = AtlasConfig(
            models=getattr(args, "models", None),
            signals=getattr(args, "signals", None),
            full_size=args.full_size,
            settings=_run_settings(args),
        )
        if args.axis == "coverage":
            return _run_threshold_atlas(cfg, args)
        cells = run_grid(lambda share: atlas(cfg, share=share), args.parallel, args.shard)
    except (TypeError, ValueError) as e:
        print(f"signalinject bench atlas: error: {describe_error(e)}", file=sys.stderr)
        return 2
    if cells is None:
        return _atlas_share_done(cfg.out)
    paths = write_atlas_report(cells, cfg.out, cfg)
    results = {
        "results": Path(cfg.out, "data", RESULTS_FILE),
        "blank results": Path(cfg.out, "blank", RESULTS_FILE),
    }
    warning = size_warning(cells)
    table = atlas_table(cells) + (f"\n\nWarning: {warning}." if warning else "")
    _print_results(args, table, {**results, **paths})
    return 0


def _run_threshold_atlas(cfg: Any, args: argparse.Namespace) -> int:
    """``signalinject bench atlas --axis coverage``: the thresholds of ``cfg``'s pairs."""
    from signalinject.benchmarks.coverage import (
        threshold_atlas,
        threshold_atlas_table,
        write_threshold_atlas,
    )
    from signalinject.benchmarks.grid import run_grid
    from signalinject.benchmarks.settings import flat_config

    entries = run_grid(lambda share: threshold_atlas(cfg, share=share), args.parallel, args.shard)
    if entries is None:
        return _atlas_share_done(cfg.out, " --axis coverage")
    paths = write_threshold_atlas(entries, cfg.out, flat_config(cfg))
    print(threshold_atlas_table(entries))
    print()
    print(f"results: {cfg.out}/data (full coverage), {cfg.out}/coverage (the probes)")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def _atlas_share_done(out: str, axis: str = "") -> int:
    """What a ``--shard`` process of the atlas prints (the atlas's report is written by a run
    without ``--shard``, which finds every cell done)."""
    from signalinject.benchmarks.grid import torchrun_env

    if torchrun_env()[1] == 1:
        print(
            f"this share's results are in {out}; when every share has finished, the same "
            f"command without --shard writes the report (it trains nothing more): "
            f"signalinject bench atlas{axis} --out {out} ..."
        )
    return 0


def _share_done(out: str, option: str = "") -> int:
    """What a process that ran a share of the grid, and writes no report, prints."""
    from signalinject.benchmarks.grid import torchrun_env

    if torchrun_env()[1] == 1:  # a --shard process; under torchrun rank 0 reports
        print(
            f"this share's results are in {out}; when every share has finished: "
            f"signalinject report {option}--out {out}"
        )
    return 0


def run_scan(args: argparse.Namespace) -> int:
    """Run ``signalinject scan``; print the table and where the files went."""
    from signalinject.benchmarks.scan import (
        ScanConfig,
        config_summary,
        scan,
        scan_table,
        write_scan_report,
    )

    try:
        cfg = ScanConfig(
            models=tuple(args.models),
            signals=getattr(args, "signals", None),
            text_length=getattr(args, "text_length", None),
            fit_fraction=args.fit_fraction,
            shutdown=not args.no_shutdown,
            settings=_run_settings(args),
        )
        rows = scan(cfg)
    except (TypeError, ValueError) as e:  # ModelFactoryError included: the user's model failed
        print(f"signalinject scan: error: {describe_error(e)}", file=sys.stderr)
        return 2
    paths = write_scan_report(rows, cfg.out, config_summary(cfg))
    _print_results(args, scan_table(rows), _with_results(paths, cfg.out))
    return 0


def _attach_values(argv: list[str]) -> list[str]:
    """``--shard -1/2`` as ``--shard=-1/2``: argparse reads a value that starts with ``-`` (and
    is no plain negative number) as an option and stops with its usage; attached, the value
    reaches ``parse_shard``, whose one-line error says what ``I/N`` must be."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg == "--shard":
            value = next(it, None)
            if value is not None and value.startswith("-") and value != "--":
                out.append(f"--shard={value}")
                continue
            out.append(arg)
            if value is not None:
                out.append(value)
            continue
        out.append(arg)
    return out


def _command(args: argparse.Namespace) -> str:
    """``"signalinject bench images"``: the command that ran, for its messages."""
    words = ["signalinject", args.command, getattr(args, "bench", None)]
    return " ".join(w for w in words if w)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``signalinject`` console script and ``python -m signalinject``.

    Exit status: 0 done; 2 a user error (a bad argument, missing or malformed data, a failing
    model factory, an output path that cannot be written, no network for ``--download``); 1 the
    output directory is in use by another run; 130 interrupted (Ctrl-C). Errors are one line on
    stderr, never a traceback.
    """
    parser = build_parser()
    args = parser.parse_args(_attach_values(sys.argv[1:] if argv is None else list(argv)))
    if not logging.getLogger().handlers:  # an application's own logging setup wins
        level = logging.WARNING if _quiet(args) else logging.INFO
        logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
    if hasattr(args, "threads"):  # a command that trains
        _set_threads(args)
        _keep_freed_memory()
    command = _command(args)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        out = getattr(args, "out", None)
        resume = (
            f"; the finished cells are saved in {out}: the same command resumes where it left off"
            if getattr(args, "resumable", False)
            else ""
        )
        print(f"{command}: interrupted{resume}", file=sys.stderr)
        return 130
    except ResultsLockedError as e:
        print(f"{command}: error: {describe_error(e)}", file=sys.stderr)
        return 1
    except OSError as e:  # a file or the network (URLError), wherever it happened
        print(f"{command}: error: {describe_error(e)}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
