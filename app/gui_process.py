"""Settings of the window's process that must be in place before the QApplication exists (Qt-free).

`geotagger` and benchmarks/ui_stall.py both call `prepare_gui_process`, so that the stall measured is the stall the
user gets.
"""

from __future__ import annotations

import os
import sys

# Workers run Python too; a short GIL switch interval keeps the GUI thread's waits for it short.
GIL_SWITCH_INTERVAL_S = 0.001

# Qt's raster engine splits large fills and blends over a GUI thread pool and waits on a latch for its threads.
# While scan or prediction workers keep every core busy, those threads are scheduled late and the GUI thread waits:
# at 20,000 photos on 2 cores, painting the list and its scroll bar took more GUI-thread time than our handlers
# (py-spy), and with the pool off the worst scan stall went from 48-57 ms to 33-46 ms, p99 from 26-35 to 18-21 ms
# (benchmarks/ui_stall.py). Qt turns the pool off when QT_NO_GUI_THREADPOOL is set at all, whatever its value;
# KEEP_QT_THREAD_POOL=1 keeps Qt's default (a many-core machine painting large previews may prefer it).
NO_GUI_THREAD_POOL = "QT_NO_GUI_THREADPOOL"
KEEP_QT_THREAD_POOL = "GEOTAGGER_KEEP_QT_THREAD_POOL"


def prepare_gui_process() -> None:
    """Tune this process for the window: no raster thread pool (unless the user keeps it), short GIL switch
    interval."""
    if os.environ.get(KEEP_QT_THREAD_POOL) != "1":
        os.environ.setdefault(NO_GUI_THREAD_POOL, "1")
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
