"""``python -m eventledger.cli``: the same as the ``eventledger`` command."""

from eventledger.cli import main

main()
