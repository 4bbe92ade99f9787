"""Receivers act on events: huggy.api, delivery.endpoint.api, event.reply, and side effects that happen once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from flask import Flask

import flask_huggy
from flask_huggy import ConfigError, Delivery, Event, Huggy, HuggyAPI, HuggyAPIError
from flask_huggy.cli import cli
from flask_huggy.dedup import MemoryStore
from flask_huggy.endpoint import get_endpoint
from flask_huggy.testing import FakeHuggyAPI, build_delivery, build_event, fresh_id, post_delivery

from .conftest import TOKEN

pytest_plugins = ["pytester"]


@pytest.fixture
def fake() -> Iterator[FakeHuggyAPI]:
    with FakeHuggyAPI() as server:
        yield server


def make_app(fake: FakeHuggyAPI, celery: Celery | None = None, **config: Any) -> tuple[Flask, Huggy]:
    """An app whose client talks to ``fake`` through the settings, as on a worker built by the same factory.

    Not TESTING: a receiver that raises makes a 500, as Huggy sees it.
    """
    app = Flask(__name__)
    app.config.update(
        TESTING=False, HUGGY_WEBHOOK_TOKEN=TOKEN, HUGGY_API_TOKEN=fake.token, HUGGY_API_URL=fake.url, **config
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    return app, Huggy(app, celery=celery)


def message_for(fake: FakeHuggyAPI) -> tuple[dict[str, Any], str]:
    """A delivery of one message event in a chat the fake knows, and that chat's id."""
    chat_id = fresh_id()
    fake.add_chat(str(chat_id))
    return build_delivery(build_event("receivedAllMessage", chat_id=chat_id), token=TOKEN), str(chat_id)


def flaky_replier(huggy: Huggy, failures: int = 1) -> list[int]:
    """A receiver that replies, then raises the first ``failures`` times; returns the list of its runs."""
    runs: list[int] = []

    @huggy.on("receivedAllMessage")
    def answer(app: Flask, event: Event, delivery: Delivery, **extra: Any) -> None:
        event.reply("Recebido!")
        runs.append(1)
        if len(runs) <= failures:
            raise RuntimeError("the CRM is down")

    return runs


def texts(fake: FakeHuggyAPI, chat_id: str) -> list[str | None]:
    return [message["text"] for message in fake.messages_of(chat_id)]


# --- Reaching the client -----------------------------------------------------------------------


def test_huggy_api_is_the_current_apps_client_built_from_its_settings(fake: FakeHuggyAPI) -> None:
    huggy = Huggy()
    apps = [Flask("a"), Flask("b")]
    for app, company in zip(apps, ("1", "2")):
        app.config.update(HUGGY_API_TOKEN=fake.token, HUGGY_API_URL=fake.url, HUGGY_API_COMPANY=company)
        huggy.init_app(app)
    for app, company in zip(apps, ("1", "2")):
        with app.app_context():
            assert huggy.api is get_endpoint(app).api
            assert huggy.api.base_url == f"{fake.url}/companies/{company}"


def test_without_an_api_token_the_client_names_the_setting(fake: FakeHuggyAPI) -> None:
    app = Flask(__name__)
    huggy = Huggy(app)
    with pytest.raises(ConfigError, match="HUGGY_API_TOKEN is not set"):
        huggy.api  # noqa: B018


def test_a_receiver_replies_in_one_line_into_the_events_chat(fake: FakeHuggyAPI) -> None:
    app, huggy = make_app(fake)
    flaky_replier(huggy, failures=0)
    delivery, chat_id = message_for(fake)

    assert post_delivery(app.test_client(), delivery).status_code == 200
    assert texts(fake, chat_id) == ["Recebido!"]


def test_delivery_endpoint_api_is_the_endpoints_client_in_a_receiver(fake: FakeHuggyAPI) -> None:
    app, huggy = make_app(fake)
    seen: list[HuggyAPI] = []

    @huggy.on("closedChat")
    def close(app: Flask, event: Event, delivery: Delivery, **extra: Any) -> None:
        seen.append(delivery.endpoint.api)
        assert event.chat_id is not None
        delivery.endpoint.api.close_chat(event.chat_id, tabulation=3)

    chat_id = fresh_id()
    fake.add_chat(str(chat_id))
    post_delivery(app.test_client(), build_delivery(build_event("closedChat", chat_id=chat_id), token=TOKEN))
    assert seen == [get_endpoint(app).api]
    assert fake.chats[str(chat_id)]["situation"] == "finished"


def test_outside_receivers_delivery_endpoint_is_the_apps_endpoint_of_that_name(fake: FakeHuggyAPI) -> None:
    app, _ = make_app(fake)
    delivery = flask_huggy.envelope.parse_delivery(build_delivery("closedChat"), get_timezone())

    with app.app_context():
        assert delivery.endpoint is get_endpoint(app)
        assert delivery.endpoint.api is get_endpoint(app).api
    assert delivery.endpoint_name == "huggy"


def test_replying_to_an_event_without_a_chat_is_a_clear_error() -> None:
    event = Event("createdCustomer", dict(build_event("createdCustomer")), get_timezone())
    with pytest.raises(ValueError, match="createdCustomer event names no chat"):
        event.reply("oi")


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("receivedAllMessage", "chat.id"),
        ("closedChat", "id"),
        ("startedAutomationFlow", "chatID"),
        ("agentEntered", "id"),
    ],
)
def test_the_chat_of_an_event_is_found_where_its_model_keeps_it(name: str, where: str) -> None:
    chat_id = fresh_id()
    data = dict(build_event(name))
    node = data
    *parents, last = where.split(".")
    for key in parents:
        node = node[key]
    node[last] = chat_id
    assert Event(name, data, get_timezone()).chat_id == chat_id


def get_timezone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/Sao_Paulo")


def test_the_huggy_api_fixture_points_the_apps_client_at_a_fake(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from flask import Flask
        import pytest
        from flask_huggy import Huggy

        @pytest.fixture
        def app():
            app = Flask("t")
            app.config.update(HUGGY_WEBHOOK_TOKEN="t" * 32)
            huggy = Huggy(app)

            @huggy.on("receivedAllMessage")
            def answer(app, event, delivery, **extra):
                event.reply("Recebido!")

            return app

        def test_reply(huggy_api, post_huggy, huggy_delivery):
            chat = huggy_api.add_chat()
            post_huggy(huggy_delivery.event("receivedAllMessage", chat_id=int(chat["id"])))
            assert [m["text"] for m in huggy_api.messages_of(chat["id"])] == ["Recebido!"]
        """
    )
    pytester.runpytest_inprocess("-p", "no:xdist", "-p", "no:cacheprovider").assert_outcomes(passed=1)


# --- Once -------------------------------------------------------------------------------------


def test_a_reply_made_before_a_receiver_raised_is_not_sent_again_on_hugggys_retry(fake: FakeHuggyAPI) -> None:
    app, huggy = make_app(fake, HUGGY_DEDUP="memory")
    runs = flaky_replier(huggy)
    delivery, chat_id = message_for(fake)
    client = app.test_client()

    assert post_delivery(client, delivery).status_code == 500
    assert post_delivery(client, delivery).status_code == 200  # Huggy's retry
    assert len(runs) == 2
    assert texts(fake, chat_id) == ["Recebido!"]
    assert len(fake.calls("POST", "/messages")) == 1


def test_a_call_that_failed_is_sent_again_on_the_retry(fake: FakeHuggyAPI) -> None:
    app, huggy = make_app(fake, HUGGY_DEDUP="memory")
    flaky_replier(huggy, failures=0)
    delivery, chat_id = message_for(fake)
    client = app.test_client()

    fake.fail_next(400)  # not retried by the client: the receiver raises
    assert post_delivery(client, delivery).status_code == 500
    assert post_delivery(client, delivery).status_code == 200
    assert texts(fake, chat_id) == ["Recebido!"]
    assert len(fake.calls("POST", "/messages")) == 2


def test_a_remembered_call_returns_what_it_returned_the_first_time(fake: FakeHuggyAPI) -> None:
    app, huggy = make_app(fake, HUGGY_DEDUP="memory")
    answers: list[Any] = []

    @huggy.on("receivedAllMessage")
    def answer(app: Flask, event: Event, **extra: Any) -> None:
        answers.append(event.reply("Recebido!"))
        if len(answers) == 1:
            raise RuntimeError("once")

    delivery, _ = message_for(fake)
    post_delivery(app.test_client(), delivery)
    post_delivery(app.test_client(), delivery)
    assert answers[0] is not None and answers[0] == answers[1]


def test_two_identical_calls_in_one_run_are_both_sent_and_both_remembered(fake: FakeHuggyAPI) -> None:
    app, huggy = make_app(fake, HUGGY_DEDUP="memory")
    runs: list[int] = []

    @huggy.on("receivedAllMessage")
    def twice(app: Flask, event: Event, **extra: Any) -> None:
        event.reply("Um momento...")
        event.reply("Um momento...")
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("once")

    delivery, chat_id = message_for(fake)
    post_delivery(app.test_client(), delivery)
    post_delivery(app.test_client(), delivery)
    assert texts(fake, chat_id) == ["Um momento...", "Um momento..."]


def test_a_remembered_write_carries_its_key_and_is_retried_on_5xx(fake: FakeHuggyAPI) -> None:
    app, huggy = make_app(fake, HUGGY_DEDUP="memory")
    flaky_replier(huggy, failures=0)
    get_endpoint(app).api.sleep = lambda seconds: None
    delivery, chat_id = message_for(fake)

    fake.fail_next(503)
    assert post_delivery(app.test_client(), delivery).status_code == 200
    first, second = fake.calls("POST", "/messages")
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert texts(fake, chat_id) == ["Recebido!"]


def test_the_same_message_in_another_event_is_sent(fake: FakeHuggyAPI) -> None:
    app, huggy = make_app(fake, HUGGY_DEDUP="memory")
    flaky_replier(huggy, failures=0)
    chat_id = fresh_id()
    fake.add_chat(str(chat_id))
    client = app.test_client()
    for _ in range(2):
        post_delivery(client, build_delivery(build_event("receivedAllMessage", chat_id=chat_id), token=TOKEN))
    assert texts(fake, str(chat_id)) == ["Recebido!", "Recebido!"]


def test_without_dedup_calls_are_not_remembered(fake: FakeHuggyAPI) -> None:
    app, huggy = make_app(fake)
    flaky_replier(huggy)
    delivery, chat_id = message_for(fake)
    post_delivery(app.test_client(), delivery)
    post_delivery(app.test_client(), delivery)
    assert texts(fake, chat_id) == ["Recebido!", "Recebido!"]


class ForgetfulStore(MemoryStore):
    """A user's store with claim/complete/release only."""

    get = None  # type: ignore[assignment]
    set = None  # type: ignore[assignment]


def test_a_store_without_get_and_set_warns_and_calls_are_not_remembered(fake: FakeHuggyAPI, caplog) -> None:
    with caplog.at_level(logging.WARNING, "flask_huggy"):
        app, huggy = make_app(fake, HUGGY_DEDUP=ForgetfulStore())
    assert "has no get/set" in caplog.text
    flaky_replier(huggy)
    delivery, chat_id = message_for(fake)
    post_delivery(app.test_client(), delivery)
    post_delivery(app.test_client(), delivery)
    assert texts(fake, chat_id) == ["Recebido!", "Recebido!"]


def test_a_reply_is_sent_once_across_replay_failed(fake: FakeHuggyAPI, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    app, huggy = make_app(fake, HUGGY_DEDUP="memory", HUGGY_JOURNAL=str(journal))
    runs = flaky_replier(huggy)
    delivery, chat_id = message_for(fake)

    assert post_delivery(app.test_client(), delivery).status_code == 500
    result = app.test_cli_runner().invoke(cli, ["replay", "--failed", str(journal)])

    assert result.exit_code == 0, result.output
    assert len(runs) == 2
    assert texts(fake, chat_id) == ["Recebido!"]


def test_a_reply_is_sent_once_across_a_celery_retry(fake: FakeHuggyAPI) -> None:
    celery = Celery("eager", broker="memory://")
    celery.conf.update(task_always_eager=True)
    app, huggy = make_app(fake, celery, HUGGY_DEDUP="memory", HUGGY_CELERY_RETRY_BACKOFF=0)
    runs = flaky_replier(huggy)
    delivery, chat_id = message_for(fake)

    assert post_delivery(app.test_client(), delivery).get_json()["status"] == "queued"
    assert len(runs) == 2  # the first attempt raised, Celery's retry ran it again
    assert texts(fake, chat_id) == ["Recebido!"]


def test_a_client_error_in_a_receiver_fails_the_delivery_so_huggy_retries(fake: FakeHuggyAPI) -> None:
    app, huggy = make_app(fake, HUGGY_DEDUP="memory")
    errors: list[BaseException] = []
    flask_huggy.signals.receiver_failed.connect(
        lambda sender, exception, **extra: errors.append(exception), sender=app, weak=False
    )

    @huggy.on("receivedAllMessage")
    def answer(app: Flask, event: Event, **extra: Any) -> None:
        event.reply("oi")

    delivery = build_delivery(build_event("receivedAllMessage", chat_id=fresh_id()), token=TOKEN)  # unknown chat
    assert post_delivery(app.test_client(), delivery).status_code == 500
    assert isinstance(errors[0], HuggyAPIError) and errors[0].status == 404


# --- flask huggy api ---------------------------------------------------------------------------


def test_the_api_command_prints_hugggys_answer_and_never_the_token(fake: FakeHuggyAPI) -> None:
    fake.agent["name"] = f"Agent who echoes {fake.token}"
    app, _ = make_app(fake)
    result = app.test_cli_runner().invoke(cli, ["api", "get", "/agents/profile"])
    assert result.exit_code == 0, result.output
    assert '"id": 118330853' in result.output
    assert fake.token and fake.token not in result.output
    assert fake.requests[0].headers["Authorization"] == f"Bearer {fake.token}"


def test_the_api_command_sends_json_and_params(fake: FakeHuggyAPI) -> None:
    app, _ = make_app(fake)
    chat = fake.add_chat()
    runner = app.test_cli_runner()
    sent = runner.invoke(cli, ["api", "POST", f"/chats/{chat['id']}/messages", "--json", '{"text": "Olá!"}'])
    listed = runner.invoke(cli, ["api", "GET", "/chats", "--param", "situation=in_chat", "--param", "page=0"])
    assert sent.exit_code == 0 and listed.exit_code == 0, sent.output + listed.output
    assert texts(fake, chat["id"]) == ["Olá!"]
    assert fake.requests[-1].params == {"situation": "in_chat", "page": "0"}


def test_the_api_command_reports_hugggys_refusal_without_the_token(fake: FakeHuggyAPI) -> None:
    app, _ = make_app(fake)
    fake.token = "another"
    result = app.test_cli_runner().invoke(cli, ["api", "GET", "/agents/profile"])
    assert result.exit_code == 1
    assert "answered 401 to GET /agents/profile" in result.output
    assert get_endpoint(app).settings.api_token not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["api", "POST", "/contacts", "--json", "{name"], "not JSON"),
        (["api", "GET", "https://evil.example/x"], "path must be a path"),
        (["api", "GET", "/chats", "--param", "page"], "is not NAME=VALUE"),
    ],
)
def test_the_api_command_refuses_bad_input(fake: FakeHuggyAPI, args: list[str], message: str) -> None:
    app, _ = make_app(fake)
    result = app.test_cli_runner().invoke(cli, args)
    assert result.exit_code != 0 and message in result.output
    assert fake.requests == []
