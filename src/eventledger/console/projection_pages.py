"""The console's projection pages: status (state, checkpoint, lag, held-back events, rates, a lag
chart), a failed projection's event and error, its dead letters, and the operator's actions.

Statuses come from :func:`eventledger.operations.stored_statuses` (what the runners record in
their bookkeeping), so the console shows projections run by any process. Retry, skip and rebuild
go through :mod:`eventledger.operations` too: the runner holding the projection's lease carries
them out, wherever it runs, and the page shows its answer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from eventledger import operations
from eventledger.console.history import ProjectionHistory
from eventledger.console.html import esc, form, lag_chart, link, page, stream_path, table, when
from eventledger.operations import OperatorOutcome
from eventledger.projections import Projection, StoredStatus
from eventledger.projections.requests import RequestState
from eventledger.store import EventStore

ACTIONS = {
    "retry": ("Retry", "Try the event this projection stopped at again (after fixing the cause)."),
    "skip": (
        "Skip to dead letters",
        "Skip the event this projection stopped at: it goes to the dead letters and its effects are "
        "never applied.",
    ),
    "rebuild": (
        "Rebuild",
        "Build this read model again from the start of the log, beside the serving one; the current "
        "read model keeps serving until the new one has caught up, then it is dropped.",
    ),
}
"""Each action's button label and what its confirmation page says it does."""


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def status_card(status: StoredStatus, history: ProjectionHistory, *, secret: str | None) -> str:
    """One projection's card; ``secret`` is the form secret when operations are enabled."""
    now = time.monotonic()
    rates = history.as_json(status.name, now=now)["events_per_second_window"]
    state_class = (
        "bad"
        if status.state in ("failed", "stalled", "unknown")
        else "ok" if status.state == "live" else "warn"
    )
    facts = table(
        [
            "state",
            "checkpoint",
            "head",
            "lag (events)",
            "lag (s)",
            "held back",
            "events/s 10 s",
            "events/s 1 min",
        ],
        [
            [
                f'<span class="state {state_class}">{esc(status.state)}</span>',
                "-" if status.checkpoint is None else str(status.checkpoint),
                str(status.head_position),
                "-" if status.lag_events is None else str(status.lag_events),
                "-" if status.lag_seconds is None else f"{status.lag_seconds:.2f}",
                str(status.held_back_events),
                _rate(status.events_per_second if status.events_per_second is not None else rates["10s"]),
                _rate(rates["1m"]),
            ]
        ],
        numeric=[1, 2, 3, 4, 5, 6, 7],
    )
    notes = []
    failure = status.failure
    if failure is not None and status.state == "failed":
        notes.append(
            '<div class="failure" data-failed>failed at position '
            f"{link(f'/events/{failure.position}', failure.position)} ({esc(failure.event_type)} in "
            f"{link(stream_path(failure.stream_id), failure.stream_id)}) after {failure.attempts} attempts, "
            f"{when(failure.at)}:<pre>{esc(failure.error)}</pre></div>"
        )
    if status.stalled_reason is not None:
        notes.append(f"<p class=bad>stalled: {esc(status.stalled_reason.describe())}</p>")
    if status.rebuild_version is not None:
        notes.append(
            f"<p class=warn>rebuilding v{status.rebuild_version} beside it, "
            f"at position {status.rebuild_checkpoint}</p>"
        )
    buttons = ""
    if secret is not None:
        actions = ["retry", "skip"] if status.state == "failed" else []
        actions.append("rebuild")
        buttons = (
            "<p>"
            + " ".join(link(f"/projections/{status.name}/{action}", ACTIONS[action][0]) for action in actions)
            + "</p>"
        )
    points = history.lag_points(status.name, now=now)
    return (
        f'<div class=card data-projection="{esc(status.name)}">'
        f'<h2>{link(f"/projections/{status.name}", status.name)} '
        f"<span class=muted>v{status.version} → {esc(status.target)}</span></h2>"
        + facts
        + "".join(notes)
        + lag_chart(points)
        + buttons
        + "</div>"
    )


def statuses_fragment(
    statuses: Sequence[StoredStatus], history: ProjectionHistory, *, secret: str | None
) -> str:
    """The cards of every projection (what ``console.js`` refreshes)."""
    if not statuses:
        return (
            "<p class=muted>no projections: start the console with --app module:attribute, "
            "as `eventledger run` takes</p>"
        )
    return "".join(status_card(status, history, secret=secret) for status in statuses)


def projections_page(fragment: str, *, operations: bool) -> str:
    """The projections page around its refreshed fragment."""
    return page(
        "Projections",
        f'<div id=projections data-refresh="/projections?fragment=1">{fragment}</div>',
        here="/projections",
        operations=operations,
        script=True,
    )


async def projection_page(
    store: EventStore, projection: Projection[Any], history: ProjectionHistory, *, secret: str | None
) -> str:
    """One projection: its card and its dead letters."""
    status = (await operations.stored_statuses(store, [projection]))[0]
    letters = await operations.dead_letters(projection)
    rows = [
        [
            link(f"/events/{letter.position}", letter.position),
            link(stream_path(letter.stream_id), letter.stream_id),
            esc(letter.event_type),
            str(letter.failure.attempts),
            when(letter.failure.at),
            esc(letter.skipped_at) if isinstance(letter.skipped_at, str) else when(letter.skipped_at),
            f"<pre>{esc(letter.error)}</pre>",
        ]
        for letter in letters
    ]
    dead = (
        table(["position", "stream", "type", "attempts", "failed (UTC)", "skipped (UTC)", "error"], rows)
        if rows
        else "<p class=muted>no dead letters</p>"
    )
    body = status_card(status, history, secret=secret) + f"<div class=card><h2>Dead letters</h2>{dead}</div>"
    return page(f"Projection {projection.name}", body, here="/projections", operations=secret is not None)


async def confirm_page(store: EventStore, projection: Projection[Any], action: str, secret: str) -> str:
    """What an action will do, with the button that does it (a page, so it works without JavaScript)."""
    label, explanation = ACTIONS[action]
    body = f"<p>{esc(explanation)}</p>"
    if action in ("retry", "skip"):
        failure = await operations.failed_event(store, projection)
        body += (
            f"<p>The event: position {link(f'/events/{failure.position}', failure.position)}, "
            f"{esc(failure.event_type)} in {link(stream_path(failure.stream_id), failure.stream_id)}; "
            f"error:</p><pre>{esc(failure.error)}</pre>"
        )
    body += "<p>" + form(f"/projections/{projection.name}/{action}", label, secret, danger=action != "retry")
    body += " " + link(f"/projections/{projection.name}", "cancel") + "</p>"
    return page(f"{label}: {projection.name}?", body, here="/projections", operations=True)


async def carry_out(
    store: EventStore, projection: Projection[Any], action: str, *, wait: float
) -> OperatorOutcome:
    """Ask the projection's runner to carry ``action`` out; its answer (or none, within ``wait``)."""
    if action == "retry":
        return await operations.retry_failed_event(store, projection, timeout=wait, by="console")
    if action == "skip":
        return await operations.skip_failed_event(store, projection, timeout=wait, by="console")
    return await operations.rebuild(projection, timeout=wait, by="console")


def outcome_page(
    projection: Projection[Any], action: str, outcome: OperatorOutcome, wait: float
) -> tuple[int, str]:
    """The status code and page saying what the runner answered."""
    request = outcome.request
    back = "<p>" + link(f"/projections/{projection.name}", f"back to {projection.name}") + "</p>"
    if request.state is RequestState.PENDING:
        text = (
            f"No runner of {projection.name} answered within {wait:g} s; the request stays queued and the "
            "runner holding its lease carries it out when it runs."
        )
        return 504, page("No answer yet", f"<p class=warn>{esc(text)}</p>{back}", operations=True)
    if request.state is RequestState.REFUSED:
        return 409, page("Refused", f"<p class=bad>{esc(request.outcome)}</p>{back}", operations=True)
    text = f"{request.outcome} (runner {request.answered_by})"
    if action == "skip" and outcome.dead_letter is not None:
        text += f"; position {outcome.dead_letter.position} is in the dead letters"
    return 200, page("Done", f"<p class=ok data-outcome>{esc(text)}</p>{back}", operations=True)
