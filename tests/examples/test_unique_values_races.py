"""The unique-values example under real races: each writer on its own store (its own connection
on SQLite and PostgreSQL), on every backend. No name is ever held twice, and names and users
never disagree, whoever wins."""

from __future__ import annotations

import asyncio
import random

from examples.unique_values.directory import EditProfile, RegisterUser, RenameUser, UserDirectory
from examples.unique_values.domain import UserNameTaken
from examples.unique_values.events import ProfileEdited, UserNameClaimed, UserNameReleased
from unique_names import audit, decided_then, within

import eventledger as el
from backends import Backend

RACERS = 8
RETRY = el.RetryPolicy(attempts=50, first_delay=0.001, max_delay=0.02)


async def directories(backend: Backend, count: int) -> list[UserDirectory]:
    """``count`` directories, each on a store of its own over the backend's database."""
    return [UserDirectory(await backend.open(), retry=RETRY) for _ in range(count)]


async def let_others_run() -> None:
    """Give every other writer a turn, on every backend (the memory store never waits itself)."""
    await asyncio.sleep(0)


async def types_in(store: el.EventStore, stream_id: str) -> list[type[el.Event]]:
    return [type(recorded.event) async for recorded in store.read_stream(stream_id)]


async def test_of_eight_users_deciding_on_one_free_name_at_once_exactly_one_gets_it(
    backend: Backend, store: el.EventStore
) -> None:
    """Every racer decides while the name is free; only then does any commit. One commit wins;
    each other racer's commit conflicts, its retry sees the claim, and it is refused."""
    racers = await directories(backend, RACERS)
    all_decided = asyncio.Barrier(RACERS)
    outcomes = await within(
        60,
        "8 racing registrations",
        asyncio.gather(
            *(
                decided_then(
                    directory,
                    directory.decide_register,
                    RegisterUser(user_id=f"member-{number}", user_name="grace"),
                    all_decided.wait,
                )
                for number, directory in enumerate(racers)
            ),
            return_exceptions=True,
        ),
    )
    winners = [outcome.id for outcome in outcomes if isinstance(outcome, el.Aggregate)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, UserNameTaken)]
    assert len(winners) == 1, outcomes
    assert len(refused) == RACERS - 1, outcomes
    assert {(error.user_name, error.owner) for error in refused} == {("grace", winners[0])}
    conflicts = [directory.claims.statistics.conflicts for directory in racers]
    assert sorted(conflicts) == [0] + [1] * (RACERS - 1)
    assert await types_in(store, "user-name-grace") == [UserNameClaimed]
    assert [info.stream_id for info in await store.list_streams()] == [winners[0], "user-name-grace"]


async def test_eight_users_registering_one_name_at_once_never_both_get_it(
    backend: Backend, store: el.EventStore
) -> None:
    racers = await directories(backend, RACERS)
    outcomes = await within(
        60,
        "8 racing registrations",
        asyncio.gather(
            *(
                directory.register(RegisterUser(user_id=f"member-{number}", user_name="grace"))
                for number, directory in enumerate(racers)
            ),
            return_exceptions=True,
        ),
    )
    assert sum(isinstance(outcome, el.Aggregate) for outcome in outcomes) == 1, outcomes
    assert sum(isinstance(outcome, UserNameTaken) for outcome in outcomes) == RACERS - 1, outcomes
    assert await types_in(store, "user-name-grace") == [UserNameClaimed]
    assert await audit(store) == []


async def test_a_rename_racing_a_registration_of_the_new_name_leaves_one_holder(
    backend: Backend, store: el.EventStore
) -> None:
    renaming, registering = await directories(backend, 2)
    await renaming.register(RegisterUser(user_id="member-1", user_name="welcome"))
    both_decided = asyncio.Barrier(2)
    outcomes = await within(
        60,
        "a rename and a registration",
        asyncio.gather(
            decided_then(
                renaming,
                renaming.decide_rename,
                RenameUser(user_id="member-1", new_name="home"),
                both_decided.wait,
            ),
            decided_then(
                registering,
                registering.decide_register,
                RegisterUser(user_id="member-2", user_name="home"),
                both_decided.wait,
            ),
            return_exceptions=True,
        ),
    )
    assert sum(isinstance(outcome, UserNameTaken) for outcome in outcomes) == 1, outcomes
    assert sum(isinstance(outcome, el.Aggregate) for outcome in outcomes) == 1, outcomes
    assert await audit(store) == []
    assert await types_in(store, "user-name-home") == [UserNameClaimed]


async def test_a_rename_overtaken_by_an_edit_of_the_same_user_writes_nothing_then_runs_again(
    backend: Backend, store: el.EventStore
) -> None:
    """The wiki story: an edit of the page commits while the slug is being changed. Here the
    rename's first commit fails whole (no old name released, no new name claimed for a user still
    bearing the old one), and its retry renames the edited user."""
    renaming, editing = await directories(backend, 2)
    await renaming.register(RegisterUser(user_id="writer-1", user_name="welcome"))

    async def edit_meanwhile() -> None:
        await editing.edit_profile(EditProfile(user_id="writer-1", bio="edited meanwhile"))
        # The rename's stale commit is refused whole: the store is as the edit left it.
        assert await audit(store) == []
        assert await types_in(store, "user-name-welcome") == [UserNameClaimed]
        assert await renaming.owner_of("home") is None

    user = await within(
        60,
        "a rename overtaken by an edit",
        decided_then(
            renaming, renaming.decide_rename, RenameUser(user_id="writer-1", new_name="home"), edit_meanwhile
        ),
    )
    assert (user.user_name, user.bio) == ("home", "edited meanwhile")
    assert renaming.users.statistics.conflicts == 1
    assert await types_in(store, "user-name-welcome") == [UserNameClaimed, UserNameReleased]
    assert await types_in(store, "user-name-home") == [UserNameClaimed]
    assert ProfileEdited in await types_in(store, "writer-1")
    assert await audit(store) == []


async def test_concurrent_renames_registrations_and_edits_never_leave_names_and_users_disagreeing(
    backend: Backend, store: el.EventStore
) -> None:
    """8 writers, each on its own store, rename 4 users among 6 names, register newcomers and
    edit profiles at random, all at once; afterwards every name is held by the user bearing it."""
    names = ["ada", "grace", "hedy", "joan", "karen", "margaret"]
    setup = UserDirectory(store)
    for number, name in enumerate(names[:4]):
        await setup.register(RegisterUser(user_id=f"member-{number}", user_name=name))
    writers = await directories(backend, RACERS)
    tally: dict[str, int] = {}

    async def writer(number: int, directory: UserDirectory) -> None:
        choose = random.Random(number)
        for step in range(6):
            kind = choose.choice(["rename", "rename", "register", "edit"])
            try:
                if kind == "rename":
                    command = RenameUser(
                        user_id=f"member-{choose.randrange(4)}", new_name=choose.choice(names)
                    )
                    await decided_then(directory, directory.decide_rename, command, let_others_run)
                elif kind == "register":
                    newcomer = RegisterUser(
                        user_id=f"newcomer-{number}-{step}", user_name=choose.choice(names)
                    )
                    await decided_then(directory, directory.decide_register, newcomer, let_others_run)
                else:
                    await directory.edit_profile(
                        EditProfile(user_id=f"member-{choose.randrange(4)}", bio=f"{step}")
                    )
                outcome = kind
            except UserNameTaken:
                outcome = f"{kind} refused"
            tally[outcome] = tally.get(outcome, 0) + 1

    await within(120, "8 random writers", asyncio.gather(*(writer(n, d) for n, d in enumerate(writers))))
    assert await audit(store) == []
    assert tally.get("rename", 0) > 0
    conflicts = sum(d.users.statistics.conflicts + d.claims.statistics.conflicts for d in writers)
    print(f"{backend.name}: {tally}, {conflicts} conflicts retried")
