"""The pytest plugin, used as a user's suite uses it: a separate app and tests, run by pytester."""

from __future__ import annotations

import os
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
#: The users' suites below use no Hypothesis. Its plugin would import all of Hypothesis at the end
#: of every run (pytester undoes a run's imports), a second each: more than the run itself.
USERS_OPTIONS = ("-p", "no:hypothesispytest")

#: A user's app, as README's quick start builds it, in the user's conftest.
USER_CONFTEST = """
    from __future__ import annotations

    import pytest
    from flask import Flask

    import flask_huggy
    from flask_huggy import signals

    TOKEN = "0123456789abcdef0123456789abcdef"


    def create_app() -> Flask:
        app = Flask("shop")
        app.config.update(TESTING=True, HUGGY_WEBHOOK_TOKEN=TOKEN)
        app.register_blueprint(flask_huggy.blueprint)
        app.closed = []

        @signals.closed_chat.connect_via(app)
        def on_closed(sender, event, delivery, **extra):
            sender.closed.append(event.data["id"])

        return app


    @pytest.fixture
    def app() -> Flask:
        return create_app()
"""


@pytest.fixture
def user_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(textwrap.dedent(USER_CONFTEST))
    return pytester


def test_the_plugin_is_registered_through_the_pytest11_entry_point() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}

    assert plugins.get("flask_huggy") == "flask_huggy.pytest_plugin"


def test_a_users_suite_posts_deliveries_and_sees_its_receivers_run(user_suite: pytest.Pytester) -> None:
    user_suite.makepyfile(
        test_shop="""
        def test_a_closed_chat_reaches_my_receiver(app, post_huggy, huggy_delivery):
            response = post_huggy(huggy_delivery.event("closedChat", id=30608118))

            assert response.status_code == 200
            assert app.closed == [30608118]


        def test_a_chain_is_accepted_in_one_delivery(post_huggy):
            response = post_huggy("startedChat", "receivedMessage", "closedChat")

            assert response.get_json() == {"status": "accepted", "events": 3, "invalid": 0, "duplicates": 0}


        def test_huggy_client_is_a_test_client_of_my_app(app, huggy_client):
            assert huggy_client.application is app
    """
    )

    result = user_suite.runpytest(*USERS_OPTIONS)

    result.assert_outcomes(passed=3)


def test_huggy_delivery_builds_with_the_apps_token(user_suite: pytest.Pytester) -> None:
    user_suite.makepyfile(
        test_builder="""
        from conftest import TOKEN


        def test_the_token_is_my_apps(huggy_delivery):
            delivery = huggy_delivery("closedChat", "agentEntered")

            assert delivery["token"] == TOKEN
            assert list(delivery["messages"]) == ["closedChat", "agentEntered"]


        def test_a_token_given_wins(huggy_delivery, post_huggy):
            delivery = huggy_delivery("closedChat", token="not-my-token")

            assert post_huggy(delivery).status_code == 403
    """
    )

    result = user_suite.runpytest(*USERS_OPTIONS)

    result.assert_outcomes(passed=2)


def test_huggy_signals_records_what_fired_during_the_test(user_suite: pytest.Pytester) -> None:
    user_suite.makepyfile(
        test_signals="""
        def test_names_and_events(post_huggy, huggy_signals):
            post_huggy("closedChat")

            assert huggy_signals.names() == ["closedChat", "huggy.event_received", "huggy.delivery_received"]
            assert [e.name for e in huggy_signals.events("closed_chat")] == ["closedChat"]
            assert huggy_signals.events("closed_chat") == huggy_signals.events("closedChat")


        def test_each_test_starts_with_an_empty_recording(huggy_signals):
            assert huggy_signals.calls == []
    """
    )

    result = user_suite.runpytest(*USERS_OPTIONS)

    result.assert_outcomes(passed=2)


def test_huggy_confirm_answers_the_handshake_for_huggy(user_suite: pytest.Pytester) -> None:
    user_suite.makepyfile(
        test_handshake="""
        import requests

        from conftest import TOKEN


        def test_my_app_prints_the_token_then_confirms_it(post_huggy, huggy_confirm, huggy_signals):
            response = post_huggy.handshake()

            assert response.get_data(as_text=True) == TOKEN
            assert huggy_confirm.tokens == [TOKEN]
            assert huggy_signals.calls_to("token_validated")[0].kwargs["confirmed"] is True


        def test_huggy_refusing_changes_nothing_huggy_sees(post_huggy, huggy_confirm, huggy_signals):
            huggy_confirm.respond(403)

            assert post_huggy.handshake().get_data(as_text=True) == TOKEN
            assert huggy_signals.calls_to("token_validated")[0].kwargs["confirmed"] is False


        def test_huggy_timing_out_changes_nothing_huggy_sees(post_huggy, huggy_confirm):
            huggy_confirm.fail(requests.ReadTimeout)

            assert post_huggy.handshake().status_code == 200
            assert huggy_confirm.tokens == [TOKEN]
    """
    )

    result = user_suite.runpytest(*USERS_OPTIONS)

    result.assert_outcomes(passed=3)


def test_huggy_confirm_gives_the_app_a_fake_huggy_and_patches_nothing(user_suite: pytest.Pytester) -> None:
    user_suite.makepyfile(
        test_injected="""
        from requests.adapters import HTTPAdapter

        from conftest import TOKEN
        from flask_huggy.endpoint import get_endpoint


        def test_the_apps_endpoint_gets_the_fake_and_requests_is_untouched(app, post_huggy, huggy_confirm):
            assert HTTPAdapter.send.__qualname__ == "HTTPAdapter.send"
            assert get_endpoint(app).http is not None

            post_huggy.handshake()

            assert huggy_confirm.tokens == [TOKEN]
    """
    )

    result = user_suite.runpytest(*USERS_OPTIONS)

    result.assert_outcomes(passed=1)


def test_the_fixtures_work_without_an_app_where_none_is_needed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_no_app="""
        from flask_huggy.testing import SAMPLE_TOKEN


        def test_builder_falls_back_to_the_sample_token(huggy_delivery):
            assert huggy_delivery("closedChat")["token"] == SAMPLE_TOKEN


        def test_recorder_needs_no_app(huggy_signals):
            assert huggy_signals.names() == []
    """
    )

    result = pytester.runpytest(*USERS_OPTIONS)

    result.assert_outcomes(passed=2)


def test_posting_without_an_app_fixture_says_what_to_define(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_no_app="""
        def test_post(post_huggy):
            post_huggy("closedChat")
    """
    )

    result = pytester.runpytest(*USERS_OPTIONS)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define an `app` fixture*override `huggy_app`*"])


def test_a_suite_that_does_not_ask_for_the_fixtures_is_untouched(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In a process of its own: this one's signals carry the receivers of the tests run before.
    # The checkout comes first on its path, so the pytest11 entry point loads this plugin, not another install's.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    pytester.makepyfile(
        test_plain="""
        from requests.adapters import HTTPAdapter

        from flask_huggy import signals


        def test_requests_is_not_patched():
            assert HTTPAdapter.send.__qualname__ == "HTTPAdapter.send"


        def test_no_receiver_is_connected():
            assert all(not signal.receivers for signal in signals.huggy_signals.values())
    """
    )

    result = pytester.runpytest_subprocess(*USERS_OPTIONS)

    result.assert_outcomes(passed=2)


def test_the_fixtures_are_listed_with_their_documentation(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*USERS_OPTIONS, "--fixtures")

    result.stdout.fnmatch_lines(
        [
            "*huggy_delivery*",
            "*Builds deliveries*",
        ]
    )
    for name in ("huggy_app", "huggy_client", "post_huggy", "huggy_signals", "huggy_confirm"):
        assert name in result.stdout.str()
