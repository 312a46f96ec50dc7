"""Training-step time through ``model.fit()``, as users train.

Each epoch is ``steps`` batches of the case's dataset (``.repeat()``-ed, so one iterator
serves the whole fit); the first epoch (tracing, warm-up) is dropped and the figure is the
median over the other epochs of ``epoch time / steps``. The matmul peak is measured right
before and after, and the step is reported as a fraction of it.
"""
import statistics
import time

import keras
import tensorflow as tf

from benchmarks import flops, machine


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

        self.cpu_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._start_cpu = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        self.cpu_seconds.append(time.process_time() - self._start_cpu)


def measure_fit(case, steps=20, epochs=5, jit_compile="auto", steps_per_execution=1):
    """Seconds per training step of ``case`` through ``fit()``: dict of figures."""
    peak_before = machine.matmul_peak()
    model = case.build()
    optimizer = case.optimizer() if case.optimizer else keras.optimizers.Adam(1e-3)
    optimizers = ({"optimizer": optimizer[0], "dual_optimizer": optimizer[1]} if isinstance(optimizer, tuple)
                  else {"optimizer": optimizer})
    model.compile(**optimizers, jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    data = case.data(case.batch).repeat()
    timer = EpochTimer()
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=epochs + 1, verbose=0, callbacks=[timer])
    wall = time.perf_counter() - start
    per_step = [s / steps for s in timer.seconds[1:]]
    peak_after = machine.matmul_peak()
    peak = (peak_before["gflops_median"] + peak_after["gflops_median"]) / 2
    flop = case.step_flops(model)
    log_w = tf.function(lambda x: model.log_weights(x, model.k).log_w)
    graph_matmul, graph_all = flops.graph_flops(log_w, tf.TensorSpec((case.batch, *case.input_shape)),
                                                loop_trips=case.loop_trips)
    median = statistics.median(per_step)
    cpu = statistics.median(s / steps for s in timer.cpu_seconds[1:])
    peak_cpu = (peak_before["gflops_per_cpu_s"] + peak_after["gflops_per_cpu_s"]) / 2
    return {
        "case": case.name,
        "family": case.family,
        "batch": case.batch,
        "jit_compile": model.jit_compile,
        "steps_per_execution": steps_per_execution,
        "steps_per_epoch": steps,
        "epochs_timed": epochs,
        "ms_per_step_median": 1e3 * median,
        "ms_per_step_best": 1e3 * min(per_step),
        "ms_per_step_all": [round(1e3 * s, 2) for s in per_step],
        "gflop_per_step": flop / 1e9,
        "gflop_forward_graph_matmuls": graph_matmul / 1e9,  # matmuls and convolutions; = gflop_per_step / 3
        "gflop_forward_graph_all_ops": graph_all / 1e9,
        "gflops_achieved": flop / median / 1e9,
        "peak_gflops": peak,
        "fraction_of_peak": flop / median / 1e9 / peak,
        "floor_ms": 1e3 * flop / (peak * 1e9),
        "cpu_ms_per_step": 1e3 * cpu,
        "fraction_of_peak_cpu": flop / cpu / 1e9 / peak_cpu,
        "fit_wall_s": wall,
        "peak_before": peak_before,
        "peak_after": peak_after,
        **machine.snapshot(),
    }
