"""Where checkpoints live: a table in the read model's own database, written in the batch's transaction.

``{prefix}projections`` has one row per build of each projection: its schema version, its
state (building, active, retired), its declared tables and its checkpoint, the position of the
last event whose effects are in the build's tables. A batch moves the checkpoint with a
compare-and-set in the same transaction as the handlers' writes::

    UPDATE projections SET position = <last of batch>
     WHERE projection = ? AND build = ? AND position = <checkpoint the batch started from>
       AND state <> 'retired'

Zero rows changed means another runner got there first (or the build was retired): the
transaction rolls back and nothing is applied twice. Because the update comes first, it also
takes the row lock, so a competing runner waits for it instead of doing the work in vain.

``{prefix}dead_letters`` records each event an operator chose to skip: its
:class:`~eventledger.projections.failures.EventFailure` (position, stream, type, id, error,
attempts, when it failed) and when it was skipped. ``attempts`` and ``failed_at`` were added
later; :meth:`CheckpointTables.create` adds them to an older table (rows from before read
attempts 0 and the skip time).

``{prefix}projection_reports`` keeps, per projection version, what the runner applying it last
reported (state, failure, stall, rate; :class:`ProjectionReport`). It is outside the batches:
a report is its own short transaction, written on state changes and every few seconds, so a
process that only reads (``eventledger projections``) sees what the runner sees.

``{prefix}projection_requests`` holds what operators asked of a projection's runner from other
processes (retry, skip, rebuild; :mod:`eventledger.projections.requests`) and the runner's answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventledger.errors import CheckpointConflict, ProjectionRetired
from eventledger.projections.builds import Build, BuildState
from eventledger.projections.failures import DeadLetter, EventFailure
from eventledger.projections.membership import MemberRows
from eventledger.projections.reports import ProjectionReport, decode_report, encode_report, moment
from eventledger.projections.requests import (
    REQUEST_COLUMNS,
    OperatorRequest,
    RequestState,
    decode_request,
    encode_request,
)
from eventledger.projections.sql import Dialect, Row, SQLTransaction, quote_identifier

_LATER_DEAD_LETTER_COLUMNS = (("attempts", "INTEGER"), ("failed_at", "{timestamp}"))
"""Columns of ``{prefix}dead_letters`` added after its first release (name, type)."""


@dataclass(frozen=True, slots=True)
class CheckpointTables:
    """The bookkeeping tables' SQL for one target (dialect and qualified table names)."""

    dialect: Dialect
    projections: str
    dead_letters: str

    @property
    def reports(self) -> str:
        """The qualified name of ``{prefix}projection_reports``, beside ``{prefix}projections``."""
        schema, dot, name = self.projections.rpartition(".")
        table = name.strip('"').removesuffix("projections") + "projection_reports"
        return f"{schema}{dot}{quote_identifier(table)}"

    @property
    def requests(self) -> str:
        """The qualified name of ``{prefix}projection_requests``, beside ``{prefix}projections``."""
        schema, dot, name = self.projections.rpartition(".")
        table = name.strip('"').removesuffix("projections") + "projection_requests"
        return f"{schema}{dot}{quote_identifier(table)}"

    @property
    def members(self) -> MemberRows:
        """``{prefix}workers``: the runners sharing work (see :mod:`.membership`)."""
        schema, dot, name = self.projections.rpartition(".")
        table = name.strip('"').removesuffix("projections") + "workers"
        return MemberRows(self.dialect, f"{schema}{dot}{quote_identifier(table)}")

    @property
    def segments(self) -> str:
        """The qualified name of ``{prefix}segments``: one checkpoint per segment of a build."""
        schema, dot, name = self.projections.rpartition(".")
        table = name.strip('"').removesuffix("projections") + "segments"
        return f"{schema}{dot}{quote_identifier(table)}"

    def create_statements(self) -> list[str]:
        """Idempotent DDL for the bookkeeping tables."""
        timestamp = "timestamptz" if self.dialect == "postgresql" else "TEXT"
        real = "DOUBLE PRECISION" if self.dialect == "postgresql" else "REAL"
        index = self.projections.rsplit(".", 1)[-1].strip('"') + "_one_active"
        return [
            f"""CREATE TABLE IF NOT EXISTS {self.projections} (
                projection TEXT NOT NULL,
                build INTEGER NOT NULL,
                version INTEGER NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('building', 'active', 'retired')),
                position BIGINT NOT NULL DEFAULT 0,
                tables TEXT NOT NULL,
                created_at {timestamp} NOT NULL DEFAULT CURRENT_TIMESTAMP,
                updated_at {timestamp} NOT NULL DEFAULT CURRENT_TIMESTAMP,
                PRIMARY KEY (projection, build)
            )""",
            # At most one build per projection is what readers see.
            f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {self.projections} (projection) "
            "WHERE state = 'active'",
            f"""CREATE TABLE IF NOT EXISTS {self.dead_letters} (
                projection TEXT NOT NULL,
                build INTEGER NOT NULL,
                position BIGINT NOT NULL,
                event_id TEXT,
                stream_id TEXT NOT NULL,
                event_type TEXT NOT NULL,
                error TEXT NOT NULL,
                skipped_at {timestamp} NOT NULL DEFAULT CURRENT_TIMESTAMP,
                attempts INTEGER,
                failed_at {timestamp},
                PRIMARY KEY (projection, build, position)
            )""",
            f"""CREATE TABLE IF NOT EXISTS {self.reports} (
                projection TEXT NOT NULL,
                version INTEGER NOT NULL,
                owner TEXT NOT NULL,
                state TEXT NOT NULL,
                build INTEGER,
                events_per_second {real} NOT NULL,
                last_error TEXT,
                failure TEXT,
                stalled TEXT,
                reported_at {timestamp} NOT NULL,
                report_interval {real} NOT NULL,
                PRIMARY KEY (projection, version)
            )""",
            f"""CREATE TABLE IF NOT EXISTS {self.requests} (
                id TEXT PRIMARY KEY,
                projection TEXT NOT NULL,
                action TEXT NOT NULL,
                position BIGINT,
                requested_by TEXT NOT NULL,
                requested_at {timestamp} NOT NULL,
                state TEXT NOT NULL,
                outcome TEXT,
                answered_by TEXT,
                answered_at {timestamp}
            )""",
            self.members.create_statement(),
            f"""CREATE TABLE IF NOT EXISTS {self.segments} (
                projection TEXT NOT NULL,
                build INTEGER NOT NULL,
                segment INTEGER NOT NULL,
                position BIGINT NOT NULL,
                PRIMARY KEY (projection, build, segment)
            )""",
        ]

    async def create(self, sql: SQLTransaction) -> None:
        """Create the bookkeeping tables, or bring older ones up to date (idempotent).

        Run it where concurrent setups take turns (the targets' bookkeeping transaction), so two
        runners never add the same column at once.
        """
        for statement in self.create_statements():
            await sql.execute(statement)
        present = await self._columns(sql, self.dead_letters)
        timestamp = "timestamptz" if self.dialect == "postgresql" else "TEXT"
        for column, kind in _LATER_DEAD_LETTER_COLUMNS:
            if column not in present:
                await sql.execute(
                    f"ALTER TABLE {self.dead_letters} ADD COLUMN {column} {kind.format(timestamp=timestamp)}"
                )

    async def _columns(self, sql: SQLTransaction, table: str) -> set[str]:
        schema, _, name = table.rpartition(".")
        if self.dialect == "sqlite":
            rows = await sql.fetch_all("SELECT name FROM pragma_table_info(%s)", (name.strip('"'),))
        else:
            rows = await sql.fetch_all(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                (schema.strip('"'), name.strip('"')),
            )
        return {str(row[0]) for row in rows}

    async def save_report(self, sql: SQLTransaction, report: ProjectionReport) -> None:
        """Replace the report of the report's projection version."""
        await sql.execute(
            f"INSERT INTO {self.reports} (projection, version, owner, state, build, events_per_second, "
            "last_error, failure, stalled, reported_at, report_interval) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (projection, version) DO UPDATE SET owner = excluded.owner, "
            "state = excluded.state, build = excluded.build, "
            "events_per_second = excluded.events_per_second, last_error = excluded.last_error, "
            "failure = excluded.failure, stalled = excluded.stalled, "
            "reported_at = excluded.reported_at, report_interval = excluded.report_interval",
            encode_report(report),
        )

    async def read_reports(self, sql: SQLTransaction, projection: str) -> list[ProjectionReport]:
        """The latest report of each version of ``projection``, oldest version first."""
        rows = await sql.fetch_all(
            "SELECT projection, version, owner, state, build, events_per_second, last_error, failure, "
            f"stalled, reported_at, report_interval FROM {self.reports} WHERE projection = %s "
            "ORDER BY version",
            (projection,),
        )
        return [decode_report(row) for row in rows]

    async def save_request(self, sql: SQLTransaction, request: OperatorRequest) -> None:
        """Record a new request, or its answer (by its id)."""
        await sql.execute(
            f"INSERT INTO {self.requests} ({REQUEST_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET state = excluded.state, outcome = excluded.outcome, "
            "answered_by = excluded.answered_by, answered_at = excluded.answered_at",
            encode_request(request),
        )

    async def read_requests(
        self, sql: SQLTransaction, projection: str, *, pending_only: bool = False
    ) -> list[OperatorRequest]:
        """``projection``'s requests (only the pending ones, if asked), oldest first."""
        where = " AND state = %s" if pending_only else ""
        parameters: tuple[str, ...] = (projection,)
        if pending_only:
            parameters = (projection, RequestState.PENDING.value)
        rows = await sql.fetch_all(
            f"SELECT {REQUEST_COLUMNS} FROM {self.requests} WHERE projection = %s{where} "
            "ORDER BY requested_at, id",
            parameters,
        )
        return [decode_request(row) for row in rows]

    async def read_request(self, sql: SQLTransaction, ident: str) -> OperatorRequest | None:
        """One request by id, or None."""
        row = await sql.fetch_one(f"SELECT {REQUEST_COLUMNS} FROM {self.requests} WHERE id = %s", (ident,))
        return None if row is None else decode_request(row)

    async def builds(self, sql: SQLTransaction, projection: str) -> list[Build]:
        """Every recorded build of ``projection``, oldest first."""
        rows = await sql.fetch_all(
            f"SELECT build, version, state, position, tables FROM {self.projections} "
            "WHERE projection = %s ORDER BY build",
            (projection,),
        )
        return [_build(projection, row) for row in rows]

    async def build(self, sql: SQLTransaction, projection: str, number: int) -> Build | None:
        """One build, or None."""
        row = await sql.fetch_one(
            f"SELECT build, version, state, position, tables FROM {self.projections} "
            "WHERE projection = %s AND build = %s",
            (projection, number),
        )
        return None if row is None else _build(projection, row)

    async def insert(self, sql: SQLTransaction, build: Build) -> None:
        """Record a new build."""
        await sql.execute(
            f"INSERT INTO {self.projections} (projection, build, version, state, position, tables) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (
                build.projection,
                build.number,
                build.version,
                build.state.value,
                build.position,
                json.dumps(list(build.tables)),
            ),
        )

    async def set_state(self, sql: SQLTransaction, build: Build, state: BuildState) -> None:
        """Move a build to ``state``."""
        await sql.execute(
            f"UPDATE {self.projections} SET state = %s, updated_at = CURRENT_TIMESTAMP "
            "WHERE projection = %s AND build = %s",
            (state.value, build.projection, build.number),
        )

    async def delete(self, sql: SQLTransaction, build: Build) -> None:
        """Forget a build (after its tables were dropped), its segments' checkpoints too."""
        for table in (self.projections, self.segments):
            await sql.execute(
                f"DELETE FROM {table} WHERE projection = %s AND build = %s", (build.projection, build.number)
            )

    async def segment_position(self, sql: SQLTransaction, build: Build, segment: int) -> int:
        """Segment ``segment``'s checkpoint in ``build``; a new segment starts where the build started."""
        await sql.execute(
            f"INSERT INTO {self.segments} (projection, build, segment, position) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (projection, build, segment) DO NOTHING",
            (build.projection, build.number, segment, build.position),
        )
        row = await sql.fetch_one(
            f"SELECT position FROM {self.segments} WHERE projection = %s AND build = %s AND segment = %s",
            (build.projection, build.number, segment),
        )
        assert row is not None  # inserted just above, in this transaction
        return int(row[0])

    async def segment_positions(self, sql: SQLTransaction, projection: str, number: int) -> dict[int, int]:
        """The checkpoint of every segment of build ``number`` that has started."""
        rows = await sql.fetch_all(
            f"SELECT segment, position FROM {self.segments} WHERE projection = %s AND build = %s",
            (projection, number),
        )
        return {int(row[0]): int(row[1]) for row in rows}

    async def compare_and_set(self, sql: SQLTransaction, build: Build, expected: int, position: int) -> None:
        """Move the checkpoint from ``expected`` to ``position`` or raise; see the module docstring.

        For a segment's view of a build the segment's checkpoint moves, and the build must still
        be there and not retired.
        """
        if build.segment is not None:
            await self._segment_compare_and_set(sql, build, build.segment, expected, position)
            return
        changed = await sql.execute(
            f"UPDATE {self.projections} SET position = %s, updated_at = CURRENT_TIMESTAMP "
            "WHERE projection = %s AND build = %s AND position = %s AND state <> 'retired'",
            (position, build.projection, build.number, expected),
        )
        if changed == 1:
            return
        current = await self.build(sql, build.projection, build.number)
        if current is None:
            raise ProjectionRetired(build.projection, build.number, "its build was dropped")
        if current.state is BuildState.RETIRED:
            raise ProjectionRetired(build.projection, build.number, "a newer build replaced it")
        raise CheckpointConflict(build.projection, build.number, expected, current.position)

    async def _segment_compare_and_set(
        self, sql: SQLTransaction, build: Build, segment: int, expected: int, position: int
    ) -> None:
        changed = await sql.execute(
            f"UPDATE {self.segments} SET position = %s "
            "WHERE projection = %s AND build = %s AND segment = %s AND position = %s",
            (position, build.projection, build.number, segment, expected),
        )
        current = await self.build(sql, build.projection, build.number)
        if current is None:
            raise ProjectionRetired(build.projection, build.number, "its build was dropped")
        if current.state is BuildState.RETIRED:
            raise ProjectionRetired(build.projection, build.number, "a newer build replaced it")
        if changed != 1:
            positions = await self.segment_positions(sql, build.projection, build.number)
            raise CheckpointConflict(build.projection, build.number, expected, positions.get(segment))

    async def record_dead_letter(self, sql: SQLTransaction, build: Build, failed: EventFailure) -> None:
        """Record a skipped event with its failure."""
        await sql.execute(
            f"INSERT INTO {self.dead_letters} "
            "(projection, build, position, event_id, stream_id, event_type, error, attempts, failed_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                build.projection,
                build.number,
                failed.position,
                None if failed.event_id is None else str(failed.event_id),
                failed.stream_id,
                failed.event_type,
                failed.error,
                failed.attempts,
                failed.at,
            ),
        )

    async def read_dead_letters(self, sql: SQLTransaction, projection: str) -> list[DeadLetter]:
        """Skipped events of ``projection``, in the order they were skipped."""
        rows = await sql.fetch_all(
            "SELECT build, position, stream_id, event_type, error, event_id, skipped_at, attempts, failed_at "
            f"FROM {self.dead_letters} WHERE projection = %s ORDER BY skipped_at, build, position",
            (projection,),
        )
        return [_dead_letter(projection, row) for row in rows]


def _dead_letter(projection: str, row: Row) -> DeadLetter:
    build, position, stream_id, event_type, error, event_id, skipped_at, attempts, failed_at = row
    failure = EventFailure(
        position=int(position),
        event_type=str(event_type),
        stream_id=str(stream_id),
        error=str(error),
        attempts=0 if attempts is None else int(attempts),
        at=moment(skipped_at if failed_at is None else failed_at),
        event_id=None if event_id is None else UUID(str(event_id)),
    )
    skipped = skipped_at if isinstance(skipped_at, datetime | str) else str(skipped_at)
    return DeadLetter(projection, int(build), failure, skipped)


def _build(projection: str, row: Row) -> Build:
    number, version, state, position, tables = row
    return Build(
        projection=projection,
        number=int(number),
        version=int(version),
        state=BuildState(state),
        position=int(position),
        tables=tuple(json.loads(tables)),
    )
