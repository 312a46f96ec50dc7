"""What checking every batch costs: training-step time with the in-step data checks and without.

``python -m benchmarks.data_checks [--cases iwae_L1_k50 vrnn_jsb_elbo_k1] [--rounds 3]``

For each registered case (:mod:`benchmarks.registry`), models are trained through ``fit()``
as shipped, whose traced step asserts every batch (``LatentVariableModel.batch_conditions``,
:mod:`tfgen.data_checks`), and with ``batch_conditions`` returning no condition. The two
alternate over ``rounds`` rounds so drifting load on a shared machine hits both alike. Each
fit runs ``epochs + 1`` epochs of ``steps`` batches; the first (tracing) is dropped. Figures
are medians over the rounds of the steady per-step **CPU time** of this process (what the
step costs, which other jobs on the machine barely change; steady as in
:mod:`benchmarks.train`) and of the wall time. The checks alone
(``checked_batch`` on one batch, traced, minus an identity) are timed too: a figure that
round-to-round noise in whole steps cannot hide. Prints one JSON line.
"""
import argparse
import json
import statistics
import sys
import time

from benchmarks import machine


def measure_once(case, steps, epochs):
    from benchmarks.train import EpochTimer, compiled

    model = compiled(case)
    timer = EpochTimer()
    model.fit(case.data(case.batch).repeat(), steps_per_epoch=steps, epochs=epochs + 1, verbose=0,
              callbacks=[timer])
    timed = timer.epochs[1:]
    return (1e3 * statistics.median(t.steady_cpu / t.steady_steps for t in timed),
            1e3 * statistics.median(t.steady_wall / t.steady_steps for t in timed))


def check_cost(case, calls=200):
    """CPU ms of the checks alone on one batch: ``checked_batch`` minus an identity, traced."""
    import tensorflow as tf

    model = case.build()
    batch = next(iter(case.data(case.batch)))
    checked = tf.function(lambda x: tf.nest.map_structure(tf.reduce_sum, model.checked_batch(x)))
    plain = tf.function(lambda x: tf.nest.map_structure(tf.reduce_sum, x))
    figures = []
    for fn in (checked, plain):
        fn(batch)  # trace
        start = time.process_time()
        for _ in range(calls):
            fn(batch)
        figures.append(1e3 * (time.process_time() - start) / calls)
    return figures[0] - figures[1]


def measure(names, rounds, threads, steps=20, epochs=3):
    machine.set_tf_threads(threads)
    from benchmarks import registry
    from tfgen.model import LatentVariableModel

    checked = LatentVariableModel.batch_conditions
    results = {"machine": machine.snapshot(), "rounds": rounds, "steps": steps, "epochs_timed": epochs,
               "cases": {}}
    for name in names:
        cpu, wall = {"checked": [], "unchecked": []}, {"checked": [], "unchecked": []}
        for round_ in range(rounds):
            for variant in ("checked", "unchecked") if round_ % 2 == 0 else ("unchecked", "checked"):
                LatentVariableModel.batch_conditions = checked if variant == "checked" else lambda self, x: []
                try:
                    cpu_ms, wall_ms = measure_once(registry.REGISTRY[name], steps, epochs)
                finally:
                    LatentVariableModel.batch_conditions = checked
                cpu[variant].append(round(cpu_ms, 3))
                wall[variant].append(round(wall_ms, 3))
                print(f"{name} {variant}: {cpu_ms:.2f} CPU ms/step, {wall_ms:.2f} wall ms/step",
                      file=sys.stderr, flush=True)
        on, off = statistics.median(cpu["checked"]), statistics.median(cpu["unchecked"])
        alone = check_cost(registry.REGISTRY[name])
        results["cases"][name] = {
            "cpu_ms_checks_alone": alone, "checks_alone_percent_of_step": 100 * alone / off,
            "cpu_ms_per_step_checked": on, "cpu_ms_per_step_unchecked": off,
            "cpu_overhead_percent": 100 * (on - off) / off,
            "wall_ms_per_step_checked": statistics.median(wall["checked"]),
            "wall_ms_per_step_unchecked": statistics.median(wall["unchecked"]),
            "cpu_ms_all": cpu, "wall_ms_all": wall,
        }
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["iwae_L1_k50", "vrnn_jsb_elbo_k1"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.cases, args.rounds, args.threads)))


if __name__ == "__main__":
    main()
