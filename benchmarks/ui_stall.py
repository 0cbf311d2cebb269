"""Worst UI-thread stall while the window scans N photos (targets: under 50 ms while scanning, under 100 ms
while predicting, for 20,000 files), and how soon the list starts to fill.

    python benchmarks/ui_stall.py [SIZE] [--keep DIR] [--predict-rows 1000] [--profile]   # SIZE: photos, e.g. 20000

Makes N small JPEGs with real EXIF (copies of generated photos, half of them with GPS and a capture time, so the
time-neighbour pass has work), opens the real MainWindow on them (offscreen, throw-away settings and cache) and
runs a 5 ms QTimer in the GUI thread: a stall is how much later than due a tick arrives. Measured from the drop
until the scan has listed every photo, then through prediction with the active model until --predict-rows rows of
the list show their prediction (predictions reach the list in batches while the model runs; capped at --predict-s
seconds, then cancelled), and for 3 s of the idle window as the machine's noise floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 50.0
PREDICT_TARGET_MS = 100.0
TICK_MS = 5
IDLE_S = 3.0


def make_photos(folder: Path, count: int) -> None:
    """N files in subfolders of 500, copied from 20 generated originals (the scan reads each file anyway)."""
    from tests.photo_factory import make_jpeg

    originals = []
    for index in range(20):
        gps = (45.0 + index * 0.01, 7.0 + index * 0.01) if index % 2 == 0 else None
        originals.append(make_jpeg(folder / f"orig_{index:02d}.jpg", (96, 72), gps=gps, color_seed=index,
                                   datetime_original=datetime(2023, 6, 1, 10) + timedelta(minutes=3 * index)))
    for index in range(count - len(originals)):
        sub = folder / f"day_{index // 500:03d}"
        sub.mkdir(exist_ok=True)
        shutil.copyfile(originals[index % len(originals)], sub / f"IMG_{index:05d}.JPG")


class StallMeter:
    """A QTimer that records how late each tick is (every tick: the worst and the 99th percentile)."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.late_ms: list[float] = []
        self.ends: list[tuple[float, float]] = []  # (when the tick came, how late)
        self.last = time.perf_counter()
        self.timer = QTimer(interval=TICK_MS, timeout=self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.late_ms.append(max(0.0, (now - self.last) * 1000 - TICK_MS))
        self.ends.append((now, self.late_ms[-1]))
        self.last = now

    @property
    def ticks(self) -> int:
        return len(self.late_ms)

    @property
    def worst_ms(self) -> float:
        return max(self.late_ms, default=0.0)

    def percentile_ms(self, fraction: float = 0.99) -> float:
        ordered = sorted(self.late_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0

    def summary(self) -> str:
        return f"worst {self.worst_ms:.1f} ms, p99 {self.percentile_ms():.1f} ms over {self.ticks} ticks"


class StallSampler:
    """--profile: a watchdog thread that, while the GUI thread is more than `after_ms` late, samples every thread's
    Python stack every 2 ms; prints the most frequent innermost app/geocore frames of the GUI thread (what blocked
    it) and of the other threads (what held the GIL meanwhile), and a timeline of the long stalls."""

    def __init__(self, meter_source, after_ms: float = 15.0) -> None:
        import collections
        import threading

        self.meter_source = meter_source  # () -> the StallMeter measuring now
        self.after_ms = after_ms
        self.gui_thread = threading.get_ident()
        self.me = None
        self.gui: collections.Counter[str] = collections.Counter()
        self.others: collections.Counter[str] = collections.Counter()
        self.stalls: list[tuple[float, float, collections.Counter[str]]] = []  # (start s, length ms, samples)
        self.began = time.perf_counter()
        self.monotonic_offset = time.monotonic()  # stalls are printed on the monotonic clock (perf -k CLOCK_MONOTONIC)
        self.stop = threading.Event()
        self.gc_pauses: list[tuple[float, int, str]] = []  # (ms, generation, thread name): a collection holds the GIL
        self._gc_started = 0.0
        import gc

        gc.callbacks.append(self._gc_event)
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _gc_event(self, phase: str, info: dict) -> None:
        import threading

        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pauses.append(((time.perf_counter() - self._gc_started) * 1000, info["generation"],
                                   threading.current_thread().name))

    def _watch(self) -> None:
        import collections
        import threading

        self.me = threading.get_ident()
        current: collections.Counter[str] | None = None
        stall_start = 0.0
        while not self.stop.wait(0.002):
            meter = self.meter_source()
            late = meter is not None and (time.perf_counter() - meter.last) * 1000 >= self.after_ms
            if not late:
                if current is not None:
                    self.stalls.append((stall_start - self.began + self.monotonic_offset,
                                        (time.perf_counter() - stall_start) * 1000, current))
                    current = None
                continue
            if current is None:
                current, stall_start = collections.Counter(), meter.last
            for thread, frame in sys._current_frames().items():
                if thread == self.me:
                    continue
                where = self._where(frame)
                if thread == self.gui_thread:
                    self.gui[where] += 1
                    current["GUI " + where] += 1
                elif where:
                    self.others[where] += 1
                    current["    other " + where] += 1

    @staticmethod
    def _where(frame) -> str:
        stack = []
        while frame is not None:
            code = frame.f_code
            if "/app/" in code.co_filename or "/geocore/" in code.co_filename:
                stack.append(f"{Path(code.co_filename).name}:{frame.f_lineno} {code.co_name}")
            frame = frame.f_back
        return " < ".join(stack[:4])

    def report(self) -> None:
        self.stop.set()
        for title, counter in (("GUI thread while late", self.gui), ("other threads meanwhile", self.others)):
            print(f"{title} (2 ms samples):")
            for where, count in counter.most_common(12):
                print(f"  {count:5d}  {where or '(event loop: Qt in C++ or waiting for the GIL)'}")
        worst_gc = sorted(self.gc_pauses, reverse=True)[:5]
        print(f"garbage collections: {len(self.gc_pauses)}, longest: "
              + ", ".join(f"{ms:.0f} ms (gen {gen}, {name})" for ms, gen, name in worst_gc))
        print("longest stalls (start on the monotonic clock, ms):")
        for start, length_ms, samples in sorted(self.stalls, key=lambda s: -s[1])[:8]:
            print(f"  {start:9.3f} s  {length_ms:6.0f} ms")
            for where, count in samples.most_common(5):
                print(f"      {count:4d}  {where}")


class SlotTimer:
    """--profile: wraps the window's GUI-thread handlers and records each call of `min_ms` or more, so that a late
    tick can be told apart: our Python in a handler, or time outside them (Qt in C++, waiting for the GIL or a core)."""

    HANDLERS = ("_apply_places", "_refresh_others", "_update_counts", "_on_progress", "_job_done",
                "_job_finished", "show_selected", "_request_visible_thumbnails", "_thumbnail_ready", "apply_updates",
                "_scan_done", "predict_missing", "_place_ready")

    def __init__(self, window, min_ms: float = 5.0) -> None:
        self.calls: list[tuple[float, float, str]] = []  # (start, ms, name)
        self.min_ms = min_ms
        for name in self.HANDLERS:
            if hasattr(window, name):
                setattr(window, name, self._timed(getattr(window, name), name))
        intake = window.row_intake  # holds the window's row handlers: wrapped where it looks them up
        intake.list_rows = self._timed(intake.list_rows, "list rows")
        intake.after_turn = self._timed(intake.after_turn, "rows listed")
        view = window.map
        view._send_next_marker_message = self._timed(view._send_next_marker_message, "map message")
        view._outbox_timer.timeout.disconnect()
        view._outbox_timer.timeout.connect(view._send_next_marker_message)

    def _timed(self, function, name):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                took = (time.perf_counter() - started) * 1000
                if took >= self.min_ms:
                    self.calls.append((started, took, name))
        return timed

    def report(self, meter: StallMeter, stalls: int = 8) -> None:
        """The longest late ticks of `meter`, each with the handler calls that ran in it."""
        print(f"handler calls of {self.min_ms:.0f} ms or more: {len(self.calls)}; the longest: " + ", ".join(
            f"{name} {ms:.0f} ms" for _, ms, name in sorted(self.calls, key=lambda c: -c[1])[:8]))
        for end, late in sorted(meter.ends, key=lambda e: -e[1])[:stalls]:
            begin = end - (late + TICK_MS) / 1000
            inside = [f"{name} {ms:.0f}" for start, ms, name in self.calls if start < end and start + ms / 1000 > begin]
            print(f"  late {late:6.1f} ms: handlers {', '.join(inside) or 'none'}")


class RowWatch:
    """Counts the rows that the predict job's batches update with a prediction; `enough` fires at `wanted` rows or
    when prediction finishes."""

    def __init__(self, window, wanted: int) -> None:
        from PySide6.QtCore import QObject, Signal

        class Fire(QObject):
            enough = Signal()

        self.fire = Fire()
        self.enough = self.fire.enough
        self.started, self.wanted = time.perf_counter(), wanted
        self.rows, self.batches, self.first_s = 0, 0, float("nan")
        apply = window.apply_updates

        def counted(items: list) -> None:  # the predict job's on_batch is looked up when it starts
            apply(items)
            fresh = sum(1 for item in items if item.prediction is not None)
            if fresh:
                self.batches += 1
                if not self.rows:
                    self.first_s = time.perf_counter() - self.started
                self.rows += fresh
                if self.rows >= self.wanted:
                    self.enough.emit()

        window.apply_updates = counted
        window.predictionsFinished.connect(lambda *_: self.enough.emit())


def wait_for(signal, timeout_s: float) -> None:
    """Run the Qt event loop until `signal` fires. (A Python loop around processEvents would be the obvious
    alternative, but PySide 6.12 over-releases None in processEvents and crashes after about a million calls.)"""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()


def phase(label: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:6.1f} s] {label} (monotonic {time.monotonic():.3f})", flush=True)


def verdict(meter: StallMeter, target_ms: float) -> str:
    return f"target {target_ms:.0f} ms, ratio target/worst {target_ms / max(meter.worst_ms, 1e-3):.2f} " + (
        "(met)" if meter.worst_ms <= target_ms else "(NOT met)")


def run(count: int, scratch: Path, predict_s: float, predict_rows: int, profile: bool) -> int:
    from geotagger.app.gui_process import prepare_gui_process

    prepare_gui_process()  # as `geotagger` does, before the QApplication exists
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])  # noqa: F841 (must exist while the window lives)
    from geotagger.app.window import MainWindow

    began = time.perf_counter()
    photos = scratch / "photos"
    photos.mkdir()
    make_photos(photos, count)
    phase(f"made {count} photos", began)
    window = MainWindow(config=scratch / "config", data=scratch / "data")
    window.show()
    wait_for(window.map.loaded, 60)
    phase("map page loaded", began)
    current: list[StallMeter | None] = [None]
    sampler = StallSampler(lambda: current[0]) if profile else None
    slots = SlotTimer(window) if profile else None
    idle = current[0] = StallMeter()  # the same window doing nothing: what the machine's scheduler alone costs
    wait_for(idle.timer.destroyed, IDLE_S)
    idle.timer.stop()
    scanning = current[0] = StallMeter()
    started = time.perf_counter()
    first_rows: list[float] = []
    window.model.rowsInserted.connect(lambda *_: first_rows or first_rows.append(time.perf_counter() - started))
    # Predicted rows reaching the list (the predict job's batches); set up now, as the job starts with scanFinished.
    rows = RowWatch(window, predict_rows)
    phase("scan starts", began)
    window.open_paths([photos])
    wait_for(window.scanFinished, 600)
    scan_s = time.perf_counter() - started
    scanning.timer.stop()
    phase(f"scan done: {len(window.model.items)} photos listed", began)
    predicting = current[0] = StallMeter()  # prediction with the shipped model starts right after the scan
    done = time.perf_counter()
    rows.started = done
    wait_for(rows.enough, predict_s)  # enough rows updated, the run finished, or the time cap
    predicting.timer.stop()
    current[0] = None
    predict_s_measured = time.perf_counter() - done
    predicted = sum(1 for item in window.model.items if item.prediction is not None)
    batches, first_s = rows.batches, rows.first_s  # in the window measured (not what the cancel still sends)
    window.cancel_jobs()
    while window.busy():  # let cancelled jobs end while their signals still have somewhere to go
        wait_for(window.predictionsFinished, 1)
    phase("prediction cancelled", began)
    print(f"scanned and listed {len(window.model.items)} photos in {scan_s:.1f} s; "
          f"first rows listed after {first_rows[0] if first_rows else float('nan'):.1f} s")
    print(f"UI stall while scanning:   {scanning.summary()}; {verdict(scanning, TARGET_MS)}")
    print(f"UI stall while predicting: {predicting.summary()} ({predict_s_measured:.0f} s, {predicted} rows "
          f"listed with a prediction, {batches} batches, first after {first_s:.1f} s); "
          f"{verdict(predicting, PREDICT_TARGET_MS)}")
    print(f"noise floor, same window idle {IDLE_S:.0f} s: {idle.summary()} "
          f"(load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs)")
    if sampler is not None:
        sampler.report()
    if slots is not None:
        print("while scanning:")
        slots.report(scanning)
    window.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", type=int, nargs="?", help="number of photos (same as --files)")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--predict-s", type=float, default=120.0, help="measure prediction at most this long")
    parser.add_argument("--predict-rows", type=int, default=1000,
                        help="measure prediction until this many rows show their prediction (or it finishes)")
    parser.add_argument("--profile", action="store_true", help="sample what the GUI thread does while it is late")
    args = parser.parse_args()
    if args.size:
        args.files = args.size
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    sys.path.insert(0, str(ROOT))
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        return run(args.files, args.keep, args.predict_s, args.predict_rows, args.profile)
    with tempfile.TemporaryDirectory() as scratch:
        return run(args.files, Path(scratch), args.predict_s, args.predict_rows, args.profile)


if __name__ == "__main__":
    sys.exit(main())
