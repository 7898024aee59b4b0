"""Inject the paper's five image signals into NumPy arrays and read them back.

Runs offline on the embedded stand-in for CIFAR-10 (scikit-learn's handwritten digits, upsampled
to uint8 32x32x3, channels-last). For each signal it prints the fraction of test images whose
label the injector's own ``decode`` reads back (the signal's information content), then shows
partial coverage and fidelity, ``Compose`` and the configuration round trip.

    python examples/numpy_inject.py

Takes a few seconds on 2 CPU cores.
"""

from __future__ import annotations

import numpy as np

import signalinject as si
from signalinject.benchmarks.datasets import load_digits32


def main() -> None:
    data = load_digits32()
    x, y = np.asarray(data.x_test), data.y_test  # uint8 (445, 32, 32, 3), int64 (445,)
    k = data.num_classes
    print(f"{data.name}: x {x.dtype} {x.shape}, {k} classes")

    signals = [
        si.OnePixel(num_classes=k),  # pixel (0, 0) holds the class number
        si.PatternPixels(num_classes=k),  # the 4 corners hold its bits
        si.RandomPixel(num_classes=k, seed=0),  # a pixel drawn per sample holds it
        si.MultipleLocations(num_classes=k, seed=0),  # a class-specific pair of equal pixels
        si.OrthogonalNoise(num_classes=k, seed=0),  # a dense per-class noise image
    ]
    for inj in signals:
        x2 = inj(x, y)  # a new array: same dtype and shape, x is untouched
        assert x2.dtype == x.dtype
        assert x2.shape == x.shape
        decoded = inj.decode(x2)  # int64 (N,), read from the pixels alone
        print(f"  {type(inj).__name__:<18} decode accuracy {np.mean(decoded == y):7.2%}")

    # RandomPixel's location is a pure function of (seed, index): given the index, decode is exact.
    rp = si.RandomPixel(num_classes=k, seed=0)
    index = np.arange(1000, 1000 + len(y))  # e.g. the samples' positions in a larger dataset
    assert np.array_equal(rp.decode(rp(x, y, index=index), index=index), y)

    # Half the samples carry the signal; of those, 80% tell the truth. Both are decided per
    # sample from (seed, index), so sample i is injected the same way in any batch.
    partial = si.OnePixel(num_classes=k, coverage=0.5, fidelity=0.8, seed=1)
    x3 = partial(x, y)
    match = np.mean(partial.decode(x3) == y)
    print(f"  coverage=0.5, fidelity=0.8: decode matches y on {match:.1%}")
    assert np.array_equal(partial(x[:10], y[:10]), x3[:10])  # same draws in a smaller batch

    # Chain signals; every child keeps its own random stream.
    # The noise first: a later child that writes every pixel would wipe the pixel code.
    both = si.Compose([si.OrthogonalNoise(num_classes=k), si.RandomPixel(num_classes=k, seed=2)])
    print(f"  {both!r}")
    x4 = both(x, y)

    # A result names exactly what produced it: the config is JSON and rebuilds the injector.
    cfg = both.get_config()
    again = si.from_config(cfg)
    assert np.array_equal(again(x, y), x4)
    print(f"  config round trip OK: {cfg['name']}")


if __name__ == "__main__":
    main()
