"""Write your own signal and ask the paper's question of it with the benchmarks.

The signal is one class in ``examples/my_signals/stripe.py`` (a subclass of
``signalinject.ImageInjector`` with a ``name``, a ``write`` and a ``read``) and a factory
``make_signal(num_classes, seed, strength=None)``. This script

1. loads it as the benchmarks do, by ``MODULE:FACTORY``, and checks its decode on black images;
2. runs ``signalinject bench images --signals <spec>,class_patch`` on the embedded digits
   (two fast scikit-learn models), which writes results.jsonl/md into ``--out``.

Run: ``python examples/own_signal.py [--out DIR] [--limit N]``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from signalinject.benchmarks import cli
from signalinject.benchmarks.signals import user_signal

SPEC = f"{Path(__file__).resolve().parent / 'my_signals' / 'stripe.py'}:make_signal"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="own_signal_results", help="results folder")
    quick = os.environ.get("SIGNALINJECT_EXAMPLES_QUICK") == "1"
    parser.add_argument("--limit", type=int, default=60 if quick else 300, help="samples")
    args = parser.parse_args()

    signal = user_signal(SPEC)  # what `--signals SPEC` resolves to
    inj = signal.factory(10, 0)
    x = np.zeros((100, 16, 16, 3), np.uint8)
    y = np.arange(100) % 10
    acc = float((inj.decode(inj(x, y)) == y).mean())
    print(
        f"{type(inj).__name__} ({signal.cls.name if signal.cls else '?'}): decode accuracy "
        f"{acc:.2%} on black images"
    )

    argv = ["bench", "images", "--signals", f"{SPEC},class_patch", "--limit", str(args.limit)]
    argv += ["--models", "gaussian_nb,decision_tree", "--no-progress", "--out", args.out]
    if cli.main(argv) != 0:
        raise SystemExit("bench images failed")
    for line in (Path(args.out) / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["signal"] != "clean":
            name = "stripe (yours)" if r["signal"] == SPEC else r["signal"]
            print(
                f"{name:16s} {r['model']:14s} accuracy {r['accuracy']:.3f} "
                f"reliance {r['reliance']:.3f}"
            )


if __name__ == "__main__":
    main()
