"""Performance benchmarks: throughput of the injectors, training speed, rival libraries."""
