"""tfgen.presets: save, verify, load from a folder, a registered name and hubs (a fake Hugging Face hub on
127.0.0.1, a Kaggle cache); tampering refused; model cards; the user's preset folder."""
import json
import os
import pathlib
import re
import shutil

import h5py
import keras
import numpy as np
import pytest

from tests.fake_hub import FakeHub
from tfgen import hubs, model_card, presets, runs
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
    assert sorted(os.listdir(folder)) == ["README.md", "config.json", "metadata.json", "model.weights.h5"]
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


def test_load_preset_reads_and_hashes_each_file_once(preset_dir, monkeypatch):
    folder, _ = preset_dir
    hashed = []
    real = presets.hashlib.sha256
    monkeypatch.setattr(presets.hashlib, "sha256", lambda *data: hashed.append(1) or real(*data))
    presets.load_preset(str(folder), compile=False)
    assert len(hashed) == len(presets.HASHED_FILES)  # each file metadata.json records, once


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
    with pytest.raises(presets.PresetIntegrityError, match="must give the sha256 of exactly"):
        presets.load_preset(str(folder))


def test_registered_name(preset_dir, monkeypatch):
    folder, _ = preset_dir
    monkeypatch.setattr(presets, "_directories", [])
    with pytest.raises(ValueError, match="Unknown preset 'tiny_preset'.*Registered: none"):
        presets.load_preset("tiny_preset")
    presets.register_directory(str(folder.parent))
    assert presets.registered() == {"tiny_preset": str(folder)}
    for typo in ("tiny_prest", "Tiny_Preset"):
        with pytest.raises(ValueError, match=f"Unknown preset '{typo}'.* Did you mean 'tiny_preset'"):
            presets.load_preset(typo)
    model = presets.load_preset("tiny_preset")
    np.testing.assert_array_equal(weights_of(model)[0], weights_of(tiny_model())[0])


@pytest.fixture
def hub(monkeypatch):
    with FakeHub() as hub:
        hub.serve_as_hf_endpoint(monkeypatch)
        yield hub


def test_hub_upload_then_load_pins_commits_verifies_and_works_offline(preset_dir, tmp_path, hub, monkeypatch):
    folder, _ = preset_dir
    cache = str(tmp_path / "hf_cache")
    pinned = presets.upload(str(folder), "hf://someone/tfgen-presets/tiny")
    assert re.fullmatch(r"hf://someone/tfgen-presets/tiny@[0-9a-f]{40}", pinned)
    pushed = hub.repos["someone/tfgen-presets"]["commits"][pinned.rsplit("@", 1)[1]]
    assert sorted(pushed) == [f"tiny/{name}" for name in sorted(os.listdir(folder))]  # the card too
    model = presets.load_preset("hf://someone/tfgen-presets/tiny", cache_dir=cache)  # the branch, main
    np.testing.assert_array_equal(weights_of(model)[0], weights_of(tiny_model())[0])

    # main moves to a commit whose weights do not match metadata.json: refused, never deserialised,
    # and the verified copy of the first commit stays in the cache.
    tampered = bytearray((folder / "model.weights.h5").read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    hub.commit("someone/tfgen-presets", {"tiny/model.weights.h5": bytes(tampered)})
    load = runs.load
    monkeypatch.setattr(runs, "load", lambda path: pytest.fail("a tampered preset was deserialised"))
    with pytest.raises(presets.PresetIntegrityError, match="model.weights.h5: sha256 is"):
        presets.load_preset("hf://someone/tfgen-presets/tiny", cache_dir=cache)
    monkeypatch.setattr(runs, "load", load)
    assert presets.verify(presets.resolve(pinned, cache_dir=cache))  # the pinned commit, still cached

    hub.stop()  # no hub from here on: the pinned commit loads from the cache
    requests = len(hub.requests)
    model = presets.load_preset(pinned, cache_dir=cache)
    np.testing.assert_array_equal(weights_of(model)[0], weights_of(tiny_model())[0])
    assert len(hub.requests) == requests


def test_hub_errors_name_the_handle(hub, tmp_path):
    with pytest.raises(hubs.HubError, match="owner/repo"):
        presets.resolve("hf://someone")
    with pytest.raises(hubs.HubError, match="hf://someone/missing"):
        presets.resolve("hf://someone/missing", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="a folder or a registered name"):
        presets.upload("hf://someone/missing", "hf://someone/else")


def test_kaggle_handle_loads_its_cached_version_verified(preset_dir, tmp_path, monkeypatch):
    kagglehub_cache = pytest.importorskip("kagglehub.cache")
    from kagglehub.handle import parse_model_handle

    folder, _ = preset_dir
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kaggle"))
    handle = parse_model_handle("someone/tiny/keras/digits/2")
    cache = kagglehub_cache.Cache()
    shutil.copytree(folder, cache.get_path(handle))
    cache.mark_as_complete(handle)
    model = presets.load_preset("kaggle://someone/tiny/keras/digits/2")
    np.testing.assert_array_equal(weights_of(model)[0], weights_of(tiny_model())[0])
    tamper(pathlib.Path(cache.get_path(handle)) / "config.json")
    with pytest.raises(presets.PresetIntegrityError, match="config.json"):
        presets.load_preset("kaggle://someone/tiny/keras/digits/2")
    with pytest.raises(hubs.HubError, match="framework/variation"):
        presets.resolve("kaggle://someone/tiny")


def test_model_card_states_data_command_figures_and_licence(preset_dir):
    folder, metadata = preset_dir
    card = (folder / "README.md").read_text()
    front, body = card.split("---\n")[1:3]
    assert "license: apache-2.0" in front and "library_name: keras" in front
    assert "| data | digits |" in body and "tfgen train --k 3" in body and "-3.25 (k = 50)" in body
    assert metadata["files"]["model.weights.h5"] in body and "Apache License 2.0" in body
    with pytest.raises(FileNotFoundError, match="samples.png"):
        model_card.write(str(folder), metadata, {"samples.png": "samples"})


def test_user_directory_is_registered_after_the_shipped_folders(preset_dir, tmp_path, monkeypatch):
    folder, _ = preset_dir
    monkeypatch.setattr(presets, "_directories", [])
    monkeypatch.setenv("TFGEN_HOME", str(tmp_path / "home"))
    assert presets.user_directory() == str(tmp_path / "home" / "presets")
    shutil.copytree(folder, tmp_path / "home" / "presets" / "mine")
    assert presets.registered() == {"mine": str(tmp_path / "home" / "presets" / "mine")}
    presets.register_directory(str(folder.parent))
    shutil.copytree(folder, tmp_path / "home" / "presets" / "tiny_preset")  # shadowed by the registered one
    assert presets.registered()["tiny_preset"] == str(folder)
    monkeypatch.delenv("TFGEN_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert presets.user_directory() == str(tmp_path / "xdg" / "tfgen" / "presets")


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
