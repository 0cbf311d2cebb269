"""The scan's child runs at a lower priority than the window: every thread of it and of its own children."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import pytest

from geotagger.app.workers import lower_children_priority

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values: Linux /proc")

CHILD = """
import subprocess, sys, threading, time
threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
print(grandchild.pid, flush=True)
time.sleep(30)
"""


def _nice_of_tasks(pid: int) -> list[int]:
    return [int(open(f"/proc/{pid}/task/{task}/stat").read().rsplit(")", 1)[1].split()[16])
            for task in os.listdir(f"/proc/{pid}/task")]


def test_every_thread_of_the_child_and_grandchild_is_lowered() -> None:
    if not os.path.exists(f"/proc/self/task/{os.getpid()}/children"):
        pytest.skip("kernel without /proc/.../children")
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    grandchild = 0
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        deadline = time.monotonic() + 10
        while len(os.listdir(f"/proc/{child.pid}/task")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _nice_of_tasks(child.pid) == [mine] * len(_nice_of_tasks(child.pid))
        lowered = lower_children_priority(mine + 5)
        assert lowered >= 3  # the child's main thread, its sleeping thread, the grandchild
        assert set(_nice_of_tasks(child.pid)) == {mine + 5} and len(_nice_of_tasks(child.pid)) >= 2
        assert set(_nice_of_tasks(grandchild)) == {mine + 5}
        assert os.getpriority(os.PRIO_PROCESS, 0) == mine  # we ourselves are untouched
        assert lower_children_priority(mine + 5) == 0  # already there: nothing to do
    finally:
        child.kill()
        child.wait()
        with contextlib.suppress(OSError):
            if grandchild:
                os.kill(grandchild, 9)
