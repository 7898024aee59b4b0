"""Control for the multiple-locations target: QDA, the paper's reader, against the number of
training images per class and per pixel, on ``photo_digits``.

The code of multiple locations is that two pixels are *equal*: one zero-variance direction
``x_a - x_b`` per class. A Gaussian class model can only tell that direction from the others it
has not seen vary once a class has many images per pixel; the bench fits its baselines on 80 per
class for 3,072 values. This fits the benchmark's QDA
(`signalinject.benchmarks.shrunk.ShrunkGaussianClassifier`, Ledoit-Wolf) on *all* of a
``photo_digits`` training set of 80 to 3,200 images per class, at the stand-in's 32x32 and with
its images first averaged over 2x2 or 4x4 blocks (16x16, 8x8; the signal is injected after, at
the smaller size), the signal injected as the benchmark injects it (seed 0), and measures the
accuracy, the clean accuracy of a QDA fit on the same images without the signal, and the
reliance, on the same 1,000 test images. Run from the repository root (2.7 CPU-minutes on the
2-core VM):

    OMP_NUM_THREADS=1 python docs/data/controls/multiple_locations.py

It writes ``multiple_locations.jsonl`` beside this file, one line per (size, images per class);
docs/reproducing.md renders its table from it (``python docs/data/render.py``).
"""

from __future__ import annotations

import json
import resource
from pathlib import Path

import numpy as np
import numpy.typing as npt

from signalinject.benchmarks.baselines import features
from signalinject.benchmarks.photo_digits import load_photo_digits
from signalinject.benchmarks.runner import prepare
from signalinject.benchmarks.shrunk import ShrunkGaussianClassifier
from signalinject.benchmarks.signals import make_injector

OUT = Path(__file__).with_suffix(".jsonl")
PER_CLASS = (80, 320, 1250, 3200)
BLOCKS = (1, 2, 4)  # 32x32, 16x16, 8x8


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def shrink(x: npt.NDArray[np.uint8], f: int) -> npt.NDArray[np.uint8]:
    """uint8 ``(N, H, W, C)`` averaged over ``f x f`` blocks, rounded half up."""
    if f == 1:
        return x
    n, h, w, c = x.shape
    s = x.reshape(n, h // f, f, w // f, f, c).astype(np.int32).sum((2, 4))
    out: npt.NDArray[np.uint8] = ((s + f * f // 2) // (f * f)).astype(np.uint8)
    return out


def main(seed: int = 0) -> None:
    rows = []
    for n in PER_CLASS:
        d = load_photo_digits(n_train=10 * n, n_test=1000)
        for f in BLOCKS:
            x_train, x_test = shrink(d.x_train, f), shrink(d.x_test, f)
            prep = prepare(
                make_injector("multiple_locations", 10, seed), x_train, d.y_train, x_test, d.y_test
            )
            wrong, code, carried = prep.x_wrong, prep.wrong_code, prep.carried
            if wrong is None or code is None or carried is None:
                raise RuntimeError("multiple locations must give a wrong-signal copy")
            t0 = cpu()
            est = ShrunkGaussianClassifier().fit(features(prep.x_train), prep.y_train)
            hit = int((est.predict(features(prep.x_test)) == d.y_test).sum())
            follow = est.predict(features(wrong))[carried] == code[carried]
            clean = ShrunkGaussianClassifier().fit(features(x_train), d.y_train)
            clean_hit = int((clean.predict(features(x_test)) == d.y_test).sum())
            row = {
                "model": "qda",
                "signal": "multiple_locations",
                "dataset": "photo_digits",
                "seed": seed,
                "size": list(x_train.shape[1:]),
                "features": int(np.prod(x_train.shape[1:])),
                "per_class": n,
                "n_fit": 10 * n,
                "n_test": len(d.y_test),
                "num_classes": 10,
                "decode_accuracy": prep.decode_accuracy,
                "correct": hit,
                "clean_correct": clean_hit,
                "followed": int(follow.sum()),
                "carried": int(follow.size),
                "shrinkage_mean": float(np.mean([g.shrinkage for g in est.gaussians_])),
                "cpu_seconds": round(cpu() - t0, 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    OUT.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
