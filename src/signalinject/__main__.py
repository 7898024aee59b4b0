"""``python -m signalinject ...``: the same as the ``signalinject`` console script."""

import sys

from signalinject.benchmarks.cli import main

if __name__ == "__main__":
    sys.exit(main())
