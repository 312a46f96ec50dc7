"""Training-step time through ``model.fit()``, as users train, interleaved with its contenders.

A *contender* runs one epoch of ``steps`` training steps per call and returns an
:class:`EpochTime`: :class:`FitRunner` (a tfgen model through ``fit()``, one epoch per call,
the compiled step kept between calls), a :class:`FitProcess` (the same in its own process: the
XLA variants) or a :class:`benchmarks.peer.Peer` (PyTorch, in its own process).
:func:`interleave` calls the contenders in turn, round after round (the order
reversed every other round), so on a shared machine each pair of epochs sees the same load;
the first round (tracing, warm-up) is dropped. Figures are medians over rounds, and a ratio
to the first contender is the median of the per-round ratios.

The step time is the *steady* one, on both sides: an epoch's first call of the step is left
out, because ``fit()`` creates the data iterator there, and a shuffled dataset fills its
shuffle buffer (75-150 ms for the 50,000 binarized MNIST images). Training pays that once per
pass over the data (every 500 steps at batch 100), but a 20-step benchmark epoch would spread
it over 20 steps. The whole epoch's time per step is kept beside it (``epoch_ms_per_step``).
"""
import argparse
import contextlib
import dataclasses
import json
import statistics
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from benchmarks import flops, machine, peer
from tfgen import optimizers

STEPS_PER_EPOCH = 20  # steps of a benchmark epoch, one contender's turn


@dataclasses.dataclass
class EpochTime:
    """Seconds of one epoch of ``steps`` steps: ``wall`` / ``cpu`` (process CPU) of the whole
    epoch, ``steady_wall`` / ``steady_cpu`` of its last ``steady_steps`` steps (all but the
    first call of the step)."""
    steps: int
    wall: float
    cpu: float
    steady_steps: int
    steady_wall: float
    steady_cpu: float


class EpochTimer(keras.callbacks.Callback):
    """Appends an :class:`EpochTime` per epoch to ``epochs`` (an epoch of a single call of the
    step has no steady part: its steady figures are the whole epoch's).

    Hooks only ``on_train_batch_begin``: a callback with ``on_train_batch_end`` would turn off
    Keras' asynchronous dispatch of batch callbacks and so change the loop it times.
    """

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self._begin, self._steady = (time.perf_counter(), time.process_time()), None

    def on_train_batch_begin(self, batch, logs=None):
        if batch > 0 and self._steady is None:  # the second call of the step begins
            self._steady = (time.perf_counter(), time.process_time(), batch)

    def on_epoch_end(self, epoch, logs=None):
        wall, cpu = time.perf_counter(), time.process_time()
        steps = self.params["steps"]
        steady_wall, steady_cpu, first = self._steady or (self._begin[0], self._begin[1], 0)
        self.epochs.append(EpochTime(steps, wall - self._begin[0], cpu - self._begin[1],
                                     steps - first, wall - steady_wall, cpu - steady_cpu))


def compiled(case, jit_compile="auto", steps_per_execution=1):
    """The case's model, compiled with its optimizer(s)."""
    model = case.build()
    optimizer = case.optimizer() if case.optimizer else optimizers.Adam(1e-3)
    chosen = ({"optimizer": optimizer[0], "dual_optimizer": optimizer[1]} if isinstance(optimizer, tuple)
              else {"optimizer": optimizer})
    model.compile(**chosen, jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    return model


class FitRunner:
    """A tfgen model trained through ``fit()``, ``steps`` batches per :meth:`epoch` call."""

    def __init__(self, case, steps, jit_compile="auto", steps_per_execution=1):
        self.model = compiled(case, jit_compile, steps_per_execution)
        self.data = case.data(case.batch).repeat()
        self.steps, self.epochs, self.timer = steps, 0, EpochTimer()
        self.steps_per_execution = steps_per_execution

    def epoch(self, steps):
        self.model.fit(self.data, steps_per_epoch=steps, epochs=self.epochs + 1, initial_epoch=self.epochs,
                       verbose=0, callbacks=[self.timer])
        self.epochs += 1
        return self.timer.epochs[-1]


class FitProcess(peer.Process):
    """A :class:`FitRunner` of ``case`` in its own process, for the XLA variants: after an
    XLA-compiled ``fit()`` in the same process, graph-mode steps ran 7-46% slower (the VRNN FIVO_4
    step, median 26%, docs/benchmarks.md), so graph and XLA steps are timed in separate processes.

    The process rebuilds the case from its name (:func:`benchmarks.registry.named`); raises
    ``ValueError`` for a case that name does not rebuild (not registered, or changed)."""

    def __init__(self, case, steps, threads, **variant):
        from benchmarks import registry

        if not registry.same(registry.named(case.name), case):
            raise ValueError(f"A contender process rebuilds its case by name (benchmarks.registry.named), "
                             f"and {case.name!r} names another case; add this one to benchmarks/registry.py "
                             "under a name of its own.")
        command = [sys.executable, "-m", "benchmarks.train", case.name, "--variant", json.dumps(variant),
                   "--steps", str(steps), "--threads", str(threads)]
        super().__init__(command, f"The tfgen contender {case.name} {variant}")


def serve(case, steps, threads, variant):
    """The contender process of :class:`FitProcess`: one epoch of ``fit()`` per request line."""
    runner = FitRunner(case, steps, **variant)
    print(json.dumps({"implementation": f"tfgen fit(), {_label(variant)}", "threads": threads}), flush=True)
    for line in sys.stdin:
        print(json.dumps(dataclasses.asdict(runner.epoch(json.loads(line)["steps"]))), flush=True)


def interleave(contenders, steps, rounds):
    """``{name: {"wall": [steady s/step per round], "cpu": [...], "epoch_wall": [whole epoch's
    s/step]}}`` over ``rounds`` timed rounds."""
    times = {name: {"wall": [], "cpu": [], "epoch_wall": []} for name in contenders}
    names = list(contenders)
    for r in range(rounds + 1):
        for name in names if r % 2 == 0 else reversed(names):
            t = contenders[name].epoch(steps)
            if r:  # round 0 traces and warms up
                times[name]["wall"].append(t.steady_wall / t.steady_steps)
                times[name]["cpu"].append(t.steady_cpu / t.steady_steps)
                times[name]["epoch_wall"].append(t.wall / t.steps)
    return times


def summary(seconds):
    return {"ms_per_step_median": 1e3 * statistics.median(seconds), "ms_per_step_best": 1e3 * min(seconds),
            "ms_per_step_all": [round(1e3 * s, 2) for s in seconds]}


def paired_ratio(a, b):
    """Median over rounds of ``a / b`` (per-step times of the same rounds)."""
    return statistics.median(np.asarray(a) / np.asarray(b))


def measure_case(case, variants, peer_spec=None, threads=None, steps=STEPS_PER_EPOCH, rounds=5):
    """Interleaved ``fit()`` step times of ``case`` under each of ``variants`` (dicts of
    ``jit_compile`` / ``steps_per_execution``; the first is the reference), and of its
    PyTorch peer when ``peer_spec`` is given: a dict of figures, ratios to the reference."""
    peak_before = machine.matmul_peak()
    threads = threads or machine.threads()
    contenders = {}
    with contextlib.ExitStack() as processes:  # every process ends, whatever fails
        for v in variants:
            contenders[_label(v)] = (processes.enter_context(FitProcess(case, steps, threads, **v))
                                     if v.get("jit_compile") is True else FitRunner(case, steps, **v))
        if peer_spec is not None:
            batches = [_numpy(b) for b in case.data(case.batch).take(steps)]
            contenders["pytorch"] = processes.enter_context(peer.Peer(peer_spec, batches, threads))
        times = interleave(contenders, steps, rounds)
    peak_after = machine.matmul_peak()
    peak = (peak_before["gflops_median"] + peak_after["gflops_median"]) / 2
    peak_cpu = (peak_before["gflops_per_cpu_s"] + peak_after["gflops_per_cpu_s"]) / 2
    reference = next(iter(contenders))
    model = contenders[reference].model
    flop = case.step_flops(model)
    log_w = tf.function(lambda x: model.log_weights(x, model.k).log_w)
    spec = tf.nest.map_structure(lambda t: tf.TensorSpec([case.batch, *t.shape[1:]], t.dtype),
                                 case.data(case.batch).element_spec)  # static shapes for the count
    graph_matmul, _ = flops.graph_flops(log_w, spec, loop_trips=case.loop_trips)
    result = {"case": case.name, "family": case.family, "batch": case.batch, "steps_per_epoch": steps,
              "rounds": rounds, "gflop_per_step": flop / 1e9,
              "gflop_forward_graph_matmuls": graph_matmul / 1e9, "peak_gflops": peak,
              "peak_gflops_per_cpu_s": peak_cpu, "floor_ms": 1e3 * flop / (peak * 1e9),
              "default_jit": bool(model.jit_compile), "peak_before": peak_before, "peak_after": peak_after,
              "contenders": {}, **machine.snapshot()}
    for name, t in times.items():
        wall, cpu = statistics.median(t["wall"]), statistics.median(t["cpu"])
        entry = {**summary(t["wall"]), "own_process": isinstance(contenders[name], peer.Process),
                 "cpu_ms_per_step": 1e3 * cpu,
                 "epoch_ms_per_step_median": 1e3 * statistics.median(t["epoch_wall"]),
                 "fraction_of_peak": flop / wall / 1e9 / peak,
                 "fraction_of_peak_cpu": flop / cpu / 1e9 / peak_cpu}
        if name != reference:
            entry["ratio_to_reference"] = paired_ratio(times[reference]["wall"], t["wall"])
        result["contenders"][name] = entry
    if peer_spec is not None:
        result["contenders"]["pytorch"].update(contenders["pytorch"].info)
    return result


def _label(variant):
    jit = {True: "xla", False: "graph", "auto": "auto"}[variant.get("jit_compile", "auto")]
    spe = variant.get("steps_per_execution", 1)
    return jit if spe == 1 else f"{jit}, {spe} steps/call"


def _numpy(batch):
    return tf.nest.map_structure(lambda t: t.numpy(), batch)


def main(argv=None):
    parser = argparse.ArgumentParser(description="A tfgen contender process (benchmarks.train.FitProcess).")
    parser.add_argument("case", help="a case name (benchmarks.registry.named)")
    parser.add_argument("--variant", type=json.loads, default={}, help='JSON: {"jit_compile": true, ...}')
    parser.add_argument("--steps", type=machine.positive_int, default=STEPS_PER_EPOCH)
    parser.add_argument("--threads", type=machine.positive_int, default=machine.threads())
    args = parser.parse_args(argv)
    machine.set_tf_threads(args.threads)
    from benchmarks import registry  # registering the cases imports the models: threads first

    try:
        case = registry.named(args.case)
    except ValueError as error:
        parser.error(str(error))
    serve(case, args.steps, args.threads, args.variant)


if __name__ == "__main__":
    main()
