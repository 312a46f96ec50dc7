"""Speed and memory benchmarks, run by hand: ``python -m benchmarks.run --quick``.

Every figure is reported as a time and as a fraction of the float32 matmul peak measured in
the same run (:mod:`benchmarks.machine`), with the load average, so numbers from a busy
machine can be read for what they are. Nothing in tfgen or zoo imports it; tests/benchmarks
checks its parts.
"""
import tfgen  # noqa: F401  tfgen's TensorFlow environment (oneDNN), set before any benchmark imports TensorFlow
