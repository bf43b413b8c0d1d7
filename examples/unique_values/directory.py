"""The commands on users, each decided and committed in one unit of work.

Each command's decision is a method taking the :class:`~eventledger.domain.UnitOfWork` it
works in (``decide_register``, ``decide_rename``), so a larger decision can include it; the
commands run them with :meth:`UnitOfWork.run`, which retries the whole decision after a
conflict: the retry loads the claim another user just took and refuses the name.
"""

from __future__ import annotations

import pydantic

import eventledger as el
from eventledger.domain import UnitOfWork
from examples.unique_values.domain import (
    User,
    UserAlreadyRegistered,
    UserNameClaim,
    claim_id,
    name_key,
)


class RegisterUser(el.Command):
    """Register a new user under a name nobody holds."""

    user_id: str = pydantic.Field(min_length=1)
    user_name: str


class RenameUser(el.Command):
    """Give a user another name nobody holds."""

    user_id: str = pydantic.Field(min_length=1)
    new_name: str


class EditProfile(el.Command):
    """Replace a user's profile text."""

    user_id: str = pydantic.Field(min_length=1)
    bio: str


class UserDirectory:
    """Users with unique names, in one event store."""

    def __init__(self, store: el.EventStore, *, retry: el.RetryPolicy | None = None) -> None:
        self.store = store
        self.users = el.Repository(store, User)
        self.claims = el.Repository(store, UserNameClaim)
        self.retry = retry if retry is not None else el.RetryPolicy()

    async def register(self, command: RegisterUser) -> User:
        """Register the user and claim the name in one commit; :class:`UserNameTaken` if held."""
        return await UnitOfWork.run(
            self.store,
            lambda work: self.decide_register(work, command),
            retry=self.retry,
            metadata=command.event_metadata(),
        )

    async def rename(self, command: RenameUser) -> User:
        """Release the old name, claim the new one and rename the user, all in one commit."""
        return await UnitOfWork.run(
            self.store,
            lambda work: self.decide_rename(work, command),
            retry=self.retry,
            metadata=command.event_metadata(),
        )

    async def edit_profile(self, command: EditProfile) -> User:
        """Change the profile; one aggregate, so :meth:`Repository.update` is enough."""
        return await self.users.update(
            command.user_id, lambda user: user.edit_profile(command.bio), metadata=command.event_metadata()
        )

    async def owner_of(self, user_name: str) -> str | None:
        """The id of the user holding ``user_name`` (in any case), or None."""
        try:
            claim = await self.claims.load(claim_id(user_name))
        except el.AggregateNotFound:
            return None
        return claim.owner

    async def decide_register(self, work: UnitOfWork, command: RegisterUser) -> User:
        """The decision of :meth:`register`, in ``work``."""
        if await work.find(self.users, command.user_id) is not None:
            raise UserAlreadyRegistered(command.user_id)
        user = work.add(self.users, User.register(command.user_id, command.user_name))
        claim = await self._claim_of(work, command.user_name)
        claim.claim_for(user.id, command.user_name)
        return user

    async def decide_rename(self, work: UnitOfWork, command: RenameUser) -> User:
        """The decision of :meth:`rename`, in ``work``."""
        user = await work.load(self.users, command.user_id)
        if name_key(command.new_name) != name_key(user.user_name):
            (await self._claim_of(work, command.new_name)).claim_for(user.id, command.new_name)
            (await work.load(self.claims, claim_id(user.user_name))).release_by(user.id)
        user.rename(command.new_name)
        return user

    async def _claim_of(self, work: UnitOfWork, user_name: str) -> UserNameClaim:
        """The claim on ``user_name``: stored, or new (then its commit expects no stream)."""
        stream_id = claim_id(user_name)
        claim = await work.find(self.claims, stream_id)
        return claim if claim is not None else work.add(self.claims, UserNameClaim.new(stream_id))
