"""Run the benchmarks and write the results: ``python -m benchmarks.run --quick`` (or ``--full``).

* training steps through ``fit()`` for the registered cases (:mod:`benchmarks.registry`),
  each interleaved with its plain PyTorch peer (:mod:`benchmarks.peer`, if torch is installed:
  ``pip install .[bench]``), same threads. The reference is what ``tfgen train`` runs: Keras'
  ``jit_compile="auto"`` with the run driver's 10 steps per call of the step
  (:func:`tfgen.runs.steps_per_call`); ``--quick`` runs the IWAE k = 50 case, ``--full`` every
  case, each also under XLA (``jit_compile=True``, in a process of its own:
  :class:`benchmarks.train.FitProcess`) and with Keras' default of one step per call;
* the k = 5000 test log-likelihood (:mod:`benchmarks.evaluate`), time and peak memory;
* training with ``tf.distribute.MultiWorkerMirroredStrategy`` on 1 and 2 local worker
  processes (:mod:`benchmarks.workers`): throughput and the bound reached.

It prints the device TensorFlow runs on, the load average and the machine's matmul peak
first, then one table per measurement and the issue's checks. Results go to
``<out>/<mode>-<utc time>.json`` and a markdown file next to it. Set ``TFGEN_DATA_DIR`` for
real data.
"""
import argparse
import json
import os
import subprocess
import sys

from benchmarks import machine

TARGET_PEER_RATIO = 0.8  # tfgen's step at most this fraction of the PyTorch step
XLA_TOLERANCE = 0.10  # XLA and graph steps this close, or the default is the faster one
EVAL_FLOOR_RATIO, EVAL_MEMORY_MIB = 1.5, 2048


def _subprocess_json(module, *args, threads):
    env = {**os.environ, "TFGEN_BENCH_THREADS": str(threads), "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", f"benchmarks.{module}", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return {"command": " ".join(command), "error": done.stderr[-2000:]}
    return {"command": " ".join(command), **json.loads(done.stdout.strip().splitlines()[-1])}


def _variants(case, mode):
    """What ``tfgen train`` runs first (the reference: Keras' ``jit_compile="auto"`` and the run
    driver's steps per call, :func:`tfgen.runs.steps_per_call`), then (``--full``, or a quick
    case) XLA with the same steps per call and Keras' default of one step per call."""
    from benchmarks import train
    from tfgen import runs

    zoo = {"jit_compile": "auto", "steps_per_execution": runs.steps_per_call(train.STEPS_PER_EPOCH)}
    if mode == "full" or case.quick:
        return [zoo, {**zoo, "jit_compile": True}, {"jit_compile": "auto"}]
    return [zoo]


def run(mode, subset, threads, cases=None, torch=True, evaluate=True, workers=True):
    machine.set_tf_threads(threads)
    from benchmarks import registry, train  # registering the cases imports TensorFlow: threads first

    selected = [registry.named(name) for name in cases] if cases else [
        case for case in registry.REGISTRY.values() if mode == "full" or case.quick]
    results = {"mode": mode, "machine": {**machine.snapshot(), **machine.devices(),
                                         "peak": machine.matmul_peak()},
               "train": [], "evaluation": [], "workers": []}
    _report(machine_line(results["machine"]))
    for case in selected:
        _report(f"train {case.name}")
        peer = case.peer if torch else None
        results["train"].append(train.measure_case(case, _variants(case, mode), peer, threads))
        _report(train_table([results["train"][-1]]))
    if evaluate:
        _report(f"evaluation of {subset} images")
        results["evaluation"].append(_subprocess_json("evaluate", "--subset", subset, "--threads", threads,
                                                      threads=threads))
    if workers:
        _report("MultiWorkerMirroredStrategy, 1 and 2 workers")
        results["workers"].append(_subprocess_json("workers", "--steps", 40 if mode == "quick" else 200,
                                                   threads=threads))
    results["machine_after"] = {**machine.snapshot(), "peak": machine.matmul_peak()}
    return results


def _report(text):
    print(text, file=sys.stderr, flush=True)


def _row(*cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def machine_line(m):
    peak = m["peak"]
    return (f"{m['utc']}: TensorFlow {m['tensorflow']} on {m['device']} ({m['cpus']} CPUs, {m['threads']} "
            f"threads; GPUs: {m['gpus'] or 'none'}), load average {m['loadavg']}, float32 matmul peak "
            f"{peak['gflops_median']:.0f} GFLOP/s (best {peak['gflops_best']:.0f}, 2048^3).")


def train_table(train):
    lines = [_row("training step (batch)", "contender", "ms/step median (best)", "tfgen / contender",
                  "GFLOP/step (graph check)", "fraction of peak", "floor ms", "CPU ms/step",
                  "fraction of peak (CPU)", "whole epoch ms/step", "load"), _row(*["---"] * 11)]
    for r in train:
        for name, c in r["contenders"].items():
            ratio = c.get("ratio_to_reference")
            lines.append(_row(f"{r['case']} ({r['batch']})", name,
                              f"{c['ms_per_step_median']:.1f} ({c['ms_per_step_best']:.1f})",
                              "" if ratio is None else f"{ratio:.2f}",
                              f"{r['gflop_per_step']:.3f} ({3 * r['gflop_forward_graph_matmuls']:.3f})",
                              f"{c['fraction_of_peak']:.2f}", f"{r['floor_ms']:.1f}",
                              f"{c['cpu_ms_per_step']:.1f}", f"{c['fraction_of_peak_cpu']:.2f}",
                              f"{c['epoch_ms_per_step_median']:.1f}", r["loadavg"][0]))
    return "\n".join(lines)


def evaluation_table(evaluation):
    lines = [_row("evaluation", "images", "seconds", "images/s", "TFLOP", "fraction of peak", "time / floor",
                  "CPU time / CPU floor", "peak RSS MiB", "mean log-likelihood"), _row(*["---"] * 10)]
    for r in evaluation:
        if "error" in r:
            lines.append(_row(f"failed: {r['error'][-300:]!r}", *[""] * 9))
            continue
        lines.append(_row(f"IWAE L{r['layers']} k={r['k']}", r["subset"], f"{r['seconds']:.1f}",
                          f"{r['images_per_s']:.1f}", f"{r['gflop'] / 1e3:.2f}",
                          f"{r['fraction_of_peak']:.2f}", f"{r['time_over_floor']:.2f}",
                          f"{r['cpu_over_floor']:.2f}", f"{r['peak_rss_mib']:.0f}",
                          f"{r['log_likelihood_mean']:.2f}"))
    return "\n".join(lines)


def workers_table(workers):
    lines = [_row("workers", "examples/s", "speed-up", "final bound", "bound difference (noise)"),
             _row(*["---"] * 5)]
    for r in workers:
        if "error" in r:
            lines.append(_row(f"failed: {r['error'][-300:]!r}", "", "", "", ""))
            continue
        for w in r["runs"]:
            lines.append(_row(w["workers"], f"{w['examples_per_s']:.0f}",
                              f"{w['examples_per_s'] / r['runs'][0]['examples_per_s']:.2f}",
                              f"{w['bound']:.2f}", "" if w["workers"] == 1 else
                              f"{w['bound'] - r['runs'][0]['bound']:+.2f} ({r['noise']:.2f})"))
    return "\n".join(lines)


def checks(results):
    """The issue's acceptance checks, one line each: ``(text, passed)``."""
    lines = []
    for r in results["train"]:
        c = r["contenders"]
        if "pytorch" in c:
            ratio = c["pytorch"]["ratio_to_reference"]
            lines.append((f"{r['case']}: tfgen / PyTorch step {ratio:.2f} (target <= {TARGET_PEER_RATIO})",
                          ratio <= TARGET_PEER_RATIO))
        xla_key = next((name for name in c if name.startswith("xla")), None)
        if xla_key:
            xla = c[xla_key]["ratio_to_reference"]  # default / XLA
            faster_default = xla <= 1.0
            lines.append((f"{r['case']}: default ({'XLA' if r['default_jit'] else 'graph'}) / XLA step "
                          f"{xla:.2f} (within {XLA_TOLERANCE:.0%}, or the default is the faster)",
                          abs(xla - 1.0) <= XLA_TOLERANCE or faster_default))
    for r in results["evaluation"]:
        if "error" not in r:
            lines.append((f"evaluation k={r['k']}, {r['subset']} images: {r['time_over_floor']:.2f}x its "
                          f"FLOP floor (target <= {EVAL_FLOOR_RATIO}), peak RSS {r['peak_rss_mib']:.0f} MiB "
                          f"(target < {EVAL_MEMORY_MIB})",
                          r["time_over_floor"] <= EVAL_FLOOR_RATIO and r["peak_rss_mib"] < EVAL_MEMORY_MIB))
    for r in results["workers"]:
        if "error" not in r:
            one, two = r["runs"][0], r["runs"][-1]
            speedup = two["examples_per_s"] / one["examples_per_s"]
            lines.append((f"2 workers: bound {two['bound']:.2f} vs 1 worker {one['bound']:.2f} "
                          f"(noise {r['noise']:.2f}), throughput x{speedup:.2f}",
                          abs(two["bound"] - one["bound"]) <= 3 * r["noise"]))
    return lines


def markdown(results):
    m, after = results["machine"], results["machine_after"]
    parts = [f"Run ({results['mode']}) " + machine_line(m),
             f"At the end {after['utc']}: load average {after['loadavg']}, matmul peak "
             f"{after['peak']['gflops_median']:.0f} GFLOP/s.", "", train_table(results["train"])]
    if results["evaluation"]:
        parts += ["", evaluation_table(results["evaluation"])]
    if results["workers"]:
        parts += ["", workers_table(results["workers"])]
    parts += ["", "Checks:"] + [f"- {'PASS' if ok else 'FAIL'} {text}" for text, ok in checks(results)]
    return "\n".join(parts)


def main(argv=None):
    parser = argparse.ArgumentParser(description="tfgen speed and memory benchmarks (run by hand).")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", const="quick", dest="mode",
                      help="IWAE k=50 step (auto, XLA, 10 steps/call, PyTorch), evaluation of --subset "
                           "(default 200) images, 1 vs 2 workers on 40 steps")
    mode.add_argument("--full", action="store_const", const="full", dest="mode",
                      help="every registered case with its XLA variant and PyTorch peer, evaluation of all "
                           "10,000 test images, 1 vs 2 workers on 200 steps")
    parser.add_argument("--subset", type=int, default=None, help="evaluate the first N test images")
    parser.add_argument("--threads", type=int, default=machine.threads())
    parser.add_argument("--cases", default=None, help="comma-separated case names (default: by mode)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch peers")
    parser.add_argument("--no-eval", action="store_true", help="skip the k=5000 evaluation")
    parser.add_argument("--no-workers", action="store_true", help="skip the multi-worker measurement")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args(argv)
    mode = args.mode or "quick"
    subset = args.subset or (200 if mode == "quick" else 10000)
    cases = args.cases.split(",") if args.cases else None
    machine.set_tf_threads(args.threads)
    from benchmarks import registry

    for name in cases or ():
        try:
            registry.named(name)
        except ValueError as error:
            parser.error(str(error))
    results = run(mode, subset, args.threads, cases, not args.no_torch, not args.no_eval, not args.no_workers)
    path = machine.write_results(args.out, f"{mode}-{machine.utc_stamp()}", results)
    stem = path[:-len(".json")]
    table = markdown(results)
    with open(stem + ".md", "w") as f:
        f.write(table + "\n")
    print(table)
    print(f"\nwritten: {stem}.json, {stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
