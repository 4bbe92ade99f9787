"""The inbox's pictures of the traffic: charts per hour and per day, a chat's phases, and their colours."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from example_app.stats import (
    EVENT_COLORS,
    OTHER_COLOR,
    chat_phases,
    color_of,
    day_buckets,
    duration,
    hour_buckets,
    stacked_chart,
)

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2024, 5, 10, 15, 30, tzinfo=timezone.utc)  # 12:30 in São Paulo, a Friday


def test_the_week_chart_has_one_bar_per_local_day_today_last() -> None:
    days = day_buckets(NOW, SAO_PAULO)
    events = [
        ("closedChat", datetime(2024, 5, 10, 3, 0, tzinfo=timezone.utc)),  # 00:00 Friday in São Paulo
        ("closedChat", datetime(2024, 5, 10, 2, 59, tzinfo=timezone.utc)),  # 23:59 Thursday
        ("startedChat", datetime(2024, 5, 4, 3, 0, tzinfo=timezone.utc)),  # Saturday, the first day shown
        ("startedChat", datetime(2024, 5, 4, 2, 59, tzinfo=timezone.utc)),  # the day before: not shown
    ]

    chart = stacked_chart(events, days, width=400)

    assert [bucket.label for bucket in days] == ["Sat 04", "Sun 05", "Mon 06", "Tue 07", "Wed 08", "Thu 09", "Fri 10"]
    assert sorted(segment.title for segment in chart.segments) == [
        "Fri 10 May: 1 closedChat",
        "Sat 04 May: 1 startedChat",
        "Thu 09 May: 1 closedChat",
    ]
    assert chart.total == 3


def test_the_day_chart_labels_every_hour_bar_every_third_hour() -> None:
    hours = hour_buckets(NOW, SAO_PAULO)

    assert len(hours) == 24
    assert (hours[-1].title, hours[0].title) == ("12:00", "13:00")
    assert [bucket.label for bucket in hours if bucket.label][:3] == ["13h", "16h", "19h"]


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def test_a_chat_spends_time_in_the_queue_then_with_an_agent_until_it_closes() -> None:
    phases = chat_phases(
        [
            ("startedChat", at(0), False),
            ("receivedMessage", at(0), False),
            ("agentEntered", at(3), False),
            ("sendedAllMessage", at(4), True),
            ("closedChat", at(10), False),
        ],
        closed=True,
    )

    assert phases is not None
    assert (phases.in_queue, phases.with_agent, phases.to_close) == (
        timedelta(minutes=3),
        timedelta(minutes=7),
        timedelta(minutes=10),
    )
    assert phases.queue_share == 30.0


def test_an_open_chat_without_an_agent_has_only_been_waiting() -> None:
    phases = chat_phases([("startedChat", at(0), False), ("receivedAllMessage", at(2), False)], closed=False)

    assert phases is not None
    assert (phases.in_queue, phases.with_agent, phases.to_close, phases.queue_share) == (
        timedelta(minutes=2),
        None,
        None,
        100.0,
    )


def test_an_agents_message_is_enough_to_say_an_agent_has_the_chat() -> None:
    phases = chat_phases([("receivedAllMessage", at(0), False), ("sendedAllMessage", at(1), True)], closed=False)

    assert phases is not None and phases.taken == at(1)


def test_a_reopened_chat_is_not_closed_by_its_old_closed_chat() -> None:
    phases = chat_phases(
        [("startedChat", at(0), False), ("closedChat", at(1), False), ("agentEntered", at(5), False)], closed=False
    )

    assert phases is not None and phases.closed is None and phases.until == at(5)


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "0 s"),
        (45, "45 s"),
        (60, "1 min"),
        (185, "3 min 5 s"),
        (7800, "2 h 10 min"),
        (3600, "1 h"),
        (273600, "3 d 4 h"),
        (86400, "1 d"),
    ],
)
def test_durations_read_as_people_say_them(seconds, said) -> None:
    assert duration(timedelta(seconds=seconds)) == said


# --- colours -----------------------------------------------------------------------------------

#: Machado, Oliveira & Fernandes (2009), severity 1.0: how people with each
#: dichromacy see a linear-RGB colour.
SIMULATIONS = {
    "normal vision": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602), (0.004733, 0.691367, 0.303900)),
}
#: The smallest CIE76 distance allowed between two colours, for every reader. About 2.3
#: is just noticeable; 10 tells two small legend dots apart at a glance.
MIN_DISTANCE = 10.0


def _lab(color: str, matrix: tuple[tuple[float, float, float], ...]) -> tuple[float, float, float]:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    rgb = [linear(int(color[i : i + 2], 16)) for i in (1, 3, 5)]
    r, g, b = (min(1.0, max(0.0, sum(m * v for m, v in zip(row, rgb)))) for row in matrix)
    x, y, z = (
        (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
        0.2126 * r + 0.7152 * g + 0.0722 * b,
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883,
    )

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_each_charted_event_has_its_own_colour_and_any_other_is_grey() -> None:
    named = {name: color for name, color in EVENT_COLORS.items() if name != "sentAllMessage"}
    assert len(set(named.values()) | {OTHER_COLOR}) == len(named) + 1
    assert color_of("sentAllMessage") == color_of("sendedAllMessage")  # one event, two names on the wire
    assert color_of("chatTransferred") == OTHER_COLOR  # an event the app has no colour for


def test_an_event_without_a_colour_is_still_charted_after_the_coloured_ones() -> None:
    hours = hour_buckets(NOW, SAO_PAULO)
    at = hours[-1].start

    chart = stacked_chart([("chatTransferred", at), ("closedChat", at)], hours)

    assert [(name, color) for name, color, _ in chart.legend] == [
        ("closedChat", EVENT_COLORS["closedChat"]),
        ("chatTransferred", OTHER_COLOR),
    ]


@pytest.mark.parametrize("vision", SIMULATIONS)
def test_event_colours_stay_apart_for_colour_blind_readers(vision) -> None:
    colors = {name: color for name, color in EVENT_COLORS.items() if name != "sentAllMessage"}
    colors.update({"(unknown events)": OTHER_COLOR, "(the page)": "#FFFFFF"})
    seen = {name: _lab(color, SIMULATIONS[vision]) for name, color in colors.items()}

    closest = min(itertools.combinations(seen, 2), key=lambda pair: math.dist(seen[pair[0]], seen[pair[1]]))

    assert math.dist(seen[closest[0]], seen[closest[1]]) >= MIN_DISTANCE, closest
