"""tfgen.presets: save, verify, load from a folder, a registered name and a URL; tampering refused."""
import json
import os
import shutil

import h5py
import keras
import numpy as np
import pytest

from tfgen import presets, runs
from tfgen.lagrangian import ConstrainedModel, Constraint
from tfgen.model import LatentVariableModel
from zoo import iwae


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = iwae.IWAE(image_shape=(6, 1, 1), hidden=((8,),), latent=(2,), k=3, seed=seed)
    model.adapt(np.random.default_rng(seed).integers(0, 2, (20, 6)))
    model.compile(optimizer=iwae.paper_optimizer(3e-3))
    return model


@pytest.fixture
def preset_dir(tmp_path):
    folder = tmp_path / "tiny_preset"
    metadata = presets.save_to_preset(tiny_model(), str(folder), {
        "dataset": "digits", "passes": 2, "train_seconds": 1.5, "test_log_likelihood": -3.25,
        "test_k": 50, "command": "tfgen train --k 3"})
    return folder, metadata


def tamper(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def weights_of(model):
    return [w.numpy() for w in model.weights]


def test_save_writes_config_weights_and_metadata_with_hashes(preset_dir):
    folder, metadata = preset_dir
    assert sorted(os.listdir(folder)) == ["config.json", "metadata.json", "model.weights.h5"]
    on_disk = json.loads((folder / "metadata.json").read_text())
    assert on_disk == metadata
    hashed = ("config.json", "model.weights.h5")
    assert on_disk["files"] == {name: presets.sha256(folder / name) for name in hashed}
    recorded = tuple(on_disk[key] for key in ("objective", "k", "dataset", "passes"))
    assert recorded == ("iwae", 3, "digits", 2)
    assert on_disk["test_log_likelihood"] == -3.25 and on_disk["test_k"] == 50
    assert on_disk["command"] == "tfgen train --k 3" and on_disk["tfgen_version"]
    assert on_disk["optimizer"]["config"]["epsilon"] == pytest.approx(1e-4)
    config = json.loads((folder / "config.json").read_text())
    assert config["settings"] == {"dataset": "digits"}
    assert not config["model"].get("compile_config") and "optimizer" not in config
    with h5py.File(folder / "model.weights.h5") as weights:
        assert "optimizer" not in weights  # no optimizer state shipped


def test_load_preset_returns_compiled_model_with_same_weights(preset_dir):
    folder, _ = preset_dir
    model = presets.load_preset(str(folder))
    for loaded, saved in zip(weights_of(model), weights_of(tiny_model())):
        np.testing.assert_array_equal(loaded, saved)
    assert model.compiled
    assert model.optimizer.learning_rate.numpy() == pytest.approx(3e-3)
    assert model.optimizer.epsilon == pytest.approx(1e-4)
    x = np.random.default_rng(1).integers(0, 2, (10, 6)).astype("float32")
    logs = model.evaluate(x, batch_size=5, verbose=0, return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["loss"] > 0
    model.fit(x, batch_size=5, epochs=1, verbose=0)  # ready to fine-tune


def test_uncompiled_model_loads_with_default_optimizer(tmp_path):
    model = iwae.IWAE(image_shape=(6, 1, 1), hidden=((8,),), latent=(2,))
    model.build()
    presets.save_to_preset(model, str(tmp_path / "p"), {"dataset": "digits"})
    assert "optimizer" not in presets.read_metadata(str(tmp_path / "p"))
    loaded = presets.load_preset(str(tmp_path / "p"))
    assert loaded.optimizer.learning_rate.numpy() == pytest.approx(1e-3)
    assert not presets.load_preset(str(tmp_path / "p"), compile=False).compiled


def test_save_needs_dataset(tmp_path):
    with pytest.raises(ValueError, match="dataset"):
        presets.save_to_preset(tiny_model(), str(tmp_path / "p"), {"passes": 1})


@pytest.mark.parametrize("victim", ["model.weights.h5", "config.json"])
def test_tampered_local_file_is_refused_and_never_loaded(preset_dir, monkeypatch, victim):
    folder, _ = preset_dir
    tamper(folder / victim)
    monkeypatch.setattr(runs, "load", lambda path: pytest.fail("a tampered preset was deserialised"))
    with pytest.raises(presets.PresetIntegrityError, match=f"{victim}: sha256 is .* but the preset records"):
        presets.load_preset(str(folder))


def test_missing_hash_is_refused(preset_dir):
    folder, metadata = preset_dir
    del metadata["files"]["model.weights.h5"]
    runs.write_json(str(folder / "metadata.json"), metadata)
    with pytest.raises(presets.PresetIntegrityError, match="no sha256 for model.weights.h5"):
        presets.load_preset(str(folder))


def test_registered_name(preset_dir, monkeypatch):
    folder, _ = preset_dir
    monkeypatch.setattr(presets, "_directories", [])
    with pytest.raises(ValueError, match="Unknown preset 'tiny_preset'.*Registered: none"):
        presets.load_preset("tiny_preset")
    presets.register_directory(str(folder.parent))
    assert presets.registered() == {"tiny_preset": str(folder)}
    model = presets.load_preset("tiny_preset")
    np.testing.assert_array_equal(weights_of(model)[0], weights_of(tiny_model())[0])


def test_url_download_verifies_and_caches(preset_dir, tmp_path):
    folder, _ = preset_dir
    cache = tmp_path / "cache"
    model = presets.load_preset(folder.as_uri(), cache_dir=str(cache))
    np.testing.assert_array_equal(weights_of(model)[0], weights_of(tiny_model())[0])
    cached = presets.resolve(folder.as_uri(), cache_dir=str(cache))
    assert cached.startswith(str(cache)) and sorted(os.listdir(cached)) == sorted(os.listdir(folder))
    pinned = presets.sha256(folder / "metadata.json")
    assert presets.resolve(folder.as_uri(), cache_dir=str(cache), metadata_sha256=pinned) == cached
    with pytest.raises(presets.PresetIntegrityError, match="metadata.json"):
        presets.resolve(folder.as_uri(), cache_dir=str(cache), metadata_sha256="0" * 64)


def test_tampered_url_file_is_refused_deleted_and_never_loaded(preset_dir, tmp_path, monkeypatch):
    folder, _ = preset_dir
    served = tmp_path / "served" / "tiny_preset"
    shutil.copytree(folder, served)
    tamper(served / "model.weights.h5")
    monkeypatch.setattr(runs, "load", lambda path: pytest.fail("a tampered preset was deserialised"))
    cache = tmp_path / "cache"
    with pytest.raises(presets.PresetIntegrityError, match="model.weights.h5: sha256 does not match"):
        presets.load_preset(served.as_uri(), cache_dir=str(cache))
    left = [f for _, _, files in os.walk(cache) for f in files]
    assert "model.weights.h5" not in left and "config.json" in left


def test_hub_handle_maps_to_its_url(preset_dir, monkeypatch):
    folder, _ = preset_dir
    fetched = []
    monkeypatch.setattr(presets, "_download", lambda url, cache, pin: fetched.append(url) or str(folder))
    presets.resolve("hf://someone/tfgen-presets/iwae_digits")
    assert fetched == ["https://huggingface.co/someone/tfgen-presets/resolve/main/iwae_digits"]
    with pytest.raises(ValueError, match="owner/repo"):
        presets.resolve("hf://someone")


def test_from_preset_checks_the_class(preset_dir, tmp_path):
    folder, _ = preset_dir
    tiny_model().save_to_preset(str(tmp_path / "again"), {"dataset": "digits"})
    assert presets.verify(str(tmp_path / "again"))["files"] == presets.read_metadata(str(folder))["files"]
    assert isinstance(iwae.IWAE.from_preset(str(folder)), iwae.IWAE)
    assert isinstance(LatentVariableModel.from_preset(str(folder)), iwae.IWAE)

    class Other(LatentVariableModel):
        pass

    with pytest.raises(ValueError, match="holds a IWAE, not a Other"):
        Other.from_preset(str(folder))


@keras.saving.register_keras_serializable(package="tests")
class KLConstrainedIWAE(ConstrainedModel, iwae.IWAE):
    """An IWAE with a KL constraint: a model compiled with a second (dual) optimizer."""

    def __init__(self, **config):
        super().__init__(**config)
        self.set_constraints({"kl": Constraint(1.0)})

    def constraint_terms(self, x, log_weights):
        return {"kl": log_weights.kl("z1")}


def test_dual_optimizer_is_recorded_and_restored(tmp_path):
    model = KLConstrainedIWAE(image_shape=(6, 1, 1), hidden=((8,),), latent=(2,))
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(2e-3), dual_optimizer=keras.optimizers.SGD(0.25))
    presets.save_to_preset(model, str(tmp_path / "p"), {"dataset": "digits"})
    loaded = presets.load_preset(str(tmp_path / "p"))
    assert isinstance(loaded.dual_optimizer, keras.optimizers.SGD)
    assert loaded.dual_optimizer.learning_rate.numpy() == pytest.approx(0.25)
    assert loaded.optimizer.learning_rate.numpy() == pytest.approx(2e-3)
