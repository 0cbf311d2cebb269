"""The main window: photo list, map and detail panel; opening folders, scanning, predicting and syncing GPS tracks
in the background."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QItemSelectionModel, QModelIndex, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QToolBar,
    QWidget,
)

from geotagger.app.backend import Backend
from geotagger.app.detail import DetailPanel, explains_position, plain_label
from geotagger.app.items import (
    PLACE_COLUMN,
    STATE_LABELS,
    STATES,
    TAKEN_COLUMN,
    PhotoFilterProxy,
    PhotoItem,
    PhotoTableModel,
)
from geotagger.app.map.data import photo_payload
from geotagger.app.map.search import PlaceSearch
from geotagger.app.map.view import MapView
from geotagger.app.model_actions import ModelActions
from geotagger.app.priorities import BACKGROUND_NICE
from geotagger.app.qt_compat import make_none_immortal
from geotagger.app.review import ReviewActions
from geotagger.app.row_intake import RowIntake
from geotagger.app.settings import Settings, config_dir, data_dir
from geotagger.app.track_actions import TrackActions
from geotagger.app.window_map import MapActions
from geotagger.app.workers import Job, Pools

THUMBNAIL_PX = 48
NEVER_PREDICTED = frozenset(("error", "has_gps"))  # states whose photos the visual model is not asked about
COMPACT_ROW_PX = 22  # the compact row option: about 40 rows at 1600x1000 instead of 17
OTHERS_REFRESH_MS = 400
# While a scan streams rows the other photos' markers are redrawn at most this often: the page redraws every marker
# each time (about 300 ms of the renderer's CPU for 10,000 of them), and on a busy machine that CPU is the GUI's.
OTHERS_REFRESH_SCANNING_MS = 4000
PLACES_REFRESH_MS = 600
FULL_COLLECTION_THRESHOLD = 10  # CPython's default third threshold
FULL_COLLECTIONS_HELD = 1_000_000  # ... and one no job reaches
COUNTS_REFRESH_MS = 250  # the status-bar tally is kept by the model; its label is redrawn at most this often


def hold_full_collections(hold: bool) -> None:
    """While jobs run, the cyclic collector skips its full passes: a worker building 20,000 rows (or a neighbour
    sync's records) makes each pass walk them all while holding the GIL, 50-100 ms the GUI thread cannot run.
    Young generations are still collected; once the jobs end, what lives is frozen and full passes resume."""
    young, middle, _full = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTIONS_HELD if hold else FULL_COLLECTION_THRESHOLD)
    if not hold:
        gc.freeze()


def single_shot_timer(parent: QObject, interval_ms: int, slot: Any) -> QTimer:
    """A restartable single-shot timer: start() again before it fires postpones it (debouncing)."""
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(interval_ms)
    timer.timeout.connect(slot)
    return timer


def preload_worker_modules() -> None:
    """Import what the workers need now, before any work starts: an import inside a worker holds the GIL for
    long stretches (PySide's import hook reads module sources) and stalls the GUI thread mid-scan."""
    import geotagger.geocore.inference.predictor  # noqa: F401
    import geotagger.geocore.workflow.session  # noqa: F401  (and with it time sync and the fusion rule)


class MainWindow(ReviewActions, ModelActions, MapActions, TrackActions, QMainWindow):
    """Geotagger's window. `config` and `data` folders default to the user's (appdirs); tests pass temp folders."""

    scanFinished = Signal(int)  # noqa: N815  number of photos listed
    predictionsFinished = Signal(int)  # noqa: N815
    writeFinished = Signal(object)  # noqa: N815  the batch summary
    learnStarted = Signal()  # noqa: N815
    learnFinished = Signal(int)  # noqa: N815  exit status of the personal training
    trackSyncFinished = Signal(object)  # noqa: N815  the TrackSyncSummary

    def __init__(self, config: Path | None = None, data: Path | None = None, workers: int | None = None) -> None:
        make_none_immortal()
        super().__init__()
        self.config_folder = config or config_dir()
        self.data_folder = data or data_dir()
        self.settings = Settings.load(self.config_folder)
        self.backend = Backend(self.data_folder, self.settings)
        if self.settings.show_place_names:
            self.backend.places.warm_up()
        preload_worker_modules()
        self.pools = Pools(workers)
        self.jobs: list[Job] = []
        self._thumbnail_queue: set[str] = set()
        self._side_jobs: set[Job] = set()
        self.closed = False
        self._others_sent: dict[str, PhotoItem] | None = None  # the markers the page has, by key
        self._others_current_key: str | None = None  # the photo the map shows apart from the others
        self._saliency_pending: set[str] = set()
        self._cell_places: dict[str, str] = {}  # cell token -> "Lisbon, PT"
        self._places_wanted: set[str] = set()
        self._track_paths: list[Path] = []
        self.setWindowTitle("Geotagger")
        self.setAcceptDrops(True)
        self.resize(1400, 860)
        self.row_intake = RowIntake(self._list_rows, self._rows_listed, self)
        self._build_body()
        self._build_actions()
        self._build_status()
        self._others_timer = single_shot_timer(self, OTHERS_REFRESH_MS, self._refresh_others)
        self._others_scanning_timer = single_shot_timer(self, OTHERS_REFRESH_SCANNING_MS, self._refresh_others)
        self._counts_timer = single_shot_timer(self, COUNTS_REFRESH_MS, self._update_counts)
        self._places_timer = single_shot_timer(self, PLACES_REFRESH_MS, self._load_places)
        self._places_found: list[tuple[str, Any, Any, str]] = []  # names looked up, not in their rows yet
        self._places_apply_timer = single_shot_timer(self, 0, self._apply_waiting_places)
        self.trackSyncFinished.connect(lambda *_: self._show_tracks())
        self._restore_layout()
        self.show_selected()
        QTimer.singleShot(0, self._preload_model)

    # ----- layout -----
    def _build_body(self) -> None:
        self.model = PhotoTableModel(self)
        self.proxy = PhotoFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)  # cells are never edited in place
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.table.verticalHeader().hide()
        self.set_compact_rows(self.settings.compact_rows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width_px in ((0, 160), (1, 100), (2, 70), (3, 78), (4, 140), (5, 132)):
            self.table.setColumnWidth(column, width_px)
        # Photo, Taken, State, Place, Source, Model conf.: when, what and where fit without dragging the splitter
        header.moveSection(header.visualIndex(TAKEN_COLUMN), 1)
        header.moveSection(header.visualIndex(PLACE_COLUMN), 3)
        self.table.sortByColumn(TAKEN_COLUMN, Qt.SortOrder.AscendingOrder)  # a trip reads in the order it happened
        # Selection changes come in bursts (rows inserted and re-sorted during a scan): refresh once per burst.
        self._selection_timer = single_shot_timer(self, 40, self.show_selected)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_timer.start())
        self._thumbnail_timer = single_shot_timer(self, 120, self._request_visible_thumbnails)
        self.table.verticalScrollBar().valueChanged.connect(lambda *_: self._thumbnail_timer.start())
        self.proxy.layoutChanged.connect(lambda *_: self._thumbnail_timer.start())
        # Straight to the timer's C++ slot: a Python slot here ran once per inserted row, taking the GIL each time
        self.proxy.rowsInserted.connect(self._thumbnail_timer.start)
        self.map = self._make_map()
        self.detail = DetailPanel()
        self.detail.setMinimumWidth(360)
        left = QWidget()
        left_layout = QHBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.table)
        self.splitter = splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget in (left, self.map, self.detail):
            splitter.addWidget(widget)
        splitter.setSizes([560, 480, 360])
        self.setCentralWidget(splitter)
        self.empty_hint = QLabel("Drop folders or photos here, or use File ▸ Open folder…", self.table)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def _make_map(self) -> MapView:
        view = MapView(self.settings.tile_provider if self.settings.online_tiles else None,
                       archive_path=self.settings.tile_archive)
        view.locationPicked.connect(self.set_location_from_map)
        view.photoClicked.connect(self.select_key)
        if view.archive_problem:
            QTimer.singleShot(0, lambda: self.statusBar().showMessage(f"Tile archive: {view.archive_problem}", 15000))
        return view

    def set_compact_rows(self, compact: bool) -> None:
        """Small rows (no thumbnails) fit two and a half times as many photos on screen."""
        self.settings.compact_rows = compact
        height = COMPACT_ROW_PX if compact else THUMBNAIL_PX + 4
        self.table.setIconSize(QSize(height - 4, height - 4))
        self.table.verticalHeader().setMinimumSectionSize(height)
        self.table.verticalHeader().setDefaultSectionSize(height)

    def _restore_layout(self) -> None:
        """Window geometry, splitter and columns as the user left them."""
        for text, restore in ((self.settings.window_geometry, self.restoreGeometry),
                              (self.settings.splitter_state, self.splitter.restoreState),
                              (self.settings.header_state, self.table.horizontalHeader().restoreState)):
            if text:
                restore(QByteArray.fromBase64(text.encode("ascii")))

    def _save_layout(self) -> None:
        def encoded(state: QByteArray) -> str:
            return bytes(state.toBase64().data()).decode("ascii")

        self.settings.window_geometry = encoded(self.saveGeometry())
        self.settings.splitter_state = encoded(self.splitter.saveState())
        self.settings.header_state = encoded(self.table.horizontalHeader().saveState())

    def rebuild_map(self) -> None:
        """A new map page (tiles on/off changed), showing the current photo again."""
        old = self.map
        self.map = self._make_map()
        self.splitter.replaceWidget(1, self.map)
        old.deleteLater()
        self._others_sent = None  # the new page has none yet
        self.show_selected()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.empty_hint.resize(self.table.size())
        self._thumbnail_timer.start()

    def _action(self, menu: Any, text: str, slot: Any, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
        action.triggered.connect(lambda *_: slot())
        menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_action = self._action(file_menu, "Open folder…", self.open_folder_dialog,
                                        QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open photos…", self.open_files_dialog)
        self.export_map_action = self._action(file_menu, "Export map…", self.export_map_dialog)
        self.sync_track_action = self._action(file_menu, "Sync with GPS track…", self.sync_tracks_dialog)
        self.sync_track_action.setToolTip("Place photos without GPS on GPX / KML / GeoJSON tracks by capture time")
        self.recent_menu = file_menu.addMenu("Recent folders")
        self._fill_recent_menu()
        file_menu.addSeparator()
        self.write_action = self._action(file_menu, "Write accepted locations", self.write_accepted, "Ctrl+S")
        file_menu.addSeparator()
        self._action(file_menu, "Quit", self.close, QKeySequence.StandardKey.Quit)
        edit = bar.addMenu("&Edit")
        enter = [QKeySequence(Qt.Key.Key_Return), QKeySequence(Qt.Key.Key_Enter)]
        self.accept_action = self._action(edit, "Accept", self.accept_selected, enter)
        self.reject_action = self._action(edit, "Reject", self.reject_selected, QKeySequence(Qt.Key.Key_Delete))
        self.undo_action = self._action(edit, "Undo", self.undo, QKeySequence.StandardKey.Undo)
        edit.addSeparator()
        self._action(edit, "Copy location", self.copy_location, QKeySequence.StandardKey.Copy)
        self._action(edit, "Paste location to selection", self.paste_location, QKeySequence.StandardKey.Paste)
        self._action(edit, "Set location manually…", self.set_location_dialog)
        self._action(edit, "Strip location from selected…", self.strip_selected)
        edit.addSeparator()
        self._action(edit, "Select all", self.table.selectAll, QKeySequence.StandardKey.SelectAll)
        self._action(edit, "Settings…", self.open_settings)
        view_menu = bar.addMenu("&View")
        self.compact_action = self._action(view_menu, "Compact rows", lambda: self.set_compact_rows(
            self.compact_action.isChecked()))
        self.compact_action.setCheckable(True)
        self.compact_action.setChecked(self.settings.compact_rows)
        models = bar.addMenu("&Models")
        self._action(models, "Choose model…", self.open_models)
        self._action(models, "Learn from my geotagged photos", self.learn_from_library)
        self._build_toolbar()

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Review")
        toolbar.setMovable(False)
        self.addToolBar(toolbar)
        for action in (self.open_action, self.sync_track_action, self.accept_action, self.reject_action,
                       self.undo_action, self.write_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Show "))
        self.state_filter = QComboBox()
        self.state_filter.addItem("All", "")
        for state in STATES:
            self.state_filter.addItem(STATE_LABELS[state], state)
        self.source_filter = QComboBox()
        for label, value in (("any source", ""), ("EXIF", "exif"), ("model", "model"), ("personal model", "personal"),
                             ("GPS track", "track"),
                             ("time neighbour", "neighbour"), ("manual", "manual")):
            self.source_filter.addItem(label, value)
        self.confidence_filter = QDoubleSpinBox(suffix=" % min", decimals=0, maximum=100, singleStep=10)
        for widget in (self.state_filter, self.source_filter, self.confidence_filter):
            toolbar.addWidget(widget)
        self.search = PlaceSearch(self)
        self.search.found.connect(lambda place: self.map.go_to(place.lat, place.lon, place.label, 11))
        self.search.place_here.connect(lambda place: self.set_location_from_map(place.lat, place.lon))
        self.confidence_filter.setToolTip("Minimum confidence of the model's guesses; positions from the file, a "
                                          "track, a neighbour or you always stay")
        toolbar.addSeparator()
        toolbar.addWidget(self.search.line)
        toolbar.addAction(self.search.enter_places)
        self.state_filter.currentIndexChanged.connect(self._apply_filter)
        self.source_filter.currentIndexChanged.connect(self._apply_filter)
        self.confidence_filter.valueChanged.connect(self._apply_filter)

    def _build_status(self) -> None:
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.hide()
        self.counts = QLabel()
        self.model_label = plain_label()  # model ids and bundle names come from files the user imported
        self.model_label.setWordWrap(False)  # one line in the status bar; wrapping would squeeze the map
        self.model_label.setMaximumWidth(280)  # a long bundle name must not cut the status message
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_jobs)
        status = self.statusBar()
        status.addPermanentWidget(self.model_label)
        status.addPermanentWidget(self.counts)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        self._update_counts()

    def _apply_filter(self) -> None:
        self.proxy.set_filter({self.state_filter.currentData()} - {""}, self.source_filter.currentData(),
                              self.confidence_filter.value() / 100)

    def _update_counts(self) -> None:
        tally = self.model.state_counts
        shown = [f"{tally[state]} {STATE_LABELS.get(state, state).lower()}"
                 for state in (*STATES, *sorted(set(tally) - set(STATES))) if tally[state] > 0]
        count = len(self.model.items)
        self.counts.setText(f"{count} photo{'' if count == 1 else 's'}" + (": " + ", ".join(shown) if shown else ""))
        self.empty_hint.setVisible(not self.model.items)

    # ----- opening -----
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of photos", self.photos_folder())
        if folder:
            self.open_paths([Path(folder)])

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open photos", self.photos_folder())
        if files:
            self.open_paths([Path(f) for f in files])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for folder in self.settings.recent_folders:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda *_, f=folder: self.open_paths([Path(f)]))
        self.recent_menu.setEnabled(bool(self.settings.recent_folders))

    def open_paths(self, paths: list[Path]) -> None:
        """Scan folders/files in the background, then predict where photos have no location."""
        gc.freeze()  # everything loaded so far (modules, the window) lives as long as the app: see _rows_listed
        for path in paths:
            if path.is_dir():
                self.settings.remember_folder(path.resolve())
        self.settings.save(self.config_folder)
        self._fill_recent_menu()
        self.start_job(lambda ctx: self.backend.scan(paths, ctx), "Scanning", self.pools.work,
                       on_batch=self.row_intake.add, on_done=self._scan_done, batch_taken_by_consumer=True)

    def _list_rows(self, items: Sequence[PhotoItem]) -> None:
        """A few streamed rows into the list (RowIntake calls it a turn's slice at a time)."""
        rows = list(items)
        self.model.add_items(rows)
        self._want_places(rows)

    def _rows_listed(self) -> None:
        """After a turn that listed rows."""
        # Photos stay for the session: keep them out of the cyclic collector's full passes, which otherwise walk
        # every listed photo and stall the GUI for tens of milliseconds at 10,000 photos.
        gc.freeze()
        if not self._counts_timer.isActive():  # throttled, not debounced: the tally moves while rows stream in
            self._counts_timer.start()
        self.empty_hint.hide()
        if not self._others_scanning_timer.isActive():  # throttled: markers follow every few seconds
            self._others_scanning_timer.start()
        if not self.table.selectionModel().hasSelection() and self.proxy.rowCount():
            self.table.selectRow(0)

    def _preload_model(self) -> None:
        """Load the model while the window starts: onnxruntime holds the GIL while it builds a session (130 ms
        for the base model), which would otherwise stall the list just as the first predictions come."""
        if not self.closed and self.backend.can_predict():
            job = Job(lambda ctx: self.backend.predictor() is not None, "Loading model")
            job.nice = BACKGROUND_NICE
            self.pools.work.start(job)
            self._side_jobs.add(job)
            job.signals.finished.connect(lambda: self._side_jobs.discard(job))

    def _scan_done(self, count: Any) -> None:
        self.row_intake.when_listed(lambda: self._scan_listed(count))

    def _scan_listed(self, count: Any) -> None:
        """The scan has ended and each of its rows is listed."""
        self._others_scanning_timer.stop()
        self._others_timer.start()
        self.scanFinished.emit(int(count or 0))
        self.predict_missing()

    def predict_missing(self, every_photo: bool = False) -> None:
        """Predict every photo without GPS that has no prediction yet, or all of them after a model change
        (predictions already in the cache for that model come back from the library instead)."""
        if not any(count for state, count in self.model.state_counts.items() if state not in NEVER_PREDICTED):
            self._predictions_done(0)
            return
        items = list(self.model.items)  # the worker picks from this snapshot: 20,000 rows walked here took 19 ms

        def predict(ctx: Any) -> int:
            chosen = [i for i in items if (every_photo or i.prediction is None) and i.state not in NEVER_PREDICTED]
            # By photo id where the row has its record: 10,000 paths looked up again would hold the GIL for tens of ms
            ids = [i.record.id for i in chosen if i.record is not None]
            keys = [i.key for i in chosen if i.record is None]
            return self.backend.predict(keys, ctx, ids) if chosen else 0

        self.start_job(predict, "Predicting", self.pools.work, on_batch=self.apply_updates,
                       on_done=lambda count: self._predictions_done(int(count or 0)))

    def _predictions_done(self, count: int) -> None:
        self.model_label.setText(self.backend.model_status())
        self.predictionsFinished.emit(count)

    # ----- jobs -----
    def start_job(self, function: Any, title: str, pool: Any, on_batch: Any = None, on_done: Any = None,
                  batch_taken_by_consumer: bool = False) -> Job:
        """Run a job with the status bar's progress and Cancel; per-file problems come back as item states.
        Slots are connected before the job starts, so not even the first batch can be missed. A text returned by
        `on_done` stays in the status bar when the job ends (instead of "Ready"). `batch_taken_by_consumer`:
        `on_batch(batch, taken)` calls `taken()` once it has handled the batch (the worker then sends the next)."""
        job = Job(function, title)
        job.nice = 0 if pool is self.pools.writer else BACKGROUND_NICE  # the user waits on a decision, not a scan
        if batch_taken_by_consumer:
            job.signals.batch.connect(self._unless_closed(
                lambda batch: on_batch(batch, lambda: job.signals.batch_taken(batch))))
        else:
            if on_batch is not None:
                job.signals.batch.connect(self._unless_closed(on_batch))
            job.signals.batch.connect(job.signals.batch_taken)  # after the consumer: the worker may send the next
        if on_done is not None:
            job.signals.done.connect(self._unless_closed(lambda result: self._job_done(job, on_done, result)))
        job.signals.progress.connect(self._unless_closed(
            lambda done, total, message: self._on_progress(title, done, total, message)))
        job.signals.failed.connect(self._unless_closed(lambda text: self.show_error(f"{title} failed", text)))
        job.signals.finished.connect(self._unless_closed(lambda: self._job_finished(job)))
        self.jobs.append(job)
        hold_full_collections(True)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.statusBar().showMessage(f"{title}…")
        pool.start(job)
        return job

    def _unless_closed(self, slot: Any) -> Any:
        """A job's result may arrive after the window closed (it was queued): then it is dropped."""
        return lambda *args: None if self.closed else slot(*args)

    def _on_progress(self, title: str, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{title} {done}/{total}")
        if message:
            self.statusBar().showMessage(message)

    @staticmethod
    def _job_done(job: Job, on_done: Any, result: Any) -> None:
        last_word = on_done(result)
        if isinstance(last_word, str):
            job.final_message = last_word

    def _job_finished(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        if not self.jobs:
            self.progress.hide()
            self.cancel_button.hide()
            hold_full_collections(False)
        if job.final_message:
            self.statusBar().showMessage(job.final_message, 30_000)
        elif not self.jobs:
            self.statusBar().showMessage("Cancelled" if job.cancel_event.is_set() else "Ready", 4000)
        self._update_counts()

    def cancel_jobs(self) -> None:
        """Ask every running job to stop."""
        for job in list(self.jobs):
            job.cancel()

    def busy(self) -> bool:
        """Whether any background job is still running."""
        return bool(self.jobs)

    # ----- updates and selection -----
    def apply_updates(self, items: list[PhotoItem]) -> None:
        """Replace listed items by fresher versions (from prediction, decisions or writes)."""
        selected = set(self.selected_keys())
        # The proxy re-sorts and re-filters only the changed rows (cells whose value is unchanged emit nothing);
        # switching dynamic sorting off and on around the batch would re-sort all rows, 20 ms per 10,000.
        for item in items:
            row = self.model.rows_by_key.get(item.key)
            if row is not None:
                self.model.set_item(row, item)
        self._want_places(items)
        gc.freeze()  # as in _rows_listed: the fresh rows stay, and full collections must not walk them (GIL)
        if not self._counts_timer.isActive():  # throttled, not debounced: counts move while predictions stream in
            self._counts_timer.start()
        self._others_timer.start()
        if selected & {item.key for item in items}:
            self.show_selected()

    def selected_items(self) -> list[PhotoItem]:
        """The selected photos, in list order."""
        rows = sorted(self.proxy.mapToSource(index).row() for index in self.table.selectionModel().selectedRows())
        return [self.model.items[row] for row in rows]

    def selected_keys(self) -> list[str]:
        return [item.key for item in self.selected_items()]

    def current_item(self) -> PhotoItem | None:
        """The photo the detail panel and map show (the current row, else the first selected)."""
        index = self.table.currentIndex()
        if index.isValid() and self.table.selectionModel().isRowSelected(index.row(), QModelIndex()):
            return self.model.items[self.proxy.mapToSource(index).row()]
        items = self.selected_items()
        return items[0] if items else None

    def select_key(self, key: str) -> None:
        """Select one photo by its path key (from a click on the map)."""
        row = self.model.rows_by_key.get(key)
        if row is None:
            return
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if index.isValid():
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
            self.table.selectionModel().setCurrentIndex(index, flags)

    def show_selected(self) -> None:
        """Refresh the detail panel and the map for the current photo."""
        item = self.current_item()
        same_photo = item is not None and self.detail.shown_key == item.key
        self.detail.show_item(item, self.detail.photo_image() if same_photo else None)
        if item is not None:
            self.map.show_photo(photo_payload(item, self._cell_places))
            self._load_place(item)
            self._load_cell_places(item)
            if not same_photo:
                self._load_preview(item)
            elif not self.detail.has_overlay():
                self._load_saliency(item)  # the prediction arrived after the photo was shown
        self._others_timer.start()

    def _load_place(self, item: PhotoItem) -> None:
        """Name the place of the shown location (offline GeoNames), unless the user turned place names off."""
        if not self.settings.show_place_names or not item.has_location or item.place:
            return
        key, lat, lon = item.key, item.lat, item.lon
        job = Job(lambda ctx: self.backend.place_text(lat, lon), "Place name")
        self.start_side_job(job, lambda text: self._place_ready(key, lat, lon, text))

    def _place_ready(self, key: str, lat: Any, lon: Any, text: str, shown_key: str | None = None) -> None:
        """A looked-up name into its row, if the photo is still where it was looked up; `shown_key`: the photo the
        detail panel shows (a batch of names finds it once), else it is looked up here."""
        row = self.model.rows_by_key.get(key)
        item = None if row is None else self.model.items[row]
        if item is None or (item.lat, item.lon) != (lat, lon) or not text:
            return
        self.model.set_place(row, text)
        if shown_key is None:
            current = self.current_item()
            shown_key = "" if current is None else current.key
        if shown_key == key:
            self.detail.location_fields["Place"].setText(text)

    def _load_preview(self, item: PhotoItem) -> None:
        """Decode the preview off the GUI thread (a 12 MP photo takes tens of milliseconds), then its saliency."""
        key = item.key
        job = Job(lambda ctx: self.backend.preview_image(item.path), "Preview")
        self.start_side_job(job, lambda image: self._preview_ready(key, image))

    def _preview_ready(self, key: str, image: Any) -> None:
        current = self.current_item()
        if current is not None and current.key == key:
            self.detail.set_photo(image)
            self._load_saliency(current)

    def _load_saliency(self, item: PhotoItem) -> None:
        key = item.key
        if item.prediction is None or not self.backend.can_explain() or key in self._saliency_pending:
            return
        if not explains_position(item):  # a track or neighbour position owes nothing to the image
            return
        self._saliency_pending.add(key)
        job = Job(lambda ctx: self.backend.explain(item.path), "Saliency")
        self.start_side_job(job, lambda explained: self._saliency_ready(key, explained))

    def start_side_job(self, job: Job, on_done: Any) -> None:
        """Run a small job without progress (thumbnails, saliency); kept referenced until it finishes."""
        self._side_jobs.add(job)
        job.nice = BACKGROUND_NICE
        job.signals.finished.connect(lambda: self._side_jobs.discard(job))
        job.signals.done.connect(self._unless_closed(on_done))
        self.pools.thumbnails.start(job)

    def _saliency_ready(self, key: str, explained: Any) -> None:
        self._saliency_pending.discard(key)
        current = self.current_item()
        if explained is not None and current is not None and current.key == key:
            self.detail.set_overlay(QImage.fromData(explained.overlay_png))
            self.detail.set_concepts(explained.concepts)

    def _request_visible_thumbnails(self) -> None:
        """Thumbnails only for the rows on screen (the library caches them on disk for next time)."""
        first = max(self.table.rowAt(0), 0)
        last = self.table.rowAt(self.table.viewport().height() - 1)
        last = self.proxy.rowCount() - 1 if last < 0 else last
        for proxy_row in range(first, min(last, first + 60) + 1):
            row = self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row()
            item = self.model.items[row] if 0 <= row < len(self.model.items) else None
            if item is None or item.key in self._thumbnail_queue:
                continue
            self._thumbnail_queue.add(item.key)
            self._start_thumbnail(item)

    def _start_thumbnail(self, item: PhotoItem) -> None:
        path, key = item.path, item.key
        job = Job(lambda ctx: self.backend.thumbnail_bytes(path, THUMBNAIL_PX * 2), "Thumbnail")
        self.start_side_job(job, lambda data: self._thumbnail_ready(key, data))

    def _thumbnail_ready(self, key: str, data: Any) -> None:
        image = QImage.fromData(data) if data else QImage()
        self.model.set_thumbnail(key, QIcon(QPixmap.fromImage(image)) if not image.isNull() else QIcon())

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.closed = True
        self.cancel_jobs()
        self.pools.wait()
        self._save_layout()
        self.settings.save(self.config_folder)
        self.backend.close()
        super().closeEvent(event)
