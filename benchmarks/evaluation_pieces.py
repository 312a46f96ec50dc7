"""What bounds the k = 5000 evaluation: its pieces, each timed alone at one chunk's shapes.

``python -m benchmarks.evaluation_pieces [--rows 32768] [--threads 1]``

The evaluation (:mod:`benchmarks.evaluate`) runs the 1-layer IWAE decoder of Burda et al.
(2016), 50 -> 200 -> 200 -> 784 with tanh, on chunks of ``rows`` samples and scores each
784-pixel image with a Bernoulli likelihood. Its FLOP floor counts only the decoder's matmuls
at the machine's 2048^3 matmul rate (:func:`benchmarks.machine.matmul_peak`, per CPU-second).
Timed here, in process CPU time against that floor: the three matmuls alone; the two tanh
layers; ``tfgen.layers.bernoulli_log_prob`` (one ``exp`` per pixel, one ``log`` per 112); one
``exp`` per pixel alone, the least a Bernoulli term built on ``exp`` costs; the chunk's standard-normal
draws. The sum of the matmuls, the tanh layers and the lone ``exp`` is a lower bound on the
whole evaluation's time over its floor (the normals are left out of it: images could share
them). Prints one line per piece and writes the figures to
``<out>/evaluation-pieces-<utc start time>.json``.
"""
import argparse
import statistics

from benchmarks import machine

LATENT, HIDDEN, PIXELS = 50, 200, 784


def cpu_ms(fn, *args, repeats=7, calls=5):
    """Median process CPU-ms of one call of ``fn(*args)``, over ``repeats`` timings of ``calls``
    calls (:func:`benchmarks.machine.timed`, after a warm-up)."""
    _, cpu = machine.timed(lambda: [fn(*args).numpy() for _ in range(calls)], repeats)
    return statistics.median(cpu) / calls * 1e3


def measure(rows=32768, repeats=7, calls=5):
    """Each piece's median CPU-ms (``repeats`` x ``calls`` timed calls) against the floor of one chunk."""
    import tensorflow as tf

    from tfgen import layers

    normal = tf.random.stateless_normal
    z = normal([rows, LATENT], [0, 1])
    weights = [normal([a, b], [0, i]) / a ** 0.5 for i, (a, b) in
               enumerate([(LATENT, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, PIXELS)])]
    hidden = normal([rows, HIDDEN], [0, 4])
    logits = normal([rows, PIXELS], [0, 5])
    x = tf.cast(tf.random.stateless_uniform([rows, PIXELS], [0, 6]) < 0.5, "float32")

    def matmuls(z):
        return tf.reduce_sum(z @ weights[0] @ weights[1] @ weights[2])

    def tanh_layers(h):
        return tf.reduce_sum(tf.tanh(h)) + tf.reduce_sum(tf.tanh(-h))

    def bernoulli(t):
        return tf.reduce_sum(layers.bernoulli_log_prob(x, t))

    def exp_alone(t):  # under XLA: the fastest exp here (graph mode's kernel took 1.7x as long)
        return tf.reduce_sum(tf.exp(-tf.abs(t)))

    def normals(seed):
        return tf.reduce_sum(normal([rows, LATENT], seed))

    pieces = {"decoder matmuls": (tf.function(matmuls), z),
              "tanh, two layers": (tf.function(tanh_layers), hidden),
              "Bernoulli log-likelihood": (tf.function(bernoulli), logits),
              "exp per pixel alone": (tf.function(exp_alone, jit_compile=True), logits),
              "standard normals": (tf.function(normals), tf.constant([1, 2]))}
    peak = machine.matmul_peak()["gflops_per_cpu_s"]
    floor_ms = 2.0 * rows * (LATENT * HIDDEN + HIDDEN * HIDDEN + HIDDEN * PIXELS) / peak / 1e6
    result = {"rows": rows, "peak_gflops_per_cpu_s": peak, "floor_cpu_ms": floor_ms, "pieces": {}}
    for name, (fn, arg) in pieces.items():
        ms = cpu_ms(fn, arg, repeats=repeats, calls=calls)
        result["pieces"][name] = {"cpu_ms": ms, "over_floor": ms / floor_ms}
    result["lower_bound_over_floor"] = sum(result["pieces"][name]["over_floor"] for name in
                                           ("decoder matmuls", "tanh, two layers", "exp per pixel alone"))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description="The k = 5000 evaluation's pieces against its FLOP floor.")
    parser.add_argument("--rows", type=machine.positive_int, default=32768,
                        help="samples per chunk [default: %(default)s]")
    machine.add_run_arguments(parser)
    args = parser.parse_args(argv)
    started, snapshot = machine.start_run(args)
    r = measure(args.rows)
    print(f"floor of one {args.rows}-row chunk: {r['floor_cpu_ms']:.1f} CPU-ms "
          f"({r['peak_gflops_per_cpu_s']:.0f} GFLOP per CPU-second)")
    for name, piece in r["pieces"].items():
        print(f"{name}: {piece['cpu_ms']:.1f} CPU-ms, {piece['over_floor']:.2f}x the floor")
    print(f"lower bound (matmuls + tanh + one exp per pixel): {r['lower_bound_over_floor']:.2f}x the floor")
    path = machine.write_results(args.out, f"evaluation-pieces-{started}",
                                 {"machine": snapshot, "threads": args.threads, **r})
    print(f"written: {path}")


if __name__ == "__main__":
    main()
