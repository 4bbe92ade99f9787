"""End to end, in a real browser: what Huggy posts to the inbox appears on its open pages, live.

The inbox runs under a real WSGI server on a free 127.0.0.1 port; Debian's
headless Chromium, driven by Selenium through Debian's chromedriver, looks at
it. Deliveries go to the webhook over HTTP, as Huggy sends them. Screenshots
are kept in ``test-artifacts/`` (git-ignored) and their paths printed.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (``apt-get install
chromium chromium-driver``; ``.ci/run`` installs them). Without them the tests
fail when ``CI`` is set, and are skipped otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from example_app import create_app
from example_app.testing import serve
from flask_huggy.testing import build_delivery, build_event

from .conftest import TOKEN, load_payload
from .processes import missing_system_tool

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
#: How long a page may take to show what was posted (it polls every 0.5 s here).
PATIENCE = 15

#: The flags this machine's Chromium needs: no sandbox as root, no GPU, and no
#: background connections (the network is closed; they would be refused).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--window-size=1280,1000",
)


def _require_browser() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if not missing:
        return
    message = (
        f"The end-to-end test needs {', '.join(missing)}: "
        "apt-get install chromium chromium-driver (.ci/run installs them)."
    )
    missing_system_tool(message)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's Chromium, headless, with a fresh profile; Selenium Manager is never asked for a driver."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PATIENCE)
    yield driver
    driver.quit()


@pytest.fixture
def inbox(tmp_path: Path) -> Flask:
    return create_app({
        "HUGGY_WEBHOOK_TOKEN": TOKEN,
        "INBOX_POLL_SECONDS": 0.5,
        "INBOX_DEMO_PAUSE": 0.2,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'inbox.sqlite3'}",
    })


@pytest.fixture
def server(inbox: Flask) -> Iterator[str]:
    with serve(inbox) as base_url:
        yield base_url


@pytest.fixture
def screenshot(browser: Any, capsys: pytest.CaptureFixture[str]) -> Callable[[str], Path]:
    """Save what the browser shows as test-artifacts/<name>.png, and say where."""

    def take(name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        browser.save_screenshot(str(path))
        with capsys.disabled():
            print(f"\n  screenshot: {path.relative_to(ARTIFACTS.parent)}")
        return path

    return take


def post_to_webhook(base_url: str, delivery: dict[str, Any]) -> requests.Response:
    """POST a delivery to the inbox's webhook, as Huggy does."""
    return requests.post(
        f"{base_url}/huggy/webhook", data=json.dumps(delivery), headers={"Content-Type": "application/json"}, timeout=10
    )


def wait_for(browser: Any, condition: Callable[[Any], Any], what: str) -> Any:
    from selenium.common.exceptions import (
        StaleElementReferenceException,
        TimeoutException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    # Live updates swap parts of the page while we read it: an element found a
    # moment ago may be gone, so a stale read just means "look again".
    waiting = WebDriverWait(
        browser, PATIENCE, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
    )
    try:
        return waiting.until(condition)
    except TimeoutException:
        raise AssertionError(f"{what} did not happen within {PATIENCE} s. The page shows:\n{page_text(browser)}") from None


def first_text(css: str) -> Callable[[Any], str | None]:
    """A wait condition: the text of the first element matching ``css``, read at once."""

    def read(b: Any) -> str | None:
        found = b.find_elements("css selector", css)
        return found[0].text if found else None

    return read


def page_text(browser: Any) -> str:
    text: str = browser.find_element("tag name", "body").text
    return text


def mark_page(browser: Any) -> None:
    """Leave a mark in the page's JavaScript state: a reload or a navigation would lose it."""
    browser.execute_script("window.__sameDocument = true;")


def page_was_not_reloaded(browser: Any) -> bool:
    return bool(browser.execute_script("return window.__sameDocument === true;"))


def test_a_delivery_posted_to_the_webhook_appears_live_on_the_open_chats_page(browser, server, screenshot) -> None:
    browser.get(server + "/")
    assert "No chat yet" in page_text(browser)
    mark_page(browser)

    response = post_to_webhook(server, load_payload("startedChat+receivedMessage"))

    assert response.status_code == 200, response.text
    row = wait_for(browser, first_text("tr.chat-row"), "The chat row appearing")
    assert "John Doe" in row
    assert "Contact: Olá" in row
    assert "open" in row
    assert page_was_not_reloaded(browser)
    screenshot("example-app-e2e")


def test_the_chat_opens_on_its_timeline_with_the_message(browser, server, screenshot) -> None:
    post_to_webhook(server, load_payload("startedChat+receivedMessage"))
    browser.get(server + "/")

    browser.find_element("link text", "John Doe").click()

    timeline = wait_for(browser, first_text(".timeline"), "The timeline showing")
    assert "Chat started by John Doe on Huggy Chat" in timeline
    message = wait_for(browser, first_text(".timeline .message.contact"), "The contact's message showing")
    assert "John Doe" in message and "Olá" in message
    screenshot("example-app-chat")


def test_a_new_message_appears_live_in_an_open_timeline(browser, server, screenshot) -> None:
    chat, customer = 171789, {"id": 633, "name": "John Doe"}
    post_to_webhook(server, load_payload("startedChat+receivedMessage"))
    browser.get(f"{server}/chats/{chat}")
    mark_page(browser)

    answer = build_event("sendedAllMessage", body="Oi, John! Em que posso ajudar?", customer=customer, receiver=customer,
                         sender={"id": 40419, "name": "Ana Lima"}, chat={"id": chat, "channel": "widget", "customer": customer})
    assert post_to_webhook(server, build_delivery(answer, token=TOKEN)).status_code == 200

    bubble = wait_for(browser, first_text(".timeline .message.agent"), "The agent's answer appearing")
    assert "Ana Lima" in bubble and "Oi, John! Em que posso ajudar?" in bubble
    assert page_was_not_reloaded(browser)
    screenshot("example-app-chat-live")


def test_try_it_without_huggy_fills_every_page(browser, server, screenshot) -> None:
    browser.get(server + "/")

    browser.find_element("id", "try-demo").click()

    wait_for(browser, lambda b: "Demo done: 11 of 11 deliveries accepted" in page_text(b), "The demo finishing")

    def chat_rows(b: Any) -> list[tuple[str, str]] | None:
        rows = [(r.find_element("css selector", ".contact-name").text, r.text) for r in b.find_elements("css selector", "tr.chat-row")]
        return rows if [name for name, _ in rows] == ["Maria Souza", "Carlos Pereira"] else None

    rows = wait_for(browser, chat_rows, "Both demo chats listed, Maria's first")
    assert "closed" in rows[0][1] and "Pedido atrasado" in rows[0][1]
    screenshot("example-app-chats")

    browser.get(server + "/status")
    assert len(browser.find_elements("css selector", "#hourly-chart rect")) > 0
    assert browser.find_element("id", "delivery-count").text == "11"
    screenshot("example-app-status")

    browser.get(server + "/events?name=closedChat")
    browser.find_element("css selector", "details summary").click()
    assert '"tabulation": {' in browser.find_element("css selector", "details pre.raw").text
    screenshot("example-app-events")
