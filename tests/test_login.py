"""People sign in, and tokens expire (issue 15, parts 2 and 3), against a real ``assay server`` process.

A server in team mode with a 30-day token maximum serves the tests; the lockout and session expiry tests
start their own (a locked address or a 2-second session must not leak into the others). Users are made
on the store before the server starts; passwords, tokens and revocations then go through the ``assay``
CLI in child processes, and browser flows through an httpx client that keeps cookies as a browser does
(the Chromium test at the end drives the real thing).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from assay.access import Role
from assay.server.main import build_services
from processes import ServerProcess

PASSWORDS = {"root": "root-password-1", "ada": "ada-password-1", "bob": "bob-password-1"}


@dataclass
class Team:
    server: ServerProcess
    store: str
    home: Path
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def env(self, user: str | None = None, token: str | None = None) -> dict[str, str]:
        env = {"ASSAY_HOME": str(self.home), "ASSAY_TRACKING_URI": self.url, "ASSAY_SYSTEM_METRICS": "0"}
        if token or user:
            env["ASSAY_TRACKING_TOKEN"] = token or self.tokens[str(user)]
        return env


def _make_team(root: Path, extra: list[str]) -> Team:
    store = str(root / "assay.db")
    services = build_services(store, str(root / "artifacts"))
    try:
        admin = services.access
        tokens = {"root": admin.create_user("root", True, PASSWORDS["root"]).secret}
        for name in ("ada", "bob"):
            tokens[name] = admin.create_user(name, password=PASSWORDS[name]).secret
        admin.create_project("vision")
        admin.set_member("vision", "ada", Role.EDITOR)
        admin.set_member("default", "ada", Role.EDITOR)
        admin.set_member("default", "bob", Role.VIEWER)
    finally:
        services.close()
    server = ServerProcess(root, store, str(root / "artifacts"), ["--auth", *extra])
    server.start()
    return Team(server, store, root, tokens)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    made = _make_team(tmp_path_factory.mktemp("login"), ["--max-token-days", "30"])
    yield made
    made.server.stop()


def cli(
    *args: str, env: dict[str, str], stdin: str = "", check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``assay ARGS`` in a child process with exactly ``env`` (plus PATH, and PYTHONPATH so that the child
    runs the code under test), ``stdin`` piped in."""
    inherited = {k: os.environ[k] for k in ("PATH", "PYTHONPATH") if k in os.environ}
    full = {**inherited, **env}
    done = subprocess.run(
        [sys.executable, "-m", "assay.cli.main", *args],
        env=full,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and done.returncode != 0:
        pytest.fail(f"assay {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def _form_token(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None, f"no CSRF field in the page:\n{page[:500]}"
    return found.group(1)


def sign_in(browser: httpx.Client, name: str, password: str, target: str = "/") -> httpx.Response:
    """Fill the sign-in form as a browser does (with the token the form page carries)."""
    token = _form_token(browser.get("/login").text)
    data = {"username": name, "password": password, "next": target, "csrf": token}
    return browser.post("/login", data=data)


def _browser(team: Team) -> httpx.Client:
    return httpx.Client(base_url=team.url, headers={"Accept": "text/html"}, timeout=30)


def _whoami(team: Team, token: str) -> httpx.Response:
    return httpx.get(f"{team.url}/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})


# ---- signing in and out -------------------------------------------------------------------------------------


def test_sign_in_with_a_password_and_sign_out_ends_the_session(team: Team) -> None:
    with _browser(team) as browser:
        first = browser.get("/account")
        assert first.status_code == 303 and first.headers["location"] == "/login?next=%2Faccount"
        r = sign_in(browser, "ada", PASSWORDS["ada"], "/account")
        assert r.status_code == 303 and r.headers["location"] == "/account"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        page = browser.get("/account")
        assert page.status_code == 200 and "ada" in page.text and "vision" in page.text
        session = browser.cookies["assay_session"]
        out = browser.post("/logout", data={"csrf": _form_token(page.text)})
        assert out.status_code == 303 and out.headers["location"].startswith("/login")
    # The old cookie is refused by the server, not merely forgotten by the browser.
    with httpx.Client(base_url=team.url, cookies={"assay_session": session}) as replay:
        r = replay.get("/api/v1/whoami")
        assert r.status_code == 401 and "sign in again" in r.json()["error"]["message"]


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(team: Team) -> None:
    with _browser(team) as browser:
        wrong = sign_in(browser, "bob", "not-bobs-password")
        nobody = sign_in(browser, "nobody-here", "whatever-1")
    for r in (wrong, nobody):
        assert r.status_code == 401 and "wrong user name or password" in r.text
        assert "assay_session" not in r.headers.get("set-cookie", "")


def test_form_posts_need_the_session_csrf_token_and_bearer_calls_do_not(team: Team) -> None:
    with _browser(team) as browser:
        assert sign_in(browser, "bob", PASSWORDS["bob"]).status_code == 303
        page = browser.get("/account").text
        for data in ({"name": "no-token"}, {"name": "bad-token", "csrf": "0" * 64}):
            r = browser.post("/account/tokens", data=data, headers={"Referer": f"{team.url}/account"})
            # A browser is shown a page saying what happened and how to fix it, with a way back.
            assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
            assert "This form expired or came from another site" in r.text and "Reload the page" in r.text
            assert 'href="/account"' in r.text
        # A script sending the session's cookie gets the JSON error shape.
        r = browser.post("/account/tokens", data={"name": "x"}, headers={"Accept": "application/json"})
        assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]
        r = browser.post("/logout", data={"csrf": "f" * 64})
        assert r.status_code == 403 and "This form expired" in r.text
        made = browser.post("/account/tokens", data={"name": "with-token", "csrf": _form_token(page)})
        assert made.status_code == 201 and 'id="new-token-secret"' in made.text
        # The sign-in form has its own (double-submit) token.
        r = browser.post("/login", data={"username": "bob", "password": PASSWORDS["bob"], "csrf": "nope"})
        assert r.status_code == 403 and "CSRF" in r.text
    bearer = {"Authorization": f"Bearer {team.tokens['ada']}"}
    r = httpx.post(f"{team.url}/api/v1/projects", json={"name": "by-bearer"}, headers=bearer)
    assert r.status_code == 201


def test_a_refused_form_shows_a_page_saying_what_to_do_and_scripts_keep_the_json(team: Team) -> None:
    with _browser(team) as browser:
        assert sign_in(browser, "bob", PASSWORDS["bob"]).status_code == 303
        token = _form_token(browser.get("/account").text)
        from_account = {"Referer": f"{team.url}/account"}
        gone = browser.post(
            "/account/tokens/0123456789abcdef/revoke", data={"csrf": token}, headers=from_account
        )
        assert gone.status_code == 404 and '<h1 id="error-title">Not found</h1>' in gone.text
        assert "no token" in gone.text and 'id="error-back" href="/account"' in gone.text
        # The answer to a form post is no page to go back to; another site is never linked.
        for referer in (f"{team.url}/account/tokens", "https://elsewhere.example/account"):
            r = browser.post("/account/tokens", data={"name": "x"}, headers={"Referer": referer})
            assert (
                r.status_code == 403 and "error-back" not in r.text and 'id="error-home" href="/"' in r.text
            )
        nowhere = browser.get("/no-such-page")
        assert (
            nowhere.status_code == 404 and "Not found" in nowhere.text and "no route for GET" in nowhere.text
        )
        api = browser.get("/api/v1/no-such-route")  # an API path: JSON whatever the Accept
        assert api.status_code == 404 and api.json()["error"]["code"] == "NO_SUCH_ROUTE"
        browser.post("/logout", data={"csrf": token})
        # The session ended (here: signed out in another tab); the form's page is still open.
        browser.cookies.set("assay_session", "0123456789abcdef." + "0" * 64)
        late = browser.post("/account/tokens", data={"name": "late", "csrf": token}, headers=from_account)
        assert late.status_code == 401 and "You are signed out" in late.text
        assert 'id="error-sign-in" href="/login?next=%2Faccount"' in late.text
        script = browser.post("/account/tokens", data={"name": "late"}, headers={"Accept": "*/*"})
        assert script.status_code == 401 and script.json()["error"]["code"] == "UNAUTHENTICATED"


@pytest.mark.slow  # a server of its own
def test_repeated_failures_lock_out_the_user_then_the_address(tmp_path: Path) -> None:
    team = _make_team(tmp_path, [])
    try:
        with _browser(team) as browser:
            for _ in range(5):
                assert sign_in(browser, "ada", "guess-guess").status_code == 401
            locked = sign_in(browser, "ada", PASSWORDS["ada"])  # even the right password, for a while
            assert locked.status_code == 429
            assert (
                "too many failed sign-ins for user &#39;ada&#39;" in locked.text and "minutes" in locked.text
            )
            # The address is not locked yet: another user still signs in from it.
            assert sign_in(browser, "bob", PASSWORDS["bob"]).status_code == 303
            browser.cookies.clear()
            for i in range(15):  # 20 failures from one address, spread over names
                assert sign_in(browser, f"guess{i}", "guess-guess").status_code == 401
            locked = sign_in(browser, "bob", PASSWORDS["bob"])
            assert (
                locked.status_code == 429 and "too many failed sign-ins for address 127.0.0.1" in locked.text
            )
        # Tokens are not sign-ins: the API still answers.
        assert _whoami(team, team.tokens["ada"]).json()["name"] == "ada"
    finally:
        team.server.stop()


@pytest.mark.slow  # a server of its own
def test_a_session_expires_after_the_server_lifetime(tmp_path: Path) -> None:
    team = _make_team(tmp_path, ["--session-lifetime", "2s"])
    try:
        with _browser(team) as browser:
            r = sign_in(browser, "bob", PASSWORDS["bob"])
            assert r.status_code == 303 and "Max-Age=2" in r.headers["set-cookie"]
            assert browser.get("/").status_code == 200
            session = browser.cookies["assay_session"]
        time.sleep(2.5)
        with httpx.Client(base_url=team.url, cookies={"assay_session": session}) as late:
            r = late.get("/api/v1/whoami")
            assert r.status_code == 401 and "session expired" in r.json()["error"]["message"]
            assert late.get("/", headers={"Accept": "text/html"}).headers["location"] == "/login?next=%2F"
    finally:
        team.server.stop()


def test_passwords_from_the_cli_and_a_change_ends_every_session(team: Team) -> None:
    made = cli(
        "admin", "create-user", "cleo", "--password-stdin", env=team.env("root"), stdin="cleo-password-1\n"
    )
    assert made.stdout.startswith("assay_") and "shown once" in made.stderr
    with _browser(team) as browser:
        assert sign_in(browser, "cleo", "cleo-password-1").status_code == 303
        assert browser.get("/account").status_code == 200
        # Cleo changes her own password (the current one first), as the prompts would take them.
        cleo = team.env(token=made.stdout.strip())
        wrong = cli("passwd", "--password-stdin", env=cleo, stdin="not-it\nnew-password-22\n", check=False)
        assert wrong.returncode == 1 and "current password is wrong" in wrong.stderr
        assert "Traceback" not in wrong.stderr
        cli("passwd", "--password-stdin", env=cleo, stdin="cleo-password-1\ncleo-password-2\n")
        assert browser.get("/account").status_code == 303  # signed out everywhere
    with _browser(team) as browser:
        assert sign_in(browser, "cleo", "cleo-password-1").status_code == 401
        assert sign_in(browser, "cleo", "cleo-password-2").status_code == 303
    # An admin resets it; a user may not reset another's.
    short = cli(
        "passwd", "--user", "cleo", "--password-stdin", env=team.env("root"), stdin="short\n", check=False
    )
    assert short.returncode == 1 and "8 to 1024 characters" in short.stderr
    cli("passwd", "--user", "cleo", "--password-stdin", env=team.env("root"), stdin="reset-by-root\n")
    refused = cli(
        "passwd", "--user", "ada", "--password-stdin", env=cleo, stdin="hijack-it-now\n", check=False
    )
    assert refused.returncode == 1 and "needs an admin" in refused.stderr
    with _browser(team) as browser:
        assert sign_in(browser, "cleo", "reset-by-root").status_code == 303


# ---- tokens -------------------------------------------------------------------------------------------------


def test_tokens_expire_within_the_server_maximum(team: Team) -> None:
    ada = team.env("ada")
    for asked in ("90d", "never"):
        r = cli("token", "create", "--expires", asked, env=ada, check=False)
        assert (
            r.returncode == 1 and "tokens live at most 30d here" in r.stderr and "Traceback" not in r.stderr
        )
    bad = cli("token", "create", "--expires", "soon", env=ada, check=False)
    assert bad.returncode == 1 and "not a lifetime" in bad.stderr
    default = cli("token", "create", "--name", "default-life", env=ada).stdout.strip()
    short = cli("token", "create", "--name", "short", "--expires", "2s", env=ada).stdout.strip()
    assert _whoami(team, short).status_code == 200
    listed = {t["name"]: t for t in json.loads(cli("token", "ls", "--json", env=ada).stdout)}
    month = listed["default-life"]["expires_at"] - listed["default-life"]["created_at"]
    assert month == 30 * 86_400_000
    time.sleep(2.2)
    r = _whoami(team, short)
    message = r.json()["error"]["message"]
    assert r.status_code == 401 and "expired" in message and "assay token create" in message
    assert _whoami(team, default).status_code == 200


def test_last_use_is_recorded_and_listed(team: Team) -> None:
    bob = team.env("bob")
    fresh = cli("token", "create", "--name", "used-once", env=bob).stdout.strip()
    before = {t["name"]: t for t in json.loads(cli("token", "ls", "--json", env=bob).stdout)}
    assert before["used-once"]["last_used_at"] is None
    assert _whoami(team, fresh).status_code == 200
    after = {t["name"]: t for t in json.loads(cli("token", "ls", "--json", env=bob).stdout)}
    assert after["used-once"]["last_used_at"] >= after["used-once"]["created_at"]
    table = cli("token", "ls", env=bob).stdout
    assert "last used" in table and "expires" in table and "scope" in table


def test_revoke_all_tokens_of_a_user(team: Team) -> None:
    root = team.env("root")
    made = cli("admin", "create-user", "dora", env=root).stdout.strip()
    second = cli("token", "create", "--name", "second", env=team.env(token=made)).stdout.strip()
    mine = cli("token", "create", "--name", "root-spare", env=root).stdout.strip()
    done = cli("token", "revoke", "--all", "--user", "dora", env=root)
    assert "revoked 2 tokens of user 'dora'" in done.stderr
    for token in (made, second):
        r = _whoami(team, token)
        assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    assert _whoami(team, mine).status_code == 200  # only dora's
    both = cli("token", "revoke", "abc", "--all", env=root, check=False)
    assert both.returncode == 1 and "not both" in both.stderr


def test_scoped_tokens_over_http(team: Team) -> None:
    ada = team.env("ada")
    ro = cli("token", "create", "--name", "ro", "--read-only", env=ada).stdout.strip()
    vision = cli("token", "create", "--name", "vision-only", "--project", "vision", env=ada).stdout.strip()
    api = f"{team.url}/api/v1"

    def call(method: str, path: str, token: str, **kwargs: object) -> httpx.Response:
        return httpx.request(method, api + path, headers={"Authorization": f"Bearer {token}"}, **kwargs)  # type: ignore[arg-type]

    assert call("POST", "/experiments", team.tokens["ada"], json={"name": "ada-exp"}).status_code == 201
    refused = call("POST", "/experiments", ro, json={"name": "ro-exp"})
    assert refused.status_code == 403 and "viewer" in refused.json()["error"]["message"]
    assert [e["name"] for e in call("GET", "/experiments", ro).json()["experiments"]] == ["ada-exp"]
    outside = call("POST", "/experiments", vision, json={"name": "v-exp", "project": "default"})
    assert (
        outside.status_code == 403
        and "has no role in project 'default'" in outside.json()["error"]["message"]
    )
    inside = call("POST", "/experiments", vision, json={"name": "v-exp", "project": "vision"})
    assert inside.status_code == 201
    assert [e["name"] for e in call("GET", "/experiments", vision).json()["experiments"]] == ["v-exp"]
    assert call("POST", "/tokens", ro, json={"name": "wider"}).status_code == 403
    listed = {t["name"]: t for t in json.loads(cli("token", "ls", "--json", env=ada).stdout)}
    assert (listed["ro"]["read_only"], listed["ro"]["project"]) == (True, None)
    assert (listed["vision-only"]["read_only"], listed["vision-only"]["project"]) == (False, "vision")
    bob = cli("token", "create", "--project", "vision", env=team.env("bob"), check=False)
    assert bob.returncode == 1 and "has no role in project 'vision'" in bob.stderr


# ---- in Chromium ----------------------------------------------------------------------------------------------


def _chromium() -> Path:
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: scripts/ensure-chromium.sh installs it (make test runs it)")
        pytest.skip("Chromium is not installed")
    return chromium


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def test_sign_in_and_the_account_page_in_chromium(team: Team) -> None:
    """Sign in through the form, see the account page with its tokens, create one and revoke it, sign
    out; a screenshot of each page goes to test-screenshots/ for review."""
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    cli("token", "create", "--name", "ci", "--read-only", "--project", "vision", env=team.env("ada"))
    assert _whoami(team, team.tokens["ada"]).status_code == 200  # a last use to show
    shots = Path(os.environ.get("ASSAY_SCREENSHOTS", "test-screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(f"{team.url}/account")
        assert "/login" in page.url
        page.fill("#username", "ada")
        page.fill("#password", "not-the-password")
        page.click("button:has-text('Sign in')")
        assert "wrong user name or password" in page.locator("#login-error").inner_text()
        page.fill("#password", PASSWORDS["ada"])
        page.screenshot(path=str(shots / "login.png"), full_page=True)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{team.url}/account")
        assert page.locator("h1").inner_text().startswith("ada")
        assert "editor" in page.locator("#projects").inner_text()
        first = page.locator("#tokens tr", has_text="first")
        assert "never" not in first.locator(".last-used").inner_text()  # it was just used
        ci = page.locator("#tokens tr", has_text="ci").first.inner_text()
        assert "read-only, project vision" in ci
        page.fill("#token-name", "laptop")
        page.select_option("#token-expires", "30d")
        page.click("button:has-text('Create token')")
        secret = page.locator("#new-token-secret").inner_text().strip()
        assert secret.startswith("assay_") and _whoami(team, secret).json()["name"] == "ada"
        page.screenshot(path=str(shots / "account.png"), full_page=True)
        row = page.locator("#tokens tr", has_text="laptop")
        row.locator("button:has-text('revoke')").click()
        page.wait_for_url(f"{team.url}/account")
        assert "revoked" in page.locator("#tokens tr", has_text="laptop").inner_text()
        assert _whoami(team, secret).status_code == 401
        page.click("button:has-text('sign out')")
        assert "/login" in page.url and "signed out" in page.locator("#login-notice").inner_text()
        page.screenshot(path=str(shots / "signed-out.png"), full_page=True)
        page.goto(f"{team.url}/account")
        assert "/login" in page.url
        browser.close()


def test_a_stale_form_and_a_signed_out_form_say_what_to_do_in_chromium(team: Team) -> None:
    """A form left open while the user signed out and in again in another tab is refused (its CSRF token
    is the old sign-in's): the browser shows a page saying so, whose link reloads the form's page, where
    the form then works. A form sent after signing out leads to the sign-in form and back. Screenshots go
    to test-screenshots/."""
    chromium = _chromium()
    from playwright.sync_api import Page, sync_playwright

    shots = Path(os.environ.get("ASSAY_SCREENSHOTS", "test-screenshots"))
    shots.mkdir(parents=True, exist_ok=True)

    def sign_in_on(tab: Page) -> None:
        tab.fill("#username", "bob")
        tab.fill("#password", PASSWORDS["bob"])
        tab.click("button:has-text('Sign in')")
        tab.wait_for_url(f"{team.url}/account")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1100, "height": 640})
        page, other = context.new_page(), context.new_page()
        page.goto(f"{team.url}/account")
        sign_in_on(page)
        other.goto(f"{team.url}/account")
        other.click("button:has-text('sign out')")
        other.goto(f"{team.url}/login?next=%2Faccount")
        sign_in_on(other)
        page.fill("#token-name", "stale-form")
        page.click("button:has-text('Create token')")
        assert page.locator("#error-title").inner_text() == "This form expired or came from another site"
        assert "Reload the page and send the form again" in page.locator("#error-fix").inner_text()
        assert page.locator("#error-message").count() == 0
        page.screenshot(path=str(shots / "form-expired.png"), full_page=True)
        page.click("#error-back")
        page.wait_for_url(f"{team.url}/account")
        page.fill("#token-name", "fresh-form")
        page.click("button:has-text('Create token')")
        assert page.locator("#new-token-secret").inner_text().strip().startswith("assay_")
        page.goto(f"{team.url}/account")
        other.goto(f"{team.url}/account")
        other.click("button:has-text('sign out')")
        page.fill("#token-name", "after-sign-out")
        page.click("button:has-text('Create token')")
        assert page.locator("#error-title").inner_text() == "You are signed out"
        assert "requires an API token" not in page.content()  # the API's message is for scripts
        page.screenshot(path=str(shots / "form-signed-out.png"), full_page=True)
        page.click("#error-sign-in")
        sign_in_on(page)
        names = page.locator("#tokens").inner_text()
        assert "fresh-form" in names and "stale-form" not in names and "after-sign-out" not in names
        browser.close()


def test_a_revocation_made_by_another_process_takes_effect_within_seconds(team: Team) -> None:
    """The server caches authenticated tokens for 2 s: a token revoked on the store by another process
    (here the CLI acting on the store directly) stops working once that entry is stale."""
    token = cli("token", "create", "--name", "cached", env=team.env("bob")).stdout.strip()
    assert _whoami(team, token).status_code == 200  # now cached in the server
    cli("token", "revoke", token.split("_")[1], "--store", team.store, env={"ASSAY_HOME": str(team.home)})
    deadline = time.monotonic() + 15
    while _whoami(team, token).status_code == 200:
        assert time.monotonic() < deadline, "the revoked token still works after 15 s"
        time.sleep(0.2)
    assert "revoked" in _whoami(team, token).json()["error"]["message"]


# ---- the rules alone, without I/O (the throttle's: tests/test_login_throttle.py) -----------------------------------


def test_a_scope_caps_roles_and_takes_admin_powers_away() -> None:
    from assay.access import TokenScope, User, scoped_principal

    admin = User(1, "root", is_admin=True)
    ro = scoped_principal(admin, {}, TokenScope(read_only=True), every_project=[1, 2])
    assert not ro.is_admin and ro.role_in(1) is Role.VIEWER and ro.role_in(2) is Role.VIEWER
    one = scoped_principal(admin, {}, TokenScope(project_id=2, project="p"), every_project=[1, 2])
    assert not one.is_admin and one.role_in(1) is None and one.role_in(2) is Role.OWNER
    user = User(2, "ada")
    both = scoped_principal(user, {1: Role.EDITOR, 2: Role.OWNER}, TokenScope(True, 2, "p"))
    assert dict(both.roles) == {2: Role.VIEWER}
    assert scoped_principal(admin, {}, None).is_admin


def test_lifetimes_parse_and_the_maximum_caps_them() -> None:
    from assay.access import AccessPolicy, parse_lifetime
    from assay.errors import InvalidInput

    assert parse_lifetime("90d") == 90 * 86400 and parse_lifetime("12h") == 43200
    assert parse_lifetime("never") is None and parse_lifetime("2w") == 14 * 86400
    for bad in ("", "10", "3y", "-1d", "0h"):
        with pytest.raises(InvalidInput, match="not a lifetime"):
            parse_lifetime(bad)
    capped = AccessPolicy(max_token_days=30)
    assert capped.token_lifetime_s(None) == 30 * 86400 and capped.token_lifetime_s("7d") == 7 * 86400
    with pytest.raises(InvalidInput, match="at most 30d"):
        capped.token_lifetime_s("31d")
    assert AccessPolicy().token_lifetime_s(None) is None


def test_every_post_form_of_the_ui_carries_a_csrf_field() -> None:
    """A new form that changes state cannot land without its token (the server would refuse its posts)."""
    import assay.ui

    templates = Path(assay.ui.__file__).parent / "templates"
    forms = [
        (page.name, form)
        for page in sorted(templates.glob("*.html"))
        for form in re.findall(r"<form\b[^>]*method=\"post\".*?</form>", page.read_text(), flags=re.S | re.I)
    ]
    assert len(forms) >= 5  # sign in, sign out, new token, revoke, password
    missing = [name for name, form in forms if 'name="csrf"' not in form]
    assert missing == [], f"forms posting without a CSRF field: {missing}"


def test_create_user_prompts_for_the_password_twice(tmp_path: Path) -> None:
    """Without --password-stdin the password is prompted for twice (here the child has no terminal, so
    the prompts read the pipe); two different answers change nothing."""
    store = str(tmp_path / "assay.db")

    def create(name: str, answers: str) -> subprocess.CompletedProcess[str]:
        args = ["admin", "create-user", name, "--password", "--store", store]
        return subprocess.run(
            [sys.executable, "-m", "assay.cli.main", *args],
            env={"PATH": os.environ.get("PATH", ""), "ASSAY_HOME": str(tmp_path)},
            input=answers,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,  # no controlling terminal: never wait on the developer's
        )

    differ = create("eve", "eve-password-1\neve-password-2\n")
    assert differ.returncode == 1 and "the two passwords differ" in differ.stderr
    made = create("eve", "eve-password-1\neve-password-1\n")
    assert made.returncode == 0 and made.stdout.strip().startswith("assay_"), made.stderr
    services = build_services(store, str(tmp_path / "artifacts"))
    try:
        assert services.authorizer is not None
        assert services.authorizer.login("eve", "eve-password-1", "127.0.0.1").user.name == "eve"
    finally:
        services.close()


def test_last_uses_noted_in_memory_are_written_when_the_services_close(tmp_path: Path) -> None:
    """A server that stops writes the last-use times it noted but had not written yet (up to a minute)."""
    store = str(tmp_path / "server.db")
    services = build_services(store, str(tmp_path / "artifacts"))
    secret = services.access.create_user("ada").secret
    assert services.authorizer is not None
    services.authorizer.authenticate(secret)  # noted in memory, written within the minute or at close
    services.close()
    again = build_services(store, str(tmp_path / "artifacts"))
    try:
        [token] = again.access.list_tokens("ada")
        assert token.last_used_at is not None
    finally:
        again.close()
