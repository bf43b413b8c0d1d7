"""Open a store URL in a process of its own, read it, try to append, and print what happened (JSON).

Run by tests/store/test_sqlite_read_only.py inside a view of the file system where the store's
directory is read-only (a private mount namespace), which even root cannot write through.
"""

from __future__ import annotations

import asyncio
import json
import sys

import eventledger as el
from events import noted


async def main(url: str) -> dict[str, object]:
    try:
        store = await el.open_store(url)
    except el.EventLedgerError as error:
        return {"open": type(error).__name__, "message": str(error)}
    try:
        notes = [r.event.note async for r in store.read_all()]  # type: ignore[attr-defined]
        try:
            await store.append("s", [noted("from the reader")], expected_version=el.ANY)
        except el.EventLedgerError as error:
            return {"open": "ok", "notes": notes, "append": type(error).__name__, "message": str(error)}
        return {"open": "ok", "notes": notes, "append": "accepted"}
    finally:
        await store.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
