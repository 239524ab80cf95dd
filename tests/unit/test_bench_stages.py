"""bench.stages' own logic: the process-tree RSS sampler and the stage list it accepts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from bench.stages import TreePeak, parse_args, peak_mb, tree_pids

pytestmark = pytest.mark.unit

# a parent holding 50 MB that starts a child holding 150 MB; both wait for the kill signal
HOLD = "import signal, sys; b = bytearray({mb} * 2**20); b[::4096] = b'x' * len(b[::4096]); "


def test_tree_peak_sums_a_process_and_its_children() -> None:
    child = HOLD.format(mb=150) + "print('up', flush=True); signal.pause()"
    parent = (
        HOLD.format(mb=50)
        + "import subprocess; p = subprocess.Popen([sys.executable, '-c', sys.argv[1]], "
        + "stdout=subprocess.PIPE); p.stdout.readline(); print('up', flush=True); signal.pause()"
    )
    proc = subprocess.Popen([sys.executable, "-c", parent, child], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
        with TreePeak({"tree": proc.pid}, every=0.05) as peaks:
            pass  # one sample at least: the thread samples before it waits
    finally:
        for pid in reversed(tree_pids(proc.pid)):  # the child first, then the parent
            os.kill(pid, signal.SIGKILL)
        proc.wait()
    assert peaks.peaks["tree"] >= 200


def test_stage_list_is_checked_and_the_peak_is_the_largest_figure() -> None:
    assert parse_args(["--stages", "billing,dbt"]).stages == ["billing", "dbt"]
    with pytest.raises(SystemExit):
        parse_args(["--stages", "billing,nope"])
    row = {"self_peak_mb": 500, "waited_peak_mb": 5200, "tree_peak_mb": 5700}
    assert peak_mb(row) == 5700
