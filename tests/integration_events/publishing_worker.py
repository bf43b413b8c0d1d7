"""An integration-events publisher in an OS process of its own, for the tests that kill it.

Run as ``python publishing_worker.py BROKER STORE_PATH BOOKKEEPING_PATH NAME HANG_AFTER MARKER``:
BROKER ``rabbitmq`` publishes to the exchange NAME, ``nats`` to the JetStream stream NAME
(subjects ``NAME.>``). With HANG_AFTER > 0 it writes MARKER after that many confirmed messages
and hangs there, mid-batch, before the checkpoint, until killed; with 0 it runs until caught
up, prints ``duplicates=N`` (JetStream's count of dropped repeats) and exits.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

from outbound import NATS_URL, RABBITMQ_URL, Hanging, ParcelsOut  # noqa: E402

import eventledger as el  # noqa: E402
from eventledger.projections import SQLiteTarget  # noqa: E402
from eventledger.projections.targets.messages import (  # noqa: E402
    BrokerTarget,
    MessagePublisher,
    default_message,
)
from eventledger.projections.targets.nats import JetStreamPublisher  # noqa: E402
from eventledger.projections.targets.rabbitmq import RabbitMQPublisher  # noqa: E402


async def main(
    broker: str, store_path: str, bookkeeping: str, name: str, hang_after: int, marker: str
) -> None:
    inner: MessagePublisher
    if broker == "rabbitmq":
        inner = RabbitMQPublisher(RABBITMQ_URL, exchange=name)
    else:
        inner = JetStreamPublisher(
            NATS_URL, stream=name, mapping=lambda recorded: default_message(recorded, prefix=name)
        )
    publisher = inner if hang_after == 0 else Hanging(inner, hang_after, lambda: Path(marker).touch())
    async with el.open_store(f"sqlite:///{store_path}") as store:
        projection = ParcelsOut(BrokerTarget(publisher, bookkeeping=SQLiteTarget(bookkeeping)))
        runner = el.ProjectionRunner(store, [projection], batch_size=10)
        try:
            await runner.run_until_caught_up()
        finally:
            await projection.target.close()
    print(f"duplicates={getattr(inner, 'duplicates', 0)}", flush=True)


if __name__ == "__main__":
    broker, store_path, bookkeeping, name, hang_after, marker = sys.argv[1:7]
    asyncio.run(main(broker, store_path, bookkeeping, name, int(hang_after), marker))
