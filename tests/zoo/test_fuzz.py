"""Random malformed inputs at the data, model-input, config and command-line entry points.

Each property: the input is either accepted (and then it is what it should be) or refused with
one clean error (``ValueError`` / ``FileNotFoundError``, exit status 2 with one line on stderr);
nothing else escapes and no run folder is written. Examples are drawn by hypothesis, a few dozen
per property, so the file runs in seconds.
"""
import json
import math
import os
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tfgen import data, runs
from zoo import cli
from zoo.iwae.configs import IWAEConfig
from zoo.iwae.model import IWAE
from zoo.vrnn.model import VRNN

FUZZ = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
DTYPES = st.sampled_from(["float32", "float64", "int64", "uint8", "bool", "complex64", "U3"])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)


def arrays(**kwargs):
    return DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, kwargs.get("shape", SHAPES)))


@pytest.fixture(scope="module")
def iwae():
    model = IWAE(image_shape=(2, 2, 1), latent=(2,), hidden=((4,),), k=2, seed=0)
    model.build()
    return model


@pytest.fixture(scope="module")
def vrnn():
    model = VRNN(input_dim=3, rnn_units=4, latent=2, features=4, k=2, seed=0)
    model.build()
    return model


@FUZZ
@given(x=arrays())
def test_model_inputs_are_accepted_only_when_scorable(iwae, x):
    try:
        iwae.check_data(x)
    except ValueError:
        return
    flat = np.asarray(x).reshape(len(x), -1)
    assert x.ndim >= 2 and flat.shape[1] == 4 and np.isin(flat, (0, 1)).all()


@FUZZ
@given(frames=arrays(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=5)),
       mask=arrays(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5)))
def test_sequence_inputs_are_accepted_only_when_scorable(vrnn, frames, mask):
    try:
        vrnn.check_data({"frames": frames, "mask": mask})
    except ValueError:
        return
    real = np.where(mask[..., None] > 0, frames, 0)
    assert frames.shape[-1] == 3 and mask.shape == frames.shape[:2] and np.isin(real, (0, 1)).all()


@FUZZ
@given(train=arrays(), key=st.sampled_from(["train", "valid", "test", "other"]))
def test_a_binarized_mnist_file_is_accepted_only_when_it_holds_binary_images(tmp_path_factory, train, key):
    folder = tmp_path_factory.mktemp("data")
    np.savez(folder / "binarized_mnist.npz", **{key: train})
    os.environ[data.DATA_DIR_ENV], before = str(folder), os.environ.get(data.DATA_DIR_ENV)
    try:
        images = data.load_images("binarized_mnist", "train")
    except (ValueError, FileNotFoundError):
        return
    finally:
        os.environ[data.DATA_DIR_ENV] = before or ""
    assert key == "train" and images.shape[1:] == (28, 28, 1) and np.isin(images, (0, 1)).all()


NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12),
                    st.text(max_size=4), st.booleans(), st.none(), st.lists(st.integers(-3, 5), max_size=3))


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["k", "layers", "latent", "hidden", "likelihood_scale",
                                               "image_shape", "objective", "estimator", "seed"]), NUMBERS))
def test_configs_are_built_or_refused_with_a_value_error(fields):
    try:
        config = IWAEConfig(**fields)
    except ValueError:
        return
    assert config.k >= 1 and all(math.isfinite(v) for v in (config.likelihood_scale,))


FLAGS = {
    "iwae": ["--k", "--epochs", "--batch-size", "--learning-rate", "--beta-1", "--eval-k", "--train-size",
             "--latent", "--hidden", "--passes"],
    "vrnn": ["--k", "--epochs", "--batch-size", "--learning-rate", "--eval-k", "--latent", "--rnn-units"],
    "infovae": ["--mi", "--e1", "--e2", "--batch-size", "--learning-rate", "--latent", "--hidden"],
    "distortion": ["--gamma", "--learning-rate", "--clipnorm", "--batch-size", "--width", "--k"],
}
VALUES = st.one_of(st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e400", "5", "1e-300", "", "x", "2,2"]),
                   st.integers(-5, 10**10).map(str), st.floats(allow_nan=False).map(repr))


@FUZZ
@given(family=st.sampled_from(sorted(FLAGS)), data_=st.data())
def test_train_flags_exit_2_with_one_line_and_write_nothing(tmp_path_factory, capsys, family, data_):
    flags = data_.draw(st.lists(st.sampled_from(FLAGS[family]), min_size=1, max_size=3, unique=True))
    argv = [item for flag in flags for item in (f"{flag}={data_.draw(VALUES)}",)]
    folder = tmp_path_factory.mktemp("cli")
    (folder / "taken").write_text("a file where the run folder would go: valid flags end here")
    code = cli.main(["train", family, *argv, "--dataset", "digits" if family == "iwae" else
                     {"vrnn": "jsb", "infovae": "digits", "distortion": "fashion_mnist"}[family],
                     "--out", str(folder / "taken")])
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    assert err.count("\n") == 1 and err.startswith("tfgen") and "Traceback" not in err, err
    assert sorted(os.listdir(folder)) == ["taken"]


JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**9), st.text(max_size=5)),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                    max_leaves=12)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory, iwae):
    folder = tmp_path_factory.mktemp("saved")
    runs.save(iwae, folder, {})
    return folder


IWAE_ENTRY = st.fixed_dictionaries({"registered_name": st.just("zoo>IWAE"), "class_name": st.just("IWAE"),
                                    "module": st.just("zoo.iwae.model"), "config": JSON})


@FUZZ
@given(config=st.one_of(JSON, st.fixed_dictionaries({"model": JSON, "settings": JSON}),
                        st.fixed_dictionaries({"model": IWAE_ENTRY, "settings": st.just({})})))
def test_a_run_folders_config_is_loaded_or_refused_with_a_value_error(tmp_path_factory, saved_run,
                                                                      config):
    folder = tmp_path_factory.mktemp("run")
    shutil.copy(saved_run / runs.WEIGHTS, folder / runs.WEIGHTS)
    (folder / runs.CONFIG).write_text(json.dumps(config))
    try:
        model, settings = runs.load(folder)
    except ValueError:
        return
    assert isinstance(model, IWAE) and settings == {}
