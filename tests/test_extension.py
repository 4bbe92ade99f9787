"""``Huggy(app)``: one extension object, one state object per endpoint, receivers that cannot vanish."""

from __future__ import annotations

import gc
import subprocess
import sys
from typing import Any

import pytest
from flask import Flask

import flask_huggy
from flask_huggy import Huggy, errors, signals
from flask_huggy.endpoint import Endpoint, get_endpoint
from flask_huggy.testing import post_delivery

from .conftest import TOKEN, load_payload


def create_app(**config: Any) -> Flask:
    """An app factory as the README writes one: the receiver is defined inside it."""
    app = Flask(__name__)
    app.config.update({"TESTING": True, "HUGGY_WEBHOOK_TOKEN": TOKEN, **config})
    huggy = Huggy(app)
    app.extensions["closed"] = closed = []

    @huggy.on("closedChat")
    def archive(sender: Flask, event: flask_huggy.Event, delivery: flask_huggy.Delivery, **extra: Any) -> None:
        closed.append(event.data["id"])

    return app


def test_huggy_registers_the_webhook_and_its_receivers_survive_the_factory() -> None:
    app = create_app()
    gc.collect()  # the factory's local function is referenced by the extension only

    response = post_delivery(app.test_client(), load_payload("closedChat"))

    assert response.status_code == 200
    assert app.extensions["closed"] == [load_payload("closedChat")["messages"]["closedChat"][0]["id"]]


def test_a_weakly_connected_receiver_of_a_factory_is_gone_which_huggy_on_prevents() -> None:
    # Why huggy.on connects strongly: blinker's default keeps a weak reference.
    app = Flask(__name__)
    app.config.update(HUGGY_WEBHOOK_TOKEN=TOKEN)
    Huggy(app)

    def factory_local(sender: Flask, **extra: Any) -> None:
        raise AssertionError("never called")

    signals.closed_chat.connect(factory_local, sender=app)
    assert "factory_local" in [r.__name__ for r in signals.closed_chat.receivers_for(app)]
    del factory_local
    gc.collect()

    assert "factory_local" not in [r.__name__ for r in signals.closed_chat.receivers_for(app)]


def test_one_extension_at_module_level_serves_several_apps_each_with_its_own_state() -> None:
    huggy = Huggy()  # as a module-level extension: receivers declared once, next to it
    closed: list[tuple[str, int]] = []

    @huggy.on("closedChat")
    def archive(sender: Flask, event: flask_huggy.Event, **extra: Any) -> None:
        closed.append((sender.config["HUGGY_WEBHOOK_TOKEN"], event.data["id"]))

    first, second = Flask("first"), Flask("second")
    first.config["HUGGY_WEBHOOK_TOKEN"] = TOKEN
    second.config["HUGGY_WEBHOOK_TOKEN"] = "another-token-of-32-characters!!"
    for app in (first, second):
        huggy.init_app(app)

    post_delivery(first.test_client(), load_payload("closedChat"))

    assert [token for token, _ in closed] == [TOKEN]  # the first app's receiver only, once
    assert huggy.endpoint(first) is not huggy.endpoint(second)
    assert huggy.endpoint(second).settings.tokens == ("another-token-of-32-characters!!",)


def test_on_after_init_app_connects_to_the_apps_already_set_up() -> None:
    app = Flask(__name__)
    app.config.update(HUGGY_WEBHOOK_TOKEN=TOKEN)
    huggy = Huggy(app)
    seen: list[str] = []

    @huggy.on(None)
    def everything(sender: Flask, event: flask_huggy.Event, **extra: Any) -> None:
        seen.append(event.name)

    body = load_payload("closedChat")
    body["messages"]["somethingNew"] = [{"id": 1}]
    post_delivery(app.test_client(), body)

    assert seen == ["closedChat", "somethingNew"]  # on(None): every event, known or not


def test_on_refuses_an_event_name_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="closedchat"):
        Huggy().on("closedchat")


def test_the_alias_of_an_event_is_the_same_signal() -> None:
    app = Flask(__name__)
    app.config.update(HUGGY_WEBHOOK_TOKEN=TOKEN)
    huggy = Huggy(app)
    seen: list[str] = []
    huggy.on("sentAllMessage")(lambda sender, event, **extra: seen.append(event.name))

    post_delivery(app.test_client(), load_payload("sendedAllMessage"))

    assert seen and set(seen) == {"sendedAllMessage"}


def test_two_endpoints_keep_their_own_state_and_deliveries_say_which_they_came_to() -> None:
    app = Flask(__name__)
    app.config.update(HUGGY_WEBHOOK_TOKEN=TOKEN, HUGGY_B_WEBHOOK_TOKEN="token-of-account-b-0123456789abcd")
    Huggy(app)
    Huggy(app, name="huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_")
    endpoints: list[str] = []
    signals.delivery_received.connect(
        lambda sender, delivery, **extra: endpoints.append(delivery.endpoint_name), sender=app, weak=False
    )

    client = app.test_client()
    assert post_delivery(client, load_payload("closedChat")).status_code == 200
    assert (
        client.post(
            "/huggy-b/webhook", json=load_payload("closedChat", token="token-of-account-b-0123456789abcd")
        ).status_code
        == 200
    )

    assert endpoints == ["huggy", "huggy_b"]
    assert set(app.extensions["huggy"]) == {"huggy", "huggy_b"}
    assert isinstance(get_endpoint(app, "huggy_b"), Endpoint)
    assert get_endpoint(app, "huggy_b").config_prefix == "HUGGY_B_"


def test_an_unknown_endpoint_name_is_a_config_error_naming_the_known_ones() -> None:
    app = create_app()

    with pytest.raises(flask_huggy.ConfigError, match="'huggy'"):
        get_endpoint(app, "nope")


def test_the_blueprint_and_make_blueprint_use_the_same_endpoint_object() -> None:
    app = Flask(__name__)
    app.register_blueprint(flask_huggy.blueprint)

    assert isinstance(app.extensions["huggy"]["huggy"], Endpoint)
    assert get_endpoint(app) is app.extensions["huggy"]["huggy"]


def test_the_front_door_is_small_and_the_rest_is_still_reachable() -> None:
    assert len(flask_huggy.__all__) <= 17  # 15, and HuggyAPI with its HuggyAPIError (issue 22)
    assert {
        "Huggy",
        "blueprint",
        "make_blueprint",
        "signals",
        "Event",
        "Delivery",
        "Store",
        "HuggyError",
        "DeliveryRejected",
        "Unavailable",
        "HandshakeError",
        "ConfigError",
        "__version__",
    } <= set(flask_huggy.__all__)
    from flask_huggy.journal import Journal

    assert flask_huggy.journal.Journal is Journal  # moved, not removed
    with pytest.raises(AttributeError):
        flask_huggy.no_such_name  # noqa: B018


def test_importing_the_package_imports_no_test_code_no_cli_no_celery_and_no_requests() -> None:
    code = (
        "import sys, flask_huggy; "
        "print(sorted(m for m in sys.modules if m.startswith(('flask_huggy.testing', 'flask_huggy.cli', "
        "'flask_huggy.celery', 'celery', 'kombu', 'requests'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


def test_refusals_are_werkzeug_http_exceptions_and_config_errors_are_not() -> None:
    from werkzeug.exceptions import HTTPException

    public = [getattr(errors, name) for name in errors.__all__]

    assert {cls.__name__ for cls in public} == {
        "HuggyError",
        "DeliveryRejected",
        "Unavailable",
        "HandshakeError",
        "HuggyAPIError",
        "ConfigError",
    }
    assert issubclass(errors.DeliveryRejected, HTTPException)
    assert issubclass(errors.Unavailable, errors.DeliveryRejected)
    assert errors.Unavailable("down", error="x").code == 503
    assert errors.DeliveryRejected("gone", error="y", status=413).code == 413
    assert not issubclass(errors.ConfigError, HTTPException)
    assert not issubclass(errors.HandshakeError, HTTPException)
    assert not issubclass(errors.HuggyAPIError, HTTPException)


def test_moved_and_removed_names_are_not_served_from_the_package() -> None:
    for name in ("init_celery", "HuggyCelery", "mask_token", "endpoint_state", "Journal", "InvalidBody"):
        assert not hasattr(flask_huggy, name), name


def test_a_receiver_declared_in_a_factory_after_init_app_is_refused_at_once() -> None:
    huggy = Huggy()

    def factory() -> Flask:
        app = Flask(__name__)
        app.config.update(HUGGY_WEBHOOK_TOKEN=TOKEN)
        huggy.init_app(app)

        @huggy.on("closedChat")
        def on_closed(app: Flask, event: Any, delivery: Any, **extra: Any) -> None:
            pass

        return app

    with pytest.raises(flask_huggy.ConfigError, match="before init_app"):
        factory()


def test_receivers_of_a_module_level_extension_fire_once_for_each_app_however_many_apps() -> None:
    huggy = Huggy()
    calls: list[Flask] = []

    @huggy.on("closedChat")
    def on_closed(app: Flask, event: Any, delivery: Any, **extra: Any) -> None:
        calls.append(app)

    apps = []
    for _ in range(3):
        app = Flask(__name__)
        app.config.update(HUGGY_WEBHOOK_TOKEN=TOKEN)
        huggy.init_app(app)
        apps.append(app)
    post_delivery(apps[2].test_client(), "closedChat")

    assert calls == [apps[2]]


def test_a_receiver_declared_on_huggy_app_fires_only_for_that_app() -> None:
    calls: list[str] = []
    apps = []
    for name in ("first", "second"):
        app = Flask(name)
        app.config.update(HUGGY_WEBHOOK_TOKEN=TOKEN)
        huggy = Huggy(app)

        @huggy.on("closedChat")
        def on_closed(app: Flask, event: Any, delivery: Any, name: str = name, **extra: Any) -> None:
            calls.append(name)

        apps.append(app)
    post_delivery(apps[1].test_client(), "closedChat")

    assert calls == ["second"]


@pytest.mark.parametrize(
    "receiver",
    [lambda app: None, lambda app, event: None, lambda: None, lambda app, *, event, delivery, when: None],
    ids=["sender only", "no delivery", "nothing", "a required extra keyword"],
)
def test_a_receiver_that_cannot_take_the_documented_arguments_is_refused_naming_it(receiver: Any) -> None:
    huggy = Huggy()

    with pytest.raises(TypeError, match=r"<lambda>.*event=\.\.\., delivery=\.\.\."):
        huggy.on("closedChat")(receiver)


def test_a_receiver_with_a_matching_signature_is_taken() -> None:
    huggy = Huggy()

    for receiver in (lambda app, event, delivery: None, lambda sender, **kwargs: None, lambda *args, **kwargs: None):
        assert huggy.on(None)(receiver) is receiver


def test_settings_are_read_once_and_later_config_changes_are_not_seen(payload) -> None:
    app = create_app()
    app.config["HUGGY_WEBHOOK_TOKEN"] = "another-token-0123456789abcdef0123"

    assert get_endpoint(app).settings.tokens == (TOKEN,)
    assert app.test_client().post("/huggy/webhook", json=payload("closedChat")).status_code == 200


def test_a_huggy_created_with_an_app_refuses_init_app_for_another() -> None:
    first, second = Flask("first"), Flask("second")
    huggy = Huggy(first)

    with pytest.raises(flask_huggy.ConfigError, match="init_app"):
        huggy.init_app(second)


def test_endpoints_are_keyed_by_name_and_a_lookup_creates_none() -> None:
    app = create_app(HUGGY_B_WEBHOOK_TOKEN="token-of-account-b-0123456789abcd")
    Huggy(app, name="account_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_")

    with pytest.raises(flask_huggy.ConfigError):
        get_endpoint(app, "HUGGY_B_")
    assert sorted(app.extensions["huggy"]) == ["account_b", "huggy"]
    assert get_endpoint(app, "account_b").config_prefix == "HUGGY_B_"
