"""The documentation site builds with no warning: every page, link and API docstring
(mkdocs --strict: griffe's warnings on docstrings that name missing parameters or lack types
fail the build). The tools come with ``pip install -e ".[dev]"``."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_docs_site_builds_without_warnings(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("index.html", "tutorials/index.html", "api/tfgen.model/index.html",
                 "api/zoo.iwae/index.html"):
        assert (tmp_path / page).is_file(), page
    api = (tmp_path / "api" / "tfgen.presets" / "index.html").read_text()
    assert "load_preset" in api and "PresetIntegrityError" in api
