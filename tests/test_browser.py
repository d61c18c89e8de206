"""The example page in a real headless Chromium, against a live server.

Playwright drives Debian's ``chromium`` (never a downloaded browser). Without a Chromium these
tests skip with the reason, except under ``CI=true`` where a missing browser is a failure.
Screenshots of the key steps go to ``test-artifacts/`` (git ignores it).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import override_settings

from example_project.notes.models import Note
from jwtsessions.models import Session
from tests.factories import DEFAULT_PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ACCESS, REFRESH = "access", "refresh"
# live_server is plain HTTP: the cookies cannot be Secure here (tests/test_cookies.py checks it).
COOKIE_MODE = {
    "AUTH_COOKIE": ACCESS,
    "REFRESH_COOKIE": REFRESH,
    "COOKIE_SECURE": False,
    "COOKIE_SAMESITE": "Strict",
}


def _find_chromium() -> str | None:
    candidates = [
        os.environ.get("CHROMIUM_PATH"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e .[browser])")
    executable = _find_chromium()
    if executable is None:
        _unavailable("no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)")
    ARTIFACTS.mkdir(exist_ok=True)
    # Playwright's sync API keeps an event loop on this thread, which makes Django refuse ORM
    # calls here; the ones these tests make between browser steps are plain synchronous code.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def _cookie_mode() -> Iterator[None]:
    with override_settings(JWTSESSIONS=COOKIE_MODE):
        yield


@pytest.fixture
def user() -> Any:
    owner = make_user()
    Note.objects.create(owner=owner, title="Shopping list", body="milk, eggs")
    return owner


def screenshot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_page(browser: Any, url: str) -> tuple[Any, Any]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(url + "/")
    page.locator("#login-form").wait_for()
    return context, page


def log_in(page: Any, user: Any) -> None:
    form = page.locator("#login-form")
    form.locator("input[name=username]").fill(user.get_username())
    form.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    form.locator("button[type=submit]").click()
    page.locator("#app").wait_for()
    page.locator("#sessions tbody tr").first.wait_for()


def active_sessions(user: Any) -> int:
    return Session.objects.filter(user=user, revoked_at__isnull=True).count()


def expect_login_form(page: Any, message: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()
    expect(page.locator("#login-message")).to_contain_text(message)


def test_login_httponly_cookies_and_notes(browser: Any, live_server: Any, user: Any) -> None:
    from playwright.sync_api import expect

    context, page = open_page(browser, live_server.url)
    screenshot(page, "01-login-form")
    log_in(page, user)
    expect(page.locator("#notes li")).to_have_count(1)
    expect(page.locator("#notes li").first).to_contain_text("Shopping list")
    expect(page.locator("#sessions tbody tr.current")).to_have_count(1)
    screenshot(page, "02-logged-in")

    # Page JavaScript cannot read the tokens: only the CSRF cookie is visible to it.
    visible = page.evaluate("document.cookie")
    assert "csrftoken=" in visible
    assert f"{ACCESS}=" not in visible
    assert f"{REFRESH}=" not in visible

    cookies = {c["name"]: c for c in context.cookies()}
    access, refresh = cookies[ACCESS], cookies[REFRESH]
    for cookie in (access, refresh):
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["secure"] is False  # live_server is HTTP; COOKIE_SECURE=False here
    assert access["path"] == "/"
    assert refresh["path"] == "/api/auth/refresh/"
    now = time.time()
    assert now < access["expires"] <= now + 900 + 1
    assert now + 29 * 86400 < refresh["expires"] <= now + 30 * 86400 + 1
    # The browser sends the refresh cookie to the refresh endpoint only.
    to_api = {c["name"] for c in context.cookies(live_server.url + "/api/notes/")}
    to_refresh = {c["name"] for c in context.cookies(live_server.url + "/api/auth/refresh/")}
    assert REFRESH not in to_api
    assert ACCESS in to_api
    assert REFRESH in to_refresh

    page.locator("#note-form input[name=title]").fill("Written in Chromium")
    page.locator("#note-form textarea[name=body]").fill("<b>not bold</b>")
    page.locator("#note-form button[type=submit]").click()
    expect(page.locator("#notes li")).to_have_count(2)
    expect(page.locator("#notes li").first).to_contain_text("<b>not bold</b>")
    screenshot(page, "03-note-created")
    assert list(Note.objects.filter(owner=user).values_list("title", flat=True)) == [
        "Written in Chromium",
        "Shopping list",
    ]

    page.locator("#logout").click()
    expect_login_form(page, "You have logged out.")
    assert active_sessions(user) == 0
    assert ACCESS not in {c["name"] for c in context.cookies()}
    context.close()


def test_session_revoked_from_another_browser_sends_the_page_back_to_login(
    browser: Any, live_server: Any, user: Any
) -> None:
    from playwright.sync_api import expect

    laptop, laptop_page = open_page(browser, live_server.url)
    log_in(laptop_page, user)
    phone, phone_page = open_page(browser, live_server.url)
    log_in(phone_page, user)
    rows = phone_page.locator("#sessions tbody tr")
    expect(rows).to_have_count(2)
    screenshot(phone_page, "04-two-sessions")

    rows.filter(has_not=phone_page.locator("xpath=self::tr[@class='current']")).locator(
        "button.revoke"
    ).click()
    expect(rows).to_have_count(1)
    expect(phone_page.locator("#sessions tbody tr.current")).to_have_count(1)
    assert active_sessions(user) == 1

    # The laptop's next API call is refused, one refresh fails too, and the page shows login.
    laptop_page.locator("#reload").click()
    expect_login_form(laptop_page, "This session was revoked.")
    screenshot(laptop_page, "05-revoked-back-to-login")
    # The phone is unaffected.
    phone_page.locator("#reload").click()
    expect(phone_page.locator("#app")).to_be_visible()
    expect(phone_page.locator("#notes li")).to_have_count(1)
    laptop.close()
    phone.close()


def test_log_out_everywhere(browser: Any, live_server: Any, user: Any) -> None:
    from playwright.sync_api import expect

    first, first_page = open_page(browser, live_server.url)
    log_in(first_page, user)
    second, second_page = open_page(browser, live_server.url)
    log_in(second_page, user)
    assert active_sessions(user) == 2

    first_page.locator("#logout-all").click()
    expect_login_form(first_page, "You have logged out on every device.")
    screenshot(first_page, "06-logged-out-everywhere")
    assert active_sessions(user) == 0
    assert ACCESS not in {c["name"] for c in first.cookies()}

    second_page.locator("#note-form input[name=title]").fill("too late")
    second_page.locator("#note-form button[type=submit]").click()
    expect_login_form(second_page, "This session was revoked.")
    assert not Note.objects.filter(title="too late").exists()
    # And a fresh login works again.
    log_in(second_page, user)
    expect(second_page.locator("#notes li")).to_have_count(1)
    first.close()
    second.close()


class _AttackerHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return


@pytest.fixture
def attacker_site(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A second web server on another port: another origin, serving a forged form."""
    handler = functools.partial(_AttackerHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, server.server_address[1]
    server.shutdown()
    server.server_close()


def _forged_form(target: str) -> str:
    return (
        "<!doctype html><title>Win a prize</title>"
        f'<form method="POST" action="{target}">'
        '<input name="title" value="forged by another site"></form>'
        "<script>document.forms[0].submit()</script>"
    )


def test_cross_site_form_post_is_refused_by_csrf(
    browser: Any, live_server: Any, user: Any, attacker_site: tuple[Path, int]
) -> None:
    from playwright.sync_api import expect

    context, page = open_page(browser, live_server.url)
    log_in(page, user)
    directory, port = attacker_site
    api_url = live_server.url + "/api/notes/"
    (directory / "attack.html").write_text(_forged_form(api_url))

    # Same host name, other port: same site, so even a SameSite=Strict cookie goes along and
    # authenticates the request. The CSRF check (Origin, and no token) is what refuses it.
    same_site = f"http://{urlsplit(live_server.url).hostname}:{port}/attack.html"
    page.goto(same_site)
    page.wait_for_url(api_url)
    expect(page.locator("body")).to_contain_text("csrf_failed")
    expect(page.locator("body")).to_contain_text("CSRF Failed")
    screenshot(page, "07-cross-site-post-refused")

    # A truly cross-site page (another host name): the Strict cookies are not even sent.
    other_host = "127.0.0.1" if urlsplit(live_server.url).hostname != "127.0.0.1" else "localhost"
    page.goto(f"http://{other_host}:{port}/attack.html")
    page.wait_for_url(api_url)
    expect(page.locator("body")).to_contain_text("not_authenticated")

    assert not Note.objects.filter(title="forged by another site").exists()
    # The victim's session is untouched and the page still works.
    page.goto(live_server.url + "/")
    expect(page.locator("#notes li")).to_have_count(1)
    assert active_sessions(user) == 1
    context.close()


# --- the admin and the phone-sized page (issue 14) ---------------------------------------------


def admin_page(browser: Any, live_server: Any, width: int) -> tuple[Any, Any]:
    """A browser at ``width`` px, logged in to the admin as a staff superuser."""
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.filter(username="operator").first() or make_user(
        "operator", is_staff=True, is_superuser=True
    )
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(live_server.url + "/admin/login/")
    page.locator("#id_username").fill(operator.get_username())
    page.locator("#id_password").fill(DEFAULT_PASSWORD)
    page.locator("input[type=submit]").click()
    page.locator("#site-name").wait_for()
    return context, page


def fits_width(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_admin_revoke_button_lists_what_it_revokes_then_records_who(
    browser: Any, live_server: Any, user: Any
) -> None:
    from django.test import Client
    from playwright.sync_api import expect

    from jwtsessions.apikeys import create_api_key
    from tests.factories import login

    bodies = [login(Client(), user, HTTP_USER_AGENT=f"Mozilla/5.0 device {i}") for i in range(3)]
    session_id = bodies[0]["session_id"]
    api_key, _ = create_api_key(user, "deploy bot", ["notes:read"])
    context, page = admin_page(browser, live_server, 1280)
    username = user.get_username()

    page.goto(live_server.url + "/admin/jwtsessions/session/")
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    screenshot(page, "10-admin-sessions-1280")
    assert fits_width(page), "the session changelist scrolls sideways at 1280 px"
    results = page.locator("#changelist-form .results")
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth"), "columns cut off at 1280 px"

    page.goto(f"{live_server.url}/admin/jwtsessions/session/{session_id}/change/")
    expect(page.locator("#content h2")).to_have_text(f"session {session_id[:8]}… of {username}")
    expect(page.locator(".field-ip_address label")).to_have_text("IP address:")
    page.locator("a.jwtsessions-revoke-link").click()
    listed = page.locator("ul.jwtsessions-affected li")
    expect(listed).to_have_count(1)
    expect(listed.first).to_have_text(f"session {session_id[:8]}… of {username}")
    expect(page.locator(".jwtsessions-summary")).to_have_text("This revokes 1 session of 1 user.")
    screenshot(page, "11-admin-revoke-confirmation-1280")
    page.locator("#id_reason").fill("lost laptop")
    page.locator("input[type=submit]").click()
    expect(page.locator(".messagelist")).to_contain_text("Revoked 1 session of 1 user.")
    expect(page.locator(".field-revoked_by")).to_contain_text("operator")
    expect(page.locator(".field-revoke_reason")).to_contain_text("lost laptop")
    expect(page.locator("a.jwtsessions-revoke-link")).to_have_count(0)
    screenshot(page, "12-admin-revoked-session-1280")
    assert Session.objects.get(pk=session_id).revoked_by.get_username() == "operator"
    assert active_sessions(user) == 2

    # "Revoke all sessions of these users" lists the remaining two with their user.
    page.goto(live_server.url + "/admin/jwtsessions/session/?status=active")
    page.locator("#action-toggle").check()
    page.locator("select[name=action]").select_option("revoke_users_sessions")
    page.locator("button[name=index]").click()
    expect(page.locator("ul.jwtsessions-affected li")).to_have_count(2)
    for item in page.locator("ul.jwtsessions-affected li").all_inner_texts():
        assert item.endswith(f" of {username}")
    context.close()

    # The API key, on a phone.
    context, page = admin_page(browser, live_server, 390)
    page.goto(f"{live_server.url}/admin/jwtsessions/apikey/{api_key.pk}/change/")
    expect(page.locator(".field-scopes_list li")).to_have_text(["notes:read"])
    page.locator("a.jwtsessions-revoke-link").click()
    expect(page.locator("ul.jwtsessions-affected li")).to_have_text(
        [f"deploy bot ({api_key.public_id})"]
    )
    screenshot(page, "13-admin-revoke-confirmation-390")
    page.locator("input[type=submit]").click()
    expect(page.locator(".messagelist")).to_contain_text("Revoked 1 API key of 1 user.")
    screenshot(page, "14-admin-revoked-key-390")
    context.close()


def test_example_page_logged_out_is_clean_and_fits_a_phone(
    browser: Any, live_server: Any, user: Any
) -> None:
    from django.test import Client
    from playwright.sync_api import expect

    from tests.factories import login

    login(Client(), user, HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0) Firefox/140.0")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(request.url))
    page.goto(live_server.url + "/")
    page.locator("#login-form").wait_for()
    page.wait_for_load_state("networkidle")
    assert problems == []
    expect(page.locator("#login-message")).to_have_class("message notice")

    log_in(page, user)
    expect(page.locator("#sessions tbody tr")).to_have_count(2)
    assert fits_width(page), "the sessions table is wider than a 390 px phone"
    screenshot(page, "15-sessions-390")

    page.locator("#logout").click()
    expect_login_form(page, "You have logged out.")
    expect(page.locator("#login-message")).to_have_class("message notice")
    form = page.locator("#login-form")
    form.locator("input[name=username]").fill(user.get_username())
    form.locator("input[name=password]").fill("wrong password")
    form.locator("button[type=submit]").click()
    expect(page.locator("#login-message")).to_have_class("message error")
    expect(form.locator("button[type=submit]")).to_have_text("Log in")
    context.close()
