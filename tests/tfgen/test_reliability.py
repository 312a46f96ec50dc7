"""Issue 13's faults, each replayed on the library with its original input (docs/reliability.md).

The number in each test's name is the fault's kind in the issue and in docs/reliability.md.
"""
import gzip
import json
import os
import random

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen import data, evaluation, runs, sequences
from tfgen.errors import DivergedError
from tfgen.model import LogWeights
from zoo.iwae.model import IWAE
from zoo.vrnn.model import VRNN

X = (np.random.default_rng(0).random((64, 16)) < 0.4).astype("float32")


def iwae(seed=0, jit_compile="auto"):
    model = IWAE(image_shape=(4, 4, 1), latent=(3,), hidden=((8,),), k=3, seed=seed)
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit_compile)
    return model


def later_batch_holds(value):
    x = X.copy()
    x[40, 3] = value  # batch 3 of 4
    return tf.data.Dataset.from_tensor_slices(x).batch(16)


# Under XLA the batches are checked in the input pipeline (XLA drops the steps' Assert ops).
XLA = pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])


@XLA
@pytest.mark.parametrize("value, match", [(np.nan, "NaN or infinite"), (0.5, "other than 0 and 1")])
def test_2_a_bad_value_in_a_later_batch_stops_fit_before_its_update(value, match, jit_compile):
    model = iwae(jit_compile=jit_compile)
    seen = []

    def state():  # weights and Adam's moments (its step counter is not gated by the check)
        return [v.numpy().copy() for v in model.weights + model.optimizer.variables[2:]]

    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(state()))
    with pytest.raises(ValueError, match=match):
        model.fit(later_batch_holds(value), epochs=1, verbose=0, callbacks=[record])
    assert len(seen) == 2  # batches 1 and 2 trained, not 3
    assert all(np.array_equal(a, b) for a, b in zip(seen[-1], state()))


@XLA
def test_2_evaluate_predict_and_the_estimator_check_every_batch_too(jit_compile):
    model = iwae(jit_compile=jit_compile)
    assert model.jit_compile is jit_compile
    for call in (lambda ds: model.evaluate(ds, verbose=0), lambda ds: model.predict(ds, verbose=0),
                 lambda ds: evaluation.log_likelihood(model, ds, k=4, verbose=0),
                 lambda ds: model.fit(later_batch_holds(0.0), validation_data=ds, epochs=1, verbose=0)):
        with pytest.raises(ValueError, match="other than 0 and 1"):
            call(later_batch_holds(0.5))


def test_2_under_xla_a_sequence_batch_with_a_bad_frame_stops_the_vrnn_before_its_update():
    model = VRNN(input_dim=5, rnn_units=6, latent=3, features=6, k=2, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True)
    frames = (np.random.default_rng(0).random((12, 4, 5)) < 0.3).astype("float32")
    frames[9, 1, 2] = 0.5  # batch 3 of 3
    mask = np.ones((12, 4), "float32")
    data = tf.data.Dataset.from_tensor_slices({"frames": frames, "mask": mask}).batch(4)
    seen = []

    def record_weights(batch, logs):
        seen.append(model.get_weights())

    record = keras.callbacks.LambdaCallback(on_train_batch_end=record_weights)
    with pytest.raises(ValueError, match="other than 0 and 1"):
        model.fit(data, epochs=1, verbose=0, callbacks=[record])
    assert len(seen) == 2 and all(np.array_equal(a, b) for a, b in zip(seen[-1], model.get_weights()))


def test_2_adapt_and_predict_check_their_input_first():
    model = iwae()
    with pytest.raises(ValueError, match="binary"):
        model.adapt(X * 255)
    nan = X.copy()
    nan[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.adapt(nan)
    assert model.predict(X.reshape(-1, 4, 4, 1), verbose=0).shape == (64,)
    with pytest.raises(ValueError, match=r"expects images of shape .* got \(64, 8\)"):
        model.predict(X[:, :8], verbose=0)


@pytest.mark.parametrize("pad", [1e3, -999.0, np.nan])
def test_3_padding_of_any_value_gives_the_zero_padded_bound(pad):
    model = VRNN(input_dim=5, rnn_units=6, latent=3, features=6, k=3, seed=0)
    model.build()
    frames = (np.random.default_rng(0).random((2, 5, 5)) < 0.3).astype("float32")
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], "float32")
    frames[0, 2:] = 0.0
    zero = model.log_weights({"frames": frames, "mask": mask}, 3, seed=1).log_w.numpy()
    frames[0, 2:] = pad
    model.check_data({"frames": frames, "mask": mask})
    padded = model.log_weights({"frames": frames, "mask": mask}, 3, seed=1).log_w.numpy()
    np.testing.assert_array_equal(padded, zero)
    assert np.isfinite(zero).all()


def test_3_npz_sequences_padded_with_anything_are_read_zero_padded(tmp_path):
    frames = (np.random.default_rng(1).random((6, 7, 5)) < 0.3).astype("float32")
    lengths = np.array([2, 7, 4, 7, 3, 5])
    clean = sequences.zero_padding(frames, lengths)
    for i, n in enumerate(lengths):
        frames[i, n:] = 1e3
    np.savez(tmp_path / "seq.npz", frames=frames, lengths=lengths)
    batches = list(sequences.load_npz(str(tmp_path / "seq.npz"), batch_size=6).as_numpy_iterator())
    np.testing.assert_array_equal(batches[0]["frames"], clean)


def test_6_sample_weight_enters_the_objective():
    model = iwae()
    before = [w.copy() for w in model.get_weights()]
    logs = model.fit(X, X, sample_weight=np.zeros(64), batch_size=16, epochs=1, verbose=0).history
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # zero weight: no update
    assert logs["loss"] == [0.0]
    weighted = model.evaluate(X, X, sample_weight=np.r_[np.ones(32), np.zeros(32)], batch_size=64, verbose=0,
                              return_dict=True)
    first_half = model.evaluate(X[:32], batch_size=64, verbose=0, return_dict=True)
    assert weighted["loss"] == pytest.approx(first_half["loss"] / 2, rel=0.05)  # mean over the 64 weights


def test_7_tfds_dicts_and_unbatched_datasets_get_messages_that_say_what_to_do():
    model = iwae()
    tfds_like = tf.data.Dataset.from_tensor_slices({"image": X.reshape(-1, 4, 4, 1), "label": np.zeros(64)})
    with pytest.raises(ValueError, match=r"dicts with keys \['image', 'label'\].*e\['image'\]"):
        model.fit(tfds_like.batch(8), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"one example of shape \(16,\), not a batch.*\.batch"):
        model.fit(tf.data.Dataset.from_tensor_slices(X), epochs=1, verbose=0)


@pytest.mark.parametrize("family", ["iwae", "vrnn"])
def test_10_export_serves_the_per_example_bound(tmp_path, family):
    if family == "iwae":
        model, x = iwae(), X[:5].reshape(-1, 4, 4, 1)
    else:
        model = VRNN(input_dim=5, rnn_units=6, latent=3, features=6, k=3, seed=0)
        model.build()
        lengths = np.array([2, 5, 3])
        frames = sequences.zero_padding((np.random.default_rng(0).random((3, 5, 5)) < 0.3).astype("float32"),
                                        lengths)
        x = {"frames": frames, "mask": sequences.mask_from_lengths(lengths, 5)}
    model.export(str(tmp_path / "served"))
    reloaded = tf.saved_model.load(str(tmp_path / "served"))
    served = reloaded.serve(x)  # its noise state is the model's at export
    np.testing.assert_allclose(served.numpy(), model.bound_of(model(x)).numpy(), rtol=1e-5, atol=1e-5)
    assert served.shape == (len(tf.nest.flatten(x)[0]),)


def test_11_the_streamed_estimate_folds_in_float64():
    class Constant(IWAE):  # every log_w = -1e4, so log p(x) = -1e4 exactly
        def log_weights_from(self, x, encoded, k, estimator="total", seed=None, training=False):
            log_w = tf.fill(tf.stack([k, tf.shape(x)[0]]), -1e4)
            return LogWeights(log_w, log_w, {"z1": tf.zeros_like(log_w)}, {"z1": tf.zeros_like(log_w)})

    model = Constant(image_shape=(4, 4, 1), latent=(3,), hidden=((8,),), k=1, seed=0)
    model.build()
    estimate = evaluation.log_likelihood(model, X[:2], k=2000, max_rows=2, verbose=0)  # one-sample chunks
    np.testing.assert_allclose(estimate, -1e4, atol=1e-6)  # float32 folding was 0.9 nats off


def test_12_the_same_seed_gives_the_same_initial_weights_whatever_ran_before():
    first = IWAE(image_shape=(4, 4, 1), latent=(3,), hidden=((8,),), seed=0)
    first.build()
    random.random()
    keras.utils.set_random_seed(123)
    second = IWAE(image_shape=(4, 4, 1), latent=(3,), hidden=((8,),), seed=0)
    second.build()
    other = IWAE(image_shape=(4, 4, 1), latent=(3,), hidden=((8,),), seed=1)
    other.build()
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights()))
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])


def test_13_resume_on_a_finished_run_and_changed_settings_are_refused(tmp_path):
    settings = {"dataset": "toy", "k": 3, "epochs": 1, "seed": 0, "batch_size": 16, "learning_rate": 1e-3}
    run = runs.Run(tmp_path / "run", settings, "iwae")
    model = iwae()
    run.fit(model, tf.data.Dataset.from_tensor_slices(X).batch(16), 1, verbose=0)
    run.finish(model)
    with pytest.raises(ValueError, match="already has 1 epochs"):
        runs.Run(tmp_path / "run", settings, "iwae", resume=True).fit(model, X, 1, verbose=0)
    for key, value in {"k": 5, "seed": 1, "batch_size": 50, "learning_rate": 0.1}.items():
        with pytest.raises(ValueError, match=f"{key}: .* -> {value}"):
            runs.Run(tmp_path / "run", {**settings, key: value}, "iwae", resume=True)
    # a setting the checkpoint does not record (a flag a later tfgen added) takes the command's value
    runs.Run(tmp_path / "run", {**settings, "validation_size": 100}, "iwae", resume=True)


def test_1_a_non_finite_final_figure_is_not_saved_as_a_success(tmp_path):
    run = runs.Run(tmp_path / "run", {"epochs": 1}, "iwae")
    model = iwae()
    run.fit(model, tf.data.Dataset.from_tensor_slices(X).batch(16), 1, verbose=0)
    with pytest.raises(DivergedError, match="test_log_likelihood_k5 are not finite"):
        run.finish(model, test_log_likelihood_k5=float("nan"))
    assert not os.path.exists(tmp_path / "run" / "model.weights.h5")
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "diverged"


def test_16_bad_data_or_a_step_too_large_before_any_checkpoint_leaves_no_run_folder(tmp_path):
    model = IWAE(image_shape=(4, 4, 1), latent=(3,), hidden=((8,),), k=10**9, seed=0)
    model.build()
    model.compile(optimizer="adam")
    run = runs.Run(tmp_path / "huge", {"epochs": 1}, "iwae")
    with pytest.raises(ValueError, match=r"k = 1000000000 samples x batch 16 needs at least .* GiB"):
        run.fit(model, tf.data.Dataset.from_tensor_slices(X).batch(16), 1, verbose=0)
    assert not os.path.exists(tmp_path / "huge")
    run = runs.Run(tmp_path / "grey", {"epochs": 1}, "iwae")
    with pytest.raises(ValueError, match=r"other than 0 and 1.*epoch 1, batch 3; nothing final was written"):
        run.fit(iwae(), later_batch_holds(0.5), 1, verbose=0)
    assert not os.path.exists(tmp_path / "grey")


def test_16_generators_and_py_datasets_of_clean_batches_train():
    model = iwae()

    def batches():
        for i in range(4):
            yield (X[16 * i:16 * (i + 1)],)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return X[16 * i:16 * (i + 1)]

    assert len(model.fit(batches(), epochs=1, verbose=0).history["loss"]) == 1
    assert len(model.fit(Batches(), epochs=1, verbose=0).history["loss"]) == 1


# --- files on disk ----------------------------------------------------------------------------
def write_mnist(folder, array, **extra):
    np.savez(folder / "binarized_mnist.npz", train=array, valid=array, test=array, **extra)


@pytest.mark.parametrize("array, match", [
    (np.full((4, 784), 0.5, "float32"), "4 pixels are not 0 or 1|3136 pixels are not 0 or 1"),
    (np.where(np.eye(4, 784) > 0, np.nan, 0.0), "pixels are not 0 or 1"),
    (np.zeros((4, 392), "uint8"), r"784 pixels \(28x28x1\) per row, got an array of shape \(4, 392\)"),
])
def test_15_corrupt_binarized_mnist_is_refused_not_cast(tmp_path, monkeypatch, array, match):
    monkeypatch.setenv("TFGEN_DATA_DIR", str(tmp_path))
    write_mnist(tmp_path, array)
    with pytest.raises(ValueError, match=match):
        data.load_images("binarized_mnist", "train")


def test_16_unreadable_data_files_get_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("TFGEN_DATA_DIR", str(tmp_path))
    npz = tmp_path / "binarized_mnist.npz"
    write_mnist(tmp_path, np.zeros((4, 784), "uint8"))
    whole = npz.read_bytes()
    cases = {"truncated": whole[:100], "empty": b""}
    for content in cases.values():
        npz.write_bytes(content)
        with pytest.raises(ValueError, match="is not a readable .npz file"):
            data.load_images("binarized_mnist", "train")
    np.savez(npz, training=np.zeros((4, 784)))
    with pytest.raises(ValueError, match=r"lacks the arrays \['train'\]; it holds \['training'\]"):
        data.load_images("binarized_mnist", "train")
    npz.unlink()
    npz.mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        data.load_images("binarized_mnist", "train")
    npz.rmdir()
    os.mkfifo(npz)  # reading a FIFO would hang
    with pytest.raises(ValueError, match="not a regular file"):
        data.load_images("binarized_mnist", "train")


@pytest.mark.parametrize("content, match", [
    (b"not gzip at all", "not a readable gzip file"),
    (gzip.compress(b"\x00\x00\x08\x03" + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
                   + b"\x00" * 99, mtime=0),  # mtime 0: the same parameter in every pytest-xdist worker
     "not a whole IDX image file"),
], ids=["not gzip", "truncated IDX"])
def test_16_truncated_or_non_gzip_idx_files(tmp_path, monkeypatch, content, match):
    monkeypatch.setenv("TFGEN_DATA_DIR", str(tmp_path))
    (tmp_path / "mnist").mkdir()
    for stem in ("train", "t10k"):
        (tmp_path / "mnist" / f"{stem}-images-idx3-ubyte.gz").write_bytes(content)
    with pytest.raises(ValueError, match=match):
        data.load_images("mnist", "train")


def test_16_truncated_jsb_pickle_and_bad_npz_sequences(tmp_path):
    import pickle

    path = tmp_path / "jsb.pickle"
    path.write_bytes(pickle.dumps({"train": [[(60, 64)]] * 50, "valid": [], "test": []}, protocol=2)[:40])
    with pytest.raises(ValueError, match="not a readable pickle"):
        sequences.load_jsb_rolls("train", str(path))
    np.savez(tmp_path / "seq.npz", frames=np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"lacks the arrays \['lengths'\]"):
        sequences.read_npz(str(tmp_path / "seq.npz"))
