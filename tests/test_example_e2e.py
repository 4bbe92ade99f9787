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
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask

from example_app import create_app
from example_app.acting import inbox_fake
from example_app.models import Handshake, db
from example_app.state import DemoRun, inbox_state
from example_app.testing import serve
from flask_huggy.testing import build_delivery, build_event, build_handshake

from .conftest import TOKEN, load_payload
from .processes import free_port, missing_system_tool

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
    return create_app(
        {
            "HUGGY_WEBHOOK_TOKEN": TOKEN,
            "INBOX_POLL_SECONDS": 0.5,
            "INBOX_DEMO_PAUSE": 0.2,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'inbox.sqlite3'}",
        }
    )


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
    waiting = WebDriverWait(browser, PATIENCE, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,))
    try:
        return waiting.until(condition)
    except TimeoutException:
        raise AssertionError(
            f"{what} did not happen within {PATIENCE} s. The page shows:\n{page_text(browser)}"
        ) from None


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

    answer = build_event(
        "sendedAllMessage",
        body="Oi, John! Em que posso ajudar?",
        customer=customer,
        receiver=customer,
        sender={"id": 40419, "name": "Ana Lima"},
        chat={"id": chat, "channel": "widget", "customer": customer},
    )
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
        rows = [
            (r.find_element("css selector", ".contact-name").text, r.text)
            for r in b.find_elements("css selector", "tr.chat-row")
        ]
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


# --- the inbox as its users see it, after the demo, at 1280 and 360 px -------------------------

#: The widths every page is looked at: a laptop and a small phone.
WIDTHS = (1280, 360)
#: Docs samples about one chat, posted in the wrong order: closedChat (17:21:10
#: in Huggy's time) first, then agentEntered (17:11:54, the delivery's time).
DOCS_CHAT = "30608118"


def set_width(browser: Any, width: int, height: int = 900) -> None:
    """Show pages as a device ``width`` CSS pixels wide (a phone at 360) would."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": width,
            "height": height,
            "deviceScaleFactor": 1,
            "mobile": width < 600,
        },
    )


def whole_page(browser: Any, screenshot: Callable[[str], Path], name: str, width: int) -> Path:
    """Screenshot the whole page at ``width``: at least 900 px high, as long as the page is."""
    height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    set_width(browser, width, max(900, min(height, 8000)))
    try:
        return screenshot(name)
    finally:
        set_width(browser, width)


def overflow(browser: Any) -> int:
    """How many CSS pixels the page is wider than its window (0: nothing to scroll sideways)."""
    return int(
        browser.execute_script(
            "return Math.max(0, document.documentElement.scrollWidth - document.documentElement.clientWidth)"
        )
    )


@pytest.fixture(scope="module")
def demo_inbox(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    closed_port = free_port()  # nothing listens there: Huggy's confirmation request fails
    return create_app(
        {
            "HUGGY_WEBHOOK_TOKEN": TOKEN,
            "HUGGY_CONFIRM_URL": f"http://127.0.0.1:{closed_port}/validate",
            "INBOX_POLL_SECONDS": 0.5,
            "INBOX_DEMO_PAUSE": 0,
            "INBOX_BANNER_SECONDS": 3600,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path_factory.mktemp('demo-inbox') / 'inbox.sqlite3'}",
        }
    )


@pytest.fixture(scope="module")
def demo_server(demo_inbox: Flask) -> Iterator[str]:
    """The inbox after the demo, the docs' closedChat and agentEntered (in that order), and a failed handshake."""
    with serve(demo_inbox) as base_url:
        started = requests.post(f"{base_url}/demo", headers={"Origin": base_url}, allow_redirects=False, timeout=10)
        assert started.status_code == 303
        run = inbox_state(demo_inbox).last_demo
        assert run is not None and run.wait(timeout=60) and run.error is None, run and run.error
        for name in ("closedChat", "agentEntered"):
            assert post_to_webhook(base_url, load_payload(name)).status_code == 200
        post_to_webhook(base_url, build_handshake(TOKEN)).close()
        # The confirmation request goes out after the answer: wait until it has failed and is recorded.
        deadline = time.monotonic() + 60
        while not handshakes(demo_inbox) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [h.confirmed for h in handshakes(demo_inbox)] == [False]
        yield base_url


def handshakes(app: Flask) -> list[Handshake]:
    with app.app_context():
        found = list(db.session.scalars(db.select(Handshake)))
        db.session.expunge_all()
        return found


@pytest.fixture
def fresh_window(browser: Any) -> Iterator[Any]:
    """The browser at 1280 px in UTC with no cookie and nothing dismissed; put back so after the test."""
    browser.delete_all_cookies()
    set_width(browser, 1280)
    yield browser
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "UTC"})
    browser.delete_all_cookies()
    browser.execute_script("window.sessionStorage.clear()")


def maria_chat_url(browser: Any, base_url: str) -> str:
    browser.get(base_url + "/")
    return str(browser.find_element("link text", "Maria Souza").get_attribute("href"))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", ["chats", "chat", "events", "status"])
def test_every_page_fits_its_window_after_the_demo(fresh_window, demo_server, screenshot, page, width) -> None:
    browser = fresh_window
    url = {
        "chats": demo_server + "/",
        "chat": None,
        "events": demo_server + "/events",
        "status": demo_server + "/status",
    }[page] or maria_chat_url(browser, demo_server)
    set_width(browser, width)
    browser.get(url)
    wait_for(browser, lambda b: b.execute_script("return document.readyState") == "complete", "The page loading")

    assert overflow(browser) == 0, f"{page} at {width} px scrolls sideways by {overflow(browser)} px"
    if page == "chats":
        # Every chat's status is in view, not cut off at the right.
        for badge in browser.find_elements("css selector", ".chat-row .badge"):
            assert badge.is_displayed() and badge.rect["x"] + badge.rect["width"] <= width, badge.rect
    whole_page(browser, screenshot, f"inbox-{page}-{width}", width)


def test_the_header_stays_put_between_short_and_long_pages(fresh_window, demo_server) -> None:
    browser = fresh_window

    def layout(url: str) -> tuple[float, float]:
        """Where the header's right end (the demo button) and the centred page start."""
        browser.get(url)
        button = browser.find_element("id", "try-demo").rect
        return button["x"] + button["width"], browser.find_element("tag name", "main").rect["x"]

    short = layout(demo_server + "/?status=open")  # one chat: nothing to scroll
    assert not browser.execute_script("return document.documentElement.scrollHeight > window.innerHeight")
    long = layout(demo_server + "/status")  # a scrollbar

    assert browser.execute_script("return document.documentElement.scrollHeight > window.innerHeight")
    assert long == short


def test_a_timeline_reads_in_huggys_order_whatever_the_arrival_order(fresh_window, demo_server, screenshot) -> None:
    browser = fresh_window
    browser.get(f"{demo_server}/chats/{DOCS_CHAT}")

    lines = [li.text for li in browser.find_elements("css selector", "#timeline > li")]
    assert len(lines) == 2
    assert "John Doe entered the chat" in lines[0] and "arrived later" in lines[0]
    assert "Chat closed without tabulation" in lines[1]
    # The chat is what its newest event says: closed, finished; not the late agentEntered's "in_chat".
    assert browser.find_element("id", "chat-status").text == "closed"
    assert browser.find_element("id", "chat-situation").text == "finished"
    assert browser.find_element("id", "chat-situation").get_attribute("title") == "Huggy's situation: finishing"
    screenshot("inbox-chat-out-of-order")


def test_times_read_in_the_viewers_zone_with_the_date_and_utc_on_hover(fresh_window, demo_server) -> None:
    browser = fresh_window
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})

    browser.get(f"{demo_server}/chats/{DOCS_CHAT}")

    closed = browser.find_element("css selector", "#timeline li.closed time")
    # Huggy wrote "2020-03-05 17:21:10" in São Paulo: 20:21:10 UTC, 05:21:10 the next day in Tokyo.
    assert closed.text == "6 Mar 2020, 05:21:10"
    assert closed.get_attribute("title") == "2020-03-05 20:21:10 UTC"
    assert browser.find_element("id", "viewer-zone").text == "Asia/Tokyo"
    # The server renders in the zone the browser told it, so the chats list and charts agree.
    browser.get(demo_server + "/status")
    assert "Asia/Tokyo" in browser.find_element("css selector", ".card.wide h2").text


def test_the_demo_banner_goes_when_dismissed_and_stays_gone(fresh_window, demo_server) -> None:
    browser = fresh_window
    browser.get(demo_server + "/")
    assert "Demo done" in browser.find_element("id", "demo-status").text
    mark_page(browser)

    browser.find_element("css selector", "#demo-status .dismiss").click()

    assert browser.find_elements("id", "demo-status") == []
    # A live update re-renders the part of the page the banner lives in: it stays gone.
    cursor = browser.find_element("id", "live-region").get_attribute("data-cursor")
    agent = {"id": 40419, "name": "Ana Lima"}
    assert post_to_webhook(demo_server, build_delivery(build_event("agentChangedStatus", **agent), token=TOKEN)).ok
    wait_for(
        browser,
        lambda b: b.find_element("id", "live-region").get_attribute("data-cursor") != cursor,
        "The page updating live",
    )
    assert page_was_not_reloaded(browser)
    assert browser.find_elements("id", "demo-status") == []
    browser.get(demo_server + "/events")
    assert browser.find_elements("id", "demo-status") == []


def test_a_failure_is_listed_once_under_last_errors(fresh_window, demo_server, screenshot) -> None:
    browser = fresh_window
    browser.get(demo_server + "/status")

    problems = [li.text for li in browser.find_elements("css selector", "#last-errors > li")]
    about_handshake = [line for line in problems if "onfirm" in line or "andshake" in line or "502" in line]
    assert len(about_handshake) == 1, problems
    assert browser.find_elements("css selector", "#daily-chart rect")
    screenshot("inbox-status-errors")


def test_a_finished_demos_banner_goes_away_by_itself(browser, demo_inbox, demo_server) -> None:
    state = inbox_state(demo_inbox)
    finished = state.last_demo
    banner_seconds = demo_inbox.config["INBOX_BANNER_SECONDS"]
    ended = DemoRun(started_at=datetime.now(timezone.utc), target=demo_server + "/huggy/webhook", total=11, accepted=11)
    ended.finish()
    ended.finished_at = datetime.now(timezone.utc) - timedelta(seconds=banner_seconds - 3)  # 3 s left to show
    state.last_demo = ended
    try:
        browser.delete_all_cookies()
        browser.get(demo_server + "/events")
        mark_page(browser)

        # However long the page took to load, the banner is gone soon after, without a reload.
        wait_for(browser, lambda b: not b.find_elements("id", "demo-status"), "The banner going away")
        assert page_was_not_reloaded(browser)
        browser.get(demo_server + "/")
        assert browser.find_elements("id", "demo-status") == []
    finally:
        state.last_demo = finished


def test_behind_a_password_the_pages_still_update_live_and_huggy_needs_none(browser, tmp_path) -> None:
    locked = create_app(
        {
            "HUGGY_WEBHOOK_TOKEN": TOKEN,
            "INBOX_PASSWORD": "correct horse",
            "INBOX_POLL_SECONDS": 0.5,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'locked.sqlite3'}",
        }
    )
    with serve(locked) as base_url:
        assert requests.get(base_url + "/", timeout=10).status_code == 401
        browser.get(base_url.replace("http://", "http://anyone:correct%20horse@") + "/")
        assert "No chat yet" in page_text(browser)
        mark_page(browser)

        response = post_to_webhook(base_url, load_payload("startedChat+receivedMessage"))  # no password

        assert response.status_code == 200, response.text
        # The polling (/updates) and the refetch carry the password the browser was given.
        row = wait_for(browser, first_text("tr.chat-row"), "The chat row appearing behind the password")
        assert "John Doe" in row
        assert page_was_not_reloaded(browser)


# --- the inbox acts: a reply typed in the chat page, at 1280 and 360 px ------------------------


def in_view(browser: Any, element: Any) -> dict[str, float]:
    """Where ``element`` is, and whether it fits across the window: its rect and the window's width."""
    rect: dict[str, float] = element.rect
    return {**rect, "window": browser.execute_script("return document.documentElement.clientWidth")}


@pytest.mark.parametrize("width", WIDTHS)
def test_a_reply_typed_in_the_chat_page_reaches_the_fake_api_once(browser, server, tmp_path, capsys, width) -> None:
    chat = "171789"
    fake = inbox_fake(ZoneInfo("America/Sao_Paulo"))  # the one the inbox's server (this process) starts
    fake.requests.clear()
    fake.messages.clear()
    fake.chats.clear()
    post_to_webhook(server, load_payload("startedChat+receivedMessage"))
    browser.delete_all_cookies()
    set_width(browser, width)
    try:
        browser.get(f"{server}/chats/{chat}")
        mark_page(browser)
        banner = browser.find_element("id", "fake-api-banner")
        assert banner.is_displayed()
        assert "Replies go to a fake Huggy API running inside the inbox: set HUGGY_API_TOKEN to reach Huggy" in (
            " ".join(banner.text.split())
        )

        # Every control is there, whole, inside the window, and big enough for a thumb.
        browser.execute_script("document.getElementById('actions').scrollIntoView({block: 'end'})")
        controls = ["reply-text", "reply-internal", "reply-send", "close-tabulation", "close-chat"]
        for name in controls:
            element = browser.find_element("id", name)
            place = in_view(browser, element)
            assert element.is_displayed() and element.is_enabled(), name
            assert place["x"] >= 0 and place["x"] + place["width"] <= place["window"], (name, place)
        for name in ("reply-send", "close-chat"):
            assert browser.find_element("id", name).rect["height"] >= 36, name
        text_box = browser.find_element("id", "reply-text").rect
        assert text_box["width"] >= min(width - 80, 600), text_box  # the box takes the width there is
        assert overflow(browser) == 0, f"the chat page at {width} px scrolls sideways by {overflow(browser)} px"
        shot = tmp_path / f"inbox-chat-actions-{width}.png"
        browser.save_screenshot(str(shot))
        with capsys.disabled():
            print(f"\n  screenshot: {shot}")

        # What is being typed survives a live update of the timeline above it.
        typed = "Olá John! Seu pedido <#1234> saiu hoje & chega amanhã."
        browser.find_element("id", "reply-text").send_keys(typed)
        cursor = browser.find_element("id", "live-region").get_attribute("data-cursor")
        answer = build_event(
            "receivedMessage", body="Ainda aí?", chat={"id": int(chat), "channel": "widget"}, customer={"id": 633}
        )
        assert post_to_webhook(server, build_delivery(answer, token=TOKEN)).status_code == 200
        wait_for(
            browser,
            lambda b: b.find_element("id", "live-region").get_attribute("data-cursor") != cursor,
            "The timeline updating live",
        )
        assert page_was_not_reloaded(browser)
        assert browser.find_element("id", "reply-text").get_attribute("value") == typed

        browser.find_element("id", "reply-send").click()

        said = wait_for(browser, first_text("#action-outcome"), "The page saying the reply was sent")
        assert said.startswith("Reply sent (message "), said
        assert [m["text"] for m in fake.messages_of(chat)] == [typed]
        assert [(r.method, r.path) for r in fake.requests] == [("POST", f"/v3/chats/{chat}/messages")]
        assert browser.find_element("id", "reply-text").get_attribute("value") == ""
        # Reloading the page that says "sent" sends nothing again.
        browser.refresh()
        wait_for(browser, first_text("#action-outcome"), "The outcome showing again")
        assert len(fake.requests) == 1
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
