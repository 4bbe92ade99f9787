"""The pictures of the traffic: events per hour and per day by type, and a chat's phases.

Pure functions (no database, no request): the views pass in event names and
times, this module counts them and lays the bars out. Inline SVG needs no
script and no network, so the charts work offline.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

#: The colour of each event the inbox charts, in the order of Huggy's event list, so
#: that a type keeps its colour on every page and in every run. Picked from Paul Tol's
#: palettes (bright, vibrant, muted, light, dark) and Okabe & Ito's, all designed for
#: colour-blind readers: these 18 are the subset whose colours stay furthest apart
#: (CIE L*a*b*) under a simulation of protanopia, deuteranopia and tritanopia
#: (Machado et al., 2009) as well as for normal vision, from each other, from the grey
#: of other events and from the page's white; tests/test_example_stats.py runs that
#: simulation. The table is the app's own, not flask-huggy's catalog: an event
#: flask-huggy adds later is drawn in :data:`OTHER_COLOR` until someone picks it a colour.
EVENT_COLORS: dict[str, str] = {
    "receivedMessage": "#33BBEE",  # Tol vibrant cyan
    "receivedAllMessage": "#0077BB",  # Tol vibrant blue
    "startedChat": "#F0E442",  # Okabe-Ito yellow
    "createdChat": "#AA4499",  # Tol muted purple
    "agentEntered": "#CC79A7",  # Okabe-Ito reddish purple
    "closedChat": "#000000",  # Okabe-Ito black
    "answeredChatForm": "#AA3377",  # Tol bright purple
    "createdCustomer": "#EE8866",  # Tol light orange
    "startedWidgetAttendance": "#EE3377",  # Tol vibrant magenta
    "startedAutomationFlow": "#332288",  # Tol muted indigo
    "finishedAutomationFlow": "#99DDFF",  # Tol light cyan
    "sendedAllMessage": "#D55E00",  # Okabe-Ito vermillion
    "sentAllMessage": "#D55E00",  # the name live Huggy sends sendedAllMessage under
    "updatedWorkflowStep": "#882255",  # Tol muted wine
    "leftQueue": "#999933",  # Tol muted olive
    "agentChangedStatus": "#666633",  # Tol dark yellow
    "updatedCustomer": "#663333",  # Tol dark red
    "newInternalMessage": "#CCBB44",  # Tol bright yellow
    "asyncExportData": "#222255",  # Tol dark blue
}
#: Any other event: one this app has no colour for, known to flask-huggy or not (Tol bright grey).
OTHER_COLOR = "#BBBBBB"

_HEIGHT = 220
_LEFT, _BOTTOM, _TOP = 34, 22, 8


def color_of(name: str) -> str:
    return EVENT_COLORS.get(name, OTHER_COLOR)


@dataclass(frozen=True)
class Segment:
    """One rectangle: the events of one type in one bar (an hour, a day)."""

    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Bucket:
    """One bar of a chart: the events from ``start`` (included) to ``end`` (excluded)."""

    start: datetime
    end: datetime
    #: What the bar's tooltip calls it ("14:00", "Mon 30 Nov").
    title: str
    #: Its label under the axis, or ``""`` for none.
    label: str


@dataclass(frozen=True)
class StackedChart:
    width: int
    height: int
    segments: tuple[Segment, ...]
    x_labels: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    #: Event names present, in legend order, with their colour and count.
    legend: tuple[tuple[str, str, int], ...]
    total: int
    plot_left: float
    plot_right: float
    baseline: float


def hour_buckets(now: datetime, tz: tzinfo, hours: int = 24) -> list[Bucket]:
    """The last ``hours`` hours of local time ``tz``, the current one last; every third labelled."""
    end = now.astimezone(tz).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    starts = [end - timedelta(hours=hours - index) for index in range(hours)]
    return [
        Bucket(
            start, start + timedelta(hours=1), start.strftime("%H:00"), start.strftime("%Hh") if index % 3 == 0 else ""
        )
        for index, start in enumerate(starts)
    ]


def day_buckets(now: datetime, tz: tzinfo, days: int = 7) -> list[Bucket]:
    """The last ``days`` days of local time ``tz``, from midnight to midnight, today last."""
    today = now.astimezone(tz).date()
    dates = [today - timedelta(days=days - 1 - index) for index in range(days)]
    return [
        Bucket(
            _midnight(day, tz), _midnight(day + timedelta(days=1), tz), day.strftime("%a %d %b"), day.strftime("%a %d")
        )
        for day in dates
    ]


def stacked_chart(
    events: Iterable[tuple[str, datetime]], buckets: Sequence[Bucket], *, width: int = 1080
) -> StackedChart:
    """Stack, in each bucket, the events of each type; ``events`` are ``(name, aware datetime)`` pairs.

    Events outside every bucket are ignored.
    """
    counts: Counter[tuple[int, str]] = Counter()
    for name, at in events:
        index = _bucket_of(at, buckets)
        if index is not None:
            counts[index, name] += 1
    per_type = Counter[str]()
    for (_, name), count in counts.items():
        per_type[name] += count
    order = [name for name in EVENT_COLORS if name in per_type] + sorted(set(per_type) - set(EVENT_COLORS))
    totals = [sum(counts[index, name] for name in order) for index in range(len(buckets))]
    top = _nice_ceiling(max(totals, default=0))

    plot_height = _HEIGHT - _BOTTOM - _TOP
    slot = (width - _LEFT) / max(1, len(buckets))
    bar = max(2.0, min(slot * 0.72, 64.0))
    baseline = _HEIGHT - _BOTTOM
    segments: list[Segment] = []
    for index, bucket in enumerate(buckets):
        y = float(baseline)
        for name in order:
            count = counts[index, name]
            if not count:
                continue
            height = plot_height * count / top
            y -= height
            segments.append(
                Segment(
                    x=round(_LEFT + index * slot + (slot - bar) / 2, 2),
                    y=round(y, 2),
                    width=round(bar, 2),
                    height=round(height, 2),
                    color=color_of(name),
                    title=f"{bucket.title}: {count} {name}",
                )
            )
    x_labels = tuple(
        Tick(x=round(_LEFT + index * slot + slot / 2, 2), y=_HEIGHT - 6, label=bucket.label)
        for index, bucket in enumerate(buckets)
        if bucket.label
    )
    y_ticks = tuple(
        Tick(x=_LEFT - 6, y=round(baseline - plot_height * value / top, 2), label=str(value))
        for value in sorted({0, top} | ({top // 2} if top % 2 == 0 else set()))
    )
    legend = tuple((name, color_of(name), per_type[name]) for name in order)
    return StackedChart(width, _HEIGHT, tuple(segments), x_labels, y_ticks, legend, sum(totals), _LEFT, width, baseline)


def _bucket_of(at: datetime, buckets: Sequence[Bucket]) -> int | None:
    for index, bucket in enumerate(buckets):
        if bucket.start <= at < bucket.end:
            return index
    return None


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


@dataclass(frozen=True)
class ChatPhases:
    """How long a chat spent in each phase, from its events in Huggy's order.

    ``started``: its first event. ``taken``: the first sign of an agent on it
    (``leftQueue``, ``agentEntered`` or an agent's message). ``closed``: its
    last ``closedChat``, if it is closed. ``until``: where the picture ends
    (``closed``, else its newest event).
    """

    started: datetime
    taken: datetime | None
    closed: datetime | None
    until: datetime

    @property
    def in_queue(self) -> timedelta:
        """Time before an agent took it (with the bot and in the queue)."""
        return (self.taken or self.until) - self.started

    @property
    def with_agent(self) -> timedelta | None:
        return self.until - self.taken if self.taken is not None else None

    @property
    def to_close(self) -> timedelta | None:
        return self.closed - self.started if self.closed is not None else None

    @property
    def queue_share(self) -> float:
        """The queue's share of the strip, in percent (the rest is with an agent)."""
        total = (self.until - self.started).total_seconds()
        return 100.0 if total <= 0 or self.taken is None else round(100 * self.in_queue.total_seconds() / total, 1)


#: The events that say an agent has the chat.
TAKEN_BY_AGENT = frozenset({"leftQueue", "agentEntered"})


def chat_phases(events: Sequence[tuple[str, datetime, bool]], *, closed: bool) -> ChatPhases | None:
    """Phases of a chat from its events ``(name, Huggy's time, written by an agent)``, oldest first.

    ``closed``: whether the chat is closed now (a reopened chat's old
    ``closedChat`` does not end it).
    """
    if not events:
        return None
    started, until = events[0][1], events[-1][1]
    taken = next((at for name, at, by_agent in events if name in TAKEN_BY_AGENT or by_agent), None)
    closed_at = next((at for name, at, _ in reversed(events) if name == "closedChat"), None) if closed else None
    return ChatPhases(started, taken, closed_at, closed_at or until)


def duration(value: timedelta | None) -> str:
    """``value`` the way people say it: ``45 s``, ``3 min 5 s``, ``2 h 10 min``, ``3 d 4 h``."""
    if value is None:
        return "—"
    seconds = max(0, int(value.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    return f"{seconds} s"


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least ``value`` (at least 2)."""
    if value <= 2:
        return 2
    magnitude = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


__all__ = [
    "EVENT_COLORS",
    "Bucket",
    "ChatPhases",
    "Segment",
    "StackedChart",
    "Tick",
    "chat_phases",
    "color_of",
    "day_buckets",
    "duration",
    "hour_buckets",
    "stacked_chart",
]
