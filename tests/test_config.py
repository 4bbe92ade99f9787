"""Settings come from app.config at request time, even when config changes later."""

from __future__ import annotations

import sys
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import flask_huggy
from flask_huggy import ConfigError, make_blueprint
from flask_huggy.config import SETTINGS, Settings, read_settings, unknown_keys
from flask_huggy.endpoint import get_endpoint

from .conftest import TOKEN, create_app, load_payload


def test_each_config_prefix_has_its_own_settings() -> None:
    app = create_app(HUGGY_B_WEBHOOK_TOKEN="token-of-account-b", HUGGY_B_STRICT=True)
    app.register_blueprint(make_blueprint("huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_"))

    assert get_endpoint(app, "huggy_b").settings.tokens == ("token-of-account-b",)
    assert get_endpoint(app, "huggy_b").settings.strict is True
    assert get_endpoint(app).settings.strict is False


# --- Broken settings fail at startup ---------------------------------------------------------

#: One unusable value per setting: a new setting must add its own here (see the test below).
BAD_VALUES: list[tuple[str, Any]] = [
    ("WEBHOOK_TOKEN", b"132ce76c7abb1154f01ebc0d508162e4"),
    ("WEBHOOK_TOKEN", 12345678),
    ("TIMEZONE", "Mars/Olympus_Mons"),
    ("TIMEZONE", None),
    ("STRICT", "maybe"),
    ("STRICT", None),
    ("MAX_CONTENT_LENGTH", "1MB"),
    ("MAX_CONTENT_LENGTH", 0),
    ("CONFIRM_URL", "ftp://huggy.example/confirm"),
    ("CONFIRM_URL", "https://"),
    ("CONFIRM_HEADERS", "Authorization: Bearer x"),
    ("CONFIRM_HEADERS", {"X Token": "x"}),
    ("CONFIRM_HEADERS", {"X-Token": 5}),
    ("CONFIRM_HEADERS", {"X-Token": "a\r\nInjected: 1"}),
    ("ALLOW_UNAUTHENTICATED", "sim"),
    ("ALLOWED_NETWORKS", "10.0.0.0/33"),
    ("ALLOWED_NETWORKS", ["10.0.0.0/8", "not-a-network"]),
    ("ALLOWED_NETWORKS", 10),
    ("MAX_AGE", -5),
    ("MAX_AGE", True),
    ("DEDUP", "postgres://db.example/huggy"),
    ("DEDUP", True),
    ("DEDUP", object()),
    ("DEDUP_TTL", 0),
    ("DEDUP_LEASE", "five minutes"),
    ("DEDUP_KEY", "flask_huggy.dedup.event_key"),
    ("JOURNAL", True),
    ("JOURNAL_MAX_BYTES", "10MB"),
    ("JOURNAL_BACKUPS", -1),
    ("CELERY_MAX_RETRIES", "many"),
    ("CELERY_RETRY_BACKOFF", -2),
    ("CELERY_RETRY_BACKOFF_MAX", float("nan")),
    ("CELERY_ENQUEUE_TIMEOUT", 0),
    ("API_TOKEN", b"132ce76c7abb1154f01ebc0d508162e4"),
    ("API_TOKEN", "token-with-a-newline\n"),
    ("API_URL", "api.huggy.app/v3"),
    ("API_COMPANY", "acme"),
    ("API_COMPANY", True),
    ("JSON_DECODER", "orjson"),
    ("RECOVER_AFTER", -1),
    ("RECOVER_AFTER", "15 minutes"),
]


def test_every_setting_has_a_bad_value_checked_here() -> None:
    assert {key for key, _ in BAD_VALUES} == {entry.key for entry in SETTINGS}


@pytest.mark.parametrize(
    ("key", "value"), BAD_VALUES, ids=[f"{key}-{index}" for index, (key, _) in enumerate(BAD_VALUES)]
)
def test_a_bad_setting_stops_the_registration_naming_its_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        create_app(**{f"HUGGY_{key}": value})

    assert str(raised.value).startswith(f"HUGGY_{key} = ")
    assert "; " in str(raised.value)  # then the fix


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "TIMEZONE",
            "America/Sao Paulo",
            "HUGGY_TIMEZONE = 'America/Sao Paulo': not an IANA time zone name; use one such as 'America/Sao_Paulo' "
            "(Huggy writes Brazil local time)",
        ),
        (
            "DEDUP",
            "postgres://db.example/huggy",
            "HUGGY_DEDUP = 'postgres://db.example/huggy': neither 'memory' nor a Redis URL; use False (off), 'memory' "
            "(one process), a redis://, rediss:// or unix:// URL, or a store object with claim, complete and release",
        ),
        (
            "ALLOWED_NETWORKS",
            "10.0.0.0/33",
            "HUGGY_ALLOWED_NETWORKS = '10.0.0.0/33': '10.0.0.0/33' does not appear to be an IPv4 or IPv6 network; list "
            "addresses or CIDR networks, e.g. ['10.0.0.0/8', '2001:db8::/32'] or '10.0.0.0/8, 192.0.2.7'",
        ),
        (
            "MAX_CONTENT_LENGTH",
            "1MB",
            "HUGGY_MAX_CONTENT_LENGTH = '1MB': not a whole number of bytes, 1 or more; write the number, e.g. 1048576 "
            "for 1 MiB",
        ),
        (
            "DEDUP_LEASE",
            -1,
            "HUGGY_DEDUP_LEASE = -1: not a number of seconds more than 0; use a number such as 300",
        ),
    ],
)
def test_the_error_says_the_key_the_value_and_the_fix(key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        create_app(**{f"HUGGY_{key}": value})

    assert str(raised.value) == message


def test_every_unusable_key_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        create_app(HUGGY_TIMEZONE="Mars/Olympus_Mons", HUGGY_STRICT="maybe", HUGGY_MAX_CONTENT_LENGTH="1MB")

    lines = str(raised.value).splitlines()
    assert lines[0] == "3 HUGGY_* settings are unusable:"
    assert [line.split(" = ")[0].strip() for line in lines[1:]] == [
        "HUGGY_TIMEZONE",
        "HUGGY_STRICT",
        "HUGGY_MAX_CONTENT_LENGTH",
    ]


def test_a_second_endpoint_checks_its_own_keys() -> None:
    app = create_app(HUGGY_B_TIMEZONE="Mars/Olympus_Mons")  # the default endpoint's keys are fine

    with pytest.raises(ConfigError, match=r"^HUGGY_B_TIMEZONE = 'Mars/Olympus_Mons'"):
        app.register_blueprint(make_blueprint("huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_"))


def test_errors_never_show_a_token_or_a_header_value() -> None:
    secrets = [
        {"HUGGY_WEBHOOK_TOKEN": [TOKEN, 42]},
        {"HUGGY_CONFIRM_HEADERS": {"Authorization": "Bearer app-token-9876543210", "Bad Name": "x"}},
        {"HUGGY_DEDUP": "redis+sentinel://:redis-password-1234@redis.example"},
    ]
    for secret_config in secrets:
        with pytest.raises(ConfigError) as raised:
            read_settings(secret_config)
        assert not {TOKEN, "Bearer app-token-9876543210", "redis-password-1234"} & set(
            str(raised.value).replace(",", " ").replace("'", " ").split()
        ), str(raised.value)
        assert "****" in str(raised.value)


# --- Values as the environment writes them -----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "meaning"),
    [
        ("true", True),
        ("false", False),
        ("TRUE", True),
        ("False", False),
        (" yes ", True),
        ("No", False),
        ("1", True),
        ("0", False),
        (1, True),
        (0, False),
        (True, True),
        (False, False),
    ],
)
@pytest.mark.parametrize("key", ["STRICT", "ALLOW_UNAUTHENTICATED"])
def test_booleans_read_what_the_environment_writes(key: str, value: Any, meaning: bool) -> None:
    assert getattr(read_settings({f"HUGGY_{key}": value}), key.lower()) is meaning


def test_strict_false_from_the_environment_is_off() -> None:
    app = create_app(HUGGY_STRICT="false")  # bool("false") is True: once, this refused the delivery
    invalid: list[Any] = []
    flask_huggy.signals.invalid_event.connect(lambda sender, **kwargs: invalid.append(kwargs), sender=app, weak=False)
    body = load_payload("startedAutomationFlow+finishedAutomationFlow")
    body["messages"]["finishedAutomationFlow"][0]["flowID"] = "not-a-number"

    response = app.test_client().post("/huggy/webhook", json=body)

    assert response.status_code == 200
    assert response.get_json()["invalid"] == 1
    assert [kwargs["event"].name for kwargs in invalid] == ["finishedAutomationFlow"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("MAX_CONTENT_LENGTH", "1048576", 1048576),
        ("MAX_CONTENT_LENGTH", 2.0**20, 1048576),
        ("JOURNAL_BACKUPS", "0", 0),
        ("MAX_AGE", "300", 300.0),
        ("MAX_AGE", timedelta(minutes=5), 300.0),
        ("CELERY_RETRY_BACKOFF", "0", 0.0),
        ("RECOVER_AFTER", "30", 30.0),
        ("RECOVER_AFTER", timedelta(minutes=15), 900.0),
    ],
)
def test_numbers_read_numeric_strings(key: str, value: Any, expected: float) -> None:
    parsed = getattr(read_settings({f"HUGGY_{key}": value}), key.lower())

    assert parsed == expected
    assert type(parsed) is type(expected)


@pytest.mark.parametrize("value", [None, False, "", 0, "0"])
def test_recovery_is_switched_off_by_none_or_zero(value: Any) -> None:
    assert read_settings({"HUGGY_RECOVER_AFTER": value}).recover_after is None


class _Store:
    def claim(self, key: str, owner: str, lease: float) -> str: ...
    def complete(self, key: str, owner: str, ttl: float) -> None: ...
    def release(self, key: str, owner: str) -> None: ...


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (False, False),
        (None, False),
        ("", False),
        ("false", False),
        ("0", False),
        ("memory", "memory"),
        (" Memory ", "memory"),
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("rediss://redis.example:6380", "rediss://redis.example:6380"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)
def test_dedup_takes_off_memory_or_a_redis_url(value: Any, expected: Any) -> None:
    assert read_settings({"HUGGY_DEDUP": value}).dedup == expected


def test_dedup_takes_a_store_object_as_it_is() -> None:
    store = _Store()
    assert read_settings({"HUGGY_DEDUP": store}).dedup is store


def test_a_redis_url_without_the_redis_package_is_refused_at_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # what importlib finds when the package is missing

    with pytest.raises(ConfigError, match=r"redis package is missing; pip install 'flask-huggy\[redis\]'"):
        create_app(HUGGY_DEDUP="redis://localhost:6379/0")


@pytest.mark.parametrize("value", [None, "", False, "https://huggy.example/confirm"])
def test_confirm_url_is_off_or_an_http_url(value: Any) -> None:
    assert read_settings({"HUGGY_CONFIRM_URL": value}).confirm_url == (value or None)


def test_the_configuration_page_includes_a_table_generated_from_the_settings(tmp_path: Path) -> None:
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("generate_settings", root / "docs" / "generate_settings.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)

    page = generator.render()
    from flask_huggy.config import SETTINGS

    keys = [line.split()[0] for line in page.splitlines() if line.startswith("``HUGGY_")]
    assert keys == [f"``HUGGY_{setting.key}``" for setting in SETTINGS]  # every setting, once, in order
    docs = generator.field_docs()
    assert all(docs[setting.attr].split()[0] in page for setting in SETTINGS)
    assert generator.write(tmp_path).read_text(encoding="utf-8") == page
    assert f".. include:: _generated/{generator.FILENAME}" in (root / "docs" / "configuration.rst").read_text(
        encoding="utf-8"
    )


def test_each_setting_is_declared_once_as_a_field_with_its_key_default_and_parser() -> None:
    assert [entry.attr for entry in SETTINGS] == [f.name for f in fields(Settings)]
    for entry in SETTINGS:
        assert entry.key and callable(entry.parse)
        assert read_settings({}).__getattribute__(entry.attr) == entry.parse(entry.default, entry.key)


def test_unknown_keys_are_found_with_the_setting_meant_and_other_endpoints_keys_are_known() -> None:
    keys = [
        "HUGGY_WEBHOK_TOKEN",
        "HUGGY_B_WEBHOOK_TOKEN",
        "HUGGY_STRICT",
        "HUGGY_NONSENSE_X",
        "HUGGY_QQQQQQQQQQQQQQQ",
        "SECRET_KEY",
    ]

    found = unknown_keys(keys, ["HUGGY_", "HUGGY_B_"])

    assert sorted(found) == ["HUGGY_NONSENSE_X", "HUGGY_QQQQQQQQQQQQQQQ", "HUGGY_WEBHOK_TOKEN"], found
    assert found["HUGGY_WEBHOK_TOKEN"] == "HUGGY_WEBHOOK_TOKEN"


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("HUGGY_B_WEBHOK_TOKEN", "HUGGY_B_WEBHOOK_TOKEN"),  # under the prefix it starts with
        ("HUGGY_CELERY_MAX_RETRY", "HUGGY_CELERY_MAX_RETRIES"),
        ("HUGGY_DEDUP_TTLL", "HUGGY_DEDUP_TTL"),
        ("HUGGY_MAX_DEPTH", None),  # a constant (envelope.MAX_DEPTH), not a typo of HUGGY_MAX_AGE
        ("HUGGY_MAX_EVENTS", None),
    ],
)
def test_the_setting_meant_is_offered_only_when_the_key_is_close_to_it(key: str, meant: str | None) -> None:
    assert unknown_keys([key], ["HUGGY_", "HUGGY_B_"]) == {key: meant}


def test_an_unknown_key_is_logged_at_startup_with_the_setting_meant(caplog: pytest.LogCaptureFixture) -> None:
    create_app(HUGGY_STRIKT=True, HUGGY_B_WEBHOOK_TOKEN="another-endpoint-s-token")

    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == [
        "HUGGY_STRIKT is in app.config but is no setting of flask-huggy (did you mean HUGGY_STRICT?)."
    ]  # HUGGY_B_WEBHOOK_TOKEN may belong to an endpoint registered later: not told
