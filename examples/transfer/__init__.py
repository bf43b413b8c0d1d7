"""Money transfer between accounts: a process manager (a reactor) that debits, credits and refunds.

``python -m examples.transfer`` runs it: accounts are opened, clients request transfers
concurrently, the transfer process carries each out in steps, and an audit of the whole log
shows that the sum of all balances (plus the money of transfers in flight) never changed.
See :mod:`.domain` (accounts and transfers), :mod:`.process` (the reactor), :mod:`.audit`
(the invariant) and :mod:`.clients` (requesting transfers, from one process or several).
"""
