"""Shared pytest markers."""
import os

import pytest

DATA_DIR = os.environ.get("TFGEN_DATA_DIR")

requires_data = pytest.mark.skipif(
    not DATA_DIR or not os.path.isdir(DATA_DIR),
    reason="TFGEN_DATA_DIR is unset or missing: real-data test skipped (CI sets it to ../shared/data)",
)
