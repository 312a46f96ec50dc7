"""The 1-layer IWAE training step in PyTorch, for comparison with tfgen's in the same run.

Same model as ``zoo.iwae.IWAE(layers=1)`` (Burda et al. 2016, sec. 5): encoder
``784-200-200-(50, 50)`` with tanh, ``sigma = exp(.)``, decoder ``50-200-200-784``
Bernoulli logits, ``log_w = log p(x|z) + log N(z; 0, I) - log q(z|x)``, loss
``-mean_b logsumexp_k(log_w) + log k``, Adam(1e-3, betas (0.9, 0.999), eps 1e-4). Eager
PyTorch as its users write it; the Bernoulli term is the fused ``x l - softplus(l)``.

Run as ``python -m benchmarks.torch_iwae --k 50 --threads 2``; prints one JSON line.
"""
import argparse
import json
import math
import statistics
import time

import numpy as np
import torch
from torch import nn

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class IWAE(nn.Module):
    def __init__(self, input_dim=784, hidden=200, latent=50):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(input_dim, hidden), nn.Tanh(),
                                   nn.Linear(hidden, hidden), nn.Tanh())
        self.loc = nn.Linear(hidden, latent)
        self.log_scale = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.Tanh(),
                                     nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, input_dim))

    def log_weights(self, x, k):
        h = self.trunk(x)
        loc, log_scale = self.loc(h), self.log_scale(h)
        scale = log_scale.exp()
        eps = torch.randn((k,) + loc.shape)
        z = loc + scale * eps
        log_q = (-0.5 * ((z - loc) / scale) ** 2 - log_scale - HALF_LOG_2PI).sum(-1)
        log_p = (-0.5 * z**2 - HALF_LOG_2PI).sum(-1)
        logits = self.decoder(z.reshape(-1, z.shape[-1])).reshape(k, x.shape[0], -1)
        log_px = (x * logits - nn.functional.softplus(logits)).sum(-1)
        return log_px + log_p - log_q


def measure(k=50, batch=100, steps=20, repeats=5, threads=2, seed=0):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    a = torch.randn(2048, 2048)
    times = []
    for _ in range(6):
        start = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - start)
    torch_peak = 2 * 2048**3 / statistics.median(times[1:]) / 1e9
    model = IWAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-4)
    x = torch.from_numpy((np.random.default_rng(seed).random((10 * batch, 784)) < 0.13).astype("float32"))

    def step(i):
        xb = x[(i % 10) * batch:(i % 10 + 1) * batch]
        log_w = model.log_weights(xb, k)
        loss = -(torch.logsumexp(log_w, 0) - math.log(k)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    per_step, cpu_per_step = [], []
    for r in range(repeats + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        for i in range(steps):
            step(i)
        if r:  # the first round warms up
            per_step.append((time.perf_counter() - start) / steps)
            cpu_per_step.append((time.process_time() - start_cpu) / steps)
    return {"implementation": f"pytorch {torch.__version__} eager", "k": k, "batch": batch,
            "threads": torch.get_num_threads(), "ms_per_step_median": 1e3 * statistics.median(per_step),
            "ms_per_step_best": 1e3 * min(per_step), "ms_per_step_all": [round(1e3 * s, 2) for s in per_step],
            "cpu_ms_per_step": 1e3 * statistics.median(cpu_per_step),
            "torch_matmul_gflops": torch_peak}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(measure(args.k, args.batch, args.steps, args.repeats, args.threads)))


if __name__ == "__main__":
    main()
