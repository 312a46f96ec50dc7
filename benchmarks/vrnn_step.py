"""Seconds per training step of the VRNN on JSB batches, per objective (run by hand).

    TFGEN_DATA_DIR=/work/shared/data PYTHONPATH=. TF_NUM_INTRAOP_THREADS=1 \
        python benchmarks/vrnn_step.py elbo:1 iwae:4 fivo:4
"""
import sys
import time

from tfgen import sequences
from zoo import vrnn, vrnn_cli


def step_seconds(objective, k, steps=10):
    data = vrnn_cli.load_split("jsb", "train", 16)
    model = vrnn.VRNN(objective=objective, k=k, seed=0)
    model.adapt(data)
    model.compile(optimizer=vrnn.paper_optimizer(1e-3))
    model.fit(data.take(2), epochs=1, verbose=0)  # trace
    start = time.time()
    model.fit(data.take(steps), epochs=1, verbose=0)
    return (time.time() - start) / steps


if __name__ == "__main__":
    del sequences
    for spec in sys.argv[1:] or ["elbo:1", "iwae:4", "fivo:4"]:
        objective, k = spec.split(":")
        print(f"{objective} k={k}: {step_seconds(objective, int(k)):.3f} s/step", flush=True)
