"""One way to run a delivery: journal it, de-duplicate, send its signals, record how it went.

The webhook (synchronous mode), the Celery task and ``flask huggy replay
--failed`` all run deliveries through :func:`run_delivery`, so "done", dedup and
journaling mean one thing wherever a delivery runs.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .dispatch import DispatchSummary, EventOutcome, Outcome, dispatch
from .errors import Unavailable
from .events import Delivery

if TYPE_CHECKING:
    from .endpoint import Endpoint
    from .journal import Journal

logger = logging.getLogger("flask_huggy")


@dataclass
class Run:
    """How one run of a delivery went, filled in as it goes (also when a receiver raised)."""

    delivery: Delivery
    #: The positions this run was asked to run (``None``: all of them).
    only: Collection[int] | None = None
    #: One outcome per event that was run or skipped, in order.
    outcomes: list[EventOutcome] = field(default_factory=list)
    #: The journal record of the delivery, when it is journaled.
    record_id: str | None = None
    summary: DispatchSummary | None = None
    #: The outcome record could not be written: a replay will run the events again.
    unrecorded: bool = False

    @property
    def remaining(self) -> list[int]:
        """Positions of the events that still need a run: asked for, and neither handled nor duplicate.

        Empty when every event is done; if the run still raised, only
        ``delivery_received`` failed, and a retry sends only that.
        """
        done = {outcome.index for outcome in self.outcomes if outcome.status.done}
        asked = self.only if self.only is not None else range(len(self.delivery.events))
        return [index for index in asked if index not in done]


def run_delivery(
    endpoint: Endpoint,
    delivery: Delivery,
    *,
    only: Collection[int] | None = None,
    record_id: str | None = None,
    journal: Journal | None = None,
    replay: bool = False,
    run: Run | None = None,
) -> Run:
    """Run ``delivery``'s receivers for ``endpoint``'s app and return the :class:`Run`.

    With a journal (the endpoint's ``HUGGY_JOURNAL``, or ``journal``: replay
    writes its outcomes beside the files it read), a ``received`` record is
    written first, unless ``record_id`` names the one written by an earlier
    attempt, and an ``outcome`` record last, whatever happens. :class:`~flask_huggy.Unavailable` is raised before
    any receiver runs when the delivery cannot be recorded. ``only`` limits the
    run to those event positions (a retry, a replay). A receiver's exception
    propagates after the outcome is recorded; pass ``run`` to read how far the
    delivery got when that happens.
    """
    current = run if run is not None else Run(delivery)
    current.only = only
    target = journal if journal is not None else endpoint.journal
    if target is not None:
        current.record_id = record_id or target.received(delivery, endpoint=endpoint.config_prefix)
    error: BaseException | None = None
    try:
        current.summary = dispatch(
            endpoint.app, delivery, dedup=endpoint.dedup, only=only, outcomes=current.outcomes, endpoint=endpoint
        )
    except BaseException as exc:
        error = exc
        raise
    finally:
        if target is not None and current.record_id is not None:
            try:
                target.outcome(current.record_id, current.outcomes, error, token=delivery.token, replay=replay)
            except Unavailable:
                current.unrecorded = True
                logger.error(
                    "The outcome of delivery %s is not in the journal: a replay with --failed "
                    "will run all its events again.",
                    current.record_id,
                )
    return current


__all__ = ["Outcome", "Run", "run_delivery"]
