"""DRAW of Gregor, Danihelka, Graves, Rezende & Wierstra, "DRAW: A Recurrent Neural Network For Image
Generation" (ICML 2015).

With canvas ``c_0 = 0`` and LSTM states at zero, for ``t = 1 .. T`` (sec. 2, eqs. 3-8):

    x_hat_t = x - sigmoid(c_{t-1})                    the error image
    r_t     = read(x, x_hat_t, h^dec_{t-1})            two N x N glimpses (or both whole images)
    h^enc_t = LSTM_enc(h^enc_{t-1}, [r_t, h^dec_{t-1}])
    z_t     ~ q(z_t | h^enc_t) = N(mu(h^enc_t), diag(sigma(h^enc_t)^2))
    h^dec_t = LSTM_dec(h^dec_{t-1}, z_t)
    c_t     = c_{t-1} + write(h^dec_t)

and ``p(x | c_T) = Bernoulli(sigmoid(c_T))`` with ``p(z_t) = N(0, I)``. The log importance weight
of one draw of ``z_{1:T}`` is ``log p(x | c_T) + sum_t log N(z_t; 0, I) - log q(z_t | h^enc_t)``;
its mean over draws is the negative of the paper's loss ``L^x + L^z`` (eqs. 9-12).

Attention (sec. 3.2): a linear map of ``h^dec`` gives ``(g~_X, g~_Y, log sigma^2, log delta~,
log gamma)``; the centre ``g_X = (W + 1)/2 (g~_X + 1)``, stride ``delta = (max(H, W) - 1)/(N - 1)
delta~``, filter ``i``'s mean ``mu_X^i = g_X + (i - N/2 - 1/2) delta`` (eqs. 19-22), and the
normalised Gaussian filterbanks ``F_X [N, W]``, ``F_Y [N, H]`` (eqs. 25-26) read ``gamma F_Y x
F_X^T`` (eq. 27) and write ``(1 / gamma^) F^_Y^T w_t F^_X`` (eq. 29).
"""

import keras
import tensorflow as tf

from tfgen import layers, objectives, optimizers
from tfgen.model import LatentVariableModel, LogWeights, check_numeric
from zoo.draw.configs import CONFIGS, DRAWConfig


def filterbanks(params, size, height, width):
    """``(F_X [n, N, W], F_Y [n, N, H], gamma [n])`` of attention parameters ``params [n, 5]``."""
    gx, gy, log_variance, log_delta, log_gamma = tf.unstack(params, axis=-1)
    gx = (width + 1) / 2 * (gx + 1)
    gy = (height + 1) / 2 * (gy + 1)
    delta = (max(height, width) - 1) / (size - 1) * tf.exp(log_delta)
    offsets = tf.range(1, size + 1, dtype=params.dtype) - size / 2 - 0.5  # i - N/2 - 1/2, i = 1..N

    def bank(centre, pixels):
        mu = centre[:, None] + offsets[None, :] * delta[:, None]  # [n, N]
        grid = tf.range(1, pixels + 1, dtype=params.dtype)  # pixel coordinates 1..A, as eq. 25
        f = tf.exp(
            -tf.square(grid[None, None, :] - mu[:, :, None]) / (2 * tf.exp(log_variance)[:, None, None])
        )
        return f / tf.maximum(tf.reduce_sum(f, axis=-1, keepdims=True), 1e-8)

    return bank(gx, width), bank(gy, height), tf.exp(log_gamma)


@keras.saving.register_keras_serializable(package="zoo")
class DRAW(LatentVariableModel):
    """DRAW with ``steps`` latent steps over binary images; fields of :class:`zoo.draw.configs.DRAWConfig`.

    Inputs: binary images ``[batch, h*w]`` or ``[batch, h, w, 1]``; other shapes or values raise
    ``ValueError``. ``canvases`` gives the sequence of ``sigmoid(c_t)`` the figure shows.
    """

    config_class = DRAWConfig
    configs = CONFIGS

    def __init__(self, name="draw", **fields):
        config, keras_kwargs = self.configure(fields)
        self.config = c = config
        super().__init__(
            ["z"], k=c.k, bound=c.objective, estimator=c.estimator, seed=c.seed, name=name, **keras_kwargs
        )
        self.encoder_cell = keras.layers.LSTMCell(c.rnn_units, name="encoder")
        self.decoder_cell = keras.layers.LSTMCell(c.rnn_units, name="decoder")
        self.posterior = layers.DiagonalGaussian(c.latent, name="q_z")
        write_units = c.write_size**2 if c.attention else c.dims
        self.write_patch = keras.layers.Dense(write_units, name="write")
        if c.attention:
            self.read_window = keras.layers.Dense(5, name="read_window")
            self.write_window = keras.layers.Dense(5, name="write_window")

    def build(self, input_shape=None):
        c = self.config
        read = 2 * (c.read_size**2 if c.attention else c.dims)
        layers.build_once(self.encoder_cell, (None, read + c.rnn_units))
        layers.build_once(self.decoder_cell, (None, c.latent))
        layers.build_once(self.posterior, (None, c.rnn_units))
        layers.build_once(self.write_patch, (None, c.rnn_units))
        if c.attention:
            layers.build_once(self.read_window, (None, c.rnn_units))
            layers.build_once(self.write_window, (None, c.rnn_units))
        self.built = True

    # --- reading and writing -----------------------------------------------------------------------
    def _read(self, x, x_hat, h_dec):
        c = self.config
        if not c.attention:
            return tf.concat([x, x_hat], axis=-1)
        height, width = c.image_shape[:2]
        fx, fy, gamma = filterbanks(self.read_window(h_dec), c.read_size, height, width)

        def glimpse(image):
            image = tf.reshape(image, [-1, height, width])
            patch = tf.matmul(fy, tf.matmul(image, fx, transpose_b=True))  # [n, N, N]
            return gamma[:, None] * tf.reshape(patch, [-1, c.read_size**2])

        return tf.concat([glimpse(x), glimpse(x_hat)], axis=-1)

    def _write(self, h_dec):
        c = self.config
        patch = self.write_patch(h_dec)
        if not c.attention:
            return patch
        height, width = c.image_shape[:2]
        fx, fy, gamma = filterbanks(self.write_window(h_dec), c.write_size, height, width)
        patch = tf.reshape(patch, [-1, c.write_size, c.write_size])
        image = tf.matmul(fy, tf.matmul(patch, fx), transpose_a=True)  # [n, H, W]
        return tf.reshape(image, [-1, c.dims]) / gamma[:, None]

    def _zeros(self, n):
        return tf.zeros([n, self.config.rnn_units])

    # --- the model ---------------------------------------------------------------------------------
    def log_weights(self, x, k, estimator="total", seed=None, training=False):
        seed = self.seed_stream(seed)
        x = tf.reshape(tf.cast(x, "float32"), [-1, self.config.dims])
        batch = tf.shape(x)[0]
        x = tf.reshape(tf.broadcast_to(x[None], [k, batch, self.config.dims]), [-1, self.config.dims])
        n = tf.shape(x)[0]
        enc, dec = [self._zeros(n)] * 2, [self._zeros(n)] * 2
        canvas = tf.zeros_like(x)
        log_q = log_p = tf.zeros([n])
        for _ in range(self.config.steps):
            r = self._read(x, x - tf.sigmoid(canvas), dec[0])
            _, enc = self.encoder_cell(tf.concat([r, dec[0]], axis=-1), enc, training=training)
            params = self.posterior(enc[0])
            z = self.posterior.sample(*params, seed=seed)
            log_q += self.posterior.log_prob(z, *objectives.variational_parameters(params, estimator))
            log_p += layers.standard_normal_log_prob(z)
            _, dec = self.decoder_cell(z, dec, training=training)
            canvas = canvas + self._write(dec[0])
        log_px = layers.bernoulli_log_prob(x, canvas)

        def kb(t):
            return tf.reshape(t, [k, batch])

        return LogWeights(kb(log_px + log_p - log_q), kb(log_px), {"z": kb(log_p)}, {"z": kb(log_q)})

    def canvases(self, num=None, x=None, seed=None):
        """``sigmoid(c_t)`` for ``t = 1 .. T``, ``[T, n, h*w]``: of ``num`` samples from the prior
        (``z_t ~ N(0, I)``), or of the reconstructions of images ``x`` (``z_t ~ q``)."""
        if (num is None) == (x is None):
            raise ValueError("Give either num (samples) or x (images to reconstruct).")
        seed = self.seed_stream(seed)
        if not self.built:
            self.build()
        n = num if x is None else len(x)
        enc, dec = [self._zeros(n)] * 2, [self._zeros(n)] * 2
        canvas = tf.zeros([n, self.config.dims])
        if x is not None:
            x = tf.reshape(tf.cast(x, "float32"), [n, self.config.dims])
        out = []
        for _ in range(self.config.steps):
            if x is None:
                z = keras.random.normal((n, self.config.latent), seed=seed)
            else:
                r = self._read(x, x - tf.sigmoid(canvas), dec[0])
                _, enc = self.encoder_cell(tf.concat([r, dec[0]], axis=-1), enc)
                z = self.posterior.sample(*self.posterior(enc[0]), seed=seed)
            _, dec = self.decoder_cell(z, dec)
            canvas = canvas + self._write(dec[0])
            out.append(tf.sigmoid(canvas))
        return tf.stack(out)

    def sample(self, num, seed=None):
        """The final canvases ``sigmoid(c_T)`` (pixel probabilities) of ``num`` samples, ``[num, h*w]``."""
        return self.canvases(num=num, seed=seed)[-1]

    def validate_inputs(self, x):
        c = self.config
        x = check_numeric(x)
        if x.ndim < 2 or tuple(x.shape[1:]) not in ((c.dims,), tuple(c.image_shape)):
            raise ValueError(
                f"DRAW expects images of shape (batch, {', '.join(map(str, c.image_shape))}) or "
                f"flat (batch, {c.dims}), got {x.shape}."
            )
        layers.BernoulliLogits.validate(x)


def default_optimizer(learning_rate=1e-3):
    """Adam, as Gregor et al.; the rate and the clipping of the gradients' global norm at 10 are ours
    (an LSTM's occasional large gradients otherwise end CPU runs)."""
    return optimizers.Adam(learning_rate, global_clipnorm=10.0)
