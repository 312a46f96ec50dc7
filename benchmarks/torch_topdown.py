"""The distortion-targeted top-down VAE's training step in plain PyTorch, the peer of
``zoo.distortion.TopDownVAE``.

The same layout (``DistortionConfig`` fields: ``resolutions``, ``latent_layers``,
``encoder_blocks``, ``width``, ``bottleneck``, ``latent_channels``): a VDVAE-style bottom-up
encoder of residual bottleneck blocks (GELU, 1x1 / kxk / kxk / 1x1 convolutions; Child,
"Very Deep VAEs Generalize Autoregressive Models and Can Outperform Them on Images", ICLR
2021) with average pooling between resolutions, and a top-down path of latent groups (prior
block, posterior block on ``[h, acts]``, precision-weighted merge of Sonderby et al. 2016,
``h <- resnet(h + f_p + W z)``), nearest-neighbour upsampling and a learned bias per
resolution; a Gaussian observation of the dequantised image with variance ``gamma / dims``.
The loss ``(1 - lambda) R + lambda D`` and the dual step on lambda (Adam, beta_1 = 0) are
those of "Mind Your Bits and Errors" (anonymous ICLR 2021 submission, eq. 9-10, app. B).
Channels first, as PyTorch users write convolutions. Used by :mod:`benchmarks.peer`.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

SCALE_SHIFT = math.log(math.e - 1.0)


def gaussian_params(t):
    loc, raw = t.chunk(2, dim=1)
    return loc, F.softplus(raw + SCALE_SHIFT) + 1e-3


def log_normal(z, loc, scale):
    return (-0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum((1, 2, 3))


class Bottleneck(nn.Module):
    def __init__(self, c_in, middle, out, kernel, residual=True):
        super().__init__()
        pad = kernel // 2
        self.convs = nn.ModuleList([
            nn.Conv2d(c_in, middle, 1), nn.Conv2d(middle, middle, kernel, padding=pad),
            nn.Conv2d(middle, middle, kernel, padding=pad), nn.Conv2d(middle, out, 1)])
        self.residual = residual

    def forward(self, x):
        h = x
        for conv in self.convs:
            h = conv(F.gelu(h))
        return x + h if self.residual else h


class LatentGroup(nn.Module):
    def __init__(self, width, middle, latent, kernel):
        super().__init__()
        self.latent = latent
        self.prior = Bottleneck(width, middle, 2 * latent + width, kernel, residual=False)
        self.posterior = Bottleneck(2 * width, middle, 2 * latent, kernel, residual=False)
        self.project = nn.Conv2d(latent, width, 1)
        self.resnet = Bottleneck(width, middle, width, kernel)

    def forward(self, h, acts):
        prior = self.prior(h)
        loc_p, scale_p = gaussian_params(prior[:, :2 * self.latent])
        loc_q, scale_q = gaussian_params(self.posterior(torch.cat([h, acts], 1)))
        prec_q, prec_p = scale_q ** -2, scale_p ** -2
        var = 1.0 / (prec_q + prec_p)
        loc_q, scale_q = (loc_q * prec_q + loc_p * prec_p) * var, var.sqrt()
        z = loc_q + scale_q * torch.randn_like(loc_q)
        kl = log_normal(z, loc_q, scale_q) - log_normal(z, loc_p, scale_p)
        return self.resnet(h + prior[:, 2 * self.latent:] + self.project(z)), kl


class TopDownVAE(nn.Module):
    def __init__(self, image_shape=(28, 28, 1), resolutions=(1, 7, 14, 28), latent_layers=(1, 1, 1, 1),
                 encoder_blocks=(0, 1, 1, 1), width=32, bottleneck=8, latent_channels=4):
        super().__init__()
        channels = image_shape[-1]
        self.resolutions, self.latent_layers = tuple(resolutions), tuple(latent_layers)
        kernels = [3 if r > 2 else 1 for r in resolutions]
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        self.encoder = nn.ModuleList([nn.Sequential(*[Bottleneck(width, bottleneck, width, kern)
                                                      for _ in range(n)])
                                      for n, kern in zip(encoder_blocks, kernels)])
        self.groups = nn.ModuleList([LatentGroup(width, bottleneck, latent_channels, kern)
                                     for n, kern in zip(latent_layers, kernels) for _ in range(n)])
        self.bias = nn.ParameterList([nn.Parameter(torch.zeros(1, width, r, r)) for r in resolutions])
        self.out = nn.Conv2d(width, channels, 1)
        nn.init.constant_(self.out.bias, 0.5)

    def forward(self, clean):
        """Mean image ``mu(z)`` and the per-image KL (nats) of ``z ~ q(z | x)``."""
        h = self.stem(clean)
        acts = {}
        for i in reversed(range(len(self.resolutions))):
            h = self.encoder[i](h)
            acts[i] = h
            if i:
                step = self.resolutions[i] // self.resolutions[i - 1]
                h = F.avg_pool2d(h, step)
        n, kl, group, h = clean.shape[0], 0.0, 0, None
        for i, (r, layers) in enumerate(zip(self.resolutions, self.latent_layers)):
            if h is None:
                h = self.bias[i].expand(n, -1, -1, -1)
            else:
                step = r // self.resolutions[i - 1]
                h = h.repeat_interleave(step, 2).repeat_interleave(step, 3) + self.bias[i]
            for _ in range(layers):
                h, kl_group = self.groups[group](h, acts[i])
                kl, group = kl + kl_group, group + 1
        return self.out(F.gelu(h)), kl


def make_step(batches, gamma=10.0, learning_rate=2e-4, dual_learning_rate=2e-4, lambda_initial=0.9999,
              **layout):
    """A training step ``step(i)`` on ``batches[i % len]`` (uint8 NumPy images ``[n, h, w, c]``)."""
    data = [torch.from_numpy(b).permute(0, 3, 1, 2).float() for b in batches]
    model = TopDownVAE(image_shape=tuple(batches[0].shape[1:]), **layout)
    lam = torch.tensor(lambda_initial, requires_grad=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    dual = torch.optim.Adam([lam], lr=dual_learning_rate, betas=(0.0, 0.999))

    def step(i):
        x = data[i % len(data)]
        target = (x + torch.rand_like(x)) / 256.0
        mu, rate = model(x / 127.5 - 1.0)
        distortion = ((target - mu) ** 2).sum((1, 2, 3))
        weight = lam.detach()
        loss = ((1 - weight) * rate + weight * distortion).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        dual.zero_grad(set_to_none=True)
        lam.grad = -(distortion.detach().mean() - gamma)
        dual.step()
        with torch.no_grad():
            lam.clamp_(1e-4, 0.9999)
        return loss.item()

    return step
