"""Unique values across aggregates: user names that no two users share.

The classic "set validation" problem. Each user is an aggregate with its own stream, so no one
user can see every other user's name, and a check of a read model ("is the name free?") can be
overtaken by a concurrent registration between the check and the append. Here each name is an
aggregate too: the stream ``user-name-<name>`` holds who claimed the name and when it was
released. Registering a user appends to the user's stream and claims the name's stream in one
atomic multi-stream append (a :class:`~eventledger.domain.UnitOfWork`); a new name is claimed
expecting that its stream does not exist, so of two users racing for one name exactly one
append succeeds. The other's decision runs again, sees the claim, and is refused with
:class:`~examples.unique_values.domain.UserNameTaken`. A rename releases the old name, claims
the new one and renames the user in one commit: no reader ever sees the old name released
while the user still bears it, or the new name claimed by a user not yet renamed.

``python -m examples.unique_values`` runs a short demo (in memory, or ``--url`` for a store).
"""
