"""Run the benchmarks and write the results: ``python -m benchmarks.run --quick`` (or ``--full``).

* training steps through ``fit()`` for the registered cases (:mod:`benchmarks.registry`);
  the ``quick`` case also with ``jit_compile=True`` and with 20 steps per ``tf.function``
  call (``compile(steps_per_execution=20)``);
* the same 1-layer IWAE step in PyTorch (:mod:`benchmarks.torch_iwae`, if torch is
  installed: ``pip install .[bench]``), same thread count, in the same run;
* the k = 5000 test log-likelihood (:mod:`benchmarks.evaluate`), time and peak memory.

Results go to ``<out>/<mode>-<utc time>.json`` and a markdown table to stdout and
``<out>/<mode>-<utc time>.md``. Set ``TFGEN_DATA_DIR`` for real data.
"""
import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks import machine


def _subprocess_json(module, *args, threads):
    # PASSIVE: OpenMP threads (PyTorch's) sleep instead of spinning at barriers; on a machine
    # shared with other jobs spinning multiplies PyTorch's step time several-fold.
    env = {**os.environ, "TFGEN_BENCH_THREADS": str(threads), "TF_CPP_MIN_LOG_LEVEL": "2",
           "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    command = [sys.executable, "-m", f"benchmarks.{module}", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return {"command": " ".join(command), "error": done.stderr[-2000:]}
    return {"command": " ".join(command), **json.loads(done.stdout.strip().splitlines()[-1])}


def run(mode, subset, threads, cases=None, torch=True, evaluate=True):
    machine.set_tf_threads(threads)
    from benchmarks import registry, train

    unknown = sorted(set(cases or ()) - set(registry.REGISTRY))
    if unknown:
        raise ValueError(f"Unknown benchmark cases {unknown}; registered: {sorted(registry.REGISTRY)}.")
    results = {"mode": mode, "machine": machine.snapshot(), "train": [], "torch": [], "evaluation": []}
    selected = [registry.REGISTRY[name] for name in cases] if cases else [
        case for case in registry.REGISTRY.values() if mode == "full" or case.quick]
    for case in selected:
        variants = [{"jit_compile": "auto", "steps_per_execution": 1}]
        if case.quick:  # the target case: what XLA and fewer Python round trips change
            variants += [{"jit_compile": True, "steps_per_execution": 1},
                         {"jit_compile": "auto", "steps_per_execution": 20}]
        for variant in variants:
            print(f"train {case.name} {variant}", file=sys.stderr, flush=True)
            results["train"].append(train.measure_fit(case, steps=20, epochs=5, **variant))
    if torch:
        for k in (50,) if mode == "quick" else (1, 5, 50):
            print(f"torch k={k}", file=sys.stderr, flush=True)
            results["torch"].append(
                _subprocess_json("torch_iwae", "--k", k, "--threads", threads, "--steps", 10, "--repeats", 3,
                                 threads=threads))
    if evaluate:
        print(f"evaluation subset={subset}", file=sys.stderr, flush=True)
        results["evaluation"].append(_subprocess_json("evaluate", "--subset", subset, "--threads", threads,
                                                      threads=threads))
    results["machine_after"] = machine.snapshot()
    return results


def _row(*cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(results):
    m, after = results["machine"], results["machine_after"]
    lines = [f"Run {m['utc']} ({results['mode']}), {m['cpus']} CPUs, {m['threads']} threads, "
             f"TensorFlow {m['tensorflow']}, load average {m['loadavg']} -> {after['loadavg']}.", "",
             _row("training step (batch)", "jit_compile", "steps/call", "ms/step median (best)",
                  "GFLOP/step (graph check)", "matmul peak GFLOP/s", "fraction of peak", "floor ms",
                  "CPU ms/step", "fraction of peak (CPU time)"), _row(*["---"] * 10)]
    for r in results["train"]:
        lines.append(_row(f"{r['case']} ({r['batch']})", r["jit_compile"], r["steps_per_execution"],
                          f"{r['ms_per_step_median']:.1f} ({r['ms_per_step_best']:.1f})",
                          f"{r['gflop_per_step']:.2f} ({3 * r['gflop_forward_graph_matmuls']:.2f})",
                          f"{r['peak_gflops']:.0f}",
                          f"{r['fraction_of_peak']:.2f}", f"{r['floor_ms']:.1f}",
                          f"{r['cpu_ms_per_step']:.1f}", f"{r['fraction_of_peak_cpu']:.2f}"))
    for r in results["torch"]:
        if "error" in r:
            lines.append(_row(f"PyTorch failed: {r['error'][-200:]!r}", *[""] * 9))
            continue
        lines.append(_row(f"{r['implementation']} IWAE L1 k={r['k']}", "-", 1,
                          f"{r['ms_per_step_median']:.1f} ({r['ms_per_step_best']:.1f})", "",
                          f"{r['torch_matmul_gflops']:.0f} (torch)", "", "",
                          f"{r.get('cpu_ms_per_step', 0):.1f}", ""))
    if results["evaluation"]:
        lines += ["", _row("evaluation", "images", "seconds", "images/s", "TFLOP", "fraction of peak",
                           "time / floor", "CPU time / CPU floor", "peak RSS MiB", "mean log-likelihood"),
                  _row(*["---"] * 10)]
    for r in results["evaluation"]:
        if "error" in r:
            lines.append(_row(f"failed: {r['error'][-300:]!r}", *[""] * 9))
            continue
        lines.append(_row(f"IWAE L{r['layers']} k={r['k']}", r["subset"], f"{r['seconds']:.1f}",
                          f"{r['images_per_s']:.2f}", f"{r['gflop'] / 1e3:.2f}",
                          f"{r['fraction_of_peak']:.2f}", f"{r['time_over_floor']:.2f}",
                          f"{r['cpu_over_floor']:.2f}", f"{r['peak_rss_mib']:.0f}",
                          f"{r['log_likelihood_mean']:.2f}"))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="tfgen speed and memory benchmarks (run by hand).")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", const="quick", dest="mode",
                      help="IWAE k=50 step, PyTorch k=50, evaluation of --subset (default 200) images")
    mode.add_argument("--full", action="store_const", const="full", dest="mode",
                      help="every registered case, PyTorch k=1,5,50, evaluation of all 10,000 test images")
    parser.add_argument("--subset", type=int, default=None, help="evaluate the first N test images")
    parser.add_argument("--threads", type=int, default=machine.threads())
    parser.add_argument("--cases", default=None, help="comma-separated case names (default: by mode)")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-eval", action="store_true")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args(argv)
    mode = args.mode or "quick"
    subset = args.subset or (200 if mode == "quick" else 10000)
    cases = args.cases.split(",") if args.cases else None
    results = run(mode, subset, args.threads, cases, not args.no_torch, not args.no_eval)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"{mode}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}")
    table = markdown(results)
    with open(stem + ".json", "w") as f:
        json.dump(results, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(table + "\n")
    print(table)
    print(f"\nwritten: {stem}.json, {stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
