"""Presets on model hubs: ``hf://`` through ``huggingface_hub``, ``kaggle://`` through ``kagglehub``.

Handles, as KerasHub writes them::

    hf://owner/repo[/subfolder][@revision]           a branch, tag or commit of a Hugging Face repo
    kaggle://owner/model/framework/variation[/version]

:func:`download` fetches a preset's ``metadata.json`` and then, from the same commit, every
file it records a sha256 for, into the hub library's own cache (``~/.cache/huggingface/hub``,
``$HF_HUB_CACHE``; ``~/.cache/kagglehub``, ``$KAGGLEHUB_CACHE``), and returns the local
folder; :func:`tfgen.presets.resolve` then checks every file against its sha256 before
anything is deserialised. The caches are content-addressed per commit (Hugging Face) or per
version (Kaggle): a later download never overwrites or deletes an earlier, verified copy,
and once a revision is cached it loads offline (no network, or ``HF_HUB_OFFLINE=1``).
``$HF_ENDPOINT`` points ``hf://`` at another Hub-compatible server (a mirror, a test hub).

:func:`upload` pushes a verified preset folder, model card included, to a Hugging Face repo
(a token from ``huggingface-cli login`` or ``$HF_TOKEN``) and returns the handle pinned to
the new commit.
"""
from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Iterable
from typing import NamedTuple

PREFIXES = ("hf://", "kaggle://")


class HubError(ValueError):
    """A hub handle is malformed, or its preset cannot be fetched or pushed."""


class HuggingFaceHandle(NamedTuple):
    """The parts of ``hf://owner/repo[/subfolder][@revision]``."""

    repo_id: str
    subfolder: str | None
    revision: str | None

    def __str__(self) -> str:
        sub = f"/{self.subfolder}" if self.subfolder else ""
        return f"hf://{self.repo_id}{sub}" + (f"@{self.revision}" if self.revision else "")


def is_handle(preset: str) -> bool:
    """Whether ``preset`` names a preset on a hub (``hf://`` or ``kaggle://``)."""
    return str(preset).startswith(PREFIXES)


def parse_hugging_face(handle: str) -> HuggingFaceHandle:
    """Split ``hf://owner/repo[/subfolder][@revision]``.

    Raises:
        HubError: the handle is not of that form.
    """
    if not handle.startswith("hf://"):
        raise HubError(f"{handle!r} is not a Hugging Face handle (hf://owner/repo[/subfolder][@revision]).")
    body, _, revision = handle[len("hf://"):].partition("@")
    parts = [part for part in body.split("/") if part]
    if len(parts) < 2 or (_ and not revision):
        raise HubError(f"Hub handle {handle!r} must look like hf://owner/repo[/subfolder][@revision].")
    return HuggingFaceHandle("/".join(parts[:2]), "/".join(parts[2:]) or None, revision or None)


def download(handle: str, files_of: Callable[[str], Iterable[str]], cache_dir: str | None = None) -> str:
    """The local folder of the preset at ``handle``, fetched into the hub library's cache.

    Args:
        handle: ``hf://...`` or ``kaggle://...`` (see the module docstring).
        files_of: ``metadata.json path -> names of the files to fetch besides it``.
        cache_dir: the Hugging Face cache folder [default: huggingface_hub's, ``$HF_HUB_CACHE``];
            Kaggle's is ``$KAGGLEHUB_CACHE``.

    Returns:
        The folder holding ``metadata.json`` and the files it names (not yet verified).

    Raises:
        HubError: a malformed handle; a repo, revision or file the hub does not have; no
            network and nothing cached; ``kagglehub`` not installed for ``kaggle://``.
    """
    if handle.startswith("kaggle://"):
        return _from_kaggle(handle)
    return _from_hugging_face(parse_hugging_face(handle), files_of, cache_dir)


def _from_hugging_face(handle: HuggingFaceHandle, files_of, cache_dir):
    import huggingface_hub
    from huggingface_hub import errors

    def fetch(name, revision):
        return huggingface_hub.hf_hub_download(
            handle.repo_id, name, subfolder=handle.subfolder, revision=revision, cache_dir=cache_dir,
            endpoint=os.environ.get("HF_ENDPOINT"))

    try:
        metadata = fetch("metadata.json", handle.revision)
        # The snapshot folder is named by the commit metadata.json came from: fetch the other
        # files from that commit, so a branch moving meanwhile cannot mix two presets.
        folder = pathlib.Path(metadata).parent
        commit = (folder.parents[handle.subfolder.count("/")] if handle.subfolder else folder).name
        for name in files_of(metadata):
            fetch(name, commit)
    except errors.LocalEntryNotFoundError as error:
        raise HubError(f"{handle}: the hub cannot be reached and the files are not in the cache "
                       f"({type(error).__name__}).") from error
    except (errors.EntryNotFoundError, errors.HfHubHTTPError) as error:  # no such repo, revision or file
        raise HubError(f"{handle}: {str(error).splitlines()[0]}") from error
    return str(folder)


def _from_kaggle(handle):
    try:
        import kagglehub
    except ImportError as error:
        raise HubError(f"{handle}: kaggle:// presets need kagglehub: pip install 'tfgen-lvm[kaggle]'."
                       ) from error
    body = handle[len("kaggle://"):].strip("/")
    if len(body.split("/")) not in (4, 5):
        raise HubError(f"Kaggle handle {handle!r} must look like kaggle://owner/model/framework/variation"
                       "[/version].")
    try:
        return kagglehub.model_download(body)
    except Exception as error:  # kagglehub raises its own and requests' errors
        raise HubError(f"{handle}: {type(error).__name__}: {str(error).splitlines()[0]}") from error


def upload(folder: str, handle: str, message: str | None = None, private: bool | None = None) -> str:
    """Push the preset ``folder`` (every file in it) to the Hugging Face repo of ``handle``.

    The repo is created if needed; ``@revision`` names an existing branch [default: main];
    a ``/subfolder`` puts the preset there. The caller verifies the folder first
    (:func:`tfgen.presets.upload` does).

    Returns:
        ``hf://owner/repo[/subfolder]@<commit>``: the handle pinned to the new commit.

    Raises:
        HubError: a malformed handle, or the hub refused (no token, no right to write, ...).
    """
    import huggingface_hub
    from huggingface_hub import errors

    target = parse_hugging_face(handle)
    api = huggingface_hub.HfApi(endpoint=os.environ.get("HF_ENDPOINT"))
    try:
        api.create_repo(target.repo_id, exist_ok=True, private=private)
        commit = api.upload_folder(repo_id=target.repo_id, folder_path=folder, path_in_repo=target.subfolder,
                                   revision=target.revision,
                                   commit_message=message or f"tfgen preset {os.path.basename(folder)}")
    except errors.HfHubHTTPError as error:
        raise HubError(f"{target}: the hub refused the upload: {str(error).splitlines()[0]}") from error
    return str(target._replace(revision=commit.oid))
