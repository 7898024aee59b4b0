"""Reproduce one row of the paper's Table 1 through the runner API: one signal, two models.

Hoffer et al. (2018), Table 1, "One pixel": on CIFAR-10 the paper's ConvNet gains nothing from a
pixel that holds the class number (84.7% clean), while a decision tree reads it and reaches 100%.
This runs the same cells (clean and ``one_pixel``, the ConvNet and a decision tree) on the embedded
``photo_digits`` stand-in (the digits over crops of photographs, in CIFAR-10's accuracy regime),
prints the paper-shaped table (the paper's numbers beside ours, the model that reads the signal, 95%
intervals, verdicts) and writes the report files.

    python examples/table1_row.py [--signal pattern_pixels] [--out DIR]

The same run from the command line::

    signalinject bench images --signals one_pixel --models convnet,decision_tree

Results are resumable: run it again with the same ``--out`` and finished cells are read back,
not recomputed. A few minutes on 2 CPU cores (5 ConvNet epochs); ``SIGNALINJECT_EXAMPLES_QUICK=1``
uses 100 samples and one epoch (what the test suite does). On real CIFAR-10 add
``--dataset cifar10 --data-dir DIR`` (the runner reads ``cifar-10-python.tar.gz`` there).
"""

from __future__ import annotations

import argparse
import os

from signalinject.benchmarks.report import paper_table, verdicts, write_report
from signalinject.benchmarks.runner import BenchConfig, run
from signalinject.benchmarks.signals import signal_names

QUICK = os.environ.get("SIGNALINJECT_EXAMPLES_QUICK") == "1"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    image_signals = [s for s in signal_names("image") if s != "clean"]
    parser.add_argument("--signal", default="one_pixel", choices=image_signals)
    parser.add_argument(
        "--dataset", default="photo_digits", help="photo_digits, digits (embedded) or cifar10"
    )
    parser.add_argument("--data-dir", default=None, help="where cifar-10-python.tar.gz is")
    parser.add_argument("--out", default="signalinject-bench/table1-row", help="output directory")
    args = parser.parse_args()

    cfg = BenchConfig.for_suite(
        "images",
        dataset=args.dataset,
        data_dir=args.data_dir,
        signals=(args.signal,),  # "clean" is always run too, first: the reference of the gain
        models=("convnet", "decision_tree"),
        epochs=1 if QUICK else 5,
        limit=100 if QUICK else None,
        out=args.out,
        progress=not QUICK,
    )
    rows = run(cfg)  # one dict per (seed, signal, model) cell, also in OUT/results.jsonl
    print(paper_table(rows))
    verdict = verdicts(rows)  # reads / partial / ignores / did not learn / non-finite
    for row in rows:
        if row["signal"] != "clean":
            print(
                f"{row['model']:>13}: accuracy {row['accuracy']:.1%} (gain {row['gain']:+.1%}), "
                f"reliance {row['reliance']:.1%}: {verdict[(row['signal'], row['model'])]}"
            )
    for kind, path in write_report(rows, cfg.out).items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
