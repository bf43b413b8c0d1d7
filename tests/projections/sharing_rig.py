"""Runner processes that share projections, followed through what they print.

:class:`SharingProcess` starts ``sharing_process.py`` and reads its ``state NAME STATE TIME``
lines as they come, so a test knows at any moment which process applies which projection and
when it took it over. :class:`Fleet` is a set of them with bounded waits on their shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from projection_rig import Rig
from shared_ledgers import LEDGERS, SegmentedLedger, numbered_view
from waits import WAIT, why_not

from eventledger.projections import stored_status
from eventledger.projections.segments import segments_of

APPLYING = frozenset({"catching_up", "live", "stalled", "rebuilding", "failed"})
"""States in which a runner holds a projection's lease and applies it."""


@dataclass
class SharingProcess:
    """One ``sharing_process.py``; :attr:`states` holds each projection's last state and its time."""

    rig: Rig
    owner: str
    options: dict[str, Any]
    changed: asyncio.Event
    states: dict[str, tuple[str, float]] = field(default_factory=dict)
    taken: list[tuple[str, float]] = field(default_factory=list)
    """Every (projection, unix time) at which this process began to apply a projection."""
    process: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None

    SCRIPT = Path(__file__).with_name("sharing_process.py")

    async def start(self) -> SharingProcess:
        options = [item for key, value in self.options.items() for item in (f"--{key}", str(value))]
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(self.SCRIPT),
            self.rig.kind,
            self.rig.store_url,
            self.rig.target_url,
            self.owner,
            *options,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            parts = line.decode().split()
            if len(parts) == 4 and parts[0] == "state":
                _, name, state, moment = parts
                previous = self.states.get(name, ("", 0.0))[0]
                self.states[name] = (state, float(moment))
                if state in APPLYING and previous not in APPLYING:
                    self.taken.append((name, float(moment)))
                self.changed.set()
        self.states.clear()  # the process is gone, and with it everything it held
        self.changed.set()

    @property
    def applying(self) -> set[str]:
        """The projections this process applies now (as far as it has said)."""
        return {name for name, (state, _) in self.states.items() if state in APPLYING}

    def signal(self, signum: signal.Signals) -> None:
        """Send ``signum`` (SIGSTOP, SIGCONT) to the process."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signum)

    def kill(self) -> float:
        """SIGKILL, no clean-up in the child; the unix time it was sent."""
        assert self.process is not None
        killed_at = time.time()
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        return killed_at

    async def end(self) -> None:
        """Kill the process and stop reading it."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)


class Fleet:
    """Sharing processes over one rig, running the first ``projections`` numbered ledgers."""

    def __init__(self, rig: Rig, projections: int, **options: Any) -> None:
        """``projections``: how many numbered ledgers; 0 for the four-segment ledger."""
        self.rig = rig
        self.projections = projections
        self.ledgers = LEDGERS[:projections] if projections else (SegmentedLedger,)
        self.options = {"projections": projections, **options}
        self.processes: list[SharingProcess] = []
        self.changed = asyncio.Event()
        self._started = 0

    @property
    def names(self) -> set[str]:
        """The units the processes divide: projections, or the segments of the segmented one."""
        return {
            ledger.name if segment is None else segment.unit(ledger.name)
            for ledger in self.ledgers
            for segment in segments_of(ledger.segments)
        }

    async def start(self, count: int = 1) -> list[SharingProcess]:
        started = []
        for _ in range(count):
            self._started += 1
            process = SharingProcess(self.rig, f"worker-{self._started}", self.options, self.changed)
            self.processes.append(await process.start())
            started.append(process)
        return started

    def live(self) -> list[SharingProcess]:
        return [p for p in self.processes if p.process is not None and p.process.returncode is None]

    def shares(self) -> dict[str, set[str]]:
        """Owner -> the projections it applies, for every live process."""
        return {p.owner: p.applying for p in self.live()}

    async def wait_until(self, condition: Callable[[], bool], what: str, within: float = WAIT) -> None:
        """Wait until ``condition()`` holds, re-checking on every printed state change."""
        deadline = time.monotonic() + within
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{what}: not within {within:g} s; shares {self.shares()}{await why_not(self.rig.store)}"
                )
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))

    def fair(self) -> bool:
        """Every projection applied by exactly one live process, each holding its fair share."""
        shares = self.shares()
        held = [name for names in shares.values() for name in names]
        if sorted(held) != sorted(self.names) or not shares:
            return False
        base = len(self.names) // len(shares)
        return all(base <= len(names) <= base + 1 for names in shares.values())

    async def wait_for_fair_shares(self, within: float = WAIT) -> None:
        await self.wait_until(self.fair, "every projection applied once, in fair shares", within)

    async def wait_until_caught_up(self, within: float = WAIT) -> None:
        """Wait until every projection's stored checkpoint reaches the head of the log."""
        target = self.rig.reader
        deadline = time.monotonic() + within
        while True:
            head = await self.rig.store.head_position()
            behind = {}
            for ledger in self.ledgers:
                for segment in segments_of(ledger.segments):
                    status = await stored_status(self.rig.store, ledger(target), segment=segment)
                    if status.checkpoint is None or status.checkpoint < head:
                        behind[status.name] = status.checkpoint
            if not behind:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"projections behind head {head} after {within:g} s: {behind}; shares {self.shares()}"
                )
            await asyncio.sleep(0.1)

    async def views(self) -> dict[int, Any]:
        return {ledger.number: await numbered_view(self.rig.reader, ledger.number) for ledger in self.ledgers}

    async def end(self) -> None:
        for process in self.processes:
            await process.end()
