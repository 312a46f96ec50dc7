"""Run a notebook at its full budget and keep its figures as PNGs for the docs.

    python docs/scripts/notebook_figures.py notebooks/01_vae_vs_iwae.ipynb [--out docs/figures/notebooks]

Executes the notebook with nbclient in a kernel of this interpreter (the repository on
PYTHONPATH, ``TFGEN_FAST`` unset unless ``--fast``), writes every figure it draws as
``<out>/<notebook>_<n>.png`` (n counts the figures in cell order), the executed notebook into
``--executed`` if given (never into the repository: notebooks are stored without outputs), and
prints the wall time, which docs/tutorials.md records next to the figures. Any text a cell
writes to stderr is printed too, so TensorFlow log noise shows.
"""
import argparse
import base64
import json
import os
import pathlib
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=pathlib.Path)
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "docs" / "figures" / "notebooks")
    parser.add_argument("--executed", type=pathlib.Path, default=None,
                        help="folder for the executed notebook, outputs included [default: not kept]")
    parser.add_argument("--fast", action="store_true", help="TFGEN_FAST=1: the CI budget [default: full]")
    parser.add_argument("--timeout", type=int, default=6 * 3600, help="seconds per cell [default: 6 h]")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as jupyter_path:
        spec = pathlib.Path(jupyter_path) / "kernels" / "tfgen-docs"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "tfgen docs", "language": "python"}))
        os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend: figures become outputs
        os.environ.update(JUPYTER_PATH=jupyter_path,
                          PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        os.environ.pop("TFGEN_FAST", None)
        if args.fast:
            os.environ["TFGEN_FAST"] = "1"
        nb = nbformat.read(args.notebook, as_version=4)
        start = time.time()
        NotebookClient(nb, kernel_name="tfgen-docs", timeout=args.timeout,
                       resources={"metadata": {"path": str(args.notebook.parent)}}).execute()
        seconds = time.time() - start
    stem, count = args.notebook.stem, 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                print(f"stderr of a cell: {output['text'][:500]}")
            png = output.get("data", {}).get("image/png")
            if png:
                count += 1
                (args.out / f"{stem}_{count}.png").write_bytes(base64.b64decode(png))
    if args.executed:
        args.executed.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, args.executed / args.notebook.name)
    print(f"{args.notebook}: {count} figures -> {args.out}, {seconds / 60:.1f} min of wall time"
          f"{' (fast mode)' if args.fast else ''}")


if __name__ == "__main__":
    main()
