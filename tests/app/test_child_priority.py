"""The scan's child runs at a lower priority than the window: every thread of it and of its own children."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geotagger.app.priorities import lower_children_priority

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


def _web_engine_pids() -> list[int]:
    from geotagger.app.priorities import WEB_ENGINE_COMM

    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == WEB_ENGINE_COMM and _descends_from_us(int(pid)):
                pids.append(int(pid))
    return pids


def _descends_from_us(pid: int) -> bool:
    while pid > 1:
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        if pid == os.getpid():
            return True
    return False


def test_the_maps_renderer_processes_yield_to_the_window_and_nothing_else_is_touched(qtbot) -> None:
    pytest.importorskip("PySide6.QtWebEngineWidgets")
    from geotagger.app.priorities import WEB_ENGINE_NICE
    from tests.app.test_map import loaded_map_view

    mine = os.getpriority(os.PRIO_PROCESS, 0)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        view = loaded_map_view(qtbot)  # the page reports ready: its renderer is lowered then
        pids = _web_engine_pids()
        assert pids, "QtWebEngine runs its renderer in helper processes"
        for pid in pids:
            assert min(_nice_of_tasks(pid)) >= min(mine + WEB_ENGINE_NICE, 19)
        assert set(_nice_of_tasks(other.pid)) == {mine}  # not ours to lower
        assert os.getpriority(os.PRIO_PROCESS, 0) == mine
        view.close()
    finally:
        other.kill()
        other.wait()
