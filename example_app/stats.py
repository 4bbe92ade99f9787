"""The status page's chart: events per hour by type, drawn as inline SVG.

Pure functions (no database, no request): the view passes in the event names
and times, this module counts them per hour and lays the bars out. Inline SVG
needs no script and no network, so the chart works offline.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from flask_huggy.aliases import EVENT_ALIASES, with_aliases
from flask_huggy.samples import TEMPLATES

#: One colour per Huggy event, in the order of Huggy's event list, so that a type
#: keeps its colour on every page and in every run; an alias has its event's.
_PALETTE = (
    "#2563eb", "#60a5fa", "#7c3aed", "#a78bfa", "#0d9488", "#dc2626", "#a16207", "#65a30d", "#9333ea",
    "#db2777", "#f472b6", "#16a34a", "#ea580c", "#0891b2", "#64748b", "#84cc16", "#ca8a04", "#475569",
)
EVENT_COLORS: dict[str, str] = with_aliases(dict(zip((n for n in TEMPLATES if n not in EVENT_ALIASES), _PALETTE)))
OTHER_COLOR = "#94a3b8"

WIDTH, HEIGHT = 1080, 220
_LEFT, _BOTTOM, _TOP = 34, 22, 8


def color_of(name: str) -> str:
    return EVENT_COLORS.get(name, OTHER_COLOR)


@dataclass(frozen=True)
class Segment:
    """One rectangle: the events of one type in one hour."""

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
class HourlyChart:
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


def hourly_chart(events: Iterable[tuple[str, datetime]], *, now: datetime, tz: tzinfo, hours: int = 24) -> HourlyChart:
    """Stack, for each of the last ``hours`` hours (local time ``tz``), the events of each type.

    ``events`` are ``(name, received_at)`` pairs with aware datetimes; those
    older than the first hour shown are ignored.
    """
    end = now.astimezone(tz).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    counts: Counter[tuple[int, str]] = Counter()
    for name, at in events:
        local = at.astimezone(tz)
        if start <= local < end:
            counts[(local - start) // timedelta(hours=1), name] += 1
    per_type = Counter[str]()
    for (_, name), count in counts.items():
        per_type[name] += count
    order = [name for name in TEMPLATES if name in per_type] + sorted(set(per_type) - set(TEMPLATES))
    totals = [sum(counts[hour, name] for name in order) for hour in range(hours)]
    top = _nice_ceiling(max(totals, default=0))

    plot_height = HEIGHT - _BOTTOM - _TOP
    slot = (WIDTH - _LEFT) / hours
    bar = max(2.0, slot * 0.72)
    baseline = HEIGHT - _BOTTOM
    segments: list[Segment] = []
    for hour in range(hours):
        y = float(baseline)
        label = (start + timedelta(hours=hour)).strftime("%H:00")
        for name in order:
            count = counts[hour, name]
            if not count:
                continue
            height = plot_height * count / top
            y -= height
            segments.append(Segment(
                x=round(_LEFT + hour * slot + (slot - bar) / 2, 2), y=round(y, 2), width=round(bar, 2),
                height=round(height, 2), color=color_of(name), title=f"{label}: {count} {name}",
            ))
    x_labels = tuple(
        Tick(x=round(_LEFT + hour * slot + slot / 2, 2), y=HEIGHT - 6, label=(start + timedelta(hours=hour)).strftime("%Hh"))
        for hour in range(0, hours, 3)
    )
    y_ticks = tuple(
        Tick(x=_LEFT - 6, y=round(baseline - plot_height * value / top, 2), label=str(value))
        for value in sorted({0, top} | ({top // 2} if top % 2 == 0 else set()))
    )
    legend = tuple((name, color_of(name), per_type[name]) for name in order)
    return HourlyChart(WIDTH, HEIGHT, tuple(segments), x_labels, y_ticks, legend, sum(totals), _LEFT, WIDTH, baseline)


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least ``value`` (at least 2)."""
    if value <= 2:
        return 2
    magnitude = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


__all__ = ["EVENT_COLORS", "HourlyChart", "Segment", "Tick", "color_of", "hourly_chart"]
