"""The run settings that every benchmark command shares: ``bench``, ``scan``, ``sweep``, ``atlas``.

[`RunSettings`][signalinject.benchmarks.settings.RunSettings] holds them once, with their defaults
and their checks: the data (data set, its directory, the download), the seeds, the torch training
(epochs, batch size, learning rate, device, image preprocessing), the sample limit, the output
directory and the progress bars. The command line builds one from its options; the same object
travels unchanged into [`BenchConfig`][signalinject.benchmarks.runner.BenchConfig] (and
[`ScanConfig`][signalinject.benchmarks.scan.ScanConfig],
[`SweepConfig`][signalinject.benchmarks.sweep.SweepConfig],
[`AtlasConfig`][signalinject.benchmarks.atlas.AtlasConfig], which add only what is their own) and
on to each cell's training.

Examples:
    >>> s = RunSettings(limit=200, seeds=(0, 1))
    >>> s.limit, s.seeds, s.lr, s.dataset is None
    (200, (0, 1), 0.001, True)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from signalinject.core import check_int

if TYPE_CHECKING:
    from signalinject.benchmarks.train import Preprocess

__all__ = ["RunSettings"]


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The settings a benchmark run shares with every other kind of run, checked once, here.

    Args:
        dataset: a registered data set
            ([`DATASETS`][signalinject.benchmarks.registry.DATASETS]); None: the command's
            default.
        data_dir: where the real data sets' files are (None: ``$SIGNALINJECT_DATA_DIR``, else
            ``~/.cache/signalinject``).
        download: whether to fetch missing real data.
        seeds: one run of every cell per seed (injector seed, model init, baseline subset).
        epochs: torch training epochs; None: the suite's (images 5, text 30).
        batch_size: torch batch size; None: the suite's (64).
        lr: AdamW's peak learning rate of the torch models (cosine decay to 0).
        device: where the torch models train: ``"auto"``, ``"cpu"``, ``"cuda"``, ...; a device
            that is not there is refused here.
        preprocess: how images reach the torch models (and a user's estimator's features; the
            built-in baselines always see raw 0..255 pixels): ``"standardize"`` (the default:
            minus the mean, over the standard deviation, of each channel of the cell's injected
            training set, the deviation floored at one grey level), ``"standardize_pixel"`` (the
            same per pixel position and channel), ``"unit"`` (``x / 255``, 0..1) or ``"raw"``
            (0..255). The statistics are the training set's only; the test set, the wrong-signal
            copy and the clean test images go through the same map (see
            [`ImageScaling`][signalinject.benchmarks.train.ImageScaling]).
        limit: at most this many training and test samples (quick runs); None: all.
        out: the output directory; None: the command's default.
        progress: progress bars on stderr.
    """

    dataset: str | None = None
    data_dir: str | None = None
    download: bool = False
    seeds: tuple[int, ...] = (0,)
    epochs: int | None = None
    batch_size: int | None = None
    lr: float = 1e-3
    device: str = "auto"
    preprocess: Preprocess = "standardize"
    limit: int | None = None
    out: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.dataset is not None:
            from signalinject.benchmarks.registry import dataset

            dataset(self.dataset)  # an unknown data set fails here
        if isinstance(self.seeds, int) or not isinstance(self.seeds, Iterable):
            raise TypeError(f"seeds must be a sequence of integers, got {self.seeds!r}")
        seeds = tuple(check_int("seeds[i]", s, low=0, high=2**32 - 1) for s in self.seeds)
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {list(seeds)}")
        object.__setattr__(self, "seeds", seeds)
        for name in ("epochs", "batch_size", "limit"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), low=1)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)):
            raise TypeError(f"lr must be a number, got {self.lr!r}")
        if not 0 < self.lr < float("inf"):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        object.__setattr__(self, "lr", float(self.lr))
        from signalinject.benchmarks.train import check_preprocess

        check_preprocess(self.preprocess)
        for name in ("download", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.out is not None:
            object.__setattr__(self, "out", os.fspath(self.out))
        from signalinject.benchmarks.train import resolve_device

        resolve_device(self.device)  # a bad or unavailable device fails here, before any work


class WithSettings:
    """The base of a config that composes
    [`RunSettings`][signalinject.benchmarks.settings.RunSettings] as its ``settings`` field: the
    data set and output directory it runs with."""

    settings: RunSettings
    #: The data set where the settings name none (each config sets its own).
    DEFAULT_DATASET: ClassVar[str]
    #: The output directory where the settings name none (each config sets its own).
    DEFAULT_OUT: ClassVar[str]

    def _check_settings(self) -> None:
        if not isinstance(self.settings, RunSettings):
            raise TypeError(f"settings must be a RunSettings, got {self.settings!r}")

    @property
    def dataset(self) -> str:
        """The data set (the settings', else ``DEFAULT_DATASET``)."""
        return self.settings.dataset or self.DEFAULT_DATASET

    @property
    def out(self) -> str:
        """The output directory (the settings', else ``DEFAULT_OUT``)."""
        return self.settings.out or self.DEFAULT_OUT

    def run_settings(self) -> RunSettings:
        """The settings with this config's data set and output directory filled in: what its
        runs get."""
        return dataclasses.replace(self.settings, dataset=self.dataset, out=self.out)


def flat_config(cfg: Any) -> dict[str, Any]:
    """A config that composes [`RunSettings`][signalinject.benchmarks.settings.RunSettings] as
    one flat dict of plain values (for the reports' JSON): its own fields, then the settings'
    fields, its ``dataset`` and ``out`` resolved to what ran."""
    fields = dataclasses.fields(cfg)
    own = {f.name: getattr(cfg, f.name) for f in fields if f.name != "settings"}
    shared = dataclasses.asdict(cfg.settings)
    return {**own, **shared, "dataset": cfg.dataset, "out": cfg.out}
