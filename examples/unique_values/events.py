"""What happened to users and to the names they claim, in the past tense."""

from __future__ import annotations

import eventledger as el


class UserRegistered(el.Event, type_name="unique_values.user.registered"):
    """A user joined under ``user_name``."""

    user_id: str
    user_name: str


class UserRenamed(el.Event, type_name="unique_values.user.renamed"):
    """A user changed names."""

    user_id: str
    old_name: str
    new_name: str


class ProfileEdited(el.Event, type_name="unique_values.user.profile-edited"):
    """A user changed the text of their profile."""

    user_id: str
    bio: str


class UserNameClaimed(el.Event, type_name="unique_values.user-name.claimed"):
    """A user took a name; nobody else may take it until it is released."""

    user_name: str
    user_id: str


class UserNameReleased(el.Event, type_name="unique_values.user-name.released"):
    """The user who held a name let it go (a rename); the name is free again."""

    user_name: str
    user_id: str
