"""The paper's experiments and other benchmarks (Hoffer et al. 2018, Sections 3-4).

Submodules, imported on demand so that ``import signalinject.benchmarks`` stays light. The
entry points:

- [`runner`][signalinject.benchmarks.runner]: [`run`][signalinject.benchmarks.runner.run] a
  [`BenchConfig`][signalinject.benchmarks.runner.BenchConfig] (``signalinject bench images|text``);
- [`scan`][signalinject.benchmarks.scan]: the blindspot scan of your own model
  (``signalinject scan``);
- [`sweep`][signalinject.benchmarks.sweep]: the code-strength sweep (``bench sweep``);
- [`atlas`][signalinject.benchmarks.atlas]: which architectures read which signals
  (``bench atlas``);
- [`settings`][signalinject.benchmarks.settings]: the
  [`RunSettings`][signalinject.benchmarks.settings.RunSettings] every run shares;
- [`registry`][signalinject.benchmarks.registry]: every model and data set, one entry each
  (``MODELS``, ``DATASETS``; a new one is one module plus a line of ``MODULES``);
- [`signals`][signalinject.benchmarks.signals]: the signals by name (read from the signals'
  registry).

Below them: the registered models ([`models`][signalinject.benchmarks.models], the paper's;
[`modern`][signalinject.benchmarks.modern], ResNet-18, ViT, MLP-Mixer, MLP;
[`baselines`][signalinject.benchmarks.baselines], scikit-learn's), the data sets
([`datasets`][signalinject.benchmarks.datasets]: CIFAR-10, the Zhang et al. CSVs and the embedded
stand-ins ``photo_digits``, ``noisy_digits``, ``digits``, ``stdlib_code``,
``stdlib_docs``), the trainer
([`train`][signalinject.benchmarks.train]: CPU or CUDA, AMP, DDP under torchrun), the results
files ([`store`][signalinject.benchmarks.store], [`grid`][signalinject.benchmarks.grid]: one grid
over many processes), the tables and figures ([`report`][signalinject.benchmarks.report],
[`stats`][signalinject.benchmarks.stats], [`figures`][signalinject.benchmarks.figures]), the
errors ([`errors`][signalinject.benchmarks.errors]), the command line
([`cli`][signalinject.benchmarks.cli], `show`) and the
performance benchmarks ([`perf`][signalinject.benchmarks.perf]). Each module's ``__all__`` holds
its documented entry points; the rest is the machinery they share.
"""
