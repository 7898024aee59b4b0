"""Poisoned training sets in the benchmark: which training samples carry the signal.

A benchmark run injects its signal into every training sample by default. With a
[`Poison`][signalinject.benchmarks.poison.Poison] setting
([`BenchConfig`][signalinject.benchmarks.runner.BenchConfig]'s ``poison``) only some carry it:
exactly ``round(coverage * n_k)`` of each class ``k`` of the samples a model is fitted on (all
of them for a torch model, the fit subset for an estimator), of which exactly
``round(fidelity * m_k)`` encode their true class; or, with a ``target``, only samples of that
class (see [`signalinject.carriers`][signalinject.carriers]: the carriers are nested across
coverages, keyed by ``(seed, index)``, the same for every signal). The test set and the
wrong-signal copy carry the code on every sample (coverage 1, fidelity 1), so that reliance
measures what the model learned from the poisoned training set.

**A single target class** (the rare-spurious-correlation setting of Yang, Chou & Chaudhuri,
2022): only ``round(coverage * n_t)`` samples of class ``t`` carry the signal, every other
training sample is clean. The test set then holds what training held: the test images of class
``t`` carry its code, the others are clean. The wrong-signal copy gives every non-target test
image the target's code, so the cell's ``reliance`` is the fraction of non-target test images
*moved to the target* by its code, and ``target_baseline`` the same model's rate of predicting
the target on the clean non-target test images. Its verdict
([`target_verdict`][signalinject.benchmarks.poison.target_verdict]) puts the baseline where the
ordinary verdict puts chance: ``reads`` when the moved fraction's 95% interval lies at or above
``baseline + 0.5 * (1 - baseline)``, ``ignores`` when the moved fraction is below
``baseline + 0.1 * (1 - baseline)``, ``partial`` otherwise (the cut-offs `READS` and `IGNORES` of
[`signalinject.benchmarks.stats`][signalinject.benchmarks.stats]).

A setting that changes nothing (coverage 1, fidelity 1, no target) is the plain run: its cells
keep the plain cells' identity (a sweep's full-coverage point reuses ``bench`` and ``atlas``
cells); any other setting is part of the identity of every signal cell (``clean`` cells are
shared: they carry nothing).

Examples:
    >>> Poison(coverage=0.05).identity()
    {'coverage': 0.05, 'fidelity': 1.0, 'target': None, 'carriers': 'class-rank'}
    >>> Poison().identity() is None
    True
    >>> target_verdict(0.92, 0.02, interval=(0.9, 0.94)), target_verdict(0.05, 0.02)
    ('reads', 'ignores')
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from signalinject.benchmarks.stats import DID_NOT_LEARN, IGNORES, NON_FINITE, READS
from signalinject.carriers import Carriers, carriers
from signalinject.core import check_fraction, check_int

__all__ = ["Poison", "target_verdict"]

#: The carrier rule of `Poison` in a cell's identity (a later rule would name itself).
RULE = "class-rank"


@dataclasses.dataclass(frozen=True)
class Poison:
    """Which training samples carry a benchmark's signal (see the module doc).

    Args:
        coverage: the fraction of each class (of the samples a model is fitted on) that
            carries the signal, in (0, 1].
        fidelity: the fraction of each class's carriers whose code is their class, in [0, 1];
            the others encode a wrong class (1/K: chance).
        target: only this class carries (None: every class); with a target, fidelity is 1.
    """

    coverage: float = 1.0
    fidelity: float = 1.0
    target: int | None = None

    def __post_init__(self) -> None:
        c = check_fraction("coverage", self.coverage)
        if c == 0.0:
            raise ValueError("coverage must be in (0, 1], got 0.0: it names no carrier")
        object.__setattr__(self, "coverage", c)
        object.__setattr__(self, "fidelity", check_fraction("fidelity", self.fidelity))
        if self.target is not None:
            object.__setattr__(self, "target", check_int("target", self.target, low=0))
            if self.fidelity < 1.0:
                raise ValueError(
                    f"fidelity={self.fidelity:g} with target={self.target}: a single target "
                    f"class's carriers all encode it (fidelity 1); sweep coverage with a target"
                )

    @property
    def plain(self) -> bool:
        """Every training sample carries its true code: the plain run."""
        return self.coverage == 1.0 and self.fidelity == 1.0 and self.target is None

    def identity(self) -> dict[str, Any] | None:
        """What a signal cell's identity holds of this setting; None for the plain run (its
        cells are the plain cells)."""
        if self.plain:
            return None
        return {
            "coverage": self.coverage,
            "fidelity": self.fidelity,
            "target": self.target,
            "carriers": RULE,
        }

    def check_classes(self, num_classes: int) -> None:
        """Refuse a ``target`` outside ``0..num_classes - 1``."""
        if self.target is not None and self.target >= num_classes:
            raise ValueError(
                f"target={self.target} is no class of the data: classes are 0..{num_classes - 1}"
            )

    def plan(
        self,
        y: npt.NDArray[np.int64],
        num_classes: int,
        seed: int,
        among: npt.NDArray[np.bool_] | None = None,
    ) -> Carriers:
        """The carriers of a training set with labels ``y`` (indices ``0..N-1``), of the samples
        ``among`` (None: all), for the cell's ``seed``
        ([`carriers`][signalinject.carriers.carriers])."""
        return carriers(
            y,
            num_classes,
            coverage=self.coverage,
            fidelity=self.fidelity,
            seed=seed,
            target=self.target,
            among=among,
        )


def target_verdict(
    moved: float | None,
    baseline: float | None,
    *,
    interval: tuple[float, float] | None = None,
    learned: bool = True,
    finite: bool = True,
) -> str | None:
    """The verdict of a single-target-class cell (see the module doc); None without a moved
    fraction or a baseline, or with a baseline of 1 (the model names the target for every
    clean image: nothing can be moved).

    Args:
        moved: the fraction of non-target test images predicted as the target when they carry
            its code (mean over seeds).
        baseline: the fraction predicted as the target on the clean non-target test images
            (mean over seeds).
        interval: the 95% interval of ``moved``; None: its point value decides ``reads``.
        learned: False when the model did not learn the clean task: ``did not learn`` replaces
            ``ignores``.
        finite: False when the model's outputs held NaN or infinity: ``non-finite``.

    Examples:
        >>> target_verdict(0.30, 0.10, interval=(0.25, 0.35))
        'partial'
    """
    if not finite:
        return NON_FINITE
    if moved is None or baseline is None or math.isnan(moved) or math.isnan(baseline):
        return None
    if baseline >= 1.0:
        return None
    lo = moved if interval is None else float(interval[0])
    # the tolerance puts a value exactly at a cut-off on its documented side despite rounding
    if (lo - baseline) / (1.0 - baseline) + 1e-9 >= READS:
        return "reads"
    if (moved - baseline) / (1.0 - baseline) + 1e-9 < IGNORES:
        return "ignores" if learned else DID_NOT_LEARN
    return "partial"
