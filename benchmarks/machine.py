"""The machine a benchmark ran on: its measured float32 matmul peak, threads and load.

The peak is the median rate of a square ``n^3`` float32 matmul (``2 n^3`` FLOP) through
TensorFlow, the same kernels (oneDNN) the models' dense layers use. It is measured right
before and after each figure, so a figure divided by the peak (its *fraction of peak*)
stays comparable when other processes share the cores. The same ratio on process CPU
time (``fraction_of_peak_cpu``: model FLOP per CPU-second over matmul FLOP per CPU-second)
is a second, contention-robust figure; it counts a waiting thread's spinning as work, so it
errs low.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import time

import numpy as np


def timed(fn, repeats):
    """Wall and process-CPU seconds of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def matmul_peak(n=2048, repeats=5):
    """Median and best GFLOP/s of an ``n x n @ n x n`` float32 matmul, ``2 n^3`` FLOP each.

    ``gflops_per_cpu_s`` divides by the process CPU time instead of the wall time: the rate
    per busy core-second, which other processes on the machine barely change.
    """
    import tensorflow as tf

    a = tf.random.normal((n, n), seed=0)
    matmul = tf.function(lambda: tf.matmul(a, a))
    wall, cpu = timed(lambda: matmul().numpy(), repeats)
    flop = 2.0 * n**3
    return {"n": n, "gflops_median": flop / statistics.median(wall) / 1e9,
            "gflops_best": flop / min(wall) / 1e9, "gflops_per_cpu_s": flop / statistics.median(cpu) / 1e9}


def threads():
    """Intra-op threads both frameworks are given: ``$TFGEN_BENCH_THREADS`` or all cores."""
    return int(os.environ.get("TFGEN_BENCH_THREADS", os.cpu_count()))


def set_tf_threads(n):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(n)


def devices():
    """The device TensorFlow computes on: ``{"device": ..., "gpus": [...]}``.

    The first GPU TensorFlow sees (its name from the device details), else the CPU's model
    name and widest vector unit, from ``/proc/cpuinfo`` where there is one.
    """
    import tensorflow as tf

    gpus = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")]
    if gpus:
        return {"device": f"GPU {gpus[0]}", "gpus": gpus}
    name, flags = platform.processor() or platform.machine(), set()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                if name and flags:
                    break
    vector = next((v for v in ("avx512f", "avx2", "avx") if v in flags), None)
    return {"device": f"CPU {name}" + (f", {vector.upper()}" if vector else ""), "gpus": []}


def snapshot():
    """Time, load average and software versions, recorded next to every figure."""
    import keras
    import tensorflow as tf

    return {
        "utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "loadavg": [round(v, 2) for v in os.getloadavg()],
        "cpus": os.cpu_count(),
        "threads": tf.config.threading.get_intra_op_parallelism_threads() or threads(),  # as set
        "platform": platform.platform(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def positive_int(text):
    """An ``argparse`` type: ``text`` as an int >= 1 (threads, rounds, rows), else
    ``argparse.ArgumentTypeError``, which argparse prints with the flag's name."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def write_results(out, stem, value):
    """Write ``value`` as indented JSON to ``<out>/<stem>.json`` (making ``out``); returns the path."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{stem}.json")
    with open(path, "w") as f:
        json.dump(value, f, indent=1)
    return path


def utc_stamp():
    """The UTC time now as ``YYYYmmddTHHMMSS``, as result file names carry it."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())


def add_run_arguments(parser):
    """The flags of a benchmark script that writes a results file: ``--threads`` (TensorFlow
    threads, default 1) and ``--out`` (the results folder, default ``benchmarks/results``)."""
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="TensorFlow threads [default: %(default)s]")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"),
                        help="folder of the results file [default: benchmarks/results]")


def start_run(args):
    """Set TensorFlow's threads from ``args.threads``; ``(utc stamp, snapshot)`` of the start."""
    set_tf_threads(args.threads)
    return utc_stamp(), snapshot()
