"""The ``signalinject show`` subcommand: its parser and its handler, over
[`show`][signalinject.benchmarks.figures.show].

The drawing itself lives in [`signalinject.benchmarks.figures`][signalinject.benchmarks.figures];
this module only turns command-line arguments into a call and its result into a printed path or
an error message (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from signalinject.benchmarks import figures
from signalinject.benchmarks.errors import describe_error
from signalinject.benchmarks.figures import DEFAULT_N, MAX_N, NOISE_GAIN, show
from signalinject.benchmarks.registry import DATASETS, default_dataset

__all__ = []


class _Choices(tuple[str, ...]):
    """The names ``show`` accepts, and any ``MODULE:FACTORY`` (a user's signal)."""

    def __contains__(self, value: object) -> bool:
        return (isinstance(value, str) and ":" in value) or super().__contains__(value)


def add_show_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``show`` subcommand to the CLI's subparsers (its handler:
    `run_show`)."""
    p = subparsers.add_parser(
        "show",
        help="draw the paper's figures: examples with the signal marked (PNG)",
        description=(
            "Draw examples of a signal with its location marked and the decoded label under "
            "each (Figs. 2-5 of Hoffer et al. 2018) and save them as a PNG; 'all' draws the five "
            "image signals in one picture. The path is printed at the end."
        ),
    )
    names = figures.SHOW_SIGNALS  # read now: the registry's signals, users' included
    p.add_argument(
        "signal",
        metavar="SIGNAL",
        choices=_Choices(names),
        help=f"the signal to draw, one of: {', '.join(names)}",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the PNG to write (default: SIGNAL.png in the current directory)",
    )
    p.add_argument(
        "--dataset",
        default=None,
        help=f"one of {', '.join(DATASETS)} (default: {default_dataset('show', 'image')} for "
        f"image signals and all, {default_dataset('show', 'text')} for text signals)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder of the real datasets' files, e.g. CIFAR-10 (default: "
        "$SIGNALINJECT_DATA_DIR, else ~/.cache/signalinject)",
    )
    p.add_argument(
        "--download",
        action="store_true",
        help="download missing real data (default: off, never touches the network)",
    )
    p.add_argument(
        "-n",
        type=int,
        default=None,
        dest="n",
        help=f"number of examples, at most {MAX_N} (default: {DEFAULT_N['image']} images, "
        f"{DEFAULT_N['text']} texts)",
    )
    p.add_argument("--seed", type=int, default=0, help="the injector's seed (default: 0)")
    p.add_argument(
        "--contrast",
        action="store_true",
        help="image signals: draw the faint codes visibly, code pixels in color (lowest code "
        f"blue, highest yellow) and noise amplified x{NOISE_GAIN:g}; display only, the data and "
        "the decoded labels are the real ones (default: off)",
    )
    p.add_argument("--dpi", type=int, default=100, help="PNG resolution (default: 100)")
    p.set_defaults(func=run_show)


def run_show(args: argparse.Namespace) -> int:
    """Run ``signalinject show`` from parsed arguments; print the PNG's path. Returns 0, or 2 on
    bad input (the message goes to stderr)."""
    try:
        path = show(
            args.signal,
            out=args.out,
            dataset=args.dataset,
            data_dir=args.data_dir,
            download=args.download,
            n=args.n,
            seed=args.seed,
            contrast=args.contrast,
            dpi=args.dpi,
        )
    except ValueError as e:
        print(f"signalinject show: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # data not there (the loader says where to put what), --out unwritable
        print(f"signalinject show: error: {describe_error(e)}", file=sys.stderr)
        return 2
    print(path)
    return 0
