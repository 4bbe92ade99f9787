"""Optional guards: source networks, a freshness window, CSRF exemption."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask_wtf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

import flask_huggy

from .conftest import TOKEN, create_app, load_payload


def post_from(app: Flask, address: str, body: dict | None = None, **kwargs):
    return app.test_client().post(
        "/huggy/webhook", json=body or load_payload("closedChat"), environ_base={"REMOTE_ADDR": address}, **kwargs
    )


def test_without_allowed_networks_any_source_is_accepted() -> None:
    assert post_from(create_app(), "203.0.113.9").status_code == 200


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.7", "::ffff:10.9.9.9", "2001:db8::1"])
def test_sources_inside_allowed_networks_are_accepted(address) -> None:
    app = create_app(HUGGY_ALLOWED_NETWORKS=["10.0.0.0/8", "192.168.0.7", "2001:db8::/32"])

    assert post_from(app, address).status_code == 200


@pytest.mark.config(HUGGY_ALLOWED_NETWORKS="10.0.0.0/8, 172.16.0.0/12")
def test_a_source_outside_allowed_networks_is_403_and_nothing_fires(recorder, app) -> None:

    response = post_from(app, "203.0.113.9")

    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden_source"
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


def test_x_forwarded_for_alone_is_never_trusted() -> None:
    app = create_app(HUGGY_ALLOWED_NETWORKS=["10.0.0.0/8"])

    response = post_from(app, "203.0.113.9", headers={"X-Forwarded-For": "10.0.0.1"})

    assert response.status_code == 403


def test_behind_proxyfix_the_forwarded_client_address_is_checked() -> None:
    app = create_app(HUGGY_ALLOWED_NETWORKS=["198.51.100.0/24"])
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # one proxy in front, as the user declares

    allowed = post_from(app, "127.0.0.1", headers={"X-Forwarded-For": "198.51.100.20"})
    spoofed = post_from(app, "127.0.0.1", headers={"X-Forwarded-For": "198.51.100.20, 203.0.113.9"})

    assert allowed.status_code == 200
    assert spoofed.status_code == 403  # the proxy appended the real client; ProxyFix takes the last one


@pytest.mark.config(HUGGY_MAX_AGE=300)
def test_max_age_accepts_a_fresh_delivery_and_refuses_an_old_one(recorder, app) -> None:
    fresh = load_payload("closedChat") | {"time": int(time.time()) - 10}
    old = load_payload("closedChat")  # the docs' sample is from 2020

    assert app.test_client().post("/huggy/webhook", json=fresh).status_code == 200
    response = app.test_client().post("/huggy/webhook", json=old)

    assert response.status_code == 403
    assert response.get_json()["error"] == "stale_delivery"
    assert len(recorder.events("closedChat")) == 1


@pytest.mark.config(HUGGY_MAX_AGE=60)
def test_max_age_refuses_deliveries_from_the_future_and_without_time(app) -> None:
    future = load_payload("closedChat") | {"time": int(time.time()) + 3600}
    untimed = {"token": TOKEN, "messages": {"closedChat": [{"id": 1}]}}

    assert app.test_client().post("/huggy/webhook", json=future).status_code == 403
    assert app.test_client().post("/huggy/webhook", json=untimed).status_code == 403


def test_max_age_is_off_by_default_so_huggy_retries_of_old_deliveries_land(app) -> None:
    assert app.test_client().post("/huggy/webhook", json=load_payload("closedChat")).status_code == 200


def csrf_app(csrf_first: bool) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test", HUGGY_WEBHOOK_TOKEN=TOKEN)
    csrf = CSRFProtect()
    if csrf_first:
        csrf.init_app(app)
    app.register_blueprint(flask_huggy.blueprint)
    if not csrf_first:
        csrf.init_app(app)

    @app.post("/form")
    def form() -> str:
        return "ok"

    return app


@pytest.mark.parametrize("csrf_first", [True, False], ids=["csrf-before-blueprint", "csrf-after-blueprint"])
def test_the_webhook_is_exempt_from_flask_wtf_csrf_while_other_routes_stay_protected(csrf_first) -> None:
    client = csrf_app(csrf_first).test_client()

    assert client.post("/huggy/webhook", json=load_payload("closedChat")).status_code == 200
    assert client.post("/form").status_code == 400  # CSRFProtect still guards the app's own forms
