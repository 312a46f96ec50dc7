"""Every test gets its own empty ``$TFGEN_HOME``: presets a test builds never reach the user's
folder, and ``tfgen list`` shows the shipped presets only unless a test adds its own."""
import pytest


@pytest.fixture(autouse=True)
def tfgen_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TFGEN_HOME", str(tmp_path / "tfgen_home"))
    return tmp_path / "tfgen_home"
