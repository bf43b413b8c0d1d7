"""The unique-values example: a user name is held by one user, and the user bears exactly it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from examples.unique_values.directory import EditProfile, RegisterUser, RenameUser, UserDirectory
from examples.unique_values.domain import (
    InvalidUserName,
    UserAlreadyRegistered,
    UserNameTaken,
)
from examples.unique_values.events import UserNameClaimed, UserNameReleased, UserRegistered, UserRenamed
from unique_names import audit

import eventledger as el

ROOT = Path(__file__).resolve().parents[2]


async def events_of(store: el.EventStore, stream_id: str) -> list[el.Event]:
    return [recorded.event async for recorded in store.read_stream(stream_id)]


async def test_registering_claims_the_name_for_the_user_in_one_append(store: el.EventStore) -> None:
    appends: list[int] = []
    store.add_append_observer(lambda events, _seconds, _conflicted: appends.append(events))
    directory = UserDirectory(store)
    user = await directory.register(RegisterUser(user_id="member-1", user_name="Ada"))
    assert (user.id, user.user_name) == ("member-1", "Ada")
    assert appends == [2]
    assert await events_of(store, "member-1") == [UserRegistered(user_id="member-1", user_name="Ada")]
    assert await events_of(store, "user-name-ada") == [UserNameClaimed(user_name="Ada", user_id="member-1")]
    assert await directory.owner_of("ADA") == "member-1"


async def test_a_name_another_user_holds_in_any_case_is_refused_and_nothing_is_written(
    store: el.EventStore,
) -> None:
    directory = UserDirectory(store)
    await directory.register(RegisterUser(user_id="member-1", user_name="ada"))
    head = await store.head_position()
    with pytest.raises(UserNameTaken, match=r"^user name 'ADA' is taken \(by 'member-1'\)$") as raised:
        await directory.register(RegisterUser(user_id="member-2", user_name="ADA"))
    assert (raised.value.user_name, raised.value.owner) == ("ADA", "member-1")
    assert await store.head_position() == head


async def test_renaming_releases_the_old_name_and_claims_the_new_in_one_append(store: el.EventStore) -> None:
    directory = UserDirectory(store)
    await directory.register(RegisterUser(user_id="member-1", user_name="ada"))
    appends: list[int] = []
    store.add_append_observer(lambda events, _seconds, _conflicted: appends.append(events))
    user = await directory.rename(RenameUser(user_id="member-1", new_name="countess"))
    assert user.user_name == "countess"
    assert appends == [3]
    assert (await events_of(store, "member-1"))[-1] == UserRenamed(
        user_id="member-1", old_name="ada", new_name="countess"
    )
    assert (await events_of(store, "user-name-ada"))[-1] == UserNameReleased(
        user_name="ada", user_id="member-1"
    )
    assert (await directory.owner_of("ada"), await directory.owner_of("countess")) == (None, "member-1")


async def test_a_released_name_can_be_claimed_by_another_user(store: el.EventStore) -> None:
    directory = UserDirectory(store)
    await directory.register(RegisterUser(user_id="member-1", user_name="ada"))
    await directory.rename(RenameUser(user_id="member-1", new_name="countess"))
    await directory.register(RegisterUser(user_id="member-2", user_name="Ada"))
    assert await directory.owner_of("ada") == "member-2"
    assert [type(event) for event in await events_of(store, "user-name-ada")] == [
        UserNameClaimed,
        UserNameReleased,
        UserNameClaimed,
    ]
    assert await audit(store) == []


async def test_renaming_to_another_case_of_ones_own_name_keeps_the_claim(store: el.EventStore) -> None:
    directory = UserDirectory(store)
    await directory.register(RegisterUser(user_id="member-1", user_name="ada"))
    user = await directory.rename(RenameUser(user_id="member-1", new_name="Ada"))
    assert user.user_name == "Ada"
    assert len(await events_of(store, "user-name-ada")) == 1
    assert await audit(store) == []


async def test_renaming_to_a_name_another_user_holds_is_refused_and_nothing_is_written(
    store: el.EventStore,
) -> None:
    directory = UserDirectory(store)
    await directory.register(RegisterUser(user_id="member-1", user_name="ada"))
    await directory.register(RegisterUser(user_id="member-2", user_name="grace"))
    head = await store.head_position()
    with pytest.raises(UserNameTaken, match="'grace' is taken"):
        await directory.rename(RenameUser(user_id="member-1", new_name="grace"))
    assert await store.head_position() == head


async def test_a_malformed_name_is_refused(store: el.EventStore) -> None:
    with pytest.raises(InvalidUserName, match=r"^user name 'a b' is not 3 to 32 letters"):
        await UserDirectory(store).register(RegisterUser(user_id="member-1", user_name="a b"))


async def test_registering_a_user_id_twice_is_refused(store: el.EventStore) -> None:
    directory = UserDirectory(store)
    await directory.register(RegisterUser(user_id="member-1", user_name="ada"))
    with pytest.raises(UserAlreadyRegistered, match="'member-1' is already registered"):
        await directory.register(RegisterUser(user_id="member-1", user_name="grace"))
    assert await directory.owner_of("grace") is None


async def test_editing_a_profile_leaves_the_name_alone(store: el.EventStore) -> None:
    directory = UserDirectory(store)
    await directory.register(RegisterUser(user_id="member-1", user_name="ada"))
    user = await directory.edit_profile(EditProfile(user_id="member-1", bio="analyst"))
    assert (user.user_name, user.bio) == ("ada", "analyst")


async def test_the_commands_ids_are_in_every_event_they_wrote(store: el.EventStore) -> None:
    command = RenameUser(user_id="member-1", new_name="countess", correlation_id="session-9")
    directory = UserDirectory(store)
    await directory.register(RegisterUser(user_id="member-1", user_name="ada"))
    await directory.rename(command)
    written = [recorded async for recorded in store.read_all() if recorded.metadata.get("command_id")]
    renamed = [recorded for recorded in written if recorded.metadata["command_id"] == command.command_id]
    assert sorted(recorded.stream_id for recorded in renamed) == [
        "member-1",
        "user-name-ada",
        "user-name-countess",
    ]
    assert {recorded.correlation_id for recorded in renamed} == {"session-9"}


def test_the_demo_runs_and_shows_one_winner_of_the_race() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "examples.unique_values"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[1] == "refused user-2: user name 'ADA' is taken (by 'user-1')"
    assert lines[4].startswith("8 users raced for 'grace': racer-")
    assert ", 7 were refused" in lines[4]
    assert lines[5:7] == ["  'ada' is held by user-2", "  'countess' is held by user-1"]
