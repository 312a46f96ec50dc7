"""Training throughput on 1 and 2 worker processes of ``tf.distribute.MultiWorkerMirroredStrategy``.

The same IWAE (1 layer, k = 5, Burda et al.'s sizes) trains at the same global batch (100)
for the same steps: once as one process with all threads, once as two worker processes
(``TF_CONFIG`` on localhost ports, :mod:`tfgen.distribute`) with the threads split between
them, and once more as one process with another seed, whose distance from the first is the
noise the two-worker bound is judged against. Each worker reports the examples per second of
its epochs after the first (tracing) and the chief the bound on 1000 validation images (k = 5).
Prints one JSON line; run by :mod:`benchmarks.run`, or alone: ``python -m benchmarks.workers``.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH, K, STEPS_PER_EPOCH = 100, 5, 20


def train(steps, seed, threads):
    """One worker's part (the strategy from ``$TF_CONFIG``): a dict of its figures."""
    from benchmarks import machine

    machine.set_tf_threads(threads)
    import keras
    import numpy as np

    from tfgen import data, distribute
    from zoo.iwae import IWAE, paper_optimizer

    strategy = distribute.strategy()
    keras.utils.set_random_seed(seed)
    if os.environ.get(data.DATA_DIR_ENV):
        x = data.load_images("binarized_mnist", "train").reshape(-1, 784)
        held_out = data.load_images("binarized_mnist", "validation").reshape(-1, 784)[:1000]
    else:
        x = (np.random.default_rng(0).random((10000, 784)) < 0.13).astype("uint8")
        held_out = (np.random.default_rng(1).random((1000, 784)) < 0.13).astype("uint8")
    with strategy.scope():
        model = IWAE(k=K, seed=seed)
        model.build()
        model.likelihood.set_bias_from_mean(x.mean(axis=0))
        model.compile(optimizer=paper_optimizer())
    epochs = max(2, steps // STEPS_PER_EPOCH)
    batches, _ = data.epoch_batches(x, BATCH, seed, 0, epochs)
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(batches, epochs=epochs, steps_per_epoch=STEPS_PER_EPOCH, verbose=0, callbacks=[Timer()])
    logs = model.evaluate(held_out.astype("float32"), batch_size=BATCH, verbose=0, return_dict=True)
    return {"workers": distribute.training_tasks(), "chief": distribute.is_chief(), "threads": threads,
            "examples_per_s": BATCH * STEPS_PER_EPOCH * (len(times) - 1) / sum(times[1:]),
            "steps": epochs * STEPS_PER_EPOCH, "bound": logs[f"iwae_k{K}"]}


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _launch(workers, steps, seed, threads):
    """Run ``workers`` processes of :func:`train`; the chief's result, with every worker's throughput."""
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(workers)]} if workers > 1 else None
    processes = []
    for i in range(workers):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        env.pop("TF_CONFIG", None)
        if cluster:
            env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "benchmarks.workers", "--worker", "--steps", str(steps),
             "--seed", str(seed), "--threads", str(threads)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for process in processes:
        out, err = process.communicate()
        if process.returncode:
            raise RuntimeError(f"a worker failed:\n{err[-2000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    chief = next(r for r in results if r["chief"])
    # Every worker steps together; the slowest sets the pace.
    return {**chief, "examples_per_s": min(r["examples_per_s"] for r in results)}


def measure(steps=200, threads=None):
    from benchmarks import machine

    threads = threads or machine.threads()
    start = time.perf_counter()
    one = _launch(1, steps, 0, threads)
    two = _launch(2, steps, 0, max(1, threads // 2))
    other_seed = _launch(1, steps, 1, threads)
    return {"runs": [one, two], "other_seed": other_seed, "noise": abs(other_seed["bound"] - one["bound"]),
            "batch": BATCH, "k": K, "seconds": time.perf_counter() - start, "loadavg": list(os.getloadavg())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps of each run")
    parser.add_argument("--threads", type=int, default=None, help="threads of a single process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", action="store_true", help="run as one worker (internal)")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(train(args.steps, args.seed, args.threads)))
    else:
        print(json.dumps(measure(args.steps, args.threads)))


if __name__ == "__main__":
    main()
