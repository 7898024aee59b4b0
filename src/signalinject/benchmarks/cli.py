"""The ``signalinject`` command line: a thin layer over the benchmark API.

``signalinject bench images`` and ``signalinject bench text`` run the paper's experiments
(:func:`signalinject.benchmarks.runner.run`) and write the tables and the figure
(:func:`signalinject.benchmarks.report.write_report`). Each subcommand is one function that adds
its parser (``add_<name>_parser(subparsers)``) and sets ``func`` to its handler
``(argparse.Namespace) -> int``; new subcommands plug in by adding their function to
:data:`COMMANDS` (top level) or :data:`BENCH_COMMANDS` (under ``bench``).

>>> build_parser().parse_args(["bench", "images", "--limit", "100"]).limit
100
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from signalinject.benchmarks.figures import add_show_parser
from signalinject.benchmarks.runner import SUITES, BenchConfig, ResultsLockedError, Suite
from signalinject.benchmarks.signals import signal_names

__all__ = ["BENCH_COMMANDS", "COMMANDS", "add_bench_parser", "build_parser", "main"]

if TYPE_CHECKING:  # what add_subparsers() returns (not subscriptable at run time)
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction
Registrar = Callable[[Any], None]


def _csv(kind: str) -> Callable[[str], tuple[str, ...]]:
    """An argparse type: ``"a,b"`` -> ``("a", "b")``."""

    def parse(text: str) -> tuple[str, ...]:
        items = tuple(t.strip() for t in text.split(",") if t.strip())
        if not items:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind}, got {text!r}")
        return items

    parse.__name__ = kind  # argparse names the type in its error messages
    return parse


def _seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` -> ``(0, 1, 2)``; ``"0-4"`` -> ``(0, 1, 2, 3, 4)``."""
    out: list[int] = []
    try:
        for part in _csv("seeds")(text):
            lo, sep, hi = part.partition("-")
            out += range(int(lo), int(hi) + 1) if sep else [int(part)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected seeds like 0,1,2 or 0-4, got {text!r}"
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


def _add_suite_parser(subparsers: Subparsers, suite: Suite) -> None:
    from signalinject.benchmarks.datasets import DATASETS

    what = "images (Table 1)" if suite.kind == "image" else "text (Table 3)"
    p = subparsers.add_parser(
        suite.name,
        help=f"the paper's experiments on {what}",
        description=(
            f"Inject each signal into the training and test {suite.kind} data, train every "
            "model, and measure accuracy, gain over clean, the signal's decode accuracy and "
            "the model's reliance on it. Torch models train on all the training data, the "
            "scikit-learn baselines on a quarter of it (as in the paper). Resumable: finished "
            "cells in OUT/results.jsonl are skipped."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", default=suite.dataset, help=f"one of {', '.join(DATASETS)}")
    p.add_argument("--data-dir", default=None, help="where the dataset files are")
    p.add_argument("--download", action="store_true", help="download missing real data")
    p.add_argument(
        "--signals",
        type=_csv("signals"),
        default=",".join(signal_names(suite.kind)),
        metavar="A,B",
        help="signals (clean always runs)",
    )
    p.add_argument(
        "--models",
        type=_csv("models"),
        default=",".join(suite.models),
        metavar="A,B",
        help="torch models and scikit-learn baselines",
    )
    p.add_argument("--epochs", type=_positive, default=suite.epochs, help="torch training epochs")
    p.add_argument("--batch-size", type=_positive, default=suite.batch_size, help="torch batch")
    p.add_argument("--seeds", type=_seeds, default="0", metavar="0,1|0-4", help="seeds")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--out", default=f"signalinject-bench/{suite.name}", help="output directory")
    if suite.kind == "image":
        p.add_argument(
            "--input-scale",
            choices=("unit", "raw"),
            default="unit",
            help="torch input: 0..1 or 0..255 units",
        )
    else:
        p.add_argument(
            "--text-length",
            type=_positive,
            default=argparse.SUPPRESS,
            help="characters per text after quantization (default: 1014 as Zhang et al., "
            "256 for stdlib_docs)",
        )
    p.add_argument(
        "--limit",
        type=_positive,
        default=None,
        help="at most this many train and test samples (quick runs)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=run_bench, suite=suite.name)


def add_bench_images_parser(subparsers: Subparsers) -> None:
    """``signalinject bench images``."""
    _add_suite_parser(subparsers, SUITES["images"])


def add_bench_text_parser(subparsers: Subparsers) -> None:
    """``signalinject bench text``."""
    _add_suite_parser(subparsers, SUITES["text"])


#: The subcommands of ``bench``: each adds its parser to the given subparsers.
BENCH_COMMANDS: list[Registrar] = [add_bench_images_parser, add_bench_text_parser]


def add_bench_parser(subparsers: Subparsers) -> None:
    """``signalinject bench ...``: one subcommand per :data:`BENCH_COMMANDS` entry."""
    p = subparsers.add_parser(
        "bench",
        help="run a benchmark (the paper's tables)",
        description="Run a benchmark; see each subcommand's --help.",
    )
    sub = p.add_subparsers(dest="bench", metavar="SUITE", required=True)
    for add in BENCH_COMMANDS:
        add(sub)


#: The top-level subcommands: each adds its parser to the given subparsers.
COMMANDS: list[Registrar] = [add_bench_parser, add_show_parser]


def build_parser() -> argparse.ArgumentParser:
    """The ``signalinject`` parser with every subcommand of :data:`COMMANDS`."""
    from signalinject import __version__

    parser = argparse.ArgumentParser(
        prog="signalinject",
        description="Find the blindspots of models by injecting a label-revealing signal "
        "(Hoffer & Fine 2016).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def run_bench(args: argparse.Namespace) -> int:
    """Run ``signalinject bench images|text``; print the table and where the files went."""
    from signalinject.benchmarks.report import paper_table, write_report
    from signalinject.benchmarks.runner import run

    options: dict[str, Any] = {
        "dataset": args.dataset,
        "data_dir": args.data_dir,
        "download": args.download,
        "signals": args.signals,
        "models": args.models,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seeds": args.seeds,
        "device": args.device,
        "out": args.out,
        "limit": args.limit,
        "progress": not args.no_progress,
    }
    if hasattr(args, "input_scale"):
        options["input_scale"] = args.input_scale
    if hasattr(args, "text_length"):
        options["text_length"] = args.text_length
    try:
        cfg = BenchConfig.for_suite(args.suite, **options)
    except (TypeError, ValueError) as e:
        print(f"signalinject bench {args.suite}: error: {e}", file=sys.stderr)
        return 2
    try:
        rows = run(cfg)
    except (FileNotFoundError, ResultsLockedError) as e:  # say what to do, no traceback
        print(f"signalinject bench {args.suite}: error: {e}", file=sys.stderr)
        return 1
    paths = write_report(rows, cfg.out)
    print(paper_table(rows))
    print()
    print(f"results: {cfg.out}/results.jsonl")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``signalinject`` console script and ``python -m signalinject``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:  # an application's own logging setup wins
        logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
