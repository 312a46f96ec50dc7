"""benchmarks.evaluate's peak memory is the evaluation process's own, not its parent's."""
import subprocess
import sys

PARENT_MIB = 400


def test_peak_rss_leaves_out_the_parent_process():
    held = bytearray(PARENT_MIB * 2**20)
    held[::4096] = b"\1" * len(held[::4096])  # resident, not just reserved
    code = ("import resource; from benchmarks.evaluate import peak_rss_mib; "
            "print(peak_rss_mib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    peak, maxrss = map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                             check=True).stdout.split())
    assert maxrss > PARENT_MIB  # what ru_maxrss reports: the parent's peak, carried across exec
    assert peak < PARENT_MIB / 4
