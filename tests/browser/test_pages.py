"""The pages in a real browser: headless Chromium (Debian's package) driven by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.stack import Stack, StackConfig
from tests.conftest import TIMEOUT

pytestmark = [pytest.mark.browser, pytest.mark.wire]

CHROMIUM = os.environ.get("CHROMIUM_EXECUTABLE", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling out, which this closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = int(TIMEOUT * 2000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_dir: Path = tmp_path_factory.mktemp("browser")
    with Stack(StackConfig(server="uvicorn", layer="redis", users=4, rooms=1, terminals=1, employees=2), run_dir) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def logged_in_page(browser: Any, stack: Stack, user: dict[str, Any]) -> Any:
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": user["session"], "url": stack.http_url}])
    return context.new_page()


def post(stack: Stack, path: str, body: dict[str, Any]) -> int:
    token = stack.credentials()["service_tokens"][0]["token"]
    request = urllib.request.Request(
        f"{stack.http_url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return int(response.status)


def test_two_people_chat_and_see_each_other(browser: Any, stack: Stack) -> None:
    ann, bob = stack.credentials()["users"][:2]
    room = stack.credentials()["rooms"][0]["slug"]
    # Ann logs in through the login form; Bob arrives with a session cookie.
    a = browser.new_context().new_page()
    a.goto(f"{stack.http_url}/accounts/login/?next=/chat/{room}/")
    a.fill("#id_username", ann["username"])
    a.fill("#id_password", ann["password"])
    a.click("#login")
    a.wait_for_url(f"**/chat/{room}/", timeout=WAIT_MS)
    b = logged_in_page(browser, stack, bob)
    b.goto(f"{stack.http_url}/chat/{room}/")
    for page in (a, b):
        page.wait_for_selector("#status:text('connected')", timeout=WAIT_MS)
    a.wait_for_selector(f"#log li.presence:text('{bob['username']} joined')", timeout=WAIT_MS)
    a.fill("#text", "hello from ann")
    a.click("#send")
    b.wait_for_selector(f"#log li.message:text('{ann['username']}: hello from ann')", timeout=WAIT_MS)
    b.fill("#text", "hi ann")
    b.press("#text", "Enter")
    a.wait_for_selector(f"#log li.message:text('{bob['username']}: hi ann')", timeout=WAIT_MS)


def test_kiosk_page_shows_a_punch_from_the_worker_channel(browser: Any, stack: Stack) -> None:
    creds = stack.credentials()
    terminal, employee = creds["terminals"][0], creds["employees"][1]
    page = browser.new_context().new_page()
    page.goto(f"{stack.http_url}/kiosk/{terminal['id']}/?token={terminal['token']}")
    page.wait_for_selector("#status:text('connected')", timeout=WAIT_MS)
    event = {
        "reader": terminal["id"],
        "key_serial": employee["key_serial"],
        "event_id": "browser-1",
        "inserted_at": 1.8e9,
    }
    assert post(stack, "/api/timeclock/events/", event) == 202
    page.wait_for_selector(f"#last:text('{employee['name']}: clocked in')", timeout=WAIT_MS)
    assert page.locator("#punches li.punch").count() == 1


def test_notifications_page_shows_a_published_notification(browser: Any, stack: Stack) -> None:
    cid = stack.credentials()["users"][2]
    page = logged_in_page(browser, stack, cid)
    page.goto(f"{stack.http_url}/notifications/")
    page.wait_for_selector("#status:text('connected')", timeout=WAIT_MS)
    assert post(stack, "/api/notifications/", {"user": cid["id"], "title": "Shift swap", "body": "approved"}) == 201
    page.wait_for_selector("#items li.unread:text('Shift swap — approved')", timeout=WAIT_MS)
    page.click("#mark-read")
    page.wait_for_selector("#items li.read:text('Shift swap — approved')", timeout=WAIT_MS)
