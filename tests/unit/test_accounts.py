"""People, sessions, local sign-in and tokens (engine/accounts.py) on the memory store, SQLite and PostgreSQL (the
same tests on each, storage/memory.py and storage/people.py), with an injected clock:
accounts and their validation, sessions that expire, go idle and end when their account is disabled, rate limiting
per account and per address, the password kept only as an Argon2id hash, tokens with an owner, expiry, scope and
last use, and feed secrets that are neither a token nor a session id."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from argon2 import PasswordHasher

from convenant.engine.accounts import Accounts, RateLimited, SessionPolicy, Unauthenticated, secret_hash
from convenant.engine.clock import FixedClock
from convenant.engine.errors import BadInput, NotAllowed, NotFound
from convenant.storage.memory import MemoryPeople, MemoryStore, MemoryTokens

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse battery"


class Parties:
    """The one thing Accounts reads of the agreements: their party ids."""

    def party_ids(self) -> list[str]:
        return ["ienw", "ipo", "vng"]


class Dump:
    """Every stored row of the people's tables, as text: to look for what must not be there."""

    def __init__(self, store) -> None:
        self.store = store

    def text(self) -> str:
        if isinstance(self.store, MemoryStore):
            return repr(self.store._tables)
        import sqlalchemy as sa

        from convenant.storage import tables as t
        with self.store.reading() as conn:
            return repr([list(conn.execute(sa.select(table))) for table in (t.users, t.sessions, t.tokens,
                                                                             t.sign_in_failures)])

    def password_hash(self, email: str) -> str:
        if isinstance(self.store, MemoryStore):
            return self.store._tables.users[email]["password_hash"]
        import sqlalchemy as sa

        from convenant.storage import tables as t
        with self.store.reading() as conn:
            return conn.execute(sa.select(t.users.c.password_hash).where(t.users.c.email == email)).scalar_one()


@pytest.fixture
def world(store_backend):
    if store_backend == "memory":
        store = MemoryStore()
        people, tokens = MemoryPeople(store), MemoryTokens(store)
    else:
        from convenant.storage.people import SqlPeople, SqlTokens
        from convenant.storage.store import SqlStore
        store = SqlStore(store_backend)
        store.migrate()
        people, tokens = SqlPeople(store), SqlTokens(store)
    clock = FixedClock(T0)
    # a cheap Argon2id for speed; bootstrap uses argon2-cffi's defaults
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    accounts = Accounts(tokens, clock, Parties(), people,
                        policy=SessionPolicy(hours=12, idle_minutes=120, attempts=5, address_attempts=8,
                                             window_minutes=15), tz=dt.UTC, hasher=hasher)
    yield Dump(store), clock, accounts
    if store_backend != "memory":
        store.dispose()


def later(clock: FixedClock, **delta: float) -> None:
    clock.set(clock.now() + dt.timedelta(**delta))


def test_an_account_is_kept_by_its_normal_email_with_its_fields(world):
    store, _, accounts = world
    made = accounts.add_user("Anna de Vries", "Anna.de.Vries@Example.ORG", "party", party="ipo", language="en")
    assert made == {"email": "anna.de.vries@example.org", "name": "Anna de Vries", "role": "party", "party": "ipo",
                    "language": "en", "enabled": True, "password": False, "created_at": T0.isoformat(),
                    "disabled_at": None}
    assert accounts.find_user("ANNA.DE.VRIES@example.org") == made
    assert accounts.find_user("nobody@example.org") is None
    assert [u["email"] for u in accounts.list_users()] == ["anna.de.vries@example.org"]
    with pytest.raises(NotAllowed, match="exists already"):
        accounts.add_user("Anna", "anna.de.vries@example.org", "auditor")


@pytest.mark.parametrize("store_backend", ["memory"], indirect=True)   # refused before the store is asked
@pytest.mark.parametrize("args, field", [
    (("", "a@example.org", "secretariat"), "name"),
    (("A", "not an address", "secretariat"), "email"),
    (("A", "a@example.org", "boss"), "role"),
    (("A", "a@example.org", "party"), "party"),                       # party without --party
    (("A", "a@example.org", "party", "nope"), "party"),               # unknown party
    (("A", "a@example.org", "auditor", "ipo"), "party"),              # a party for a role without one
    (("A", "a@example.org", "secretariat", None, "de"), "language"),
    (("A", "a@example.org", "secretariat", None, "nl", "short"), "password"),
])
def test_bad_input_names_the_field_and_adds_nobody(world, args, field):
    _, _, accounts = world
    with pytest.raises(BadInput) as refused:
        accounts.add_user(*args)
    assert refused.value.field == field
    assert accounts.list_users() == []


def test_the_password_is_stored_only_as_an_argon2id_hash(world):
    store, _, accounts = world
    accounts.add_user("Anna", "anna@example.org", "secretariat", password=PASSWORD)
    stored = store.password_hash("anna@example.org")
    assert stored.startswith("$argon2id$")
    everything = store.text()
    assert PASSWORD not in everything
    for fast in (hashlib.sha256, hashlib.sha1, hashlib.md5):
        assert fast(PASSWORD.encode()).hexdigest() not in everything
    assert "password_hash" not in accounts.find_user("anna@example.org")     # never shown


def test_sign_in_opens_a_session_whose_principal_names_the_person(world):
    store, _, accounts = world
    accounts.add_user("Anna de Vries", "anna@example.org", "party", party="ipo", password=PASSWORD)
    session = accounts.sign_in_password("Anna@example.org", PASSWORD, "10.0.0.1")
    who = accounts.session_principal(session)
    assert (who.name, who.role, who.party, who.email, who.via, who.scope) == \
        ("Anna de Vries", "party", "ipo", "anna@example.org", "session", "write")
    assert session not in store.text() and secret_hash(session) in store.text()
    assert who.csrf_ok(who.csrf()) and not who.csrf_ok("forged")


def test_a_session_expires_goes_idle_and_ends_on_sign_out(world):
    _, clock, accounts = world
    accounts.add_user("Anna", "anna@example.org", "secretariat")
    first = accounts.open_session("anna@example.org", "oidc")
    for _ in range(11):                           # used every hour: never idle, but over after 12 hours
        later(clock, hours=1)
        assert accounts.session_principal(first) is not None
    later(clock, hours=1)
    assert accounts.session_principal(first) is None
    idle = accounts.open_session("anna@example.org", "oidc")
    later(clock, minutes=119)
    assert accounts.session_principal(idle) is not None
    later(clock, minutes=121)
    assert accounts.session_principal(idle) is None
    ended = accounts.open_session("anna@example.org", "oidc")
    assert accounts.close_session(ended) is True
    assert accounts.session_principal(ended) is None
    assert accounts.close_session(ended) is False
    assert accounts.session_principal("cvs_unknown") is None and accounts.session_principal(None) is None


def test_disabling_ends_the_sessions_at_once_and_refuses_new_ones(world):
    _, _, accounts = world
    accounts.add_user("Anna", "anna@example.org", "secretariat", password=PASSWORD)
    accounts.add_user("Bert", "bert@example.org", "secretariat")
    hers = [accounts.open_session("anna@example.org", "oidc"), accounts.sign_in_password("anna@example.org",
                                                                                          PASSWORD)]
    his = accounts.open_session("bert@example.org", "oidc")
    gone = accounts.disable_user("anna@example.org")
    assert gone["enabled"] is False and gone["disabled_at"] == T0.isoformat()
    assert [accounts.session_principal(s) for s in hers] == [None, None]
    assert accounts.session_principal(his) is not None
    with pytest.raises(NotAllowed, match="disabled"):
        accounts.open_session("anna@example.org", "oidc")
    with pytest.raises(NotAllowed, match="disabled"):
        accounts.sign_in_password("anna@example.org", PASSWORD)
    with pytest.raises(Unauthenticated):
        accounts.open_session("nobody@example.org", "oidc")
    with pytest.raises(NotFound):
        accounts.disable_user("nobody@example.org")
    assert accounts.find_user("anna@example.org")["name"] == "Anna"     # kept, with its history


def test_failed_sign_ins_are_limited_per_account_on_the_clock(world):
    _, clock, accounts = world
    accounts.add_user("Anna", "anna@example.org", "secretariat", password=PASSWORD)
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            accounts.sign_in_password("anna@example.org", "wrong password", "10.0.0.1")
        later(clock, minutes=1)
    with pytest.raises(RateLimited) as limited:               # even the right password, for now
        accounts.sign_in_password("anna@example.org", PASSWORD, "10.0.0.2")
    assert limited.value.http_status == 429 and limited.value.until == T0 + dt.timedelta(minutes=15)
    later(clock, minutes=10)                                   # 15 minutes after the first failure
    assert accounts.session_principal(accounts.sign_in_password("anna@example.org", PASSWORD, "10.0.0.2"))
    # a success clears the account's count
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            accounts.sign_in_password("anna@example.org", "wrong password", "10.0.0.3")
    assert accounts.sign_in_password("anna@example.org", PASSWORD, "10.0.0.3")


def test_failed_sign_ins_are_limited_per_address_across_accounts(world):
    _, _, accounts = world
    accounts.add_user("Anna", "anna@example.org", "secretariat", password=PASSWORD)
    for n in range(8):                                          # unknown accounts, one address
        with pytest.raises(Unauthenticated):
            accounts.sign_in_password(f"guess{n}@example.org", "whatever it is", "10.9.9.9")
    with pytest.raises(RateLimited):
        accounts.sign_in_password("anna@example.org", PASSWORD, "10.9.9.9")
    assert accounts.sign_in_password("anna@example.org", PASSWORD, "10.0.0.1")   # another address


def test_an_account_without_a_password_cannot_sign_in_locally(world):
    _, _, accounts = world
    accounts.add_user("Anna", "anna@example.org", "secretariat")
    with pytest.raises(Unauthenticated):
        accounts.sign_in_password("anna@example.org", "")
    accounts.set_password("anna@example.org", PASSWORD)
    assert accounts.sign_in_password("anna@example.org", PASSWORD)


def test_tokens_have_an_owner_an_expiry_a_scope_and_a_last_use(world):
    _, clock, accounts = world
    accounts.add_user("Anna", "anna@example.org", "secretariat")
    made = accounts.create_token("script", "secretariat", None, owner="Anna@example.org", days=30, scope="read")
    assert {k: made[k] for k in ("name", "role", "party", "owner", "scope")} == \
        {"name": "script", "role": "secretariat", "party": None, "owner": "anna@example.org", "scope": "read"}
    assert made["expires_at"] == (T0 + dt.timedelta(days=30)).isoformat()
    default = accounts.create_token("sync", "party", "ipo")
    assert default["owner"] == "sync" and default["scope"] == "write"
    assert default["expires_at"] == (T0 + dt.timedelta(days=365)).isoformat()
    listed = {t["name"]: t for t in accounts.list_tokens()}
    assert listed["script"]["last_used_at"] is None and "token" not in listed["script"]
    later(clock, hours=2)
    who = accounts.principal(made["token"])
    assert (who.name, who.scope, who.reads_only) == ("script", "read", True)
    assert {t["name"]: t for t in accounts.list_tokens()}["script"]["last_used_at"] == clock.now().isoformat()
    later(clock, seconds=20)                                     # used again within a minute: not written again
    accounts.principal(made["token"])
    assert {t["name"]: t for t in accounts.list_tokens()}["script"]["last_used_at"] == \
        (clock.now() - dt.timedelta(seconds=20)).isoformat()
    later(clock, days=30)
    assert accounts.principal(made["token"]) is None             # expired
    assert accounts.principal(default["token"]) is not None


def test_a_token_owned_by_a_disabled_person_stops_working(world):
    _, _, accounts = world
    accounts.add_user("Anna", "anna@example.org", "secretariat")
    made = accounts.create_token("script", "secretariat", None, owner="anna@example.org")
    assert accounts.principal(made["token"]) is not None
    accounts.disable_user("anna@example.org")
    assert accounts.principal(made["token"]) is None


@pytest.mark.parametrize("store_backend", ["memory"], indirect=True)   # refused before the store is asked
@pytest.mark.parametrize("kw, field", [
    ({"owner": "nobody@example.org"}, "owner"), ({"scope": "admin"}, "scope"), ({"days": 0}, "days"),
    ({"days": 99999}, "days"), ({"expires": "soon"}, "expires"), ({"expires": "2020-01-01"}, "expires"),
    ({"expires": "2026-06-01", "days": 3}, "expires"),
])
def test_bad_token_options_name_the_field_and_create_nothing(world, kw, field):
    _, _, accounts = world
    with pytest.raises(BadInput) as refused:
        accounts.create_token("script", "secretariat", None, **kw)
    assert refused.value.field == field
    assert accounts.list_tokens() == []


def test_expires_is_the_last_day_the_token_works(world):
    _, clock, accounts = world
    made = accounts.create_token("script", "auditor", None, expires="2026-03-31")
    clock.set(dt.datetime(2026, 3, 31, 23, 59, tzinfo=dt.UTC))
    assert accounts.principal(made["token"]) is not None
    clock.set(dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC))
    assert accounts.principal(made["token"]) is None


def test_a_feed_secret_is_per_person_and_party_and_neither_token_nor_session(world):
    _, _, accounts = world
    accounts.add_user("Anna", "anna@example.org", "party", party="ipo")
    accounts.add_user("Sec", "sec@example.org", "secretariat")
    session = accounts.open_session("anna@example.org", "oidc")
    anna = accounts.session_principal(session)
    secret = accounts.feed_secret(anna, "ipo")
    assert secret.startswith("cvf_") and session not in secret
    assert accounts.feed_secret(anna, "ipo") == secret                   # stable: a calendar keeps it
    reader = accounts.feed_principal("ipo", secret)
    assert (reader.name, reader.party, reader.scope) == ("Anna", "ipo", "read")
    assert accounts.feed_principal("vng", secret) is None                # for one party only
    assert accounts.session_principal(secret) is None and accounts.principal(secret) is None
    sec = accounts.session_principal(accounts.open_session("sec@example.org", "oidc"))
    assert accounts.feed_secret(sec, "ipo") != secret                    # per person
    token = accounts.create_token("script", "auditor", None)
    assert accounts.feed_secret(accounts.principal(token["token"]), "ipo") is None    # machines have none
    accounts.disable_user("anna@example.org")
    assert accounts.feed_principal("ipo", secret) is None


@pytest.mark.parametrize("store_backend", ["memory"], indirect=True)
def test_an_administrator_may_fire_no_trigger_and_changes_nothing(harness):
    """Administrators manage accounts: every trigger of the running agreement is refused (exit 3, HTTP 403)
    before its values are looked at, with no record written, for a party or none."""
    h = harness.active()
    before = h.history()
    triggers = h.service.workflow("krachtenbundeling").process("agreement").triggers
    for tspec in triggers:
        for party in (None, "ipo"):
            with pytest.raises(NotAllowed) as no:
                h.fire("krachtenbundeling", tspec.name, role="administrator", party=party)
            assert no.value.exit_code == 3 and no.value.http_status == 403, tspec.name
    assert len(triggers) > 5 and h.history() == before
