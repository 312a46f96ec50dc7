"""A contender in its own process, running one epoch of training steps each time it is asked:
the PyTorch peer, or tfgen's ``fit()`` under XLA (:class:`benchmarks.train.FitProcess`).

The benchmark (:mod:`benchmarks.train`) alternates epochs of tfgen's ``fit()`` and of the peer
on the same batches, so both see the same load on a shared machine and their ratio is
measured pair by pair. The peer process imports no TensorFlow. A contender process is driven
over its standard input and output, one JSON line per message::

    parent -> peer   {"steps": 20}
    peer -> parent   {"steps": 20, "wall": seconds, "cpu": process CPU seconds, "steady_steps": 19,
                      "steady_wall": ..., "steady_cpu": ..., "loss": ...}
(the fields of :class:`benchmarks.train.EpochTime`: whole epoch, and all but its first step).

A peer is named by a spec ``{"module": "torch_vrnn", **keyword arguments}``: the module's
``make_step(batches, **kwargs)`` returns ``step(i)``, one optimiser step on ``batches[i % n]``.
"""
import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def save_batches(path, batches):
    """Batches (arrays, or dicts of arrays) as one ``.npz``: ``b{i}`` or ``b{i}.{key}``."""
    arrays = {}
    for i, batch in enumerate(batches):
        if isinstance(batch, dict):
            arrays.update({f"b{i}.{key}": value for key, value in batch.items()})
        else:
            arrays[f"b{i}"] = batch
    np.savez(path, count=len(batches), **arrays)


def load_batches(path):
    with np.load(path) as f:
        batches = []
        for i in range(int(f["count"])):
            if f"b{i}" in f:
                batches.append(f[f"b{i}"])
            else:
                prefix = f"b{i}."
                batches.append({key[len(prefix):]: f[key] for key in f.files if key.startswith(prefix)})
    return batches


class Process:
    """A contender in its own process, driven over its standard input and output by the protocol
    above; ``epoch(steps)`` -> :class:`benchmarks.train.EpochTime`, ``info`` its first line. A
    context manager: leaving it (or :meth:`close`) ends the process.

    Its standard error goes to a temporary file (TensorFlow's start-up lines would interleave
    with the benchmark's tables); a ``RuntimeError`` shows its end if the process exits.

    Args:
        command: the process's command line; it prints ``info`` (one JSON line) when ready.
        what: how errors name it.
        env: extra environment variables.
    """

    def __init__(self, command, what, env=None):
        self.what = what
        self.stderr = tempfile.TemporaryFile("w+")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.process = subprocess.Popen(command, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.stderr, env={**os.environ, **(env or {})}, cwd=root)
        try:
            self.info = self._read()
        except BaseException:
            self.close()
            raise

    def _exited(self):
        """The ``RuntimeError`` of a process that exited, with the end of its error output."""
        code = self.process.wait()
        self.stderr.seek(0)
        return RuntimeError(f"{self.what} exited (code {code}); its last error lines:\n"
                            + "\n".join(self.stderr.read().splitlines()[-15:]))

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            raise self._exited()
        return json.loads(line)

    def epoch(self, steps):
        try:
            self.process.stdin.write(json.dumps({"steps": steps}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise self._exited() from None
        from benchmarks.train import EpochTime  # the parent's side; a peer process has no TensorFlow

        reply = self._read()
        return EpochTime(**{field.name: reply[field.name] for field in dataclasses.fields(EpochTime)})

    def close(self):
        """Ends the process (its input closed, it finishes its epoch; killed after 60 s) and closes
        its files."""
        try:
            self.process.stdin.close()
        except BrokenPipeError:  # it had exited already
            pass
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Peer(Process):
    """The PyTorch peer process.

    Args:
        spec: ``{"module": name in benchmarks, **make_step kwargs}``.
        batches: the training batches (NumPy), the same the tfgen side trains on.
        threads: intra-op threads (``torch.set_num_threads``).
    """

    def __init__(self, spec, batches, threads):
        self.spec = spec
        self._dir = tempfile.TemporaryDirectory(prefix="tfgen-peer-")
        data = os.path.join(self._dir.name, "batches.npz")
        save_batches(data, batches)
        # PASSIVE: OpenMP threads sleep instead of spinning at barriers; on a machine shared with
        # other jobs spinning multiplies PyTorch's step time several-fold.
        super().__init__(  # a peer that fails to start is closed there, its folder with it
            [sys.executable, "-m", "benchmarks.peer", "--spec", json.dumps(spec), "--data", data,
             "--threads", str(threads)],
            f"The PyTorch peer {spec} (is torch installed? pip install .[bench])",
            env={"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")})

    def close(self):
        super().close()
        self._dir.cleanup()


def torch_matmul_gflops(n=2048, repeats=5):
    import torch

    a = torch.randn(n, n)
    a @ a
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def serve(spec, data, threads):
    """The peer process: build the step, then run ``steps`` of it per request line."""
    import importlib

    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    spec = dict(spec)
    module = importlib.import_module(f"benchmarks.{spec.pop('module')}")
    step = module.make_step(load_batches(data), **spec)
    info = {"implementation": f"pytorch {torch.__version__} eager", "threads": torch.get_num_threads(),
            "torch_matmul_gflops": torch_matmul_gflops()}
    print(json.dumps(info), flush=True)
    i = 0
    for line in sys.stdin:
        steps = json.loads(line)["steps"]
        start, start_cpu = time.perf_counter(), time.process_time()
        for j in range(steps):
            if j == 1:  # the steady steps, timed as the tfgen side's (benchmarks.train)
                steady, steady_cpu = time.perf_counter(), time.process_time()
            loss = step(i)
            i += 1
        wall, cpu = time.perf_counter(), time.process_time()
        print(json.dumps({"steps": steps, "wall": wall - start, "cpu": cpu - start_cpu,
                          "steady_steps": steps - 1, "steady_wall": wall - steady,
                          "steady_cpu": cpu - steady_cpu, "loss": loss}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help='JSON: {"module": "torch_vrnn", ...}')
    parser.add_argument("--data", required=True, help=".npz of the batches (save_batches)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    serve(json.loads(args.spec), args.data, args.threads)


if __name__ == "__main__":
    main()
