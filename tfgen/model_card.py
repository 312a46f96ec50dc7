"""The model card of a preset: ``README.md`` in its folder, written from its ``metadata.json``.

The card is what the Hugging Face hub shows on a repo's page (YAML front matter with the
licence, library and tags, then markdown): what the model is, the data it was trained and
measured on, the command that trained it, its measured figures with their sample counts and
wall times, its pictures, how to load it, the sha256 of its files and the licence. It is
documentation, not part of what is loaded, so it carries no hash of its own.
"""
from __future__ import annotations

import os

CARD = "README.md"
LICENSE = "apache-2.0"  # SPDX id as the hub spells it, the licence of tfgen and of the presets it makes


def text(metadata: dict, figures: dict[str, str] | None = None, references: tuple[str, ...] = ()) -> str:
    """The card's markdown for a preset's ``metadata`` (as :func:`tfgen.presets.save_to_preset` writes it).

    Args:
        metadata: the preset's metadata.
        figures: ``{file name in the preset folder: caption}`` of the pictures shown.
        references: the papers the model and its figures come from, one string each.

    Returns:
        The card, front matter included.
    """
    name = metadata.get("name", "preset")
    family = metadata.get("family")
    tags = dict.fromkeys(["tfgen", "latent-variable-model", family, metadata.get("objective")])
    tags = [tag for tag in tags if tag]
    lines = ["---", f"license: {LICENSE}", "library_name: keras", "tags:", *[f"- {tag}" for tag in tags],
             "---", "", f"# {name}", ""]
    if metadata.get("description"):
        lines += [metadata["description"], ""]
    rows = [("model", f"`{metadata.get('model_class')}`, {metadata.get('parameters')} parameters"),
            ("family", family), ("data", metadata.get("dataset")),
            ("objective", _objective(metadata)), ("trained", _trained(metadata)),
            ("library", f"tfgen {metadata.get('tfgen_version')}, Keras {metadata.get('keras_version')}"),
            ("saved", metadata.get("date_saved"))]
    lines += ["| | |", "| --- | --- |", *[f"| {key} | {value} |" for key, value in rows if value], ""]
    evaluations = metadata.get("evaluations") or []
    if evaluations or metadata.get("test_log_likelihood") is not None:
        unit = metadata.get("test_unit", "nats")
        lines += ["## Figures", "",
                  f"Measured on the `{metadata.get('dataset')}` test split after training ({unit}):", ""]
        if evaluations:
            columns = ("split", "k", "examples", "log_likelihood", "seconds")
            lines += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
            for e in evaluations:
                lines.append("| " + " | ".join(str(e.get(key, "all" if key == "examples" else ""))
                                               for key in columns) + " |")
        else:
            lines.append(f"log-likelihood {metadata['test_log_likelihood']} (k = {metadata.get('test_k')})")
        lines.append("")
    for file, caption in (figures or {}).items():
        lines += [f"![{caption}]({file})", "", f"*{caption}*", ""]
    lines += ["## Use", "", "```python", "import zoo", "", f'model = zoo.load("{name}")  # or the folder, '
              "or its hf:// handle", "```", "", "```bash", f"tfgen evaluate {name}", f"tfgen sample {name} "
              "--out samples.png", "```", ""]
    if metadata.get("command"):
        lines += ["## Training", "", "```bash", metadata["command"], "```", ""]
    hashes = [f"- `{file}`: `{digest}`" for file, digest in metadata.get("files", {}).items()]
    lines += ["## Files", "", "Every file is checked against its sha256 (recorded in `metadata.json`) before "
              "it is loaded:", "", *hashes, ""]
    if references:
        lines += ["## References", "", *[f"- {reference}" for reference in references], ""]
    lines += ["## Licence", "", "The weights and the code that made them: Apache License 2.0. The training "
              f"data (`{metadata.get('dataset')}`) keep their own terms.", ""]
    return "\n".join(lines)


def write(folder: str, metadata: dict, figures: dict[str, str] | None = None,
          references: tuple[str, ...] = ()) -> str:
    """Write :func:`text` as ``folder/README.md``; return its path.

    Raises:
        FileNotFoundError: a figure is not a file in ``folder``.
    """
    for file in figures or {}:
        if not os.path.isfile(os.path.join(folder, file)):
            raise FileNotFoundError(f"The model card shows {file}, which is not in {folder}.")
    path = os.path.join(folder, CARD)
    with open(path, "w") as f:
        f.write(text(metadata, figures, references))
    return path


def _objective(metadata):
    parts = [metadata.get("objective"), *(f"{key} = {metadata[key]}" for key in ("k", "estimator")
                                          if metadata.get(key) is not None)]
    return ", ".join(str(part) for part in parts if part)


def _trained(metadata):
    passes, seconds = metadata.get("passes"), metadata.get("train_seconds")
    parts = ([f"{passes} passes"] if passes is not None else []) + (
        [f"{seconds / 3600:.1f} h of wall time"] if seconds else [])
    return ", ".join(parts)
