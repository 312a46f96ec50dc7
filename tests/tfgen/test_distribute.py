"""The same models under ``tf.distribute`` and mixed precision, with no code change."""
import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from zoo.iwae import IWAE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Runs in a fresh process: logical devices must be configured before TensorFlow starts.
MIRRORED = """
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from tests import linear_gaussian
from zoo.iwae import IWAE

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    exact_model, x = linear_gaussian.make(n=64)
    exact_model.set_posterior()  # q = p(z|x): every log-weight equals log p(x)
    exact_model.compile(optimizer=keras.optimizers.SGD(1e-3))
logs = exact_model.evaluate(x, batch_size=32, verbose=0, return_dict=True)
with strategy.scope():
    model = IWAE(image_shape=(4, 4, 1), hidden=((8,),), latent=(2,), k=3, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
data = (np.random.default_rng(0).random((64, 16)) < 0.3).astype("float32")
history = model.fit(data, batch_size=16, epochs=3, verbose=0).history
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "loss": logs["loss"], "iwae_k1": logs["iwae_k1"],
    "exact": float(np.mean(exact_model.exact_log_likelihood(x.numpy()))),
    "mirrored": type(model.trainable_variables[0].value).__name__,
    "fit_loss": history["loss"], "fit_iwae": history["iwae_k3"],
}))
"""


@pytest.fixture(scope="module")
def mirrored():
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_mirrored_strategy_reports_the_single_device_loss(mirrored):
    assert mirrored["replicas"] == 2
    # Exact posterior: the bound is log p(x) whatever the samples, so the loss Keras
    # aggregates over the two replicas must be -mean log p(x), not a multiple of it.
    assert mirrored["loss"] == pytest.approx(-mirrored["exact"], rel=1e-4)
    assert mirrored["iwae_k1"] == pytest.approx(mirrored["exact"], rel=1e-4)


def test_mirrored_strategy_fits_an_iwae(mirrored):
    assert mirrored["mirrored"] == "MirroredVariable"
    losses, bounds = mirrored["fit_loss"], mirrored["fit_iwae"]
    assert np.all(np.isfinite(losses))
    np.testing.assert_allclose(losses, -np.asarray(bounds), rtol=1e-4)
    assert losses[-1] < losses[0]


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


TRAIN = ["train", "iwae", "--dataset", "digits", "--train-size", "256", "--hidden", "32", "--latent", "4",
         "--k", "3", "--epochs", "2", "--batch-size", "32", "--eval-k", "3", "--verbose", "0", "--seed", "0"]


def test_two_workers_train_the_single_worker_bound(tmp_path):
    """``tfgen train`` as two ``MultiWorkerMirroredStrategy`` workers (``TF_CONFIG`` on localhost
    ports): the chief writes the run, the other worker nothing, and the bound is the one a
    single process reaches with the same seed, up to the Monte Carlo noise of the samples."""
    from zoo import cli

    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    workers = [subprocess.Popen(
        [sys.executable, "-m", "zoo.cli", *TRAIN, "--out", str(tmp_path / "two")], cwd=ROOT,
        env={**env, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    assert cli.main([*TRAIN, "--out", str(tmp_path / "one")]) == 0  # while the workers run
    for worker in workers:
        _, stderr = worker.communicate(timeout=600)
        assert worker.returncode == 0, stderr[-3000:]
    two, one = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("two", "one"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # worker 1 wrote no folder
    assert two["status"] == "finished" and two["epochs"] == 2
    assert two["final_train"]["loss"] == pytest.approx(-two["final_train"]["iwae_k3"], rel=1e-5)
    # Seeds 0 and 1 of the single process end 0.09 nats apart on the training bound (4 epochs);
    # a wrong gradient scale (summed over workers, or halved) moves the bound by nats.
    assert two["final_train"]["iwae_k3"] == pytest.approx(one["final_train"]["iwae_k3"], abs=0.3)
    assert two["test_log_likelihood_k3"] == pytest.approx(one["test_log_likelihood_k3"], abs=0.3)


def _iwae(k=5):
    return IWAE(image_shape=(4, 4, 1), hidden=((32, 32),), latent=(4,), k=k, seed=0)


def test_mixed_precision_keeps_the_bound_in_float32():
    x = (np.random.default_rng(1).random((32, 16)) < 0.3).astype("float32")
    reference = _iwae()
    reference.build()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = _iwae()
        mixed.build()
        mixed.set_weights(reference.get_weights())
        lw = mixed.log_weights(x, 5, seed=1)
        mixed.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = mixed.fit(x, batch_size=16, epochs=2, verbose=0).history
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert mixed.decoder.dense[0].compute_dtype == "float16"
    assert isinstance(mixed.optimizer, keras.optimizers.LossScaleOptimizer)
    assert lw.log_w.dtype == "float32" and lw.log_px_z.dtype == "float32"
    expected = reference.log_weights(x, 5, seed=1)
    # Same weights and noise: float16 matmuls move the log-weights by well under a nat.
    np.testing.assert_allclose(lw.log_w.numpy(), expected.log_w.numpy(), rtol=2e-3, atol=0.05)
    assert not np.allclose(lw.log_w.numpy(), expected.log_w.numpy(), rtol=1e-7, atol=0)  # really float16
    assert np.all(np.isfinite(history["loss"]))


# One SGD step of one model of every family (the first case of each in tests/contract.py) on 2
# logical CPUs, against the same step on one device: the replicas' halves of the batch are scored
# with replica-offset seeds (tfgen.seeds), which the single-device step reproduces by offsetting its
# generator by REPLICA_STRIDE. The same step with one seed for both halves (the noise of the
# replicas drawn alike, the fault this guards against) must land elsewhere.
# NVIL centres its learning signal with moving averages of the batches' moments: both replicas
# read the averages as they were before the step, while the one-device emulation below moves them
# between its two halves, so the two differ by design (as any statistic of a replica's batch).
STATEFUL = {"sbn_two_layers_nvil"}
EVERY_FAMILY = """
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from tests.contract import CASES
from tests.tfgen.test_distribute import STATEFUL
from tfgen.seeds import REPLICA_STRIDE

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def single_step(model, x, half, start, weights, seed_offsets):
    # The trainable weights after one SGD step on one device, half i drawn at seed + offset i.
    model.set_weights(weights)
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        losses = []
        for offset, rows in zip(seed_offsets, (slice(0, half), slice(half, 2 * half))):
            model.seed_generator.state.assign(start + np.array([offset, 0], start.dtype))
            part = tf.nest.map_structure(lambda v: v[rows], x)
            losses.append(model.compute_loss(part, None, model(part, training=True)))
        loss = tf.add_n(losses) / 2.0
    for variable, grad in zip(variables, tape.gradient(loss, variables)):
        if grad is not None:
            variable.assign_sub(0.1 * grad)
    return [v.numpy() for v in variables]


def distance(a, b):
    return float(max(np.max(np.abs(u - v)) for u, v in zip(a, b)))


report = {}
for case in {case.family: case for case in reversed(CASES)}.values():  # each family's first case
    if case.name in STATEFUL:
        continue
    x = case.data()
    half = len(tf.nest.flatten(x)[0]) // 2
    with strategy.scope():
        mirrored = case.make()
        mirrored.build()
        mirrored.compile(optimizer=keras.optimizers.SGD(0.1), **case.compile_kwargs())
    single = case.make()
    single.build()
    weights = mirrored.get_weights()
    start = single.seed_generator.state.numpy()
    mirrored.fit(x, batch_size=2 * half, epochs=1, shuffle=False, verbose=0)
    after = [v.numpy() for v in mirrored.trainable_variables]
    report[case.name] = {
        "per_replica_noise": distance(after, single_step(single, x, half, start, weights,
                                                         (0, REPLICA_STRIDE))),
        "same_noise": distance(after, single_step(single, x, half, start, weights, (0, 0))),
    }
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def every_family():
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", EVERY_FAMILY], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_familys_mirrored_train_step_is_the_single_device_step_with_per_replica_noise(every_family):
    from tests.contract import CASES

    firsts = {case.name for case in {c.family: c for c in reversed(CASES)}.values()}
    assert set(every_family) == firsts - STATEFUL
    for name, result in every_family.items():
        # float32 sums in another order (two replicas' gradients all-reduced): InfoVAE's step,
        # which moves weights by ~100 (its 10000 x MMD term), lands 2e-5 away
        assert result["per_replica_noise"] < 1e-4, (name, result)
        assert result["same_noise"] > 1e-2, (name, result)  # replica 1 did not reuse replica 0's noise
