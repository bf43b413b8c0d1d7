"""Users and the names they claim: two aggregates whose agreement one commit keeps.

A :class:`User` bears a name; a :class:`UserNameClaim` (one stream per name, whatever the
case it is written in) says which user holds that name. The rules: a name is 3 to 32 letters,
digits, ``.``, ``_`` or ``-``, starting with a letter or digit; two users never hold names that
differ only in case; a user holds exactly the claim of the name they bear.
"""

from __future__ import annotations

import re
from typing import Final, Self

import eventledger as el
from examples.unique_values.events import (
    ProfileEdited,
    UserNameClaimed,
    UserNameReleased,
    UserRegistered,
    UserRenamed,
)

USER_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,31}")
"""What a user name looks like (matched whole)."""


class InvalidUserName(el.DomainError):
    """A user name breaks the rules of :data:`USER_NAME`."""

    def __init__(self, user_name: str) -> None:
        self.user_name = user_name
        super().__init__(
            f"user name {user_name!r} is not 3 to 32 letters, digits, '.', '_' or '-' "
            "starting with a letter or digit"
        )


class UserNameTaken(el.DomainError):
    """Another user holds the name (or one differing only in case)."""

    def __init__(self, user_name: str, owner: str) -> None:
        self.user_name = user_name
        self.owner = owner
        super().__init__(f"user name {user_name!r} is taken (by {owner!r})")


class UserAlreadyRegistered(el.DomainError):
    """A user id was registered twice."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        super().__init__(f"user {user_id!r} is already registered")


def checked_user_name(user_name: str) -> str:
    """``user_name`` if it follows the rules, else :class:`InvalidUserName`."""
    if not USER_NAME.fullmatch(user_name):
        raise InvalidUserName(user_name)
    return user_name


def name_key(user_name: str) -> str:
    """The form in which two names are the same name: case does not count."""
    return checked_user_name(user_name).lower()


def claim_id(user_name: str) -> str:
    """The stream of the claim on ``user_name`` (and on every spelling of it in other cases)."""
    return f"user-name-{name_key(user_name)}"


class User(el.Aggregate, type_name="unique_values.user"):
    """A registered user: a name and a profile."""

    user_name: str = ""
    bio: str = ""

    @classmethod
    def register(cls, user_id: str, user_name: str) -> Self:
        """A new user under ``user_name`` (the caller claims the name in the same commit)."""
        user = cls.new(user_id)
        user.record(UserRegistered(user_id=user_id, user_name=checked_user_name(user_name)))
        return user

    def rename(self, new_name: str) -> None:
        """Bear ``new_name`` from now on (the caller moves the claim in the same commit)."""
        if checked_user_name(new_name) != self.user_name:
            self.record(UserRenamed(user_id=self.id, old_name=self.user_name, new_name=new_name))

    def edit_profile(self, bio: str) -> None:
        """Replace the profile text."""
        if bio != self.bio:
            self.record(ProfileEdited(user_id=self.id, bio=bio))

    @el.applies
    def _registered(self, event: UserRegistered) -> None:
        self.user_name = event.user_name

    @el.applies
    def _renamed(self, event: UserRenamed) -> None:
        self.user_name = event.new_name

    @el.applies
    def _profile_edited(self, event: ProfileEdited) -> None:
        self.bio = event.bio


class UserNameClaim(el.Aggregate, type_name="unique_values.user-name"):
    """Who holds one name: a user id, or None when the name is free."""

    user_name: str = ""
    owner: str | None = None

    def claim_for(self, user_id: str, user_name: str) -> None:
        """Give the name to ``user_id``; :class:`UserNameTaken` if another user holds it."""
        if self.owner == user_id:
            return
        if self.owner is not None:
            raise UserNameTaken(user_name, self.owner)
        self.record(UserNameClaimed(user_name=checked_user_name(user_name), user_id=user_id))

    def release_by(self, user_id: str) -> None:
        """``user_id`` lets the name go; only its holder can."""
        if self.owner != user_id:
            raise el.DomainError(f"user {user_id!r} cannot release {self.user_name!r}: it is not theirs")
        self.record(UserNameReleased(user_name=self.user_name, user_id=user_id))

    @el.applies
    def _claimed(self, event: UserNameClaimed) -> None:
        self.user_name = event.user_name
        self.owner = event.user_id

    @el.applies
    def _released(self, event: UserNameReleased) -> None:
        self.owner = None
