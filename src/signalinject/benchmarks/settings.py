"""The run settings that every benchmark command shares: ``bench``, ``scan``, ``sweep``, ``atlas``.

[`RunSettings`][signalinject.benchmarks.settings.RunSettings] holds them once: the data (data set,
its directory, the download), the seeds, the torch training (epochs, batch size, learning rate,
device, image input scale), the sample limit, the output directory and the progress bars.
[`ScanConfig`][signalinject.benchmarks.scan.ScanConfig],
[`SweepConfig`][signalinject.benchmarks.sweep.SweepConfig] and
[`AtlasConfig`][signalinject.benchmarks.atlas.AtlasConfig] compose it and add only what is their
own; the command line declares its options once (``signalinject.benchmarks.cli``).

Examples:
    >>> s = RunSettings(limit=200, seeds=(0, 1))
    >>> opts = s.bench_options(dataset="digits", out="signalinject-scan")
    >>> opts["dataset"], opts["limit"], opts["seeds"], opts["out"], "epochs" in opts
    ('digits', 200, (0, 1), 'signalinject-scan', False)
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

__all__ = ["RunSettings", "WithSettings", "flat_config"]


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The settings a benchmark run shares with every other kind of run.

    Each is checked where the run's
    [`BenchConfig`][signalinject.benchmarks.runner.BenchConfig] is built, with its message.

    Args:
        dataset: a data set of
            [`signalinject.benchmarks.datasets`][signalinject.benchmarks.datasets]; None: the
            command's default.
        data_dir: where the real data sets' files are (None: ``$SIGNALINJECT_DATA_DIR``, else
            ``~/.cache/signalinject``).
        download: whether to fetch missing real data.
        seeds: one run of every cell per seed (injector seed, model init, baseline subset).
        epochs: torch training epochs; None: the suite's (images 5, text 30).
        batch_size: torch batch size; None: the suite's (64).
        lr: AdamW's peak learning rate of the torch models (cosine decay to 0).
        device: where the torch models train: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        input_scale: torch image input, ``"unit"`` (0..1) or ``"raw"`` (0..255 units); also the
            scale of a custom estimator's features.
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
    input_scale: Literal["unit", "raw"] = "unit"
    limit: int | None = None
    out: str | None = None
    progress: bool = True

    def bench_options(self, *, dataset: str, out: str) -> dict[str, Any]:
        """The keyword arguments of
        [`BenchConfig.for_suite`][signalinject.benchmarks.runner.BenchConfig.for_suite] for these
        settings; ``dataset`` and ``out`` stand for None, and None epochs or batch size are left
        to the suite."""
        options: dict[str, Any] = {
            "dataset": dataset if self.dataset is None else self.dataset,
            "data_dir": self.data_dir,
            "download": self.download,
            "seeds": self.seeds,
            "lr": self.lr,
            "device": self.device,
            "input_scale": self.input_scale,
            "limit": self.limit,
            "out": out if self.out is None else self.out,
            "progress": self.progress,
        }
        if self.epochs is not None:
            options["epochs"] = self.epochs
        if self.batch_size is not None:
            options["batch_size"] = self.batch_size
        return options


class WithSettings:
    """The base of a config that composes
    [`RunSettings`][signalinject.benchmarks.settings.RunSettings] as its ``settings`` field: the
    data set and output directory it runs with, and the runner's options of its settings."""

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

    def bench_options(self) -> dict[str, Any]:
        """[`RunSettings.bench_options`][signalinject.benchmarks.settings.RunSettings.bench_options]
        with this config's data set and output directory."""
        return self.settings.bench_options(dataset=self.dataset, out=self.out)


def flat_config(cfg: WithSettings) -> dict[str, Any]:
    """A config that composes [`RunSettings`][signalinject.benchmarks.settings.RunSettings] as
    one flat dict of plain values (for the reports' JSON): its own fields, then the settings'
    fields, its ``dataset`` and ``out`` resolved to what ran."""
    fields = dataclasses.fields(cfg)  # type: ignore[arg-type]  # a dataclass that composes
    own = {f.name: getattr(cfg, f.name) for f in fields if f.name != "settings"}
    shared = dataclasses.asdict(cfg.settings)
    return {**own, **shared, "dataset": cfg.dataset, "out": cfg.out}
