"""XLA against graph mode for the IWAE family's ``fit()`` step, over layers, k and batch size.

The measurement behind keeping Keras' ``jit_compile="auto"`` (graph mode on a CPU) for the
IWAE family (docs/benchmarks.md, "XLA on a CPU for small k: measured, not the default")::

    python -m benchmarks.xla_grid --threads 1 --grid 1:1:20,1:1:100,1:5:100,1:50:100

Each ``layers:k:batch`` entry trains the IWAE (binarized MNIST through ``$TFGEN_DATA_DIR``,
or random binary images of the same shape) with the run driver's 10 steps per call, once with
``jit_compile=False`` and once with ``jit_compile=True`` (in a process of its own, as
:mod:`benchmarks.run` times XLA), interleaved round by round (:func:`benchmarks.train.interleave`).
It prints process CPU-ms per step (medians), the graph / XLA ratio (median of per-round ratios;
above 1 XLA is faster) and what ``jit_compile="auto"`` picks on this machine, and writes the
figures to ``<out>/xla-grid-<utc start time>.json``.
"""
import argparse
import statistics

from benchmarks import machine

DEFAULT_GRID = ("1:1:20,1:1:100,1:1:500,1:1:2000,1:5:20,1:5:100,1:5:500,"
                "1:50:20,1:50:100,2:1:20,2:1:100,2:5:100,2:50:100")


def parse_grid(text):
    """``"1:5:100,2:1:20"`` -> ``[(1, 5, 100), (2, 1, 20)]`` (layers, k, batch); raises
    ``argparse.ArgumentTypeError`` (which argparse prints) for a bad entry."""
    grid = []
    for entry in text.split(","):
        parts = entry.split(":")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise argparse.ArgumentTypeError(
                f"grid entry {entry!r} is not layers:k:batch with positive integers")
        grid.append(tuple(map(int, parts)))
    return grid


def measure(layers, k, batch, rounds, threads):
    """CPU-ms per step under graph mode and XLA (in its own process, :class:`benchmarks.train.FitProcess`),
    their paired ratio and the ``"auto"`` choice."""
    from benchmarks import registry, train

    case = registry.iwae_case(layers, k, batch)
    steps = 20 if batch <= 500 else 10
    graph = train.FitRunner(case, steps, jit_compile=False, steps_per_execution=10)
    with train.FitProcess(case, steps, threads, jit_compile=True, steps_per_execution=10) as xla:
        times = train.interleave({False: graph, True: xla}, steps, rounds)
    auto = train.compiled(case).jit_compile
    return {"layers": layers, "k": k, "batch": batch, "steps": steps, "rounds": rounds,
            "graph_cpu_ms": 1e3 * statistics.median(times[False]["cpu"]),
            "xla_cpu_ms": 1e3 * statistics.median(times[True]["cpu"]),
            "graph_over_xla": train.paired_ratio(times[False]["cpu"], times[True]["cpu"]),
            "auto": "xla" if auto else "graph"}


def main(argv=None):
    parser = argparse.ArgumentParser(description="XLA against graph mode for the IWAE step (run by hand).")
    parser.add_argument("--grid", type=parse_grid, default=DEFAULT_GRID,
                        help="comma-separated layers:k:batch entries [default: %(default)s]")
    parser.add_argument("--rounds", type=machine.positive_int, default=5,
                        help="timed interleaved rounds [default: %(default)s]")
    machine.add_run_arguments(parser)
    args = parser.parse_args(argv)
    started, snapshot = machine.start_run(args)
    print(f"{snapshot['utc']}: {args.threads} thread(s), load average {snapshot['loadavg']}")
    results = []
    for layers, k, batch in args.grid:
        r = measure(layers, k, batch, args.rounds, args.threads)
        results.append(r)
        print(f"L{layers} k={k} batch {batch}: graph {r['graph_cpu_ms']:.2f}, XLA {r['xla_cpu_ms']:.2f} "
              f"CPU-ms/step; graph / XLA {r['graph_over_xla']:.2f}; auto picks {r['auto']}", flush=True)
    results = {"machine": snapshot, "threads": args.threads, "rounds": args.rounds, "grid": results}
    path = machine.write_results(args.out, f"xla-grid-{started}", results)
    print(f"written: {path}")


if __name__ == "__main__":
    main()
