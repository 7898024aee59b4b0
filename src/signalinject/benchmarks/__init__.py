"""The paper's experiments and other benchmarks (Hoffer & Fine 2016, Sections 3-4).

Submodules, imported on demand so that ``import signalinject.benchmarks`` stays light:

- [`datasets`][signalinject.benchmarks.datasets]: CIFAR-10, the Zhang et al. review CSVs, and the
  embedded stand-ins ``digits`` and ``stdlib_docs``;
- [`models`][signalinject.benchmarks.models]: the paper's ConvNet, Zhang's character CNN and the
  shallow nets (torch);
- [`baselines`][signalinject.benchmarks.baselines]: the scikit-learn baselines on raw inputs;
- [`train`][signalinject.benchmarks.train]: the trainer (CPU or CUDA, AMP, DDP under torchrun);
- [`runner`][signalinject.benchmarks.runner], ``signals``, ``report``, ``cli``: the runnable
  harness.
"""
