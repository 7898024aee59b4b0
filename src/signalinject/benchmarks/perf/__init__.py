"""The performance benchmarks: how fast the signals inject and what they cost a training loop.

[`signalinject.benchmarks.perf.throughput`][signalinject.benchmarks.perf.throughput] (``signalinject
bench throughput``) times each injector against a copy of the same batch;
[`signalinject.benchmarks.perf.trainspeed`][signalinject.benchmarks.perf.trainspeed]
(``signalinject bench trainspeed``) the training samples per second with the injection in the
loop. Apart from the experiments: they measure the package, not the models.
"""
