"""Location decisions per photo: proposed by a source, accepted or rejected by the user, then written."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from geotagger.geocore.library import db as schema
from geotagger.geocore.library.gps import validate_position
from geotagger.geocore.library.records import DECISION_SOURCES, DECISION_STATES, DecisionRecord, from_row
from geotagger.geocore.library.xmp import Place
from geotagger.geocore.vocabulary import priority_key

SQL_IN_CHUNK = 900  # bound parameters per IN (...): older SQLite builds allow 999 per statement
# Short transactions: a writer thread gives the GIL (and the write lock) back to the GUI between them.
PROPOSALS_PER_TRANSACTION = 200


def in_chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    """The distinct `values`, sorted, in lists short enough for one SQL `IN (...)` each."""
    distinct = sorted(set(values))
    for start in range(0, len(distinct), SQL_IN_CHUNK):
        yield distinct[start:start + SQL_IN_CHUNK]


def _new_id(result: sa.CursorResult) -> int:
    """The primary key of the row just inserted."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


@dataclass(frozen=True)
class Proposal:
    """A location proposed for a photo by some source (see DECISION_SOURCES)."""

    photo_id: int
    lat: float
    lon: float
    radius_km: float | None
    source: str
    altitude_m: float | None = None
    review: bool = False
    notes: str | None = None
    state: str = "proposed"
    fix_utc_s: float | None = None  # a track fix's instant, UTC seconds (written as the GPS time stamps)

    def validate(self) -> None:
        """ValueError for an unknown source/state; PositionError (a ValueError) for out-of-range numbers."""
        if self.source not in DECISION_SOURCES:
            raise ValueError(f"unknown source {self.source!r}; one of {DECISION_SOURCES}")
        if self.state not in DECISION_STATES:
            raise ValueError(f"unknown state {self.state!r}")
        validate_position(self.lat, self.lon, self.altitude_m, self.radius_km)


class DecisionStore:
    """Mixin of `Library`: the decisions table."""

    database: schema.Database

    def propose(self, photo_id: int, lat: float, lon: float, radius_km: float | None, source: str, *,
                altitude_m: float | None = None, review: bool = False, notes: str | None = None,
                state: str = "proposed") -> int:
        """Record a proposed location for a photo; returns the decision id."""
        return self.propose_many([Proposal(photo_id, lat, lon, radius_km, source, altitude_m, review, notes, state)])[0]

    def propose_many(self, proposals: Sequence[Proposal]) -> list[int]:
        """Record many proposals in one transaction (time sync, batch prediction); returns their ids in order."""
        for proposal in proposals:
            proposal.validate()
        ids: list[int] = []
        for start in range(0, len(proposals), PROPOSALS_PER_TRANSACTION):
            ids.extend(self._insert_proposals(proposals[start:start + PROPOSALS_PER_TRANSACTION]))
            time.sleep(0)  # let a waiting GUI thread have the GIL between transactions
        return ids

    def _insert_proposals(self, proposals: Sequence[Proposal]) -> list[int]:
        """One transaction: accepted ones demote the photo's earlier acceptance, the rest go in as one executemany."""
        now = time.time_ns()
        rows = [dict(photo_id=p.photo_id, state=p.state, source=p.source, lat=p.lat, lon=p.lon, radius_km=p.radius_km,
                     altitude_m=p.altitude_m, review=p.review, notes=p.notes, created_ns=now, updated_ns=now,
                     fix_utc_s=p.fix_utc_s)
                for p in proposals]
        accepted_photos = [p.photo_id for p in proposals if p.state == "accepted"]
        with self.database.write_lock, self.database.engine.begin() as connection:
            if accepted_photos and len(set(accepted_photos)) == len(accepted_photos):
                # One accepted proposal per photo (a sync's usual batch): demote their earlier acceptances in one
                # UPDATE per chunk of ids, before the inserts, then one executemany.
                table = schema.decisions
                for chunk in in_chunks(accepted_photos):
                    demoted = table.c.photo_id.in_(chunk) & (table.c.state == "accepted")
                    connection.execute(sa.update(table).where(demoted).values(state="proposed", updated_ns=now))
            elif accepted_photos:  # a photo accepted twice in one batch: order matters, row by row
                ids = []
                for proposal, row in zip(proposals, rows, strict=True):
                    if proposal.state == "accepted":
                        self._demote_accepted(connection, proposal.photo_id)
                    ids.append(_new_id(connection.execute(sa.insert(schema.decisions).values(**row))))
                return ids
            inserted = connection.execute(
                sa.insert(schema.decisions).returning(schema.decisions.c.id, sort_by_parameter_order=True), rows)
            return [int(row[0]) for row in inserted]

    def _demote_accepted(self, connection: sa.Connection, photo_id: int) -> None:
        """Only one accepted decision per photo: a newly accepted one sends the old one back to proposed."""
        table = schema.decisions
        connection.execute(sa.update(table).where((table.c.photo_id == photo_id) & (table.c.state == "accepted"))
                           .values(state="proposed", updated_ns=time.time_ns()))

    def _set_state(self, decision_id: int, state: str) -> None:
        table = schema.decisions
        with self.database.write_lock, self.database.engine.begin() as connection:
            photo_id = connection.execute(sa.select(table.c.photo_id).where(table.c.id == decision_id)).scalar()
            if photo_id is None:
                raise KeyError(f"no decision {decision_id}")
            if state == "accepted":
                self._demote_accepted(connection, photo_id)
            connection.execute(sa.update(table).where(table.c.id == decision_id)
                               .values(state=state, updated_ns=time.time_ns()))

    def accept(self, decision_id: int) -> None:
        """Accept a decision (the photo's previously accepted one goes back to proposed)."""
        self._set_state(decision_id, "accepted")

    def reject(self, decision_id: int) -> None:
        """Reject a decision."""
        self._set_state(decision_id, "rejected")

    def reject_many(self, decision_ids: Sequence[int]) -> None:
        """Reject many decisions in one transaction (a sync replacing its earlier placements)."""
        table = schema.decisions
        with self.database.write_lock, self.database.engine.begin() as connection:
            for chunk in in_chunks(decision_ids):
                connection.execute(sa.update(table).where(table.c.id.in_(chunk))
                                   .values(state="rejected", updated_ns=time.time_ns()))

    def set_manual(self, photo_id: int, lat: float, lon: float, *, radius_km: float | None = None,
                   altitude_m: float | None = None, notes: str | None = None) -> int:
        """Place a photo by hand: an accepted 'manual' decision; returns its id."""
        return self.propose(photo_id, lat, lon, radius_km, "manual", altitude_m=altitude_m, notes=notes,
                            state="accepted")

    def set_review(self, decision_id: int, review: bool, notes: str | None = None) -> None:
        """Flag a decision for review (with optional notes)."""
        table = schema.decisions
        with self.database.write_lock, self.database.engine.begin() as connection:
            connection.execute(sa.update(table).where(table.c.id == decision_id)
                               .values(review=review, notes=notes, updated_ns=time.time_ns()))

    def set_reviews(self, changes: Sequence[tuple[int, bool]]) -> None:
        """Set the review flag of many decisions (the fusion rule ran again), notes left as they are."""
        if not changes:
            return
        table = schema.decisions
        with self.database.write_lock, self.database.engine.begin() as connection:
            for decision_id, review in changes:
                connection.execute(sa.update(table).where(table.c.id == decision_id)
                                   .values(review=review, updated_ns=time.time_ns()))

    def discard(self, decision_id: int) -> None:
        """Forget a decision that was never written (undo of a placement: as if it had not been made)."""
        table = schema.decisions
        with self.database.write_lock, self.database.engine.begin() as connection:
            connection.execute(sa.delete(table).where((table.c.id == decision_id) & (table.c.state != "written")))

    def restore_state(self, decision_id: int, state: str) -> None:
        """Put a decision back into a state it had (undo of a decision change; accepted demotes the others)."""
        if state not in DECISION_STATES:
            raise ValueError(f"unknown state {state!r}")
        self._set_state(decision_id, state)

    def decisions(self, photo_id: int | None = None, state: str | None = None,
                  source: str | None = None) -> list[DecisionRecord]:
        """Decisions, filtered by photo, state and/or source, oldest first."""
        table = schema.decisions
        query = sa.select(table).order_by(table.c.id)
        for column, value in ((table.c.photo_id, photo_id), (table.c.state, state), (table.c.source, source)):
            if value is not None:
                query = query.where(column == value)
        with self.database.engine.connect() as connection:
            return [from_row(DecisionRecord, row) for row in connection.execute(query)]

    def decisions_of_photos(self, photo_ids: Iterable[int]) -> list[DecisionRecord]:
        """Every decision of these photos, oldest first, in a few queries (batch work after a scan)."""
        table = schema.decisions
        found: list[DecisionRecord] = []
        with self.database.engine.connect() as connection:
            for chunk in in_chunks(photo_ids):
                query = sa.select(table).where(table.c.photo_id.in_(chunk))
                found.extend(from_row(DecisionRecord, row) for row in connection.execute(query))
        return sorted(found, key=lambda decision: decision.id)

    def fix_times(self, decision_ids: Iterable[int]) -> dict[int, float]:
        """decision id -> the instant (UTC seconds) of the track fix it holds, for those that hold one."""
        table, found = schema.decisions, {}
        with self.database.engine.connect() as connection:
            for chunk in in_chunks(list(decision_ids)):
                query = sa.select(table.c.id, table.c.fix_utc_s).where(table.c.id.in_(chunk),
                                                                       table.c.fix_utc_s.is_not(None))
                found.update({int(row[0]): float(row[1]) for row in connection.execute(query)})
        return found

    def decision(self, decision_id: int) -> DecisionRecord:
        """One decision; KeyError when unknown."""
        with self.database.engine.connect() as connection:
            row = connection.execute(sa.select(schema.decisions).where(schema.decisions.c.id == decision_id)).first()
        if row is None:
            raise KeyError(f"no decision {decision_id}")
        return from_row(DecisionRecord, row)

    def decisions_to_write(self, decision_ids: Sequence[int] | None, all_proposed: bool) -> list[DecisionRecord]:
        """Given ids, else every accepted decision, plus (all_proposed) the fusion rule's pick for other photos."""
        if decision_ids is not None:
            return [self.decision(i) for i in decision_ids]
        chosen = {d.photo_id: d for d in self.decisions(state="accepted")}
        if all_proposed:
            for decision in self.decisions(state="proposed"):
                best = chosen.get(decision.photo_id)
                if best is None or (best.state == "proposed" and _ranks_before(decision, best)):
                    chosen[decision.photo_id] = decision
        return sorted(chosen.values(), key=lambda d: d.id)

    def mark_written(self, decision_ids: Sequence[int], batch_id: str) -> None:
        """Decisions whose files were written in `batch_id`."""
        if not decision_ids:
            return
        table = schema.decisions
        with self.database.write_lock, self.database.engine.begin() as connection:
            connection.execute(sa.update(table).where(table.c.id.in_(list(decision_ids)))
                               .values(state="written", batch_id=batch_id, updated_ns=time.time_ns()))

    def store_places(self, pairs: Sequence[tuple[int, Place]]) -> None:
        """Remember place names found for decisions."""
        table = schema.decisions
        with self.database.write_lock, self.database.engine.begin() as connection:
            for decision_id, place in pairs:
                connection.execute(sa.update(table).where(table.c.id == decision_id).values(
                    place_city=place.city, place_state=place.state, place_country=place.country,
                    place_country_code=place.country_code))


def _ranks_before(candidate: DecisionRecord, incumbent: DecisionRecord) -> bool:
    """True when the fusion rule prefers `candidate` (more reliable source, then tighter radius)."""
    return priority_key(candidate.source, candidate.radius_km) < priority_key(incumbent.source, incumbent.radius_km)
