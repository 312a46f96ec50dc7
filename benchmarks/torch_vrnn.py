"""The VRNN training step in plain PyTorch: ELBO, IWAE_k and FIVO, the peer of ``zoo.vrnn.VRNN``.

The same model as ``VRNN(rnn_units=u, latent=z, features=f)`` (Chung et al., "A Recurrent
Latent Variable Model for Sequential Data", NIPS 2015, with our layout): ``phi_x`` two ReLU
layers of ``f``, ``phi_z`` one; prior ``p(z_t | h)``, posterior ``q(z_t | phi_x, h)`` and
Bernoulli emission ``p(x_t | phi_z, h)`` each one ReLU layer of ``f`` then their heads
(``sigma = exp(.)``); ``h_t = LSTM([phi_x, phi_z], h_{t-1})``. Per-step terms are masked and
summed over time. FIVO (Maddison et al., "Filtering Variational Objectives", NIPS 2017):
multinomial resampling of a sequence's particles when ``ESS < threshold * k``, no gradient
through the draws. Written as PyTorch users write it: eager modules, a Python loop over
time. Used by :mod:`benchmarks.peer`.
"""
import math

import torch
from torch import nn

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def normal_log_prob(z, loc, log_scale):
    return (-0.5 * ((z - loc) * torch.exp(-log_scale)) ** 2 - log_scale - HALF_LOG_2PI).sum(-1)


class GaussianHead(nn.Module):
    def __init__(self, inputs, hidden, latent):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU())
        self.loc, self.log_scale = nn.Linear(hidden, latent), nn.Linear(hidden, latent)

    def forward(self, h):
        h = self.trunk(h)
        return self.loc(h), self.log_scale(h)


class VRNN(nn.Module):
    def __init__(self, input_dim=88, rnn_units=64, latent=32, features=64):
        super().__init__()
        f = features
        self.latent = latent
        self.phi_x = nn.Sequential(nn.Linear(input_dim, f), nn.ReLU(), nn.Linear(f, f), nn.ReLU())
        self.phi_z = nn.Sequential(nn.Linear(latent, f), nn.ReLU())
        self.prior = GaussianHead(rnn_units, f, latent)
        self.posterior = GaussianHead(f + rnn_units, f, latent)
        self.emission = nn.Sequential(nn.Linear(f + rnn_units, f), nn.ReLU(), nn.Linear(f, input_dim))
        self.cell = nn.LSTMCell(2 * f, rnn_units)

    def bound(self, frames, mask, k, threshold=0.0):
        """IWAE_k of whole-sequence log-weights (``threshold <= 0``) or FIVO's ``log p_hat``: ``[batch]``."""
        batch, steps, _ = frames.shape
        units = self.cell.hidden_size
        features = self.phi_x(frames)  # [batch, T, f]
        h = frames.new_zeros(k * batch, units)
        c = frames.new_zeros(k * batch, units)
        log_w = frames.new_zeros(k, batch)
        log_p_hat = frames.new_zeros(batch)
        for t in range(steps):
            x_t, m_t = frames[:, t], mask[:, t]
            fx = features[:, t].repeat(k, 1)  # particle-major rows: [k * batch, f]
            loc_q, log_scale_q = self.posterior(torch.cat([fx, h], -1))
            z = loc_q + torch.exp(log_scale_q) * torch.randn_like(loc_q)
            loc_p, log_scale_p = self.prior(h)
            fz = self.phi_z(z)
            logits = self.emission(torch.cat([fz, h], -1))
            log_px = (x_t.repeat(k, 1) * logits - nn.functional.softplus(logits)).sum(-1)
            term = log_px + normal_log_prob(z, loc_p, log_scale_p) - normal_log_prob(z, loc_q, log_scale_q)
            m = m_t.repeat(k)
            log_w = log_w + (m * term).view(k, batch)
            h_new, c_new = self.cell(torch.cat([fx, fz], -1), (h, c))
            keep = m[:, None]
            h, c = keep * h_new + (1 - keep) * h, keep * c_new + (1 - keep) * c
            if threshold > 0:
                h, c, log_w, log_p_hat = self.resample(h, c, log_w, log_p_hat, threshold, m_t > 0)
        return log_p_hat + torch.logsumexp(log_w, 0) - math.log(k)

    @staticmethod
    def resample(h, c, log_w, log_p_hat, threshold, active):
        k, batch = log_w.shape
        w = log_w.detach()
        ess = torch.exp(2 * torch.logsumexp(w, 0) - torch.logsumexp(2 * w, 0))
        resampled = (ess < threshold * k) & active
        if not bool(resampled.any()):
            return h, c, log_w, log_p_hat
        ancestors = torch.multinomial(torch.softmax(w, 0).T, k, replacement=True).T  # [k, batch]
        identity = torch.arange(k)[:, None].expand(k, batch)
        ancestors = torch.where(resampled[None], ancestors, identity)
        rows = (ancestors * batch + torch.arange(batch)[None]).reshape(-1)
        log_p_hat = torch.where(resampled, log_p_hat + torch.logsumexp(log_w, 0) - math.log(k), log_p_hat)
        log_w = torch.where(resampled[None], torch.zeros_like(log_w), log_w)
        return h[rows], c[rows], log_w, log_p_hat


def make_step(batches, objective="elbo", k=1, rnn_units=64, latent=32, features=64, learning_rate=1e-3,
              resample_threshold=0.5):
    """A training step ``step(i)`` on ``batches[i % len]`` (dicts of NumPy ``frames``, ``mask``)."""
    data = [(torch.from_numpy(b["frames"]), torch.from_numpy(b["mask"])) for b in batches]
    model = VRNN(data[0][0].shape[-1], rnn_units, latent, features)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    threshold = resample_threshold if objective == "fivo" else 0.0
    k = 1 if objective == "elbo" else k

    def step(i):
        frames, mask = data[i % len(data)]
        loss = -model.bound(frames, mask, k, threshold).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step
