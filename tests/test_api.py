"""HuggyAPI against FakeHuggyAPI, over real HTTP: typed answers, errors, retries, tokens, pagination."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from flask_huggy import HuggyAPI, HuggyAPIError
from flask_huggy.api import ChatInfo, ChatMessage
from flask_huggy.models import Contact
from flask_huggy.testing import FakeHuggyAPI

from .processes import free_port
from .test_models import run_mypy


@pytest.fixture
def fake() -> Iterator[FakeHuggyAPI]:
    with FakeHuggyAPI() as server:
        yield server


class Sleeps(list[float]):
    """Records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def api(fake: FakeHuggyAPI, sleeps: Sleeps) -> HuggyAPI:
    return HuggyAPI(fake.token, base_url=fake.url, sleep=sleeps)


def jwt(**claims: Any) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"e30.{payload}.sig"


# --- Typed calls ---------------------------------------------------------------------------------


def test_send_message_posts_the_text_into_the_chat_and_types_the_answer(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    chat = fake.add_chat()
    sent = api.send_message(chat["id"], "Recebido!")
    assert fake.calls("POST")[0].json == {"text": "Recebido!"}
    assert fake.calls("POST")[0].path == f"/v3/chats/{chat['id']}/messages"
    assert isinstance(sent, ChatMessage) and sent.text == "Recebido!"


def test_an_internal_note_and_a_file_are_sent_under_hugggys_keys(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    chat = fake.add_chat()
    api.send_message(chat["id"], "só agentes", internal=True)
    api.send_message(chat["id"], file_url="https://example.com/a.pdf")
    bodies = [r.json for r in fake.calls("POST")]
    assert bodies == [{"text": "só agentes", "isInternal": True}, {"file": "https://example.com/a.pdf"}]


def test_ids_sent_as_strings_or_past_32_bits_come_back_as_exact_ints(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    chat = fake.add_chat("3212")
    fake.messages["3212"].append({"id": 7_712_345_678_901, "text": "a", "sender": {"id": "118330853"}})
    (message,) = api.chat_messages(3212)
    assert message.id == 7_712_345_678_901 and type(message.id) is int
    assert api.get_chat(chat["id"]).id == 3212


def test_offset_less_dates_are_read_in_the_clients_time_zone(fake: FakeHuggyAPI, sleeps: Sleeps) -> None:
    fake.add_chat("1")
    fake.messages["1"].append({"id": 1, "text": "a", "sendAt": "2024-01-02 10:00:00"})
    in_sao_paulo = HuggyAPI(fake.token, base_url=fake.url).chat_messages(1)[0]
    in_lisbon = HuggyAPI(fake.token, base_url=fake.url, timezone="Europe/Lisbon").chat_messages(1)[0]
    assert in_sao_paulo.send_at == datetime(2024, 1, 2, 13, 0, tzinfo=timezone.utc)
    assert in_lisbon.send_at == datetime(2024, 1, 2, 10, 0, tzinfo=timezone.utc)


def test_unknown_fields_and_unreadable_values_are_kept_as_sent(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    fake.add_chat("5", tags=["vip"])
    fake.messages["5"].append({"id": 1, "text": "a", "sendAt": "2024/01/02 10:00:00"})
    assert api.get_chat(5).extra["tags"] == ["vip"]
    (message,) = api.chat_messages(5)
    assert message.send_at is None and message.extra == {"sendAt": "2024/01/02 10:00:00"}
    assert message.id == 1


def test_iter_chats_pages_from_0_until_an_empty_page(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    for _ in range(45):
        fake.add_chat(situation="in_chat")
    fake.add_chat(situation="auto")
    chats = list(api.iter_chats(situation="in_chat"))
    assert len(chats) == 45 and all(isinstance(chat, ChatInfo) for chat in chats)
    assert [r.params for r in fake.calls("GET", "/chats")] == [
        {"situation": "in_chat", "page": str(page)} for page in range(4)
    ]


def test_a_chat_carries_its_last_message_typed(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    chat = fake.add_chat(unread="2")
    api.send_message(chat["id"], "oi")
    info = api.get_chat(chat["id"])
    assert info.unread == 2 and info.last_message is not None and info.last_message.text == "oi"


def test_find_contacts_sends_only_the_phones_digits(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    fake.add_contact("Ana", "5511999990000")
    (found,) = api.find_contacts("+55 (11) 99999-0000")
    assert fake.calls("GET", "/contacts")[0].params == {"phone": "5511999990000"}
    assert isinstance(found, Contact) and found.name == "Ana" and type(found.id) is int


def test_create_contact_reads_a_one_element_list_as_the_contact(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    contact = api.create_contact("Bia", "11 98888-7777", email="bia@example.com")
    assert fake.calls("POST", "/contacts")[0].json == {
        "name": "Bia",
        "phone": "11988887777",
        "email": "bia@example.com",
    }
    assert contact.name == "Bia" and contact.extra["createdAt"]


def test_empty_200_and_204_answers_are_fine(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    chat = fake.add_chat()
    contact = fake.add_contact("Ana", "1")
    assert api.close_chat(chat["id"], tabulation=7, comment="ok") is None  # 204
    assert api.run_flow(chat["id"], 12, {"origem": "site"}) is None  # 200, empty
    assert api.update_contact(contact["id"], email="a@b.c") is None
    assert fake.calls("PUT", "/close")[0].json == {"tabulation": 7, "sendFeedback": False, "comment": "ok"}
    assert fake.flows == [(chat["id"], {"flowId": 12, "variables": {"origem": "site"}})]


def test_agent_profile_is_typed(api: HuggyAPI) -> None:
    agent = api.agent_profile()
    assert agent.id == 118330853 and agent.email == "agent@example.com"


def test_request_reaches_the_untyped_calls_and_returns_hugggys_json(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    assert api.request("get", "/agents/profile")["name"] == "Fake Agent"


def test_a_company_id_puts_the_company_prefix_on_every_path(fake: FakeHuggyAPI) -> None:
    HuggyAPI(fake.token, base_url=fake.url, company_id=42).agent_profile()
    assert fake.requests[0].path == "/v3/companies/42/agents/profile"


def test_every_request_has_a_timeout(fake: FakeHuggyAPI) -> None:
    seen: list[Any] = []

    class Session(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            seen.append(kwargs.get("timeout"))
            return super().request(*args, **kwargs)

    HuggyAPI(fake.token, base_url=fake.url, timeout=3.5, session=Session()).agent_profile()
    assert seen == [3.5]


# --- Where a call goes ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["https://evil.example/x", "//evil.example/x", "chats", "/a\\b"])
def test_request_takes_a_path_never_a_url(api: HuggyAPI, path: str) -> None:
    with pytest.raises(ValueError, match="path"):
        api.request("GET", path)


def test_an_id_from_a_payload_stays_one_path_segment(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    with pytest.raises(HuggyAPIError) as caught:
        api.send_message("1/../../agents/profile?x=", "hi")
    assert caught.value.status == 404
    assert fake.requests[0].path == "/v3/chats/1/../../agents/profile?x=/messages"  # one segment, decoded
    with pytest.raises(ValueError):
        api.get_chat("..")


# --- Errors --------------------------------------------------------------------------------------


def test_an_error_carries_hugggys_reason(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    with pytest.raises(HuggyAPIError) as caught:
        api.get_chat(999)
    assert (caught.value.status, caught.value.reason) == (404, "Registro não encontrado")
    assert "GET /chats/999" in str(caught.value)


def test_a_401_is_read_from_error_message_hint_and_never_shows_the_token(fake: FakeHuggyAPI) -> None:
    secret = "not-the-fakes-token-0123456789"
    with pytest.raises(HuggyAPIError) as caught:
        HuggyAPI(secret, base_url=fake.url).agent_profile()
    assert caught.value.status == 401
    assert caught.value.reason.startswith("The resource owner") and "could not be verified" in caught.value.reason
    assert secret not in str(caught.value) and secret not in repr(caught.value.args)


def test_a_duplicate_contact_is_an_error_with_hugggys_words(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    fake.add_contact("Ana", "5511999990000")
    with pytest.raises(HuggyAPIError, match="Já existe um contato"):
        api.create_contact("Ana", "5511999990000")


# --- Retries -------------------------------------------------------------------------------------


def test_a_read_is_retried_on_5xx_with_backoff(fake: FakeHuggyAPI, api: HuggyAPI, sleeps: Sleeps) -> None:
    fake.fail_next(503, times=2)
    assert api.agent_profile().id == 118330853
    assert sleeps == [0.5, 1.5] and len(fake.requests) == 3


def test_a_429_waits_as_long_as_retry_after_says(fake: FakeHuggyAPI, api: HuggyAPI, sleeps: Sleeps) -> None:
    fake.fail_next(429, retry_after=7)
    api.agent_profile()
    assert sleeps == [7.0]


def test_retry_after_is_capped_by_max_wait(fake: FakeHuggyAPI, sleeps: Sleeps) -> None:
    fake.fail_next(429, retry_after=3600)
    HuggyAPI(fake.token, base_url=fake.url, sleep=sleeps, max_wait=30).agent_profile()
    assert sleeps == [30.0]


def test_retries_are_bounded(fake: FakeHuggyAPI, api: HuggyAPI, sleeps: Sleeps) -> None:
    fake.fail_next(500, times=10)
    with pytest.raises(HuggyAPIError) as caught:
        api.agent_profile()
    assert caught.value.status == 500 and len(fake.requests) == 4 and len(sleeps) == 3


def test_the_default_sleep_really_waits(fake: FakeHuggyAPI) -> None:
    fake.fail_next(429, retry_after="0.2")
    started = time.monotonic()
    HuggyAPI(fake.token, base_url=fake.url).agent_profile()
    assert time.monotonic() - started >= 0.2


def test_a_write_outside_a_receiver_is_not_retried_on_5xx(fake: FakeHuggyAPI, api: HuggyAPI) -> None:
    chat = fake.add_chat()
    fake.fail_next(503)
    with pytest.raises(HuggyAPIError):
        api.send_message(chat["id"], "oi")
    assert len(fake.requests) == 1 and fake.messages_of(chat["id"]) == []


def test_a_write_is_retried_when_the_connection_failed_before_sending(sleeps: Sleeps) -> None:
    api = HuggyAPI("t", base_url=f"http://127.0.0.1:{free_port()}/v3", sleep=sleeps)
    with pytest.raises(HuggyAPIError) as caught:
        api.send_message(1, "oi")
    assert caught.value.status is None and len(sleeps) == 3


def test_a_write_whose_connect_timed_out_is_sent_again(fake: FakeHuggyAPI, sleeps: Sleeps) -> None:
    chat = fake.add_chat()

    class Session(requests.Session):
        failed = False

        def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            if not self.failed:
                self.failed = True
                raise requests.ConnectTimeout("no connection")
            return super().request(*args, **kwargs)

    HuggyAPI(fake.token, base_url=fake.url, session=Session(), sleep=sleeps).send_message(chat["id"], "oi")
    assert [m["text"] for m in fake.messages_of(chat["id"])] == ["oi"] and sleeps == [0.5]


def test_a_write_whose_answer_timed_out_is_not_sent_again(fake: FakeHuggyAPI, sleeps: Sleeps) -> None:
    class Session(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            super().request(*args, **kwargs)
            raise requests.ReadTimeout("sent, but no answer")

    chat = fake.add_chat()
    with pytest.raises(HuggyAPIError, match="ReadTimeout"):
        HuggyAPI(fake.token, base_url=fake.url, session=Session(), sleep=sleeps).send_message(chat["id"], "oi")
    assert len(fake.messages_of(chat["id"])) == 1 and sleeps == []


# --- Tokens --------------------------------------------------------------------------------------


def test_an_oauth_app_refreshes_before_its_first_call_and_hands_over_the_pair(fake: FakeHuggyAPI) -> None:
    fake.oauth_app("APP-1", "secret", "refresh-0")
    pairs: list[tuple[str, str]] = []
    api = HuggyAPI.from_app(
        "APP-1",
        "secret",
        "refresh-0",
        token_url=fake.token_url,
        base_url=fake.url,
        on_refresh=lambda *p: pairs.append(p),
    )
    assert api.agent_profile().id == 118330853
    assert fake.requests[0].path == "/oauth/access_token"
    assert fake.requests[0].json == {
        "grant_type": "refresh_token", "refresh_token": "refresh-0", "client_id": "APP-1", "client_secret": "secret"
    }  # fmt: skip
    assert len(pairs) == 1 and pairs[0][1].startswith("refresh-")
    assert fake.requests[1].headers["Authorization"] == f"Bearer {pairs[0][0]}"


def test_an_oauth_app_refreshes_on_401_and_retries_the_call(fake: FakeHuggyAPI) -> None:
    fake.oauth_app("APP-1", "secret", "refresh-0")
    pairs: list[tuple[str, str]] = []
    api = HuggyAPI.from_app("APP-1", "secret", "refresh-0", token_url=fake.token_url, base_url=fake.url,
                            on_refresh=lambda *p: pairs.append(p))  # fmt: skip
    api.agent_profile()
    fake.fail_next(401)
    chat = fake.add_chat()
    api.send_message(chat["id"], "oi")  # a write: a 401 was not acted on
    assert len(pairs) == 2 and pairs[1] != pairs[0]
    assert [m["text"] for m in fake.messages_of(chat["id"])] == ["oi"]


def test_an_oauth_app_refreshes_before_exp(fake: FakeHuggyAPI) -> None:
    fake.oauth_app("APP-1", "secret", "refresh-0")
    expired = jwt(sub=1, exp=int(time.time()) + 10)  # within the refresh margin
    api = HuggyAPI.from_app("APP-1", "secret", "refresh-0", access_token=expired, token_url=fake.token_url,
                            base_url=fake.url)  # fmt: skip
    api.agent_profile()
    assert [r.path for r in fake.requests] == ["/oauth/access_token", "/v3/agents/profile"]


def test_a_fresh_oauth_token_is_used_as_is(fake: FakeHuggyAPI) -> None:
    fake.token = None
    fresh = jwt(sub=1, exp=int(time.time()) + 86_400)
    api = HuggyAPI.from_app("APP-1", "s", "r", access_token=fresh, token_url=fake.token_url, base_url=fake.url)
    api.agent_profile()
    assert [r.path for r in fake.requests] == ["/v3/agents/profile"]


def test_a_refused_refresh_is_an_error_without_the_secrets(fake: FakeHuggyAPI) -> None:
    fake.oauth_app("APP-1", "secret-xyz-123", "refresh-0")
    api = HuggyAPI.from_app("APP-1", "wrong-secret-456", "refresh-0", token_url=fake.token_url, base_url=fake.url)
    with pytest.raises(HuggyAPIError) as caught:
        api.agent_profile()
    assert caught.value.status == 401 and "wrong-secret-456" not in str(caught.value)
    assert "wrong-secret-456" not in repr(api)


# --- Static typing -------------------------------------------------------------------------------

BAD_CLIENT_USE = """
from flask_huggy import HuggyAPI

api = HuggyAPI("token")
api.send_message(1, 5)
api.close_chat(1, 7)
chat_id: str = api.get_chat(1).id
api.sendMessage(1, "oi")
"""


def test_mypy_catches_a_wrong_use_of_the_client(tmp_path: Path) -> None:
    # tests/typing_example.py shows a right use passing mypy --strict (tests/test_models.py).
    path = tmp_path / "bad_client.py"
    path.write_text(BAD_CLIENT_USE, encoding="utf-8")
    result = run_mypy(path)
    errors = sorted({int(line.split(":")[1]) for line in result.stdout.splitlines() if ": error: " in line})
    assert errors == [5, 6, 7, 8], result.stdout


def test_retry_after_may_be_an_http_date(fake: FakeHuggyAPI, api: HuggyAPI, sleeps: Sleeps) -> None:
    import email.utils
    from datetime import timedelta

    fake.fail_next(
        429, retry_after=email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=10), usegmt=True)
    )
    api.agent_profile()
    assert 8 <= sleeps[0] <= 10
