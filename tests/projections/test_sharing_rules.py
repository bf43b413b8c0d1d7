"""The rules by which runners divide leases, without a database (pure functions, one object)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from eventledger.errors import InvalidArgument
from eventledger.projections import MemoryTarget, SharePolicy, SQLiteTarget
from eventledger.projections.membership import Member, allowances, group_id, surplus
from eventledger.projections.worker.sharing import WorkSharing


def test_allowances_divide_the_units_evenly_the_first_owners_taking_the_rest() -> None:
    assert allowances(["c", "a", "b"], 4) == {"a": 2, "b": 1, "c": 1}
    assert allowances(["a", "b"], 4) == {"a": 2, "b": 2}
    assert allowances(["a", "b", "c", "d", "e"], 4) == {"a": 1, "b": 1, "c": 1, "d": 1, "e": 0}


def test_a_runner_over_its_share_gives_back_only_what_others_lack() -> None:
    members = [Member("a", 4), Member("b", 0)]
    assert surplus("a", ["k1", "k2", "k3", "k4"], members, 4) == ["k3", "k4"]
    # b still reports 1 lease of its 2: only one more goes.
    assert surplus("a", ["k1", "k2", "k3"], [Member("a", 3), Member("b", 1)], 4) == ["k3"]


def test_a_runner_gives_nothing_back_while_the_others_report_their_share() -> None:
    # c died holding its lease and its row has not expired: a and b took its lease as an orphan.
    members = [Member("a", 2), Member("b", 1), Member("c", 1)]
    assert surplus("b", ["k2", "k4"], members, 4) == []


def test_the_group_depends_on_the_set_of_units_only() -> None:
    assert group_id(["x:v1", "y:v1"]) == group_id(["y:v1", "x:v1", "x:v1"])
    assert group_id(["x:v1"]) != group_id(["x:v2"])


def test_a_share_policy_refuses_a_heartbeat_not_below_the_member_ttl() -> None:
    with pytest.raises(InvalidArgument, match="heartbeat"):
        SharePolicy(heartbeat=3.0, member_ttl=3.0)


def sharing(policy: SharePolicy, *, units: int = 4) -> WorkSharing:
    return WorkSharing(MemoryTarget(), "group", "a", units, policy, standby_poll=0.01)


def test_below_its_allowance_a_runner_may_take_a_free_lease_and_above_it_not() -> None:
    shared = sharing(SharePolicy())
    shared.members = [Member("a", 0), Member("b", 2)]
    assert shared.may_take("k1")
    shared.took("k1")
    shared.took("k2")
    assert not shared.may_take("k3")


def test_a_lease_is_an_orphan_only_once_it_has_been_free_for_orphan_after() -> None:
    shared = sharing(SharePolicy(orphan_after=0.05))
    assert not shared.orphaned("k1")
    time.sleep(0.06)
    assert shared.orphaned("k1")
    shared.seen_held("k1")
    assert not shared.orphaned("k1")


def test_a_runner_never_takes_back_as_an_orphan_a_lease_it_just_handed_over() -> None:
    shared = sharing(SharePolicy(orphan_after=0.01, member_ttl=60.0))
    shared.handing_over("k1")
    assert not shared.orphaned("k1")
    time.sleep(0.03)
    assert not shared.orphaned("k1")


async def test_a_runner_is_dead_once_its_row_expired_after_it_was_seen_live(tmp_path: Path) -> None:
    policy = SharePolicy(heartbeat=0.05, member_ttl=0.2)
    target = SQLiteTarget(tmp_path / "read.db")
    a = WorkSharing(target, "group", "a", 4, policy, standby_poll=0.01)
    b = WorkSharing(target, "group", "b", 4, policy, standby_poll=0.01)
    try:
        await a.beat()
        await b.beat()
        await a.beat()
        assert [m.owner for m in a.members or []] == ["a", "b"]
        assert not a.is_dead("b") and not a.is_dead("x")
        await asyncio.sleep(0.25)  # b stops beating, as a hung runner does
        await a.beat()
        assert a.is_dead("b")
        assert not a.is_dead("x")  # never seen in this group: not ours to judge
        await b.leave()
    finally:
        await a.leave()
        await target.close()
