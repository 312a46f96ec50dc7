"""The 1-layer VAE / IWAE training step in plain PyTorch, the peer of ``zoo.iwae.IWAE(layers=1)``.

Same model (Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016,
sec. 5): encoder ``784-200-200-(50, 50)`` with tanh, ``sigma = exp(.)``, decoder
``50-200-200-784`` Bernoulli logits, ``log_w = log p(x|z) + log N(z; 0, I) - log q(z|x)``;
loss ``-mean_b logsumexp_k(log_w) + log k`` (IWAE) or ``-mean_{k,b} log_w`` (VAE); Adam
(beta_2 = 0.999, epsilon = 1e-4). Eager PyTorch as its users write it, with the fused
Bernoulli term ``x l - softplus(l)`` and the decoder on ``[k * batch, 50]`` rows. Used by
:mod:`benchmarks.peer`.
"""
import math

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
        eps = torch.randn((k,) + loc.shape)
        z = loc + log_scale.exp() * eps
        log_q = (-0.5 * eps**2 - log_scale - HALF_LOG_2PI).sum(-1)
        log_p = (-0.5 * z**2 - HALF_LOG_2PI).sum(-1)
        logits = self.decoder(z.reshape(-1, z.shape[-1])).reshape(k, x.shape[0], -1)
        log_px = (x * logits - nn.functional.softplus(logits)).sum(-1)
        return log_px + log_p - log_q


def make_step(batches, k=50, objective="iwae", learning_rate=1e-3, beta_1=0.9):
    """A training step ``step(i)`` on ``batches[i % len]`` (float NumPy ``[batch, 784]``)."""
    data = [torch.from_numpy(b.reshape(len(b), -1).astype("float32")) for b in batches]
    model = IWAE(data[0].shape[-1])
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, betas=(beta_1, 0.999), eps=1e-4)

    def step(i):
        log_w = model.log_weights(data[i % len(data)], k)
        bound = torch.logsumexp(log_w, 0) - math.log(k) if objective == "iwae" else log_w.mean(0)
        loss = -bound.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step
