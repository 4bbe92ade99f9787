"""A client for Huggy's REST API (v3), so that a receiver can act on what arrives: reply, close, run a flow.

What the API looks like comes from public code that calls it, not from docs we
could read; each method says how sure that is (docs: "Acting on events").
Typed methods cover the calls seen by at least two independent sources;
:meth:`HuggyAPI.request` reaches everything else and returns Huggy's JSON as is.

Answers are typed like the events (:mod:`flask_huggy.models`): ids are ``int``
whether Huggy sent ``"3212"`` or ``118330853`` (past 32 bits too), offset-less
dates are read in the client's ``timezone`` (``HUGGY_TIMEZONE``), keys this
version does not declare are kept in ``extra``.

``requests`` is imported on the first call, so that ``import flask_huggy`` stays light.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from marshmallow import ValidationError

from .config import DEFAULT_API_URL
from .errors import HuggyAPIError
from .models import Chat, Contact, File, HuggyObject, sent_as
from .once import current_scope
from .safelog import printable
from .schemas.derived import schema_for
from .schemas.fields import local_timezone

if TYPE_CHECKING:
    import requests

logger = logging.getLogger("flask_huggy")

#: Where an OAuth2 app refreshes its access token. Public code shows this URL, but
#: it is not in Huggy's endpoint table of our evidence: hence ``token_url``.
DEFAULT_TOKEN_URL = "https://auth.huggy.app/oauth/access_token"  # noqa: S105 - a URL, not a secret
#: An access token is refreshed this many seconds before its ``exp``.
REFRESH_MARGIN = 60.0

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
Model = TypeVar("Model", bound=HuggyObject)


# --- What the typed methods answer -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Agent(HuggyObject):
    """The agent a token acts as (``GET /agents/profile``)."""

    #: Agent id (the access token's ``sub``).
    id: int | None = None
    #: Name.
    name: str | None = None
    #: E-mail address.
    email: str | None = None


@dataclass(frozen=True, kw_only=True)
class ChatMessage(HuggyObject):
    """A message of a chat (``GET /chats/{id}/messages``, a chat's ``lastMessage``)."""

    #: Message id (they pass 32 bits).
    id: int | None = None
    #: Its text.
    text: str | None = None
    #: When it was sent.
    send_at: datetime | None = sent_as("sendAt")
    #: Who sent it; its shape is not shown by public sources, so it is kept as sent.
    sender: Any = dataclasses.field(default=None, hash=False)
    #: ``agent``, ``virtual_agent``, ``widget``, or the channel's name for a contact's message.
    sender_type: str | None = sent_as("senderType")
    #: Whether it is an internal note.
    is_internal: bool | None = sent_as("isInternal")
    #: The attachment, if any: a URL or an object.
    file: str | File | None = None


@dataclass(frozen=True, kw_only=True)
class ChatInfo(Chat):
    """A chat as the API describes it (``GET /chats``, ``GET /chats/{id}``): the webhook's chat, and more."""

    #: The last message of the chat.
    last_message: ChatMessage | None = sent_as("lastMessage")
    #: Messages not read yet.
    unread: int | None = sent_as(count=True)


# --- The client --------------------------------------------------------------------------------


@dataclass
class OAuthApp:
    """The credentials of an OAuth2 app created in Huggy's panel, and what a refresh gave last."""

    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    refresh_token: str = dataclasses.field(repr=False)
    token_url: str = DEFAULT_TOKEN_URL
    #: Called with ``(access_token, refresh_token)`` after each refresh, to store the new pair.
    on_refresh: Callable[[str, str], None] | None = None
    #: When the access token expires (``time.time()``); ``None``: unknown.
    expires_at: float | None = None


class HuggyAPI:
    """A client for Huggy's REST API, on one :class:`requests.Session`.

    ``token`` is the panel's quick token (the common case); an OAuth2 app uses
    :meth:`from_app`. ``company_id`` puts ``/companies/{id}`` before every path
    (accounts with several companies need it). Every request has ``timeout``;
    429, 5xx and connection errors are retried ``retries`` times, after
    ``Retry-After`` when Huggy sends one (at most ``max_wait`` seconds), else
    after ``backoff``, three times longer at each retry (0.5, 1.5, 4.5 s: what
    public clients do). A write (POST, PUT, DELETE) is retried only when it
    carries a once-only key (it was made by a receiver, see
    :mod:`flask_huggy.once`) or when the connection failed before it was sent.
    ``sleep`` is how it waits (a test passes its own).
    """

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str = DEFAULT_API_URL,
        company_id: int | str | None = None,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        timezone: str | tzinfo = "America/Sao_Paulo",
        retries: int = 3,
        backoff: float = 0.5,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        oauth: OAuthApp | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        if company_id is not None:
            self.base_url += "/companies/" + _segment(company_id)
        self.timeout = timeout
        self.timezone: tzinfo = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        #: The OAuth2 app whose access token this client refreshes; ``None`` for a quick token.
        self.oauth = oauth
        self._token = token
        self._session = session
        self._refresh_lock = threading.Lock()

    @classmethod
    def from_app(
        cls,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        access_token: str | None = None,
        on_refresh: Callable[[str, str], None] | None = None,
        token_url: str = DEFAULT_TOKEN_URL,
        **options: Any,
    ) -> HuggyAPI:
        """A client for an OAuth2 app: it refreshes the access token on a 401 and before its ``exp``.

        Without ``access_token`` the first call refreshes first. ``on_refresh``
        gets ``(access_token, refresh_token)`` after each refresh, so that the app
        can store the pair (Huggy may or may not hand out a new refresh token;
        when it does not, the old one is kept). ``options`` are those of the
        constructor.
        """
        app = OAuthApp(client_id, client_secret, refresh_token, token_url, on_refresh, _expiry(access_token))
        return cls(access_token, oauth=app, **options)

    @property
    def session(self) -> requests.Session:
        """The session requests go through (created on first use unless given)."""
        if self._session is None:
            import requests  # here, so that ``import flask_huggy`` does not load requests

            self._session = requests.Session()
        return self._session

    def __repr__(self) -> str:
        return f"<HuggyAPI {self.base_url}{' (OAuth2 app)' if self.oauth else ''}>"

    # --- Typed calls: the H and M rows of the evidence ---------------------------------------

    def send_message(
        self, chat_id: int | str, text: str | None = None, *, file_url: str | None = None, internal: bool = False
    ) -> ChatMessage | None:
        """Send ``text`` (or the file at ``file_url``) into a chat; ``internal`` makes it a note agents only see.

        ``POST /chats/{id}/messages``. What it answers is not shown by public
        sources: a message object when it sends one, else ``None``.
        """
        if text is None and file_url is None:
            raise ValueError("send_message needs a text or a file_url")
        body: dict[str, Any] = {}
        if text is not None:
            body["text"] = text
        if file_url is not None:
            body["file"] = file_url
        if internal:
            body["isInternal"] = True
        return self._maybe(ChatMessage, self.request("POST", _path("chats", chat_id, "messages"), json=body))

    def close_chat(
        self, chat_id: int | str, *, tabulation: int | str | None = None, comment: str | None = None,
        send_feedback: bool = False,
    ) -> None:  # fmt: skip
        """Close a chat, with the tabulation (closing reason) given; ``PUT /chats/{id}/close``."""
        body: dict[str, Any] = {"tabulation": tabulation, "sendFeedback": send_feedback}
        if comment is not None:
            body["comment"] = comment
        self.request("PUT", _path("chats", chat_id, "close"), json=body)

    def get_chat(self, chat_id: int | str) -> ChatInfo:
        """One chat: its situation, last message, unread count...; ``GET /chats/{id}``."""
        return self._typed(ChatInfo, self.request("GET", _path("chats", chat_id)))

    def iter_chats(self, **filters: Any) -> Iterator[ChatInfo]:
        """Every chat that matches ``filters`` (``situation``, ``agent``, ``customer``, ``channel``), page by page.

        ``GET /chats?page=N`` from page 0 until Huggy answers an empty page
        (pages are bare lists of 20, with no total). Pages are asked for as you
        iterate.
        """
        page = 0
        while True:
            chats = self.request("GET", "/chats", params={**filters, "page": page})
            if not chats:
                return
            for chat in _as_list(chats):
                yield self._typed(ChatInfo, chat)
            page += 1

    def chat_messages(self, chat_id: int | str) -> list[ChatMessage]:
        """A chat's messages, newest first; ``GET /chats/{id}/messages``."""
        answer = self.request("GET", _path("chats", chat_id, "messages"))
        return [self._typed(ChatMessage, message) for message in _as_list(answer)]

    def run_flow(self, chat_id: int | str, flow_id: int | str, variables: Mapping[str, Any] | None = None) -> None:
        """Start an automation flow on a chat; ``POST /chats/{id}/flow`` (Huggy answers 200, empty)."""
        body: dict[str, Any] = {"flowId": flow_id}
        if variables is not None:
            body["variables"] = dict(variables)
        self.request("POST", _path("chats", chat_id, "flow"), json=body)

    def find_contacts(self, phone: str | int) -> list[Contact]:
        """Contacts with this phone number; ``GET /contacts?phone=``.

        Only the digits are sent: Huggy finds nothing for ``+55 11 ...``.
        """
        answer = self.request("GET", "/contacts", params={"phone": _digits(phone)})
        return [self._typed(Contact, contact) for contact in _as_list(answer)]

    def create_contact(self, name: str, phone: str | int, **fields: Any) -> Contact:
        """Create a contact; ``POST /contacts``. ``fields`` go under Huggy's own keys (``email``, ``birthDate``).

        The phone is sent as its digits, as :meth:`find_contacts` looks it up.
        Huggy answers the contact, or a one-element list of it (both are seen).
        """
        answer = self.request("POST", "/contacts", json={"name": name, "phone": _digits(phone), **fields})
        if isinstance(answer, list) and len(answer) == 1:
            answer = answer[0]
        return self._typed(Contact, answer)

    def update_contact(self, contact_id: int | str, **fields: Any) -> Contact | None:
        """Change a contact's fields (Huggy's keys: ``name``, ``email``, ``mobile``...); ``PUT /contacts/{id}``.

        The contact when Huggy answers one, else ``None``.
        """
        return self._maybe(Contact, self.request("PUT", _path("contacts", contact_id), json=fields))

    def agent_profile(self) -> Agent:
        """The agent this token acts as; ``GET /agents/profile``."""
        return self._typed(Agent, self.request("GET", "/agents/profile"))

    # --- Everything else ---------------------------------------------------------------------

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """Call ``method path`` (under the base URL and company) and return Huggy's JSON answer, ``None`` if empty.

        ``path`` is a path (``/chats/3212/workflow``), never a URL: where a call
        goes is decided by the client's base URL alone. Raises
        :class:`~flask_huggy.HuggyAPIError`. Inside a receiver, a write that
        succeeded in an earlier run of the same event is not sent again: its
        first answer is returned (:mod:`flask_huggy.once`).
        """
        method = method.upper()
        if not path.startswith("/") or path.startswith("//") or "://" in path or "\\" in path:
            raise ValueError(f"path must be a path under the API, such as '/chats/1', not {path!r}")
        url = self.base_url + path
        scope = current_scope() if method not in _READS else None
        key = scope.key_for(method, url, params, json) if scope is not None else None
        if scope is not None and key is not None:
            done, answer = scope.recall(key)
            if done:
                logger.info("%s %s was made by an earlier run of this event: not sent again.", method, printable(path))
                return answer
        answer = self._send(method, url, path, json=json, params=params, key=key)
        if scope is not None and key is not None:
            scope.remember(key, answer)
        return answer

    def _send(
        self, method: str, url: str, path: str, *, json: Any, params: Mapping[str, Any] | None, key: str | None
    ) -> Any:
        import requests

        retried = method in _READS or key is not None
        attempt = 0
        refreshed = False
        while True:
            headers = {"Authorization": f"Bearer {self._access_token()}", "Accept": "application/json"}
            if key is not None:
                headers["Idempotency-Key"] = key
            try:
                response = self.session.request(
                    method, url, json=json, params=params, headers=headers, timeout=self.timeout, allow_redirects=False
                )
            except requests.RequestException as exc:
                if attempt < self.retries and (retried or _not_sent(exc)):
                    self.sleep(self._delay(attempt, None))
                    attempt += 1
                    continue
                raise HuggyAPIError(None, type(exc).__name__, method=method, path=path) from exc
            status = response.status_code
            if status == 401 and self.oauth is not None and not refreshed:
                refreshed = True
                self._refresh()
                continue
            if (status == 429 or status >= 500) and retried and attempt < self.retries:
                self.sleep(self._delay(attempt, response.headers.get("Retry-After")))
                attempt += 1
                continue
            if status >= 300:
                raise HuggyAPIError(status, self._reason(response), method=method, path=path)
            return _body(response, method, path)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        wait = _retry_after(retry_after)
        if wait is None:
            wait = self.backoff * 3.0**attempt
        return min(max(wait, 0.0), self.max_wait)

    def _reason(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, Mapping):
            if isinstance(body.get("reason"), str):
                reason = body["reason"]
            else:
                words = [body.get(name) for name in ("message", "hint")]
                reason = " ".join(str(w) for w in words if w) or str(body.get("error") or "")
        else:
            reason = response.text[:200].strip()
        reason = reason or response.reason or "no reason given"
        for secret in (self._token, self.oauth and self.oauth.refresh_token, self.oauth and self.oauth.client_secret):
            if secret:
                reason = reason.replace(secret, "****")
        return reason

    # --- Tokens ------------------------------------------------------------------------------

    def _access_token(self) -> str:
        app = self.oauth
        if app is not None and (
            self._token is None or (app.expires_at is not None and time.time() >= app.expires_at - REFRESH_MARGIN)
        ):
            self._refresh()
        return self._token or ""

    def _refresh(self) -> None:
        """Trade the refresh token for a new access token, and hand the pair to ``on_refresh``."""
        import requests

        app = self.oauth
        assert app is not None
        stale = self._token
        with self._refresh_lock:
            if self._token != stale:  # another thread refreshed meanwhile
                return
            body = {
                "grant_type": "refresh_token",
                "refresh_token": app.refresh_token,
                "client_id": app.client_id,
                "client_secret": app.client_secret,
            }
            try:
                response = self.session.post(app.token_url, json=body, timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as exc:
                raise HuggyAPIError(None, type(exc).__name__, method="POST", path="(token refresh)") from exc
            if response.status_code != 200:
                raise HuggyAPIError(response.status_code, self._reason(response), method="POST", path="(token refresh)")
            answer = _body(response, "POST", "(token refresh)")
            if not isinstance(answer, Mapping) or not isinstance(answer.get("access_token"), str):
                raise HuggyAPIError(
                    200, "the token refresh gave no access_token", method="POST", path="(token refresh)"
                )
            self._token = answer["access_token"]
            if isinstance(answer.get("refresh_token"), str) and answer["refresh_token"]:
                app.refresh_token = answer["refresh_token"]
            expires_in = answer.get("expires_in")
            app.expires_at = _expiry(self._token)
            if app.expires_at is None and isinstance(expires_in, (int, float)):
                app.expires_at = time.time() + expires_in
            if app.on_refresh is not None:
                app.on_refresh(self._token, app.refresh_token)

    # --- Typed answers -----------------------------------------------------------------------

    def _typed(self, model: type[Model], raw: Any) -> Model:
        """``raw`` as ``model``; a value that does not read (a date in another format) stays in ``extra`` as sent."""
        if not isinstance(raw, Mapping):
            raise HuggyAPIError(200, f"expected an object, got {type(raw).__name__}")
        schema = schema_for(model)
        unread: dict[str, Any] = {}
        with local_timezone(self.timezone):
            try:
                data = schema.load(raw)
            except ValidationError as exc:
                unread = {key: raw[key] for key in exc.messages_dict if key in raw}
                data = schema.load({key: value for key, value in raw.items() if key not in unread})
        obj = schema.build_object(data, model)
        if unread:
            obj = dataclasses.replace(obj, extra={**obj.extra, **unread})
        return obj  # type: ignore[return-value]  # build_object builds ``model``

    def _maybe(self, model: type[Model], raw: Any) -> Model | None:
        return self._typed(model, raw) if isinstance(raw, Mapping) and raw else None


def _segment(value: int | str) -> str:
    """An id as one path segment: quoted, so that no id can reach another path."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"an id is an int or a str, not {type(value).__name__}")
    text = str(value)
    if text in ("", ".", ".."):
        raise ValueError(f"{text!r} is not an id")
    return quote(text, safe="")


def _path(*parts: int | str) -> str:
    """``/chats/{id}/messages`` from ``("chats", id, "messages")``; ids are quoted."""
    return "".join("/" + _segment(part) for part in parts)


def _digits(phone: str | int) -> str:
    return "".join(c for c in str(phone) if c in "0123456789")


def _as_list(answer: Any) -> list[Any]:
    if answer is None:
        return []
    if not isinstance(answer, list):
        raise HuggyAPIError(200, f"expected a list, got {type(answer).__name__}")
    return answer


def _body(response: requests.Response, method: str, path: str) -> Any:
    """Huggy's JSON answer; ``None`` for an empty one (writes answer 200 or 204 with nothing)."""
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        raise HuggyAPIError(response.status_code, "the answer is not JSON", method=method, path=path) from None


def _not_sent(exc: Exception) -> bool:
    """Whether the request surely never left: no connection was made, so a write may be tried again."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds, or an HTTP date); ``None`` without a usable one."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    import email.utils  # here: ``import flask_huggy`` would pay for the email package

    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.timestamp() - time.time()


def _expiry(access_token: str | None) -> float | None:
    """The ``exp`` of a JWT access token (read, not verified: it only decides when to refresh)."""
    if not access_token or access_token.count(".") != 2:
        return None
    payload = access_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


__all__ = ["DEFAULT_TOKEN_URL", "Agent", "ChatInfo", "ChatMessage", "HuggyAPI", "OAuthApp"]
