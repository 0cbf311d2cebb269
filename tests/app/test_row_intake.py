"""Streamed rows reach the list a slice of an event-loop turn at a time: every row once and in order, the worker's
go-ahead only once its batch is listed, and the scan's end only once every row is there."""

from __future__ import annotations

import time

from geotagger.app.row_intake import RowIntake, apply_for_a_while


class _Clock:
    def __init__(self, step_s: float) -> None:
        self.now, self.step_s = 0.0, step_s

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now


def test_apply_for_a_while_stops_when_the_budget_is_spent_but_always_does_one_slice() -> None:
    applied: list[list[int]] = []
    done = apply_for_a_while(list(range(100)), lambda part: applied.append(list(part)), 10, budget_s=0.0035,
                             clock=_Clock(0.001))
    # the deadline is 4.5 ms after the first look; the clock moves 1 ms per look: the 4th slice ends past it
    assert done == 40 and applied == [list(range(start, start + 10)) for start in range(0, 40, 10)]
    assert apply_for_a_while(list(range(7)), lambda part: None, 10, budget_s=0.0, clock=_Clock(1.0)) == 7
    assert apply_for_a_while([], lambda part: None, 10) == 0


def test_rows_are_listed_over_several_turns_in_order_and_each_batch_is_taken_once_listed(qtbot) -> None:
    listed: list[int] = []
    turns: list[int] = []
    taken: list[str] = []

    def slow_rows(rows) -> None:  # 1 ms a row: a 2 ms budget lists a few rows per turn
        time.sleep(0.001 * len(rows))
        listed.extend(rows)

    intake = RowIntake(slow_rows, lambda: turns.append(len(listed)), budget_s=0.002)
    intake.add(list(range(40)), lambda: taken.append("first"))
    assert 0 < len(listed) < 40 and taken == []  # the first slice at once, the rest on later turns
    intake.add(list(range(40, 60)), lambda: taken.append("second"))
    assert intake.waiting == 60 - len(listed)
    finished: list[int] = []
    intake.when_listed(lambda: finished.append(len(listed)))
    qtbot.waitUntil(lambda: bool(finished), timeout=5000)
    assert listed == list(range(60)) and taken == ["first", "second"] and finished == [60]
    assert len(turns) >= 60 // 10 and turns == sorted(turns)  # a turn lists at most a couple of 5-row steps
    done_now: list[bool] = []
    intake.when_listed(lambda: done_now.append(True))  # nothing waiting: at once
    assert done_now == [True]
