"""RetryPolicy: bounded attempts, jittered exponential back-off, only for concurrency conflicts."""

from __future__ import annotations

import pytest

import eventledger as el
from eventledger.domain import NO_RETRY


def test_each_retry_waits_between_half_and_all_of_an_exponentially_growing_ceiling() -> None:
    policy = el.RetryPolicy(attempts=6, first_delay=0.01, max_delay=1.0)
    for retry, ceiling in [(1, 0.01), (2, 0.02), (3, 0.04), (4, 0.08)]:
        delays = [policy.delay_before_retry(retry) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 100  # jittered, so colliding handlers drift apart


def test_the_back_off_never_exceeds_max_delay() -> None:
    policy = el.RetryPolicy(attempts=30, first_delay=0.01, max_delay=0.05)
    assert max(policy.delay_before_retry(retry) for retry in range(1, 30)) <= 0.05


async def test_an_operation_that_succeeds_runs_once() -> None:
    calls = 0

    async def operation() -> str:
        nonlocal calls
        calls += 1
        return "done"

    assert await el.RetryPolicy().run(operation) == "done"
    assert calls == 1


async def test_conflicts_are_retried_until_the_operation_succeeds() -> None:
    conflicts: list[el.ConcurrencyError] = []

    async def operation() -> int:
        if len(conflicts) < 2:
            raise el.ConcurrencyError("s", len(conflicts), len(conflicts) + 1)
        return len(conflicts)

    policy = el.RetryPolicy(attempts=3, first_delay=0.0)
    assert await policy.run(operation, on_conflict=conflicts.append) == 2


async def test_other_errors_are_not_retried() -> None:
    calls = 0

    async def operation() -> None:
        nonlocal calls
        calls += 1
        raise el.DomainError("Cannot confirm")

    with pytest.raises(el.DomainError):
        await el.RetryPolicy(attempts=5, first_delay=0.0).run(operation)
    assert calls == 1


async def test_no_retry_lets_the_first_conflict_through() -> None:
    async def operation() -> None:
        raise el.ConcurrencyError("order-1", 1, 2)

    with pytest.raises(el.ConcurrencyError) as raised:
        await NO_RETRY.run(operation)
    assert raised.value.__notes__ == ["gave up after 1 attempt(s) on stream 'order-1'"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"attempts": 0}, "attempts must be an int >= 1, not 0"),
        ({"attempts": True}, "attempts must be an int >= 1, not True"),
        ({"first_delay": -1.0}, "delays must be >= 0"),
        ({"max_delay": -0.1}, "delays must be >= 0"),
    ],
)
def test_a_policy_refuses_nonsense_settings(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        el.RetryPolicy(**arguments)  # type: ignore[arg-type]
