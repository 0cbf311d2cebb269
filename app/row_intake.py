"""Streamed rows reach the list in slices of an event-loop turn.

A batch of rows from a worker is listed a few rows at a time until TURN_BUDGET_S of the GUI thread is spent; the rest
waits for the next turn, so painting and input come in between. At 20,000 photos a batch of 25 rows took 5-32 ms
(the sorted proxy places each row among those listed), and a turn that also applied place names reached 51 ms
(benchmarks/ui_stall.py). The worker sends its next batch only once the last one is listed, as before: it never runs
ahead of the window (its Python would take the GIL the GUI thread needs).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QTimer

T = TypeVar("T")

TURN_BUDGET_S = 0.008  # GUI-thread time per turn for streamed rows (the 5 ms stall meter's own budget is 50 ms)
ROWS_PER_STEP = 5  # the time is checked after every few rows: one row takes well under a millisecond


def apply_for_a_while(entries: Sequence[T], apply: Callable[[Sequence[T]], None], step: int,
                      budget_s: float = TURN_BUDGET_S, clock: Callable[[], float] = time.perf_counter) -> int:
    """`apply` slices of `step` entries until `budget_s` has passed (at least one slice); returns how many were
    applied."""
    deadline = clock() + budget_s
    done = 0
    while done < len(entries):
        apply(entries[done:done + step])
        done += step
        if clock() >= deadline:
            break
    return min(done, len(entries))


class RowIntake(QObject):
    """Batches in, rows listed a turn's slice at a time.

    `list_rows(rows)`: lists a few rows. `after_turn()`: what follows a turn that listed rows (selection, tallies).
    Each batch comes with `taken`, called once all its rows are listed (the worker's go-ahead for the next one).
    """

    def __init__(self, list_rows: Callable[[Sequence[Any]], None], after_turn: Callable[[], None],
                 parent: QObject | None = None, budget_s: float = TURN_BUDGET_S) -> None:
        super().__init__(parent)
        self.list_rows = list_rows
        self.after_turn = after_turn
        self.budget_s = budget_s
        self._waiting: deque[tuple[list[Any], Callable[[], None]]] = deque()
        self._when_listed: list[Callable[[], None]] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._turn)

    @property
    def waiting(self) -> int:
        """Rows received but not listed yet."""
        return sum(len(rows) for rows, _ in self._waiting)

    def add(self, rows: list[Any], taken: Callable[[], None]) -> None:
        """A batch: its rows start to be listed now."""
        self._waiting.append((list(rows), taken))
        if not self._timer.isActive():
            self._turn()

    def when_listed(self, callback: Callable[[], None]) -> None:
        """Call `callback` once every row received so far is listed (now, if none is waiting)."""
        if self._waiting:
            self._when_listed.append(callback)
        else:
            callback()

    def _turn(self) -> None:
        deadline = time.perf_counter() + self.budget_s
        listed = False
        while self._waiting:
            rows, taken = self._waiting[0]
            left = max(0.0, deadline - time.perf_counter())
            done = apply_for_a_while(rows, self.list_rows, ROWS_PER_STEP, left) if rows else 0
            listed = listed or done > 0
            del rows[:done]
            if rows:
                break
            self._waiting.popleft()
            taken()
            if time.perf_counter() >= deadline:
                break
        if listed:
            self.after_turn()
        if self._waiting:
            self._timer.start()
            return
        callbacks, self._when_listed = self._when_listed, []
        for callback in callbacks:
            callback()
