"""Throughput and peak memory of the k = 5000 test log-likelihood (Burda et al. 2016, sec. 5).

Runs :func:`tfgen.evaluation.log_likelihood` on the first ``--subset`` binarized-MNIST test
images (all 10,000 by default) with an IWAE initialised as for training (weights do not
change the cost). Meant to run in its own process (``python -m benchmarks.evaluate``, which
:mod:`benchmarks.run` does) so the peak resident memory it reports is the evaluation's alone.
Prints one JSON line.
"""
import argparse
import json
import os
import time

import numpy as np


def rss_mib():
    """Current resident set size of this process, MiB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib():
    """Peak resident set size of this process, MiB (``VmHWM``, Linux ``/proc/self/status``).

    Not ``ru_maxrss``: Linux carries that across ``exec`` from the process that started this
    one, so under :mod:`benchmarks.run` it reported the parent's 4.8 GiB after the training
    cases, against 1.2 GiB for the evaluation itself.
    """
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def measure(subset=10000, k=5000, layers=1, batch=100, max_rows=32768, threads=None):
    from benchmarks import flops, machine

    machine.set_tf_threads(threads or machine.threads())
    import tensorflow as tf

    from tfgen import data, evaluation
    from zoo.iwae import IWAE

    peak_before = machine.matmul_peak()
    if os.environ.get(data.DATA_DIR_ENV):
        images = data.load_images("binarized_mnist", "test").reshape(-1, 784)[:subset]
        source = "binarized_mnist test"
    else:
        images = (np.random.default_rng(0).random((subset, 784)) < 0.13).astype("uint8")
        source = "random binary images (TFGEN_DATA_DIR unset)"
    model = IWAE(layers=layers, seed=0)
    model.adapt(images.astype("float32"))
    dataset = tf.data.Dataset.from_tensor_slices(images.astype("float32")).batch(batch)
    evaluation.log_likelihood(model, dataset.take(1), k=k, max_rows=max_rows, verbose=0)  # trace
    rss_before = rss_mib()
    start, start_cpu = time.perf_counter(), time.process_time()
    estimates = evaluation.log_likelihood(model, dataset, k=k, max_rows=max_rows, verbose=0)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    peak_after = machine.matmul_peak()
    peak = (peak_before["gflops_median"] + peak_after["gflops_median"]) / 2
    flop = flops.iwae_log_likelihood(model.config, len(images), k)
    floor = flop / (peak * 1e9)
    peak_cpu = (peak_before["gflops_per_cpu_s"] + peak_after["gflops_per_cpu_s"]) / 2
    return {
        "subset": len(images), "data": source, "k": k, "layers": layers, "batch": batch, "max_rows": max_rows,
        "seconds": seconds, "images_per_s": len(images) / seconds, "gflop": flop / 1e9,
        "gflops_achieved": flop / seconds / 1e9, "peak_gflops": peak, "fraction_of_peak": floor / seconds,
        "floor_s": floor, "time_over_floor": seconds / floor, "cpu_s": cpu,
        "cpu_over_floor": cpu / (flop / 1e9 / peak_cpu),
        "log_likelihood_mean": float(np.mean(estimates)),
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak_rss_mib(),
        "peak_before": peak_before, "peak_after": peak_after, **machine.snapshot(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=10000, help="first N test images")
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--max-rows", type=int, default=32768)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    print(json.dumps(measure(args.subset, args.k, args.layers, args.batch, args.max_rows, args.threads)))


if __name__ == "__main__":
    main()
