"""The names of the image preprocessing modes, without torch (the results store checks them).

[`train`][signalinject.benchmarks.train] re-exports them beside the map they name,
[`ImageScaling`][signalinject.benchmarks.train.ImageScaling].
"""

from __future__ import annotations

from typing import Literal

__all__ = ["PREPROCESS_MODES", "STD_FLOOR", "Preprocess", "check_preprocess"]

#: The ways images reach the torch models (and a user's estimator), by name (see
#: [`RunSettings.preprocess`][signalinject.benchmarks.settings.RunSettings]).
Preprocess = Literal["standardize", "standardize_pixel", "unit", "raw"]
#: Every name of `Preprocess`, the default first.
PREPROCESS_MODES: tuple[Preprocess, ...] = ("standardize", "standardize_pixel", "unit", "raw")
#: The smallest standard deviation the standardising modes divide by, in grey levels (0..255
#: units): a constant channel (blank images) maps to 0 instead of NaN, and a near-constant code
#: pixel keeps its raw units instead of being blown up.
STD_FLOOR = 1.0


def check_preprocess(value: object) -> Preprocess:
    """``value`` if it names a `Preprocess` mode.

    Raises:
        ValueError: any other value.
    """
    for mode in PREPROCESS_MODES:
        if value == mode and isinstance(value, str):
            return mode
    raise ValueError(
        f"preprocess must be one of {', '.join(repr(m) for m in PREPROCESS_MODES)}, got {value!r}"
    )
