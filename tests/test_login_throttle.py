"""Sign-in lockouts hold across server processes and restarts (issue 15): the throttle's rules alone, then
its counts in the store on SQLite and PostgreSQL (two stores over one database standing for two server
workers, a store opened afresh for a restart), then two real ``assay server`` processes on one store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assay.access import AccessPolicy, FailedSignIns
from assay.embedded import passwords
from assay.embedded.access import AccessService
from assay.embedded.login_throttle import LoginThrottle, ThrottleKey
from assay.embedded.logins import Logins
from assay.errors import Unauthenticated
from assay.server.main import build_services
from assay.services.access import LoginLocked
from assay.store.sql.store import SqlStore
from assay.testing.fixtures import _truncate_pg
from processes import ServerProcess
from test_login import PASSWORDS, sign_in

POLICY = AccessPolicy(max_user_failures=3, max_address_failures=5, failure_window_s=60, lockout_s=600)


# ---- the rules alone, without I/O -------------------------------------------------------------------------


def test_the_throttle_counts_failures_in_a_window_and_locks_for_a_while() -> None:
    throttle = LoginThrottle(POLICY)
    counts: dict[str, FailedSignIns] = {}

    def failed(user: str, address: str, now: float) -> None:
        for k in throttle.keys(user, address):
            counts[k.key] = throttle.failed(k, counts.get(k.key, FailedSignIns()), now)

    def refusal(user: str, address: str, now: float) -> str | None:
        return throttle.refusal(throttle.keys(user, address), counts, now)

    for t in (0, 100, 200):  # spread wider than the window: never three within it
        failed("ada", "10.0.0.1", t)
    assert refusal("ada", "10.0.0.1", 201) is None
    failed("ada", "10.0.0.1", 210)
    failed("ada", "10.0.0.2", 220)  # the user's count spans addresses
    locked = refusal("ada", "10.0.0.3", 221)
    assert locked is not None and "user 'ada'" in locked and "10 minutes" in locked
    assert refusal("ADA", "10.0.0.3", 221) is not None  # names are matched case-blind
    assert refusal("bob", "10.0.0.3", 221) is None
    assert refusal("ada", "10.0.0.3", 221 + 600) is None  # the lockout ends
    failed("bob", "10.0.0.9", 1000)
    counts.pop(throttle.user_key("bob"))  # what a success does
    failed("bob", "10.0.0.9", 1001)
    failed("bob", "10.0.0.9", 1002)
    assert refusal("bob", "10.0.0.9", 1003) is None  # a success started the user's count over
    assert len(counts["address:10.0.0.9"].failures) == 3  # not the address's
    failed("carl", "10.0.0.9", 1004)
    failed("dora", "10.0.0.9", 1005)
    address = refusal("eve", "10.0.0.9", 1006)
    assert address is not None and "address 10.0.0.9" in address


def test_a_right_password_takes_its_counted_failure_back_and_lifts_the_lockout_it_made() -> None:
    """An attempt is counted before its password is checked; a right one takes that failure back (to the
    millisecond the store keeps), lifting the lockout that counted it."""
    throttle = LoginThrottle(POLICY)
    _, address = throttle.keys("ada", "10.0.0.1")  # limit 5
    count = FailedSignIns()
    for t in (1.0, 2.0, 3.0, 4.0):
        count = throttle.failed(address, count, t)
    in_flight = throttle.failed(address, count, 5.0004)  # the fifth: locked as the attempt starts
    assert in_flight.locked_until == 605.0004 and len(in_flight.failures) == 5
    back = throttle.withdrawn(address, in_flight, 5.0)  # the time as the store gives it back (ms)
    assert back == FailedSignIns((1.0, 2.0, 3.0, 4.0), 0.0)
    assert throttle.refusal((address,), {address.key: back}, 6.0) is None
    assert throttle.withdrawn(address, back, 9.0) == back  # nothing counted then: nothing taken back
    # Any attempt of those that locked it may prove right: the lockout relied on it too.
    assert throttle.withdrawn(address, in_flight, 2.0) == FailedSignIns((1.0, 3.0, 4.0, 5.0004), 0.0)
    # Once the lockout is over the next failure starts the count over.
    assert throttle.failed(address, in_flight, 700.0) == FailedSignIns((700.0,), 0.0)


def test_a_huge_user_name_makes_a_bounded_key_and_old_counts_are_forgettable() -> None:
    throttle = LoginThrottle(POLICY)
    user, address = throttle.keys("x" * 100_000, "10.0.0.1")
    assert len(user.key) < 200 and len(user.label) < 200 and address.key == "address:10.0.0.1"
    assert throttle.forget_before(10_000) == 10_000 - 600  # the longer of the window and the lockout


# ---- the counts in the store: two processes, a restart ------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "assay.db")
        return
    url = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    yield url


class Clock:
    """The time the throttles go by, stepped by the test (epoch seconds)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_two_processes_share_the_counts_and_a_restart_keeps_a_lockout(store_url: str) -> None:
    """``first`` and ``second`` are two stores over one database, as two server workers have: failures
    counted through either add up, and a lockout made through one is refused by the other and by a store
    opened afterwards (a restarted server)."""
    clock = Clock()
    stores = [SqlStore(store_url), SqlStore(store_url)]
    try:
        admin = AccessService(stores[0].access, policy=POLICY)
        admin.create_user("ada", password=PASSWORDS["ada"])
        admin.create_user("bob", password=PASSWORDS["bob"])
        first, second = (Logins(s.access, POLICY, clock) for s in stores)

        def fail(logins: Logins, user: str, address: str) -> None:
            with pytest.raises(Unauthenticated, match="wrong user name or password"):
                logins.login(user, "guess-guess", address)

        for logins in (first, second, first):  # spread wider than the window
            fail(logins, "ada", "10.0.0.1")
            clock.now += 100
        assert second.login("ada", PASSWORDS["ada"], "10.0.0.1").user.name == "ada"
        for logins in (first, second, first):  # three within the window, through both processes
            fail(logins, "ada", "10.0.0.2")
            clock.now += 1
        for logins in (second, first):
            with pytest.raises(LoginLocked, match=r"(?i)too many failed sign-ins for user 'ada'"):
                logins.login("ADA", PASSWORDS["ada"], "10.0.0.3")  # even the right password
        assert first.login("bob", PASSWORDS["bob"], "10.0.0.2").user.name == "bob"
        stores[0].close()
        stores[0] = SqlStore(store_url)  # the first server restarts
        restarted = Logins(stores[0].access, POLICY, clock)
        with pytest.raises(LoginLocked, match="user 'ada'"):
            restarted.login("ada", PASSWORDS["ada"], "10.0.0.4")
        clock.now += 600
        assert restarted.login("ada", PASSWORDS["ada"], "10.0.0.4").user.name == "ada"  # the lockout ended

        # A success clears the user's count, not the address's: five failures lock the address.
        for i, logins in enumerate((first, second, restarted, first)):
            fail(logins, f"guess{i}", "10.0.0.7")
        assert second.login("bob", PASSWORDS["bob"], "10.0.0.7").user.name == "bob"
        fail(restarted, "guess4", "10.0.0.7")
        with pytest.raises(LoginLocked, match=r"address 10\.0\.0\.7"):
            first.login("bob", PASSWORDS["bob"], "10.0.0.7")
        # An admin setting ada's password lifts her lockout (what the lockout message tells to ask for).
        for logins in (first, second, first):
            fail(logins, "ada", "10.0.0.8")
        with pytest.raises(LoginLocked):
            second.login("ada", PASSWORDS["ada"], "10.0.0.8")
        AccessService(stores[1].access, policy=POLICY).logins.set_password(
            admin.store.get_user("ada"), "ada-password-2"
        )
        assert first.login("ada", "ada-password-2", "10.0.0.8").user.name == "ada"

        # Rows too old to matter are deleted by the next failure.
        attempts = stores[1].access.login_attempts
        assert "address:10.0.0.7" in attempts.snapshot()
        clock.now += 601
        fail(second, "bob", "10.0.0.9")
        assert sorted(attempts.snapshot()) == ["address:10.0.0.9", "user:bob"]
    finally:
        for s in stores:
            s.close()


def test_failures_counted_at_once_through_two_stores_are_all_kept(store_url: str) -> None:
    """Many failures recorded concurrently for one key, through two stores: none is lost (PostgreSQL locks
    the row for the read-modify-write, SQLite serializes write transactions)."""
    stores = [SqlStore(store_url), SqlStore(store_url)]
    throttle = LoginThrottle(POLICY)
    key = ThrottleKey("user:target", 10_000, "user 'target'")
    errors: list[BaseException] = []

    def worker(store: SqlStore, n: int) -> None:
        try:
            for i in range(n):
                now = 1000.0 + i
                store.access.login_attempts.update(
                    [key.key],
                    lambda counts, now=now: {key.key: throttle.failed(key, counts[key.key], now)},
                    now,
                    0.0,
                )
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s, 15)) for s in stores for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(stores[0].access.login_attempts.counts([key.key])[key.key].failures) == 2 * 4 * 15
    finally:
        for s in stores:
            s.close()


def test_a_count_deleted_while_another_update_waits_for_it_is_counted_again(store_url: str) -> None:
    """A sign-in whose row another one deletes while it waits for it (a failure taken back to nothing, as a
    right password does): the waiting update starts that key from an empty count, never misses it (a
    KeyError, an HTTP 500, on PostgreSQL when the row was created and read by two statements)."""
    stores = [SqlStore(store_url), SqlStore(store_url)]
    throttle = LoginThrottle(POLICY)
    key = ThrottleKey("address:1.2.3.4", 10_000, "address 1.2.3.4")
    first = stores[0].access.login_attempts
    first.update(
        [key.key], lambda counts: {key.key: throttle.failed(key, counts[key.key], 1000.0)}, 1000.0, 0
    )
    inside, go = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def take_back(counts: object) -> dict[str, FailedSignIns]:
        inside.set()  # holding the row (PostgreSQL) or the write lock (SQLite) until told to go on
        go.wait(10)
        return {key.key: FailedSignIns()}

    def count_one(store: SqlStore) -> None:
        try:
            store.access.login_attempts.update(
                [key.key], lambda counts: {key.key: throttle.failed(key, counts[key.key], 1001.0)}, 1001.0, 0
            )
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    holder = threading.Thread(target=lambda: first.update([key.key], take_back, 1000.5, 0))
    waiter = threading.Thread(target=count_one, args=(stores[1],))
    try:
        holder.start()
        assert inside.wait(10)
        waiter.start()
        waiter.join(1.0)  # it waits for the holder's transaction
        go.set()
        holder.join()
        waiter.join()
        assert errors == []
        assert first.counts([key.key])[key.key].failures == (1001.0,)
    finally:
        go.set()
        for s in stores:
            s.close()


@pytest.mark.parametrize(
    ("key", "limit"), [("user", POLICY.max_user_failures), ("address", POLICY.max_address_failures)]
)
def test_sign_ins_in_flight_never_check_more_passwords_than_the_limit(
    store_url: str, monkeypatch: pytest.MonkeyPatch, key: str, limit: int
) -> None:
    """Ten wrong sign-ins at once through two stores (two server workers), all for one user (from ten
    addresses) or all from one address (for ten users): each is counted in the transaction that checks the
    limit, before its password is checked, so only the limit of them reach the (slow) argon2 check; the
    others are refused, and then so is the right password. The wrapped verifier holds every attempt that
    reaches it until all ten have either reached it or been refused: checked first and counted after, all
    ten would reach it."""
    stores = [SqlStore(store_url), SqlStore(store_url)]
    attempts = 10
    arrived: set[str] = set()
    checked: list[int] = []
    errors: list[BaseException] = []
    all_in = threading.Condition()
    verify = passwords.verify_or_waste

    def arrive() -> None:
        with all_in:
            # By name, not ident: a refused attempt's thread may end, and its ident go to a later thread.
            arrived.add(threading.current_thread().name)
            all_in.notify_all()

    def held_verify(stored: str | None, password: str) -> bool:
        checked.append(threading.get_ident())
        arrive()
        with all_in:
            if not all_in.wait_for(lambda: len(arrived) == attempts, timeout=60):
                errors.append(AssertionError(f"only {len(arrived)} of {attempts} attempts arrived"))
        return verify(stored, password)

    monkeypatch.setattr(passwords, "verify_or_waste", held_verify)
    clock = Clock()
    try:
        AccessService(stores[0].access, policy=POLICY).create_user("ada", password=PASSWORDS["ada"])
        workers = [Logins(s.access, POLICY, clock) for s in stores]
        outcomes: list[str] = []

        def sign_in(i: int) -> None:
            user, address = ("ada", f"10.0.0.{i}") if key == "user" else (f"guess{i}", "10.9.9.9")
            try:
                workers[i % 2].login(user, "guess-guess", address)
            except LoginLocked:
                outcomes.append("locked")
            except Unauthenticated:
                outcomes.append("wrong")
            except BaseException as exc:  # reported below: a thread's failure must fail the test
                errors.append(exc)
            finally:
                arrive()  # a refused attempt never reaches the verifier

        threads = [threading.Thread(target=sign_in, args=(i,)) for i in range(attempts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(checked) == limit
        assert sorted(outcomes) == ["locked"] * (attempts - limit) + ["wrong"] * limit
        address = "10.0.0.99" if key == "user" else "10.9.9.9"
        with pytest.raises(LoginLocked, match=f"too many failed sign-ins for {key}"):
            workers[0].login("ada", PASSWORDS["ada"], address)
        assert len(checked) == limit  # refused before its password is checked
    finally:
        for s in stores:
            s.close()


# ---- two real servers on one store --------------------------------------------------------------------------


@pytest.mark.slow  # three server starts
def test_a_lockout_made_on_one_server_holds_on_another_and_after_a_restart(
    store_url: str, tmp_path: Path
) -> None:
    services = build_services(store_url, str(tmp_path / "artifacts"))
    try:
        for name in ("ada", "bob"):
            services.access.create_user(name, password=PASSWORDS[name])
    finally:
        services.close()
    servers = [ServerProcess(tmp_path, store_url, str(tmp_path / "artifacts"), ["--auth"]) for _ in "ab"]
    try:
        for server in servers:
            server.start()
        browsers = [
            httpx.Client(base_url=s.url, headers={"Accept": "text/html"}, timeout=30) for s in servers
        ]
        for i in range(5):  # the default limit, split between the servers
            assert sign_in(browsers[i % 2], "ada", "guess-guess").status_code == 401
        for browser in browsers:
            locked = sign_in(browser, "ada", PASSWORDS["ada"])
            assert (
                locked.status_code == 429 and "too many failed sign-ins for user &#39;ada&#39;" in locked.text
            )
        servers[0].stop()
        servers[0].start()  # same port, same store
        assert sign_in(browsers[0], "ada", PASSWORDS["ada"]).status_code == 429
        assert sign_in(browsers[0], "bob", PASSWORDS["bob"]).status_code == 303  # only ada is locked
        for browser in browsers:
            browser.close()
    finally:
        for server in servers:
            server.stop()
