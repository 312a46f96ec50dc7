"""``tfgen distortion-train`` on colour images streamed from TFDS (mocked offline), end to end."""
import csv
import json
import math
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tfgen import data, runs
from zoo import cli, distortion


@pytest.fixture(autouse=True)
def no_local_files(monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)


# celeb_a: cropped and resized to the 32x32 CPU setting; svhn: resized to 28x28 (the cheaper
# CPU layout, to keep the test short; its own 32x32 goes through the same pipeline).
@pytest.mark.parametrize("dataset, size", [("celeb_a", 32), ("svhn", 28)])
def test_distortion_train_streams_colour_images(tmp_path, dataset, size):
    out = str(tmp_path / "run")
    with tfds.testing.mock_data(num_examples=16):
        code = cli.main(["distortion-train", "--dataset", dataset, "--image-size", str(size), "--gamma", "20",
                         "--train-size", "16", "--test-size", "8", "--batch-size", "8", "--epochs", "2",
                         "--learning-rate", "1e-2", "--seed", "0", "--out", out, "--verbose", "0"])
    assert code == 0
    for name in ("config.json", "model.weights.h5", "metrics.json", "history.csv", "checkpoint.weights.h5"):
        assert os.path.exists(os.path.join(out, name)), name
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["image_shape"] == [size, size, 3]
    assert (metrics["train_images"], metrics["test_images"], metrics["steps"]) == (16, 8, 4)
    test = metrics["test"]
    assert all(math.isfinite(v) for v in test.values())
    assert test["distortion"] > 0 and test["rate"] > 0
    assert {f"kl_z{r}x{r}_0" for r in distortion.CPU[size]["resolutions"]} <= set(test)
    # Bits per dimension count all three channels.
    dims_ln2 = size * size * 3 * math.log(2)
    np.testing.assert_allclose(test["bits_per_dim"], -test["elbo"] / dims_ln2, rtol=1e-4)
    np.testing.assert_allclose(test["rate_bits_per_dim"], test["rate"] / dims_ln2, rtol=1e-4)
    with open(os.path.join(out, "history.csv")) as f:
        loss = [float(row["loss"]) for row in csv.DictReader(f)]
    assert len(loss) == 2 and loss[1] < 0.8 * loss[0]
    saved = json.load(open(os.path.join(out, runs.CONFIG)))
    assert saved["model"]["config"]["image_shape"] == [size, size, 3]
    assert saved["settings"]["dataset"] == dataset


def test_distortion_train_rejects_mismatched_sizes_and_missing_data(tmp_path, monkeypatch, capsys):
    common = ["distortion-train", "--dataset", "celeb_a", "--gamma", "10", "--epochs", "1"]
    with tfds.testing.mock_data(num_examples=4):
        assert cli.main(common + ["--out", str(tmp_path / "a")]) == 2  # cpu layouts: 28, 32 pixels
        assert "pass --image-size 32" in capsys.readouterr().err
        paper = ["--size", "celeba", "--image-size", "32", "--out", str(tmp_path / "b")]
        assert cli.main(common + paper) == 2
        assert "--size celeba is for (64, 64, 3) images" in capsys.readouterr().err

    def refuse(*args, **kwargs):
        raise ConnectionError("no internet")

    monkeypatch.setattr(tfds, "load", refuse)
    assert cli.main(common + ["--image-size", "32", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "Dataset 'celeb_a'" in err and "tfds build celeb_a" in err and "TFDS_DATA_DIR" in err
    assert not any(os.path.exists(tmp_path / d) for d in "abc")  # refused before any run dir
