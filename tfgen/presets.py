"""Pretrained models as presets: a folder of config, weights and verified metadata.

A preset is the KerasHub layout plus a checksum of every file::

    <preset>/config.json        the model's Keras serialisation (as a tfgen run, tfgen.runs)
    <preset>/model.weights.h5   its weights
    <preset>/metadata.json      dataset, objective, k, passes trained, wall time, test
                                log-likelihood with its k, the training command, the
                                library version, the optimizer, and ``files``: the sha256
                                of config.json and model.weights.h5

:func:`load_preset` accepts a registered name (folders added with
:func:`register_directory`; the zoo registers its own), a local folder, or a URL / hub
handle (``https://...``, ``file://...``, ``hf://owner/repo[/subfolder]``) whose files are
downloaded with ``keras.utils.get_file(..., file_hash=sha256, cache_dir=...)``. Every file
is checked against the sha256 in ``metadata.json`` before anything is deserialised; a
mismatch raises :class:`PresetIntegrityError` and nothing is loaded. ``metadata.json``
itself is trusted as the anchor unless its own sha256 is passed (``metadata_sha256``),
which is how a user pins a download to a hash received through a separate channel.

A preset is untrusted input, so loading also guards against what a hash cannot:

* a bare name is a registered preset first: a folder of the same name in the working
  directory never shadows a shipped preset (pass ``./name`` for the folder);
* the files are read once, hashed and copied into a private temporary folder, and the model
  is built from that copy, so a file swapped after its check is never loaded;
* ``files`` may list only ``config.json`` and ``model.weights.h5`` (no other path is hashed);
* the model's config may not ask for more weights than its weights file holds
  (:func:`tfgen.runs.load`), and JSON nested too deep is refused (:func:`tfgen.runs.read_json`).

The model class must be registered with Keras (``register_keras_serializable``) when
loading, i.e. its module imported; ``zoo.load`` does that for every zoo family.
"""
import contextlib
import datetime
import hashlib
import os
import shutil
import tempfile
import urllib.parse
import warnings

import keras

import tfgen
from tfgen import runs

METADATA = "metadata.json"
HASHED_FILES = (runs.CONFIG, runs.WEIGHTS)
OPTIMIZERS = runs.OPTIMIZERS  # compile arguments recorded (the second: ConstrainedModel)
URL_SCHEMES = ("http://", "https://", "file://")
HUB_PREFIXES = {"hf://": "https://huggingface.co/{repo}/resolve/main{sub}"}

_directories = []


class PresetIntegrityError(ValueError):
    """A preset file's sha256 differs from the one its metadata (or the caller) records."""


def register_directory(path):
    """Make every preset folder inside ``path`` loadable by its folder name."""
    path = os.path.abspath(path)
    if path not in _directories:
        _directories.append(path)


def registered():
    """``{name: folder}`` of every registered preset, sorted by name."""
    found = {}
    for directory in _directories:
        for name in sorted(os.listdir(directory)):
            folder = os.path.join(directory, name)
            if os.path.isfile(os.path.join(folder, METADATA)):
                found.setdefault(name, folder)
    return dict(sorted(found.items()))


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_to_preset(model, directory, metadata=None):
    """Write ``model`` as a preset folder ``directory`` and return its metadata.

    Args:
        model: a built tfgen model (any registered ``keras.Model`` with ``get_config``).
        directory: the preset folder; created if needed, its files replaced.
        metadata: what to record, by convention ``dataset``, ``passes``, ``train_seconds``,
            ``test_log_likelihood``, ``test_k``, ``command``, ``description``. ``dataset``
            is required: evaluation and sampling read it.

    ``objective``, ``k``, ``estimator`` (when the model has them), the class, parameter
    count, optimizer configuration (when compiled), library/Keras versions, the date and the
    sha256 of every file are added. Optimizer state is not saved: a loaded preset starts
    fine-tuning with a fresh optimizer.
    """
    metadata = dict(metadata or {})
    if "dataset" not in metadata:
        raise ValueError("save_to_preset needs metadata['dataset']: evaluation and sampling read it.")
    os.makedirs(directory, exist_ok=True)
    runs.save(_without_optimizer(model), directory,
              {"dataset": metadata["dataset"], **metadata.pop("settings", {})}, metadata.get("family"))
    for attribute in ("objective", "k", "estimator"):
        if hasattr(model.config, attribute):
            metadata.setdefault(attribute, getattr(model.config, attribute))
    for name in OPTIMIZERS:  # a config passed in metadata wins (e.g. the run's, see zoo.presets.build)
        if name not in metadata and getattr(model, name, None) is not None:
            metadata[name] = keras.optimizers.serialize(getattr(model, name))
    metadata.update(
        name=os.path.basename(os.path.normpath(directory)),
        model_class=f"{type(model).__module__}.{type(model).__name__}",
        parameters=int(model.count_params()),
        tfgen_version=tfgen.__version__,
        keras_version=keras.__version__,
        date_saved=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        files={name: sha256(os.path.join(directory, name)) for name in HASHED_FILES},
    )
    runs.write_json(os.path.join(directory, METADATA), metadata)
    return metadata


def resolve(preset, cache_dir=None, metadata_sha256=None):
    """The local, verified folder of ``preset`` (a registered name, a folder, a URL or handle).

    URLs and handles are downloaded into ``cache_dir`` (default ``~/.keras``) under
    ``tfgen_presets/``. Raises :class:`PresetIntegrityError` if any file's sha256 is wrong,
    ``ValueError`` if ``preset`` names nothing.
    """
    preset = str(preset)
    url = _url_of(preset)
    if url is not None:
        folder = _download(url, cache_dir, metadata_sha256)
    elif is_registered_name(preset):
        folder = registered()[preset]
    elif os.path.isdir(preset):
        folder = preset
    else:
        raise ValueError(
            f"Unknown preset {preset!r}: not a folder, a URL ({', '.join(URL_SCHEMES)}), a hub handle "
            f"({', '.join(HUB_PREFIXES)}) or a registered name. Registered: {sorted(registered()) or 'none'}."
        )
    verify(folder, metadata_sha256)
    return folder


def is_registered_name(preset):
    """Whether ``preset`` is a bare registered name (no path separator), which wins over a folder."""
    return os.sep not in preset and "/" not in preset and preset in registered()


def verify(folder, metadata_sha256=None):
    """Check every file of the preset in ``folder`` against its recorded sha256; return metadata."""
    metadata_path = os.path.join(folder, METADATA)
    if not os.path.isfile(metadata_path):
        raise ValueError(f"{folder} is not a tfgen preset: {METADATA} is missing.")
    if metadata_sha256 is not None:
        _check_hash(metadata_path, metadata_sha256)
    metadata = read_metadata(folder)
    recorded = _recorded_files(metadata, metadata_path)
    for name, expected in recorded.items():
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Preset {folder} lacks {name}, listed in its {METADATA}.")
        _check_hash(path, expected)
    return metadata


def _recorded_files(metadata, where):
    """``metadata["files"]``: exactly the sha256 of :data:`HASHED_FILES`, or :class:`PresetIntegrityError`."""
    recorded = metadata.get("files") if isinstance(metadata, dict) else None
    if not isinstance(recorded, dict) or set(recorded) != set(HASHED_FILES) or not all(
            isinstance(value, str) and len(value) == 64 for value in recorded.values()):
        listed = sorted(recorded) if isinstance(recorded, dict) else recorded
        raise PresetIntegrityError(f"{where}: 'files' must give the sha256 of exactly {list(HASHED_FILES)}, "
                                   f"got {listed!r}; refusing to load.")
    return recorded


@contextlib.contextmanager
def verified_copy(folder, metadata_sha256=None):
    """A private temporary copy of the preset in ``folder``: each file is read once, hashed from
    those bytes and written, so what is loaded is exactly what was checked (a file swapped in
    ``folder`` after its check is never read). Raises as :func:`verify`."""
    private = tempfile.mkdtemp(prefix="tfgen-preset-")
    try:
        _copy_file(folder, METADATA, private, metadata_sha256)
        for name, expected in _recorded_files(read_metadata(private), os.path.join(folder, METADATA)).items():
            _copy_file(folder, name, private, expected)
        yield private
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _copy_file(folder, name, private, expected):
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Preset {folder} lacks {name}.")
    with open(path, "rb") as f:
        raw = f.read()
    actual = hashlib.sha256(raw).hexdigest()
    if expected is not None and actual != expected:
        raise PresetIntegrityError(
            f"{path}: sha256 is {actual} but the preset records {expected}; the file is corrupted or "
            "was modified, so the preset is refused and nothing was loaded.")
    with open(os.path.join(private, name), "wb") as f:
        f.write(raw)


def read_metadata(folder):
    return runs.read_json(os.path.join(folder, METADATA))


def load_preset(preset, compile=True, cache_dir=None, metadata_sha256=None):
    """A model built from a verified preset, its weights loaded and (by default) compiled.

    ``compile=True`` compiles with the optimizers recorded in the metadata (fresh state;
    ``optimizer``, and ``dual_optimizer`` for a :class:`tfgen.lagrangian.ConstrainedModel`),
    or ``keras.optimizers.Adam(1e-3)`` if none is recorded, so ``fit`` fine-tunes and
    ``evaluate`` reports the model's bound right away.
    """
    folder = resolve(preset, cache_dir, metadata_sha256)
    with verified_copy(folder, metadata_sha256) as private:
        metadata = read_metadata(private)
        registered_name = (runs.read_json(os.path.join(private, runs.CONFIG)).get("model") or {}).get(
            "registered_name")
        if keras.saving.get_registered_object(registered_name) is None:
            raise ValueError(
                f"Preset {preset!r} holds a {metadata.get('model_class', registered_name)}, which is not "
                "registered with Keras: import the module that defines it first (zoo.load does this for "
                "zoo models)."
            )
        model, _ = runs.load(private)
    if compile:
        optimizers = {name: keras.optimizers.deserialize(metadata[name]) for name in OPTIMIZERS
                      if metadata.get(name)}
        model.compile(**{"optimizer": keras.optimizers.Adam(1e-3), **optimizers})
    return model


def _without_optimizer(model):
    """A copy of ``model`` holding its weights but no optimizer state (a preset ships none)."""
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)  # deserialising it would compile and build an optimizer
    bare = keras.saving.deserialize_keras_object(config)
    if not bare.built:
        bare.build()
    bare.set_weights(model.get_weights())
    return bare


def _url_of(preset):
    if preset.startswith(URL_SCHEMES):
        return preset.rstrip("/")
    for prefix, template in HUB_PREFIXES.items():
        if preset.startswith(prefix):
            parts = preset[len(prefix):].strip("/").split("/")
            if len(parts) < 2:
                raise ValueError(f"Hub handle {preset!r} must look like {prefix}owner/repo[/subfolder].")
            sub = "/" + "/".join(parts[2:]) if len(parts) > 2 else ""
            return template.format(repo="/".join(parts[:2]), sub=sub)
    return None


def _download(url, cache_dir, metadata_sha256):
    """Fetch a preset's files into a cache folder named after the URL; return the folder."""
    cache_dir = os.path.expanduser(cache_dir or os.environ.get("KERAS_HOME", "~/.keras"))
    name = os.path.basename(urllib.parse.urlsplit(url).path) or "preset"
    folder = os.path.join(cache_dir, "tfgen_presets",
                          f"{name}-{hashlib.sha256(url.encode()).hexdigest()[:12]}")
    os.makedirs(folder, exist_ok=True)  # get_file falls back to /tmp for a folder it cannot write
    # The metadata is small and names every other hash: fetch it fresh, beside the cached copy,
    # which is replaced only by a complete download and kept for offline use.
    fresh = tempfile.mkdtemp(prefix=".refresh-", dir=folder)
    try:
        _get_file(fresh, url, METADATA, metadata_sha256, force_download=True)
        os.replace(os.path.join(fresh, METADATA), os.path.join(folder, METADATA))
    except ConnectionError as error:
        if not os.path.isfile(os.path.join(folder, METADATA)):
            raise ConnectionError(f"Cannot download preset {url} ({error}) and it is not cached in {folder}; "
                                  "connect to the network once, or pass a local folder.") from None
        warnings.warn(f"Could not refresh {url}/{METADATA} ({error}); using the copy cached in {folder}.",
                      stacklevel=3)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    recorded = _recorded_files(read_metadata(folder), f"{url}/{METADATA}")
    for fname in HASHED_FILES:
        _get_file(folder, url, fname, recorded[fname])
    return folder


def _get_file(folder, url, fname, file_hash, force_download=False):
    origin = f"{url}/{fname}"
    try:
        keras.utils.get_file(fname, origin, file_hash=file_hash, hash_algorithm="sha256",
                             cache_dir=os.path.dirname(folder), cache_subdir=os.path.basename(folder),
                             force_download=force_download)
    except ValueError as error:
        if "hash does not match" not in str(error):
            raise
        target = os.path.join(folder, fname)
        if os.path.exists(target):
            os.remove(target)  # never leave an unverified file where a later call could pick it up
        raise PresetIntegrityError(
            f"{origin}: sha256 does not match the recorded {file_hash}; the file is corrupted or "
            "was modified, so it was deleted and not loaded."
        ) from error
    except Exception as error:  # keras.utils.get_file raises a bare Exception for URL and HTTP errors
        raise ConnectionError(f"{origin}: {error}") from None


def _check_hash(path, expected):
    actual = sha256(path)
    if actual != expected:
        raise PresetIntegrityError(
            f"{path}: sha256 is {actual} but the preset records {expected}; the file is corrupted or "
            "was modified, so the preset is refused and nothing was loaded."
        )
