"""The window's process is tuned before Qt starts: no raster thread pool (unless the user chose otherwise) and a
short GIL switch interval; `geotagger` does it before creating the QApplication."""

from __future__ import annotations

import inspect
import sys

from geotagger.app import gui_process, main


def test_prepare_gui_process_turns_the_raster_pool_off_unless_the_user_set_it(monkeypatch) -> None:
    interval = sys.getswitchinterval()
    try:
        monkeypatch.delenv("QT_NO_GUI_THREADPOOL", raising=False)
        gui_process.prepare_gui_process()
        assert gui_process.os.environ["QT_NO_GUI_THREADPOOL"] == "1"
        assert sys.getswitchinterval() == gui_process.GIL_SWITCH_INTERVAL_S
        monkeypatch.delenv("QT_NO_GUI_THREADPOOL")
        monkeypatch.setenv("GEOTAGGER_KEEP_QT_THREAD_POOL", "1")  # the user keeps Qt's default: Qt reads any value
        gui_process.prepare_gui_process()  # of QT_NO_GUI_THREADPOOL as "off", so it must stay unset
        assert "QT_NO_GUI_THREADPOOL" not in gui_process.os.environ
    finally:
        sys.setswitchinterval(interval)


def test_the_gui_prepares_its_process_before_the_qapplication_exists() -> None:
    source = inspect.getsource(main.main)
    assert source.index("prepare_gui_process()") < source.index("QApplication([")
