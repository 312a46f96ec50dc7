"""benchmarks.train's step timer: the steady steps exclude the epoch's first call of the step,
where ``fit()`` creates the data iterator (a shuffled dataset fills its buffer there)."""
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from benchmarks.train import EpochTimer

FIRST_ELEMENT_SECONDS = 0.5


def _slow_start_data(batches):
    """Batches of a regression whose first element takes FIRST_ELEMENT_SECONDS (as a shuffled
    dataset's first element waits for its buffer)."""
    def generate():
        time.sleep(FIRST_ELEMENT_SECONDS)
        rng = np.random.default_rng(0)
        for _ in range(batches):
            x = rng.normal(size=(8, 3)).astype("float32")
            yield x, x.sum(axis=1, keepdims=True)

    spec = (tf.TensorSpec((8, 3), tf.float32), tf.TensorSpec((8, 1), tf.float32))
    return tf.data.Dataset.from_generator(generate, output_signature=spec)


@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_steady_steps_leave_out_the_first_call(steps_per_execution):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=steps_per_execution)
    timer = EpochTimer()
    model.fit(_slow_start_data(6), epochs=1, steps_per_epoch=6, verbose=0)  # traces the step
    model.fit(_slow_start_data(6), epochs=1, steps_per_epoch=6, verbose=0, callbacks=[timer])
    (epoch,) = timer.epochs
    assert epoch.steps == 6 and epoch.steady_steps == 6 - steps_per_execution
    assert epoch.wall >= FIRST_ELEMENT_SECONDS > epoch.steady_wall
    assert 0 < epoch.steady_cpu <= epoch.cpu
