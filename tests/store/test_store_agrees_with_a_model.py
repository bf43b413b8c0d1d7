"""Property: random sequences of appends and reads agree with a simple list-based model."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventledger as el
from events import noted

STREAMS = ["a", "b", "c"]
FORMS = ["current", "stale", "ahead", "no_stream", "any", "stream_exists"]


@dataclass(frozen=True)
class Append:
    stream: str
    form: str
    count: int


@dataclass(frozen=True)
class ReadStream:
    stream: str
    from_version: int | None
    limit: int | None
    backwards: bool


@dataclass(frozen=True)
class ReadAll:
    after_index: int
    limit: int | None


operations = st.lists(
    st.one_of(
        st.builds(Append, st.sampled_from(STREAMS), st.sampled_from(FORMS), st.integers(0, 4)),
        st.builds(
            ReadStream,
            st.sampled_from(STREAMS),
            st.none() | st.integers(0, 12),
            st.none() | st.integers(0, 5),
            st.booleans(),
        ),
        st.builds(ReadAll, st.integers(0, 30), st.none() | st.integers(0, 7)),
    ),
    max_size=25,
)


class Model:
    """What a correct store does, in a few lines."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int, str]] = []  # (stream, version, note) in global order

    def version(self, stream: str) -> int:
        return sum(1 for s, _, _ in self.log if s == stream)

    def expected_for(self, form: str, stream: str) -> el.ExpectedVersion:
        current = self.version(stream)
        return {
            "current": current,
            "stale": max(current - 1, 0) if current else 1,
            "ahead": current + 2,
            "no_stream": el.NO_STREAM,
            "any": el.ANY,
            "stream_exists": el.STREAM_EXISTS,
        }[form]

    def accepts(self, expected: el.ExpectedVersion, stream: str) -> bool:
        current = self.version(stream)
        if expected is el.ANY:
            return True
        if expected is el.STREAM_EXISTS:
            return current > 0
        return expected == current

    def stream(self, op: ReadStream) -> list[tuple[int, str]]:
        rows = [(v, n) for s, v, n in self.log if s == op.stream]
        if op.backwards:
            rows = rows[::-1]
            if op.from_version is not None:
                rows = [r for r in rows if r[0] <= op.from_version]
        elif op.from_version is not None:
            rows = [r for r in rows if r[0] >= op.from_version]
        return rows if op.limit is None else rows[: op.limit]


async def run(store: el.EventStore, ops: list[object]) -> None:
    model = Model()
    positions: list[int] = []
    for number, op in enumerate(ops):
        if isinstance(op, Append):
            expected = model.expected_for(op.form, op.stream)
            notes = [f"{number}-{i}" for i in range(op.count)]
            if model.accepts(expected, op.stream):
                result = await store.append(op.stream, [noted(n) for n in notes], expected_version=expected)
                start = model.version(op.stream)
                model.log.extend((op.stream, start + i + 1, n) for i, n in enumerate(notes))
                positions.extend(result.positions)
                assert result.version == model.version(op.stream)
            else:
                with pytest.raises(el.ConcurrencyError) as caught:
                    await store.append(op.stream, [noted(n) for n in notes], expected_version=expected)
                assert caught.value.actual == model.version(op.stream)
        elif isinstance(op, ReadStream):
            got = [
                (r.version, r.event.note)  # type: ignore[attr-defined]
                async for r in store.read_stream(
                    op.stream, from_version=op.from_version, limit=op.limit, backwards=op.backwards
                )
            ]
            assert got == model.stream(op)
        elif isinstance(op, ReadAll):
            index = min(op.after_index, len(positions))
            after = positions[index - 1] if index else 0
            got = [
                (r.stream_id, r.version, r.event.note)
                async for r in store.read_all(after=after, limit=op.limit)
            ]  # type: ignore[attr-defined]
            expected_rows = model.log[index:]
            assert got == (expected_rows if op.limit is None else expected_rows[: op.limit])
    assert [(r.stream_id, r.version, r.event.note) async for r in store.read_all()] == model.log  # type: ignore[attr-defined]
    assert await store.head_position() == (positions[-1] if positions else 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_memory_store_agrees_with_the_model(ops: list[object]) -> None:
    async def scenario() -> None:
        async with el.open_store("memory://") as store:
            store.page_size = 3
            await run(store, ops)

    asyncio.run(scenario())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_sqlite_store_agrees_with_the_model(ops: list[object]) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as directory:
            async with el.open_store(f"sqlite:///{Path(directory) / 'model.db'}") as store:
                store.page_size = 3
                await run(store, ops)

    asyncio.run(scenario())
