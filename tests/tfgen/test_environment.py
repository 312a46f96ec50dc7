"""What ``import tfgen`` sets in TensorFlow's environment before TensorFlow starts."""
import os
import platform
import subprocess
import sys

import pytest

ONEDNN = ("import tfgen, tensorflow; "
          "from tensorflow.python.util import _pywrap_util_port as port; print(port.IsMklEnabled())")


def _onednn_in_a_fresh_process(**env):
    clean = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    done = subprocess.run([sys.executable, "-c", ONEDNN], env={**clean, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
                          capture_output=True, text=True, check=True)
    return done.stdout.split()[-1]


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="set on x86-64 only")
def test_tfgen_turns_onednn_on_before_tensorflow_starts_unless_the_user_chose():
    assert _onednn_in_a_fresh_process() == "True"
    assert _onednn_in_a_fresh_process(TF_ENABLE_ONEDNN_OPTS="0") == "False"
