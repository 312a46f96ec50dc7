"""Pretrained models as presets: a folder of config, weights, verified metadata and a model card.

A preset is the KerasHub layout plus a checksum of every file it loads::

    <preset>/config.json        the model's Keras serialisation (as a tfgen run, tfgen.runs)
    <preset>/model.weights.h5   its weights
    <preset>/metadata.json      dataset, objective, k, passes trained, wall time, test
                                log-likelihood with its k, the training command, the
                                library version, the optimizer, and ``files``: the sha256
                                of config.json and model.weights.h5
    <preset>/README.md          the model card (:mod:`tfgen.model_card`), with its pictures

:func:`load_preset` accepts a registered name (folders added with
:func:`register_directory`, the zoo's own, and the user's presets in :func:`user_directory`),
a local folder, or a hub handle, ``hf://owner/repo[/subfolder][@revision]`` or
``kaggle://owner/model/framework/variation[/version]``, fetched through the hub's own library
into its cache (:mod:`tfgen.hubs`). Every file is checked against the sha256 in
``metadata.json`` before anything is deserialised; a mismatch raises
:class:`PresetIntegrityError` and nothing is loaded. ``metadata.json`` itself is trusted as
the anchor unless its own sha256 is passed (``metadata_sha256``), which is how a user pins a
download to a hash received through a separate channel; pinning a commit
(``hf://owner/repo@<commit>``) does the same through the hub. :func:`upload` pushes a
preset to the Hugging Face hub.

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
from __future__ import annotations

import contextlib
import datetime
import difflib
import hashlib
import os
import shutil
import tempfile

import keras

import tfgen
from tfgen import hubs, model_card, optimizers, runs

METADATA = "metadata.json"
HASHED_FILES = (runs.CONFIG, runs.WEIGHTS)
OPTIMIZERS = runs.OPTIMIZERS  # compile arguments recorded (the second: ConstrainedModel)

_directories = []


class PresetIntegrityError(ValueError):
    """A preset file's sha256 differs from the one its metadata (or the caller) records."""


def register_directory(path: str) -> None:
    """Make every preset folder inside ``path`` loadable by its folder name."""
    path = os.path.abspath(path)
    if path not in _directories:
        _directories.append(path)


def user_directory() -> str:
    """The user's preset folder, ``$TFGEN_HOME/presets``: where ``tfgen preset build`` writes.

    ``$TFGEN_HOME`` defaults to ``tfgen`` in the user's cache folder (``$XDG_CACHE_HOME``, else
    ``~/.cache``). Its presets are registered after the folders of :func:`register_directory`,
    so a user's preset never shadows a shipped one of the same name.
    """
    home = os.environ.get("TFGEN_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser(os.path.join("~", ".cache")), "tfgen")
    return os.path.join(home, "presets")


def registered() -> dict[str, str]:
    """``{name: folder}`` of every registered preset, sorted by name; the first folder
    holding a name wins (registered folders, then :func:`user_directory`)."""
    found = {}
    for directory in [*_directories, user_directory()]:
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            folder = os.path.join(directory, name)
            if os.path.isfile(os.path.join(folder, METADATA)):
                found.setdefault(name, folder)
    return dict(sorted(found.items()))


def sha256(path: str) -> str:
    """The hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_to_preset(model: keras.Model, directory: str, metadata: dict | None = None,
                   figures: dict[str, str] | None = None, references: tuple[str, ...] = ()) -> dict:
    """Write ``model`` as a preset folder ``directory``, model card included; return its metadata.

    Args:
        model: a built tfgen model (any registered ``keras.Model`` with ``get_config``).
        directory: the preset folder; created if needed, its files replaced.
        metadata: what to record, by convention ``dataset``, ``passes``, ``train_seconds``,
            ``test_log_likelihood``, ``test_k``, ``command``, ``description``. ``dataset``
            is required: evaluation and sampling read it.
        figures: ``{file in directory: caption}``: pictures the model card shows.
        references: the papers the model comes from, for the model card.

    Returns:
        The metadata written: ``metadata`` plus ``objective``, ``k``, ``estimator`` (when the
        model has them), the class, parameter count, optimizer configuration (when compiled),
        library/Keras versions, the date and the sha256 of every file loaded. Optimizer state
        is not saved: a loaded preset starts fine-tuning with a fresh optimizer.

    Raises:
        ValueError: ``metadata`` has no ``dataset``.
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
    model_card.write(directory, metadata, figures, references)
    return metadata


def resolve(preset: str, cache_dir: str | None = None, metadata_sha256: str | None = None) -> str:
    """The local, verified folder of ``preset``: a registered name, a folder or a hub handle.

    Args:
        preset: see the module docstring.
        cache_dir: the Hugging Face cache folder of ``hf://`` handles [default: huggingface_hub's].
        metadata_sha256: the sha256 ``metadata.json`` must have [default: trusted as found].

    Returns:
        The folder, every file recorded in its metadata checked.

    Raises:
        PresetIntegrityError: a file's sha256 is not the recorded one.
        tfgen.hubs.HubError: a hub handle cannot be fetched (nor found in the cache).
        ValueError: ``preset`` names nothing.
    """
    folder = locate(preset, cache_dir)
    verify(folder, metadata_sha256)
    return folder


def locate(preset: str, cache_dir: str | None = None) -> str:
    """The local folder of ``preset`` (a hub handle fetched into the cache), not yet verified.
    Raises as :func:`resolve`, but for the hashes."""
    preset = str(preset)
    if hubs.is_handle(preset):
        folder = hubs.download(preset, lambda path: list(_recorded_files(runs.read_json(path), path)),
                               cache_dir)
    elif is_registered_name(preset):
        folder = registered()[preset]
    elif os.path.isdir(preset):
        folder = preset
    else:
        names = {name.lower(): name for name in registered()}  # a suggestion ignores case
        close = [names[name] for name in difflib.get_close_matches(preset.lower(), names, n=1)]
        raise ValueError(
            f"Unknown preset {preset!r}: not a folder, a hub handle ({', '.join(hubs.PREFIXES)}) or a "
            f"registered name.{f' Did you mean {close[0]!r}?' if close else ''} "
            f"Registered: {sorted(registered()) or 'none'}."
        )
    return folder


def is_registered_name(preset: str) -> bool:
    """Whether ``preset`` is a bare registered name (no path separator), which wins over a folder."""
    return os.sep not in preset and "/" not in preset and preset in registered()


def verify(folder: str, metadata_sha256: str | None = None) -> dict:
    """Check every file of the preset in ``folder`` against its recorded sha256; return metadata.

    Raises:
        ValueError: ``folder`` holds no ``metadata.json``.
        PresetIntegrityError: a hash is missing or differs, or ``files`` lists other files.
        FileNotFoundError: a file the metadata lists is missing.
    """
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
    return read_metadata(folder)


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
def verified_copy(folder: str, metadata_sha256: str | None = None):
    """A private temporary copy of the preset in ``folder``: each file is read once, hashed from
    those bytes and written, so what is loaded is exactly what was checked (a file swapped in
    ``folder`` after its check is never read). Raises as :func:`verify`."""
    if not os.path.isfile(os.path.join(folder, METADATA)):
        raise ValueError(f"{folder} is not a tfgen preset: {METADATA} is missing.")
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
        raise FileNotFoundError(f"Preset {folder} lacks {name}, listed in its {METADATA}.")
    with open(path, "rb") as f:
        raw = f.read()
    if expected is not None:
        _compare(path, hashlib.sha256(raw).hexdigest(), expected)
    with open(os.path.join(private, name), "wb") as f:
        f.write(raw)


def read_metadata(folder: str) -> dict:
    """The ``metadata.json`` of the preset in ``folder``, unverified."""
    return runs.read_json(os.path.join(folder, METADATA))


def load_preset(preset: str, compile: bool = True, cache_dir: str | None = None,
                metadata_sha256: str | None = None) -> keras.Model:
    """A model built from a verified preset, its weights loaded and (by default) compiled.

    Args:
        preset: a registered name, a folder or a hub handle (see :func:`resolve`).
        compile: compile with the optimizers recorded in the metadata (fresh state;
            ``optimizer``, and ``dual_optimizer`` for a :class:`tfgen.lagrangian.ConstrainedModel`),
            or ``tfgen.optimizers.Adam(1e-3)`` if none is recorded, so ``fit`` fine-tunes and
            ``evaluate`` reports the model's bound right away.
        cache_dir: see :func:`resolve`.
        metadata_sha256: see :func:`resolve`.

    Returns:
        The model.

    Raises:
        ValueError: the model's class is not registered with Keras; and see :func:`resolve`.
    """
    with verified_copy(locate(preset, cache_dir), metadata_sha256) as private:
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
        recorded = {name: keras.optimizers.deserialize(metadata[name]) for name in OPTIMIZERS
                    if metadata.get(name)}
        model.compile(**{"optimizer": optimizers.Adam(1e-3), **recorded})
    return model


def upload(preset: str, handle: str, message: str | None = None, private: bool | None = None) -> str:
    """Push a verified preset (a registered name or a folder) to ``hf://owner/repo[/sub][@branch]``.

    Returns:
        The handle pinned to the new commit, ``hf://owner/repo[/sub]@<commit>``.

    Raises:
        PresetIntegrityError: the preset fails its own check (nothing is pushed).
        tfgen.hubs.HubError: see :func:`tfgen.hubs.upload`.
    """
    if hubs.is_handle(preset):
        raise ValueError(f"Upload a local preset (a folder or a registered name), not {preset!r}.")
    folder = resolve(preset)
    if not os.path.isfile(os.path.join(folder, model_card.CARD)):
        model_card.write(folder, read_metadata(folder))
    return hubs.upload(folder, handle, message, private)


def _without_optimizer(model):
    """A copy of ``model`` holding its weights but no optimizer state (a preset ships none)."""
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)  # deserialising it would compile and build an optimizer
    bare = keras.saving.deserialize_keras_object(config)
    if not bare.built:
        bare.build()
    bare.set_weights(model.get_weights())
    return bare


def _check_hash(path, expected):
    _compare(path, sha256(path), expected)


def _compare(path, actual, expected):
    if actual != expected:
        raise PresetIntegrityError(
            f"{path}: sha256 is {actual} but the preset records {expected}; the file is corrupted or "
            "was modified, so the preset is refused and nothing was loaded."
        )
