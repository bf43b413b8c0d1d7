"""How long a caught-up subscriber sleeps before it reads the global log again."""

from __future__ import annotations

import pytest

from eventledger.store.following import Pause


def test_a_caught_up_subscriber_sleeps_for_the_poll_interval() -> None:
    pause = Pause(0.05)

    pause.after_read(found_events=False)

    assert pause.seconds == 0.05


def test_after_a_wake_up_that_found_nothing_it_reads_again_soon_backing_off_to_the_interval() -> None:
    pause = Pause(0.05)
    pause.after_wait(woken=True)
    slept = []
    for _ in range(5):
        pause.after_read(found_events=False)
        slept.append(pause.seconds)
        pause.after_wait(woken=False)

    assert slept == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.05])


def test_finding_events_ends_the_quick_reads() -> None:
    pause = Pause(0.05)
    pause.after_wait(woken=True)
    pause.after_read(found_events=False)

    pause.after_read(found_events=True)

    assert pause.seconds == 0.05


def test_an_interval_shorter_than_the_quick_pause_is_kept() -> None:
    pause = Pause(0.004)
    pause.after_wait(woken=True)

    pause.after_read(found_events=False)

    assert pause.seconds == 0.004


def test_a_follower_reads_again_soon_after_a_read_that_found_events() -> None:
    pause = Pause(0.05, follow=True)

    pause.after_read(found_events=True)

    assert pause.seconds == pytest.approx(0.005)


def test_a_follower_backs_off_to_the_interval_while_reads_find_nothing() -> None:
    pause = Pause(0.05, follow=True)
    pause.after_read(found_events=True)
    slept = []
    for _ in range(4):
        pause.after_wait(woken=False)
        pause.after_read(found_events=False)
        slept.append(pause.seconds)

    assert slept == pytest.approx([0.01, 0.02, 0.04, 0.05])


def test_a_follower_keeps_reading_quickly_while_events_keep_coming() -> None:
    pause = Pause(0.05, follow=True)
    slept = []
    for _ in range(3):
        pause.after_read(found_events=True)
        slept.append(pause.seconds)
        pause.after_wait(woken=False)

    assert slept == pytest.approx([0.005, 0.005, 0.005])
