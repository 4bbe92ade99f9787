"""The inbox acts: a chat page replies, writes internal notes and closes chats through Huggy's API client."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from example_app import create_app
from example_app.acting import inbox_fake
from example_app.demo import conversation
from example_app.state import inbox_state
from example_app.webhook import huggy
from flask_huggy import HuggyAPI, HuggyAPIError
from flask_huggy.testing import FakeHuggyAPI

from .conftest import TOKEN, load_payload

#: The chat of the docs' startedChat + receivedMessage.
CHAT = "171789"
FAKE_BANNER = "Replies go to a fake Huggy API running inside the inbox: set HUGGY_API_TOKEN to reach Huggy"
PASSWORD = "correct horse battery staple"


def make_inbox(tmp_path, **config: object) -> Flask:
    app = create_app(
        {
            "TESTING": True,
            "HUGGY_WEBHOOK_TOKEN": TOKEN,
            "INBOX_DEMO_PAUSE": 0,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'inbox.sqlite3'}",
            **config,
        }
    )
    post = app.test_client().post("/huggy/webhook", json=load_payload("startedChat+receivedMessage"))
    assert post.status_code == 200
    return app


@pytest.fixture
def inbox(tmp_path) -> Flask:
    """An inbox without HUGGY_API_TOKEN, showing one chat: its buttons go to the inbox's own fake."""
    return make_inbox(tmp_path)


@pytest.fixture
def fake() -> FakeHuggyAPI:
    """The process's fake Huggy API, which the inbox starts on first use, emptied for this test."""
    running = inbox_fake(ZoneInfo("America/Sao_Paulo"))
    running.requests.clear()
    running.chats.clear()
    running.messages.clear()
    return running


@pytest.fixture
def huggy_here(tmp_path) -> Iterator[FakeHuggyAPI]:
    """A FakeHuggyAPI of the test's own, standing in for Huggy behind HUGGY_API_TOKEN and HUGGY_API_URL."""
    with FakeHuggyAPI() as server:
        yield server


def page_text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.get_data(as_text=True)))


def submit(client: FlaskClient, action: str, **form: str) -> tuple[int, str]:
    """POST a chat page's form as the browser would, then follow the redirect: (the POST's status, the page)."""
    posted = client.post(f"/chats/{CHAT}/{action}", data=form, headers={"Origin": "http://localhost"})
    if posted.status_code != 303:
        return posted.status_code, posted.get_data(as_text=True)
    shown = client.get(posted.headers["Location"])
    assert shown.status_code == 200
    return posted.status_code, shown.get_data(as_text=True)


def outcome(html: str) -> str:
    found = re.search(r'id="action-outcome"[^>]*>(.*?)</div>', html, re.S)
    assert found, "the page says nothing about the button"
    return found.group(1).strip()


def test_the_chat_page_offers_a_reply_box_an_internal_note_and_a_close_with_tabulation(inbox) -> None:
    html = inbox.test_client().get(f"/chats/{CHAT}").get_data(as_text=True)

    assert f'action="/chats/{CHAT}/reply"' in html and 'name="text"' in html
    assert 'name="internal"' in html and "Internal note" in html
    assert f'action="/chats/{CHAT}/close"' in html and 'name="tabulation"' in html


def test_without_an_api_token_the_page_says_replies_go_to_a_fake(inbox) -> None:
    text = page_text(inbox.test_client().get(f"/chats/{CHAT}"))

    assert FAKE_BANNER in text


def test_a_reply_reaches_the_fake_once_as_typed_and_the_page_says_sent(inbox, fake) -> None:
    typed = "Olá John! <b>Seu pedido</b> & tudo certo.\n  Até já"

    status, html = submit(inbox.test_client(), "reply", text=typed, form_id="f" * 22)

    assert status == 303
    assert [(r.method, r.path, r.json) for r in fake.requests] == [
        ("POST", f"/v3/chats/{CHAT}/messages", {"text": typed})
    ]
    assert [m["text"] for m in fake.messages_of(CHAT)] == [typed]
    assert outcome(html).startswith("Reply sent (message ")


def test_an_internal_note_is_sent_as_one(inbox, fake) -> None:
    status, html = submit(inbox.test_client(), "reply", text="Cliente VIP", internal="on", form_id="n" * 22)

    assert status == 303
    assert fake.requests[-1].json == {"text": "Cliente VIP", "isInternal": True}
    assert fake.messages_of(CHAT)[-1]["isInternal"] is True
    assert outcome(html).startswith("Internal note sent")


def test_closing_sends_the_tabulation_and_the_fake_closes_the_chat(inbox, fake) -> None:
    status, html = submit(inbox.test_client(), "close", tabulation=" 12 ", form_id="c" * 22)

    assert status == 303
    assert [(r.method, r.path, r.json) for r in fake.requests] == [
        ("PUT", f"/v3/chats/{CHAT}/close", {"tabulation": 12, "sendFeedback": False})
    ]
    assert fake.chats[CHAT]["situation"] == "finished"
    assert "Chat closed with tabulation 12" in outcome(html)


def test_closing_without_a_tabulation_sends_none(inbox, fake) -> None:
    submit(inbox.test_client(), "close", tabulation="", form_id="z" * 22)

    assert fake.requests[-1].json == {"tabulation": None, "sendFeedback": False}


def test_a_form_sent_twice_acts_once(inbox, fake) -> None:
    client = inbox.test_client()
    for _ in range(3):  # a double click, then Back and send again
        status, html = submit(client, "reply", text="Uma vez só", form_id="d" * 22)
        assert status == 303

    assert [m["text"] for m in fake.messages_of(CHAT)] == ["Uma vez só"]
    assert outcome(html).startswith("Reply sent")


def test_reloading_the_page_that_says_sent_sends_nothing(inbox, fake) -> None:
    client = inbox.test_client()
    posted = client.post(f"/chats/{CHAT}/reply", data={"text": "Oi", "form_id": "r" * 22})

    for _ in range(2):
        assert client.get(posted.headers["Location"]).status_code == 200

    assert len(fake.requests) == 1


def test_an_empty_reply_is_not_sent(inbox, fake) -> None:
    status, html = submit(inbox.test_client(), "reply", text="  \n ", form_id="e" * 22)

    assert status == 303
    assert fake.requests == []
    assert outcome(html) == "Reply not sent: it is empty."


def test_an_api_error_is_shown_with_its_reason_and_the_reply_is_kept(tmp_path, huggy_here) -> None:
    inbox = make_inbox(tmp_path, HUGGY_API_TOKEN=huggy_here.token, HUGGY_API_URL=huggy_here.url)
    # Huggy's fake does not know the chat: 404, {"reason": "Registro não encontrado"}

    status, html = submit(inbox.test_client(), "reply", text="Oi <John>", form_id="g" * 22)

    assert status == 303
    assert outcome(html) == "Reply not sent: Huggy&#39;s API answered HTTP 404: Registro não encontrado"
    assert 'role="alert"' in html
    assert ">Oi &lt;John&gt;</textarea>" in html  # given back to the box, escaped


def test_a_failing_api_is_an_error_on_the_page_never_a_500(tmp_path, huggy_here) -> None:
    huggy_here.add_chat(id=CHAT)
    huggy_here.fail_next(503)
    inbox = make_inbox(tmp_path, HUGGY_API_TOKEN=huggy_here.token, HUGGY_API_URL=huggy_here.url)

    status, html = submit(inbox.test_client(), "close", tabulation="3", form_id="h" * 22)

    assert status == 303
    assert outcome(html) == "Chat not closed: Huggy&#39;s API answered HTTP 503: Fake failure"
    assert len(huggy_here.requests) == 1  # a write without a once-only key is not retried


def test_an_unreachable_api_is_an_error_on_the_page(tmp_path) -> None:
    inbox = make_inbox(tmp_path, HUGGY_API_TOKEN="some-token", HUGGY_API_URL="http://127.0.0.1:9/v3")
    huggy.endpoint(inbox).api = HuggyAPI("some-token", base_url="http://127.0.0.1:9/v3", retries=0)

    status, html = submit(inbox.test_client(), "reply", text="Oi", form_id="u" * 22)

    assert status == 303
    assert outcome(html) == "Reply not sent: Huggy&#39;s API gave no answer (ConnectionError)."


def test_the_reason_huggy_gives_is_escaped(tmp_path, huggy_here, monkeypatch) -> None:
    def refuse(self, chat_id, text=None, **options):
        raise HuggyAPIError(400, '<img src=x onerror="alert(1)">', method="POST", path="/chats/1/messages")

    monkeypatch.setattr(HuggyAPI, "send_message", refuse)
    inbox = make_inbox(tmp_path, HUGGY_API_TOKEN=huggy_here.token, HUGGY_API_URL=huggy_here.url)

    _, html = submit(inbox.test_client(), "reply", text="Oi", form_id="x" * 22)

    assert "<img" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in outcome(html)


def test_with_a_token_replies_go_to_huggy_through_huggy_api_and_no_banner_says_fake(tmp_path, huggy_here) -> None:
    huggy_here.add_chat(id=CHAT)
    inbox = make_inbox(tmp_path, HUGGY_API_TOKEN=huggy_here.token, HUGGY_API_URL=huggy_here.url)
    client = inbox.test_client()

    assert "fake Huggy API" not in page_text(client.get(f"/chats/{CHAT}"))
    submit(client, "reply", text="Direto para o Huggy", form_id="t" * 22)

    assert [m["text"] for m in huggy_here.messages_of(CHAT)] == ["Direto para o Huggy"]
    assert huggy_here.requests[-1].headers["Authorization"] == f"Bearer {huggy_here.token}"


def test_without_a_token_huggy_api_reaches_the_inbox_fake_after_the_first_button(inbox, fake) -> None:
    submit(inbox.test_client(), "reply", text="Oi", form_id="a" * 22)

    assert huggy.endpoint(inbox).api.base_url == fake.url


def test_the_demos_chats_go_to_the_fake_even_with_a_token(tmp_path, huggy_here, fake) -> None:
    inbox = make_inbox(tmp_path, HUGGY_API_TOKEN=huggy_here.token, HUGGY_API_URL=huggy_here.url)
    client = inbox.test_client()
    assert client.post("/demo").status_code == 303
    run = inbox_state(inbox).last_demo
    assert run is not None and run.wait(30) and run.error is None
    demo_chat = sorted(inbox_state(inbox).demo_chats)[0]

    html = client.get(f"/chats/{demo_chat}").get_data(as_text=True)
    posted = client.post(f"/chats/{demo_chat}/reply", data={"text": "Oi", "form_id": "m" * 22})

    assert "This chat comes from the demo" in html
    assert posted.status_code == 303
    assert [m["text"] for m in fake.messages_of(demo_chat)] == ["Oi"]
    assert huggy_here.requests == []


def test_each_demo_step_names_the_chats_it_is_about() -> None:
    steps = conversation()

    assert len({chat for step in steps for chat in step.chats}) == 2  # Maria's and Carlos's
    assert all(chat.isdigit() for step in steps for chat in step.chats)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
    ],
    ids=["cross-site", "same-site", "other-origin"],
)
@pytest.mark.parametrize("action", ["reply", "close"])
def test_a_post_from_another_site_is_refused_and_nothing_is_sent(inbox, fake, headers, action) -> None:
    response = inbox.test_client().post(
        f"/chats/{CHAT}/{action}", data={"text": "pwned", "tabulation": "1"}, headers=headers
    )

    assert response.status_code == 403
    assert fake.requests == []


def test_a_chat_the_inbox_does_not_know_is_a_404(inbox, fake) -> None:
    response = inbox.test_client().post("/chats/999/reply", data={"text": "Oi"})

    assert response.status_code == 404
    assert fake.requests == []


def test_with_a_password_the_buttons_ask_for_it(tmp_path, fake) -> None:
    locked = make_inbox(tmp_path, INBOX_PASSWORD=PASSWORD)
    client = locked.test_client()
    good = {"Authorization": "Basic " + base64.b64encode(f"me:{PASSWORD}".encode()).decode()}

    refused = client.post(f"/chats/{CHAT}/reply", data={"text": "Oi"})
    closed = client.post(f"/chats/{CHAT}/close", data={})
    taken = client.post(f"/chats/{CHAT}/reply", data={"text": "Oi"}, headers=good)

    assert (refused.status_code, closed.status_code) == (401, 401)
    assert taken.status_code == 303
    assert [m["text"] for m in fake.messages_of(CHAT)] == ["Oi"]


def test_a_failure_of_the_inbox_itself_is_said_on_the_page_never_a_500(inbox, fake, monkeypatch) -> None:
    def broken(self, chat_id, text=None, **options):
        raise KeyError("a bug")

    monkeypatch.setattr(HuggyAPI, "send_message", broken)

    status, html = submit(inbox.test_client(), "reply", text="Oi", form_id="k" * 22)

    assert status == 303
    assert outcome(html) == "Not done: the inbox failed (its log says why)."
