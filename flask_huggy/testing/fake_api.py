"""A fake of Huggy's REST API: a real HTTP server on 127.0.0.1, with chats, messages and contacts in memory.

It answers the calls :class:`~flask_huggy.HuggyAPI` types, the way public code
shows Huggy answering them (bare lists of 20, ``page`` from 0, ids that are
numbers or strings, offset-less local dates, ``{"reason"}`` errors), records every
request, and fails on demand (401, 429 with ``Retry-After``, 5xx)::

    with FakeHuggyAPI() as fake:
        api = HuggyAPI(fake.token, base_url=fake.url)
        chat = fake.add_chat(situation="in_chat")
        api.send_message(chat["id"], "Olá!")
        assert fake.messages_of(chat["id"])[0]["text"] == "Olá!"

What Huggy answers to a sent message is not shown by public sources; the fake
answers the message it stored.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

#: The token a fake accepts unless told another.
FAKE_TOKEN = "fake-huggy-api-token"
#: Huggy's page size.
PAGE_SIZE = 20
_COMPANY = re.compile(r"^/v3(?:/companies/[0-9]+)?(/.*)$")


@dataclass(frozen=True)
class FakeRequest:
    """One request the fake received."""

    method: str
    #: The path as requested, ``/v3/chats/1/messages`` (with the company prefix if any).
    path: str
    headers: dict[str, str]
    #: The JSON body, or ``None``.
    json: Any
    #: The query string's parameters.
    params: dict[str, str] = field(default_factory=dict)


class FakeHuggyAPI:
    """Huggy's REST API for tests, on a free port of 127.0.0.1; a context manager, or :meth:`start`/:meth:`stop`.

    ``token`` is the access token it accepts, with the last one an OAuth2 refresh
    gave (``None`` and no refresh yet: any). :attr:`url`
    is the base URL to give the client; :attr:`token_url` answers an OAuth2
    app's refresh (:meth:`oauth_app`).
    """

    def __init__(self, token: str | None = FAKE_TOKEN, *, timezone: str = "America/Sao_Paulo") -> None:
        self.token = token
        self.timezone = ZoneInfo(timezone)
        #: Every request received, in order.
        self.requests: list[FakeRequest] = []
        #: Chats by id (as ``str``), as Huggy describes them.
        self.chats: dict[str, dict[str, Any]] = {}
        #: Messages by chat id, oldest first.
        self.messages: dict[str, list[dict[str, Any]]] = {}
        #: Contacts by id (as ``str``).
        self.contacts: dict[str, dict[str, Any]] = {}
        #: Flows started: ``(chat id, body)``.
        self.flows: list[tuple[str, Any]] = []
        self.agent: dict[str, Any] = {"id": 118330853, "name": "Fake Agent", "email": "agent@example.com"}
        self._issued: str | None = None  # the access token of the last OAuth2 refresh
        self._oauth: dict[str, str] = {}
        self._failures: deque[tuple[int, str | None]] = deque()
        self._ids = itertools.count(7_700_000_001)  # message ids pass 32 bits, as Huggy's do
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- Running -----------------------------------------------------------------------------

    def start(self) -> FakeHuggyAPI:
        """Start serving (on a free port) in a thread."""
        if self._server is None:
            self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
            # A short poll: stop() waits for it, once per test.
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.02,), name="FakeHuggyAPI", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> FakeHuggyAPI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>/v3``; the fake must be started."""
        if self._server is None:
            raise RuntimeError("The FakeHuggyAPI is not started: use it as a context manager or call start().")
        return f"http://127.0.0.1:{self._server.server_port}/v3"

    @property
    def token_url(self) -> str:
        """Where an OAuth2 app refreshes its token on this fake."""
        return self.url.rsplit("/v3", 1)[0] + "/oauth/access_token"

    # --- Setting the scene -------------------------------------------------------------------

    def fail_next(self, status: int, times: int = 1, *, retry_after: str | float | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (401, 429, 503...), with ``Retry-After`` if given."""
        with self._lock:
            for _ in range(times):
                self._failures.append((status, None if retry_after is None else str(retry_after)))

    def add_chat(self, id: int | str | None = None, **fields: Any) -> dict[str, Any]:
        """Add a chat (``situation`` defaults to ``in_chat``) and return it as Huggy would describe it."""
        with self._lock:
            chat_id = id if id is not None else str(3000 + len(self.chats))  # ids as strings, as Huggy mixes them
            chat = {"id": chat_id, "situation": "in_chat", "channel": "whatsapp", "unread": 0, **fields}
            self.chats[str(chat_id)] = chat
            self.messages.setdefault(str(chat_id), [])
            return chat

    def add_contact(self, name: str, phone: str, **fields: Any) -> dict[str, Any]:
        """Add a contact and return it."""
        with self._lock:
            return self._new_contact({"name": name, "phone": phone, **fields})

    def messages_of(self, chat_id: int | str) -> list[dict[str, Any]]:
        """The messages of a chat, oldest first."""
        return list(self.messages.get(str(chat_id), []))

    def oauth_app(self, client_id: str, client_secret: str, refresh_token: str) -> None:
        """Accept refreshes by this OAuth2 app at :attr:`token_url`; each gives a new access token (a JWT)."""
        self._oauth = {"client_id": client_id, "client_secret": client_secret, "refresh_token": refresh_token}

    def calls(self, method: str, path_end: str = "") -> list[FakeRequest]:
        """The requests with ``method`` whose path ends with ``path_end``."""
        return [r for r in self.requests if r.method == method and r.path.endswith(path_end)]

    # --- Serving -----------------------------------------------------------------------------

    def _wsgi(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data(as_text=True)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        with self._lock:
            self.requests.append(
                FakeRequest(request.method, request.path, dict(request.headers), payload, dict(request.args))
            )
            response = self._answer(request, payload)
        return response(environ, start_response)

    def _answer(self, request: Request, payload: Any) -> Response:
        if request.path == "/oauth/access_token":
            return self._refresh(payload)
        if self._failures:
            status, retry_after = self._failures.popleft()
            answer = _json({"reason": "Fake failure"}, status)
            if status == 401:
                answer = _unauthorized()
            if retry_after is not None:
                answer.headers["Retry-After"] = retry_after
            return answer
        accepted = {f"Bearer {token}" for token in (self.token, self._issued) if token}
        if accepted and request.headers.get("Authorization") not in accepted:
            return _unauthorized()
        match = _COMPANY.match(request.path)
        if match is None:
            return _json({"reason": "Not found"}, 404)
        parts = match.group(1).strip("/").split("/")
        # /chats/1/messages is served by _post_chats__messages: an id leaves an empty part in the name.
        name = "_".join("" if part.isdigit() else part for part in parts)
        route = getattr(self, f"_{request.method.lower()}_{name}", None)
        if route is None:
            return _json({"reason": "Not found"}, 404)
        ids = [p for p in parts if p.isdigit()]
        routed: Response = route(*ids, payload=payload, params=request.args)
        return routed

    def _refresh(self, payload: Any) -> Response:
        app = self._oauth
        if not isinstance(payload, dict) or payload.get("grant_type") != "refresh_token":
            return _json({"error": "unsupported_grant_type", "message": "Unsupported grant."}, 400)
        if not app or any(payload.get(k) != app[k] for k in ("client_id", "client_secret", "refresh_token")):
            return _json({"error": "invalid_grant", "message": "The refresh token is invalid.", "hint": ""}, 401)
        number = next(self._ids)
        access = _jwt({"sub": self.agent["id"], "exp": int(datetime.now().timestamp()) + 3600, "n": number})
        app["refresh_token"] = f"refresh-{number}"
        self._issued = access
        return _json(
            {"token_type": "Bearer", "expires_in": 3600, "access_token": access, "refresh_token": f"refresh-{number}"}
        )

    def _now(self) -> str:
        return datetime.now(self.timezone).strftime("%Y-%m-%d %H:%M:%S")

    def _chat(self, chat_id: str) -> dict[str, Any] | None:
        return self.chats.get(chat_id)

    def _get_agents_profile(self, **_: Any) -> Response:
        return _json(self.agent)

    def _get_chats(self, *, params: Any, **_: Any) -> Response:
        filters = {k: v for k, v in params.items() if k != "page"}
        chats = [c for c in self.chats.values() if all(str(c.get(k)) == v for k, v in filters.items())]
        page = int(params.get("page", 0))
        return _json([self._describe(c) for c in chats[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]])

    def _get_chats_(self, chat_id: str, **_: Any) -> Response:
        chat = self._chat(chat_id)
        return _json(self._describe(chat)) if chat else _not_found()

    def _describe(self, chat: dict[str, Any]) -> dict[str, Any]:
        messages = self.messages.get(str(chat["id"]), [])
        last = messages[-1] if messages else None
        return {**chat, "lastMessage": last and {k: last.get(k) for k in ("text", "sendAt", "sender")}}

    def _get_chats__messages(self, chat_id: str, **_: Any) -> Response:
        if self._chat(chat_id) is None:
            return _not_found()
        return _json(list(reversed(self.messages[chat_id])))

    def _post_chats__messages(self, chat_id: str, *, payload: Any, **_: Any) -> Response:
        if self._chat(chat_id) is None:
            return _not_found()
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("file")):
            return _json({"reason": "Mensagem inválida"}, 400)
        message = {
            "id": next(self._ids),
            "text": payload.get("text"),
            "file": payload.get("file"),
            "isInternal": bool(payload.get("isInternal")),
            "senderType": "agent",
            "sender": {"id": str(self.agent["id"]), "name": self.agent["name"]},
            "sendAt": self._now(),
        }
        self.messages[chat_id].append(message)
        return _json(message)

    def _put_chats__close(self, chat_id: str, *, payload: Any, **_: Any) -> Response:
        chat = self._chat(chat_id)
        if chat is None:
            return _not_found()
        chat.update(situation="finished", tabulation=(payload or {}).get("tabulation"))
        return Response(status=204)

    def _post_chats__flow(self, chat_id: str, *, payload: Any, **_: Any) -> Response:
        if self._chat(chat_id) is None:
            return _not_found()
        self.flows.append((chat_id, payload))
        return Response(status=200)

    def _get_contacts(self, *, params: Any, **_: Any) -> Response:
        phone = params.get("phone", "")
        return _json([c for c in self.contacts.values() if phone and c.get("phone") == phone])

    def _post_contacts(self, *, payload: Any, **_: Any) -> Response:
        if not isinstance(payload, dict) or not payload.get("name"):
            return _json({"reason": "Nome obrigatório"}, 400)
        if any(c.get("phone") == payload.get("phone") for c in self.contacts.values()):
            return _json({"reason": "Já existe um contato com este telefone"}, 400)
        return _json([self._new_contact(payload)])  # a one-element list: Huggy answers both shapes

    def _put_contacts_(self, contact_id: str, *, payload: Any, **_: Any) -> Response:
        contact = self.contacts.get(contact_id)
        if contact is None:
            return _not_found()
        contact.update(payload or {})
        return Response(status=200)

    def _new_contact(self, fields: dict[str, Any]) -> dict[str, Any]:
        contact = {**fields, "id": str(900 + len(self.contacts)), "createdAt": self._now()}
        self.contacts[contact["id"]] = contact
        return contact


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """The fake's requests are in :attr:`FakeHuggyAPI.requests`, not in the test's output."""


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _not_found() -> Response:
    return _json({"reason": "Registro não encontrado"}, 404)


def _unauthorized() -> Response:
    return _json(
        {"error": "access_denied", "message": "The resource owner or authorization server denied the request.",
         "hint": "Access token could not be verified"},
        401,
    )  # fmt: skip


def _jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.fake"


__all__ = ["FAKE_TOKEN", "FakeHuggyAPI", "FakeRequest"]
