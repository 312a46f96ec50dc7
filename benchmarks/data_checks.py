"""What checking every batch costs: training-step time with the in-step data checks and without.

``python -m benchmarks.data_checks [--cases iwae_L1_k50 vrnn_jsb_elbo_k1] [--rounds 4]``

For each case, two models are trained through ``fit()`` (:func:`benchmarks.train.measure_fit`):
one as shipped, whose traced step asserts every batch (``LatentVariableModel.batch_conditions``,
:mod:`tfgen.data_checks`), and one whose ``batch_conditions`` returns no condition. The two
alternate over ``rounds`` rounds so drifting load on a shared machine hits both alike; the
figure is each variant's median step time over its rounds. Prints one JSON line.
"""
import argparse
import json
import statistics
import sys

from benchmarks import machine


def measure(names, rounds, threads):
    machine.set_tf_threads(threads)
    from benchmarks import registry, train
    from tfgen.model import LatentVariableModel

    checked = LatentVariableModel.batch_conditions
    results = {"machine": machine.snapshot(), "rounds": rounds, "cases": {}}
    for name in names:
        times = {"checked": [], "unchecked": []}
        for round_ in range(rounds):
            for variant in ("checked", "unchecked") if round_ % 2 == 0 else ("unchecked", "checked"):
                LatentVariableModel.batch_conditions = checked if variant == "checked" else lambda self, x: []
                try:
                    figure = train.measure_fit(registry.REGISTRY[name], steps=20, epochs=3)
                finally:
                    LatentVariableModel.batch_conditions = checked
                times[variant].append(figure["ms_per_step_median"])
                print(f"{name} {variant} {figure['ms_per_step_median']:.2f} ms/step", file=sys.stderr,
                      flush=True)
        on, off = statistics.median(times["checked"]), statistics.median(times["unchecked"])
        results["cases"][name] = {"ms_per_step_checked": on, "ms_per_step_unchecked": off,
                                  "overhead_percent": 100 * (on - off) / off, "all": times}
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["iwae_L1_k50", "vrnn_jsb_elbo_k1"])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.cases, args.rounds, args.threads)))


if __name__ == "__main__":
    main()
