"""Every field's answer over a fixed pool of odd values, type-tagged, and the stored copy to compare with.

The walker and marshmallow run the same field code, so no equivalence test sees an
edit inside a field (an epoch threshold, a DST fold, the default zone, a spelling of
false). This table does: each answer is written with its type
(``int:5``, ``bool:True``, ``datetime:2018-02-18T01:30:00+00:00 tz=... fold=0``, or
the error's messages) and compared, exactly, with ``tests/field_answers.json``.

A change to a field that is meant shows up as a diff of that file. Regenerate it,
and read the diff before committing it::

    .venv/bin/python tests/field_answers.py --update
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import ValidationError

from flask_huggy.envelope import delivery_time
from flask_huggy.models import Channel, NamedRef
from flask_huggy.schemas.derived import schema_class
from flask_huggy.schemas.fields import (
    AnyField,
    Either,
    Flag,
    HuggyDateTime,
    Id,
    Integer,
    LooseMapping,
    LooseNested,
    Text,
    epoch_to_utc,
    is_absent,
    local_timezone,
)

STORED = Path(__file__).with_suffix(".json")

#: Odd values Huggy (or a proxy, or PHP) might send, each kept as a Python value.
POOL: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2,
    0.0,
    -0.0,
    1.0,
    5.5,
    float("nan"),
    float("inf"),
    2**63,
    -(2**63),
    10**400,  # past a float
    # Epochs around the seconds/milliseconds threshold (1e11) and past it.
    99_999_999_999,
    100_000_000_000,
    1e11,
    500_000_000_000,
    999_999_999_999,
    1_000_000_000_000,
    1524155854,
    1524155854.5,
    1524155854000,
    -100_000_000_000,
    253402300799,
    253402300800,
    # Strings of digits, Unicode digits, and near misses.
    "",
    " ",
    "0",
    "1",
    "-0",
    "007",
    "+5",
    " 5",
    "5.0",
    "1e3",
    "0x1F",
    "9" * 30,
    "-" + "9" * 30,
    "9" * 31,
    "\u0663",  # ARABIC-INDIC DIGIT THREE
    "\uff15",  # FULLWIDTH DIGIT FIVE
    "\u00b2",  # SUPERSCRIPT TWO
    # Every spelling of true and false we have seen or could imagine.
    "true",
    "True",
    "TRUE",
    " true ",
    "false",
    "False",
    "FALSE",
    " 0 ",
    "01",
    "1.0",
    "yes",
    "no",
    "sim",
    "nao",
    "não",
    "on",
    "off",
    "t",
    "f",
    "y",
    "n",
    # Timestamps: offset-less (Brazil local), with offsets, in Sao Paulo's DST gaps and folds.
    "2018-04-19 13:37:34",
    " 2018-04-19T13:37:34 ",
    "2018-04-19 13:37:34.123456",
    "2018-04-19T22:07:34+05:30",
    "2018-04-19T16:37:34Z",
    "2018-04-19",
    "2019-01-15 12:00:00",  # summer time, in Sao Paulo's last DST season
    "2018-02-17 23:30:00",  # fold: DST ended at midnight, 23:00-23:59 happened twice
    "2019-02-16 23:30:00",  # fold, the last one
    "2018-11-04 00:30:00",  # gap: DST began at midnight, 00:00-00:59 never happened
    "2017-10-15 00:30:00",  # gap
    "2020-03-05 17:21:10",
    "9999-12-31 23:59:59",
    "not a date",
    "Olá",
    # Containers.
    [],
    [1],
    {},
    {"a": 1},
    {"SYSTEM.CHAT_ID": "99999", "n": 1, "flag": True},
    {"id": "5", "name": 7},
]

#: How each field is read: a name, and the field (or a function of the value).
FIELDS: dict[str, AnyField] = {
    "Id": Id(),
    "Integer": Integer(),
    "Flag": Flag(),
    "Text": Text(),
    "HuggyDateTime": HuggyDateTime(),
    "LooseMapping": LooseMapping(),
    "LooseNested(NamedRef)": LooseNested(schema_class(NamedRef)),
    "Either(Id, NamedRef)": Either(Id(), schema_class(NamedRef)),
    "Either(Text, Channel)": Either(Text(), schema_class(Channel)),
}

#: The zones offset-less timestamps are read in; None is the default, no zone set.
ZONES: dict[str, tzinfo | None] = {
    "default": None,
    "America/Sao_Paulo": ZoneInfo("America/Sao_Paulo"),
    "UTC": ZoneInfo("UTC"),
    "Asia/Kathmandu": ZoneInfo("Asia/Kathmandu"),
}
#: Fields whose answer depends on the zone.
ZONED = {"HuggyDateTime"}


def tagged(value: Any) -> str:
    """``value`` written with its type, all the way down: ``True``, ``1`` and ``1.0`` differ."""
    if isinstance(value, datetime):
        return f"datetime:{value.isoformat()} tz={value.tzinfo!r} fold={value.fold}"
    if isinstance(value, dict):
        # Sorted: a schema includes unknown keys in set order, which changes with the hash
        # seed; the tables of test_coercion check where order is ours (LooseMapping).
        return "dict:{" + ", ".join(sorted(f"{tagged(key)}: {tagged(item)}" for key, item in value.items())) + "}"
    if isinstance(value, list):
        return "list:[" + ", ".join(tagged(item) for item in value) + "]"
    return f"{type(value).__name__}:{value!r}"


def answer(read: Callable[[Any], Any], value: Any) -> str:
    try:
        return tagged(read(value))
    except ValidationError as error:
        return f"error:{error.messages!r}"


def answers() -> Iterator[tuple[str, dict[str, str]]]:
    """``(what was read, {repr(value): tagged answer})`` for every field, zone and helper."""
    for name, field in FIELDS.items():
        for zone_name, zone in ZONES.items() if name in ZONED else [("", None)]:
            label = f"{name} in {zone_name}" if zone_name else name
            if zone is None:
                yield label, {repr(value): answer(field.deserialize, value) for value in POOL}
            else:
                with local_timezone(zone):
                    yield label, {repr(value): answer(field.deserialize, value) for value in POOL}
    numbers = [value for value in POOL if isinstance(value, (int, float)) and not isinstance(value, bool)]
    yield "delivery_time", {repr(value): answer(delivery_time, value) for value in POOL}
    yield "epoch_to_utc", {repr(value): answer(epoch_to_utc, value) for value in numbers}
    yield "is_absent", {repr(value): answer(is_absent, value) for value in POOL}


def current() -> dict[str, dict[str, str]]:
    """What the fields answer now, as stored in the JSON file."""
    return dict(answers())


def stored() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = json.loads(STORED.read_text(encoding="utf-8"))
    return table


def main(argv: list[str]) -> int:
    if argv != ["--update"]:
        print(__doc__)
        return 2
    STORED.write_text(json.dumps(current(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {STORED}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
