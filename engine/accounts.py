"""People and machines, as commands and queries of the service layer.

- **Accounts** of people (`users`): name, email (the key, kept in its normal form), role, party, language,
  enabled; a disabled account keeps its history and loses its sessions at once.
- **Sessions**: a person signed in holds a random session id (never a token); the store keeps its SHA-256 with
  an expiry (`[web] session_hours`) and the last moment it was used (idle after `[web] session_idle_minutes`).
  `session_principal` is who a session id is, or None once it is unknown, expired, idle, closed or its account
  is disabled. The OpenID Connect sign-in opens sessions through `open_session` too.
- **Local sign-in**: email and password, the password kept as an Argon2id hash (argon2-cffi); failures are
  counted per account and per client address: `[web] sign_in_attempts` of them for an account (or
  `sign_in_attempts_per_address` from one address) within `[web] sign_in_window_minutes` refuse further tries
  until the window has passed (RateLimited, HTTP 429).
- **Tokens** for machines: an owner (a person's email or a service account's name), an expiry, a scope (`read`
  or `write`) and their last use; a token owned by a disabled person stops working.
- **Calendar feed secrets**: per person and party, an HMAC of the party under the account's own feed key, so a
  feed URL carries neither a token nor a session id and reads one party's deadlines only.

All times come from the clock given (the real time of the installation: a simulation database's virtual clock
moves the agreements' time, not the sessions')."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convenant.engine.access import Principal
from convenant.engine.definitions import ROLES
from convenant.engine.errors import BadInput, ConvenantError, NotAllowed, NotFound

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from argon2 import PasswordHasher

    from convenant.engine.ports import Clock, PeopleStore, TokenStore
    from convenant.engine.queries import Queries

MAX_TOKEN_LENGTH = 200
MAX_PASSWORD_LENGTH = 1000
MIN_PASSWORD_LENGTH = 10
LANGUAGES = ("nl", "en")
SCOPES = ("read", "write")
DEFAULT_TOKEN_DAYS = 365
MAX_TOKEN_DAYS = 3650
TOUCH_EVERY = dt.timedelta(minutes=1)      # last use and last seen are written at most this often
SESSION_PREFIX = "cvs_"
FEED_PREFIX = "cvf_"


class Unauthenticated(ConvenantError):
    """No credential, or one that is unknown, expired, revoked or closed (HTTP 401)."""
    exit_code = 1
    http_status = 401
    kind = "unauthenticated"


class RateLimited(ConvenantError):
    """Too many failed sign-ins for this account or from this address (HTTP 429); `until` says when to retry."""
    exit_code = 3
    http_status = 429
    kind = "rate_limited"

    def __init__(self, message: str, *, until: dt.datetime, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.until = until


@dataclass(frozen=True)
class SessionPolicy:
    hours: float = 12                  # a session ends this long after sign-in
    idle_minutes: float = 120          # ... or this long after its last use
    attempts: int = 5                  # failed sign-ins per account ...
    address_attempts: int = 20         # ... and per client address (many people may share one, behind NAT) ...
    window_minutes: float = 15         # ... within this window, then refused until the window has passed


def secret_hash(secret: str) -> str:
    """SHA-256: enough for a random secret of 256 bits (a session id, a token), never used for passwords."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def public_user(row: dict[str, Any]) -> dict[str, Any]:
    """An account as the ways in show it: no password hash, no feed key."""
    return {"email": row["email"], "name": row["name"], "role": row["role"], "party": row["party"],
            "language": row["language"], "enabled": bool(row["enabled"]), "password": bool(row["password_hash"]),
            "created_at": row["created_at"], "disabled_at": row["disabled_at"]}


def normal_email(value: str, field: str = "email") -> str:
    from convenant.engine.contacts import email_address
    if not isinstance(value, str) or not value.strip() or len(value) > 254:
        raise BadInput(f"{field}: give an email address (at most 254 characters)", field=field)
    return email_address(value.strip(), field).lower()


class Accounts:
    def __init__(self, tokens: TokenStore, clock: Clock, queries: Queries, people: PeopleStore | None = None, *,
                 policy: SessionPolicy | None = None, tz: ZoneInfo | None = None,
                 hasher: PasswordHasher | None = None) -> None:
        self.tokens = tokens
        self.clock = clock
        self.queries = queries
        self._people = people
        self.policy = policy or SessionPolicy()
        self.tz = tz
        self._hasher = hasher
        self._dummy_hash: str | None = None

    @property
    def hasher(self) -> PasswordHasher:
        """Argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile), imported at the first use."""
        if self._hasher is None:
            from argon2 import PasswordHasher
            self._hasher = PasswordHasher()
        return self._hasher

    @property
    def people(self) -> PeopleStore:
        if self._people is None:
            raise RuntimeError("this Accounts was built without a people store")
        return self._people

    # -- validation shared by accounts and tokens -----------------------------------------------------------
    def _role_and_party(self, role: str, party: str | None) -> None:
        if role not in ROLES:
            raise BadInput(f"unknown role {role!r}; one of {', '.join(ROLES)}", field="role")
        if role == "party" and not party:
            raise BadInput("--party is required with --role party", field="party")
        if role != "party" and party:
            raise BadInput("--party goes with --role party only", field="party")
        if party is not None:
            known = self.queries.party_ids()
            if party not in known:
                near = [k for k in known if k.lower() == party.lower()]
                hint = f"; did you mean {near[0]!r}?" if near else ""
                listing = ", ".join(known) if known else "none yet: create the agreement first"
                raise BadInput(f"unknown party {party!r}{hint} (party ids: {listing})", field="party")

    def _password_hash(self, password: str) -> str:
        if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
            raise BadInput(f"password: at least {MIN_PASSWORD_LENGTH} characters", field="password")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise BadInput(f"password: at most {MAX_PASSWORD_LENGTH} characters", field="password")
        if password != password.strip() or any(ord(c) < 32 for c in password):
            raise BadInput("password: no leading or trailing spaces and no control characters", field="password")
        return self.hasher.hash(password)

    # -- people ---------------------------------------------------------------------------------------------
    def add_user(self, name: str, email: str, role: str, party: str | None = None, language: str = "nl",
                 password: str | None = None) -> dict[str, Any]:
        """A personal account; bad input names the field and writes nothing."""
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise BadInput("--name names the person (at most 200 characters)", field="name")
        address = normal_email(email)
        self._role_and_party(role, party)
        if language not in LANGUAGES:
            raise BadInput(f"unknown language {language!r}; one of {', '.join(LANGUAGES)}", field="language")
        hashed = self._password_hash(password) if password is not None else None
        if self.people.find_user(address) is not None:
            raise NotAllowed(f"an account for {address} exists already; disable it or choose another email")
        row = self.people.add_user({"email": address, "name": name.strip(), "role": role, "party": party,
                                    "language": language, "password_hash": hashed,
                                    "feed_key": secrets.token_hex(32), "created_at": self.clock.now()})
        return public_user(row)

    def find_user(self, email: str) -> dict[str, Any] | None:
        """The account with this email (in any case), or None; disabled accounts too (see `enabled`)."""
        try:
            address = normal_email(email)
        except BadInput:
            return None
        row = self.people.find_user(address)
        return public_user(row) if row else None

    def list_users(self) -> list[dict[str, Any]]:
        return [public_user(r) for r in self.people.list_users()]

    def disable_user(self, email: str) -> dict[str, Any]:
        """Disable the account and end its sessions at once; its history stays as it is. Disabling a disabled
        account changes nothing."""
        address = normal_email(email)
        row = self.people.find_user(address)
        if row is None:
            raise NotFound(f"no account for {address}")
        if row["enabled"]:
            self.people.disable_user(address, self.clock.now())
        found = self.people.find_user(address)
        assert found is not None
        return public_user(found)

    def set_password(self, email: str, password: str) -> dict[str, Any]:
        address = normal_email(email)
        if self.people.find_user(address) is None:
            raise NotFound(f"no account for {address}")
        self.people.set_password(address, self._password_hash(password))
        return {"email": address, "password": True}

    # -- sessions -------------------------------------------------------------------------------------------
    def open_session(self, email: str, method: str) -> str:
        """A new session for an enabled account (`method`: password, oidc, ...); returns the session id, which
        only its holder ever sees (the store keeps its hash)."""
        address = normal_email(email)
        row = self.people.find_user(address)
        if row is None:
            raise Unauthenticated(f"no account for {address}")
        if not row["enabled"]:
            raise NotAllowed(f"the account of {address} is disabled", forbidden=True)
        now = self.clock.now()
        session_id = SESSION_PREFIX + secrets.token_urlsafe(32)
        self.people.open_session(secret_hash(session_id), row["id"], method[:32], now,
                                 now + dt.timedelta(hours=self.policy.hours))
        return session_id

    def session_principal(self, session_id: str | None) -> Principal | None:
        """Who holds this session id, or None (unknown, expired, idle, closed, or the account disabled)."""
        if not session_id or len(session_id) > MAX_TOKEN_LENGTH or not session_id.startswith(SESSION_PREFIX):
            return None
        session = self.people.find_session(secret_hash(session_id))
        if session is None or session["closed_at"] is not None:
            return None
        user = session["user"]
        now = self.clock.now()
        if user is None or not user["enabled"] or now >= session["expires_at"] \
                or now - session["last_seen_at"] > dt.timedelta(minutes=self.policy.idle_minutes):
            return None
        if now - session["last_seen_at"] >= TOUCH_EVERY:
            self.people.touch_session(session["hash"], now)
        return Principal(name=user["name"], role=user["role"], party=user["party"], token=session_id,
                         email=user["email"], via="session")

    def close_session(self, session_id: str | None) -> bool:
        """Sign out: the session ends on the server, whatever the browser keeps."""
        if not session_id or len(session_id) > MAX_TOKEN_LENGTH:
            return False
        return self.people.close_session(secret_hash(session_id), self.clock.now())

    def session_seconds(self) -> int:
        return int(self.policy.hours * 3600)

    # -- local sign-in --------------------------------------------------------------------------------------
    def _limited(self, keys: list[str], now: dt.datetime) -> dt.datetime | None:
        """When these keys may try again, if any has used up its attempts within the window."""
        window = dt.timedelta(minutes=self.policy.window_minutes)
        until = None
        for key in keys:
            allowed = self.policy.address_attempts if key.startswith("address:") else self.policy.attempts
            recent = self.people.failures_since(key, now - window)
            if len(recent) >= allowed:
                free = recent[-allowed] + window
                until = free if until is None or free > until else until
        return until

    def sign_in_password(self, email: str, password: str, address: str | None = None) -> str:
        """Check an email and password and open a session (its id returned). Refused alike for an unknown
        account, a wrong password and an account without a password (Unauthenticated), a disabled account
        (NotAllowed), and too many failures (RateLimited, counted per account and per client address)."""
        now = self.clock.now()
        try:
            account = normal_email(email)
        except BadInput:
            account = str(email or "").strip().lower()[:254]
        keys = [f"account:{account}"] + ([f"address:{address}"] if address else [])
        until = self._limited(keys, now)
        if until is not None:
            raise RateLimited(f"too many failed sign-ins; try again after {until.isoformat(timespec='minutes')}",
                              until=until)
        row = self.people.find_user(account) if account else None
        if not self._password_ok(row["password_hash"] if row else None, str(password or "")):
            self.people.add_failure(keys, now)
            raise Unauthenticated("the email address or the password is wrong")
        assert row is not None
        if not row["enabled"]:
            raise NotAllowed(f"the account of {account} is disabled", forbidden=True)
        self.people.clear_failures(keys[0])
        if self.hasher.check_needs_rehash(row["password_hash"]):
            self.people.set_password(account, self.hasher.hash(password))
        return self.open_session(account, "password")

    def _password_ok(self, stored: str | None, given: str) -> bool:
        """Verify against the stored hash; without one, against a dummy, so that an unknown account takes as
        long to refuse as a wrong password."""
        if len(given) > MAX_PASSWORD_LENGTH:
            return False
        if stored is None:
            if self._dummy_hash is None:
                self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
            stored, given = self._dummy_hash, given + "\x00never"
        from argon2.exceptions import InvalidHashError, VerificationError
        try:
            return self.hasher.verify(stored, given)
        except (VerificationError, InvalidHashError):      # VerifyMismatchError is a VerificationError
            return False

    # -- calendar feeds -------------------------------------------------------------------------------------
    def feed_secret(self, who: Principal, party: str) -> str | None:
        """The secret of the feed URL of `party` for this person (None for a machine's token: feeds belong to
        people). Stable while the account lasts, so a calendar keeps its subscription."""
        if who.email is None:
            return None
        row = self.people.find_user(who.email)
        if row is None:
            return None
        return f"{FEED_PREFIX}{row['id']}.{self._feed_mac(row['feed_key'], party)}"

    @staticmethod
    def _feed_mac(key: str, party: str) -> str:
        return hmac.new(key.encode(), f"feed\n{party}".encode(), hashlib.sha256).hexdigest()[:40]

    def feed_principal(self, party: str, secret: str | None) -> Principal | None:
        """Who a feed secret belongs to (read scope only), or None: unknown, for another party, or disabled."""
        m = re.fullmatch(rf"{FEED_PREFIX}(\d{{1,12}})\.([0-9a-f]{{40}})", secret or "")
        if m is None:
            return None
        row = self.people.user_by_id(int(m.group(1)))
        if row is None or not row["enabled"] or \
                not hmac.compare_digest(self._feed_mac(row["feed_key"], party), m.group(2)):
            return None
        return Principal(name=row["name"], role=row["role"], party=row["party"], token=secret or "",
                         email=row["email"], scope="read", via="feed")

    # -- tokens for machines --------------------------------------------------------------------------------
    def token_expiry(self, expires: str | dt.date | None, days: int | None) -> dt.datetime:
        """`--expires DATE` (valid through that day, local time) or `--days N` from now; 365 days by default."""
        now = self.clock.now()
        if expires is not None and days is not None:
            raise BadInput("give --expires or --days, not both", field="expires")
        if expires is not None:
            try:
                day = expires if isinstance(expires, dt.date) else dt.date.fromisoformat(str(expires))
            except ValueError:
                raise BadInput(f"--expires {expires!r} is not a date like 2027-01-31", field="expires") from None
            tz = self.tz or dt.UTC
            until = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), tzinfo=tz).astimezone(dt.UTC) \
                if day < dt.date.max else None
            if until is None or until <= now or until > now + dt.timedelta(days=MAX_TOKEN_DAYS + 1):
                raise BadInput(f"--expires {day.isoformat()}: a day from today to {MAX_TOKEN_DAYS} days ahead",
                               field="expires")
            return until
        n = DEFAULT_TOKEN_DAYS if days is None else days
        if not 1 <= n <= MAX_TOKEN_DAYS:
            raise BadInput(f"--days {n}: a number of days from 1 to {MAX_TOKEN_DAYS}", field="days")
        return now + dt.timedelta(days=n)

    def create_token(self, name: str, role: str, party: str | None, *, owner: str | None = None,
                     expires: str | dt.date | None = None, days: int | None = None,
                     scope: str = "write") -> dict[str, Any]:
        """A token for a role (and, for role party, a party of an agreement in this database), owned by a
        person (an account's email) or a service account (any other name; by default the token's name)."""
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise BadInput("--name names the token (at most 100 characters)", field="name")
        self._role_and_party(role, party)
        if scope not in SCOPES:
            raise BadInput(f"unknown scope {scope!r}; one of {', '.join(SCOPES)}", field="scope")
        holder = (owner if owner is not None else name).strip()
        if not holder or len(holder) > 254:
            raise BadInput("--owner names a person's email or a service account", field="owner")
        if "@" in holder:
            holder = normal_email(holder, "owner")
            if self._people is not None and self.people.find_user(holder) is None:
                raise BadInput(f"--owner {holder}: no account with this email (users add first, or name a "
                               f"service account without @)", field="owner")
        until = self.token_expiry(expires, days)
        token = self.tokens.create(name, role, party, self.clock.now(), owner=holder, expires_at=until, scope=scope)
        return {"name": name, "role": role, "party": party, "token": token, "owner": holder, "scope": scope,
                "expires_at": until.isoformat()}

    def list_tokens(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k != "id"} for row in self.tokens.list()]

    def revoke_token(self, name: str) -> dict[str, Any]:
        if not self.tokens.revoke(name, self.clock.now()):
            raise NotFound(f"no active token named {name!r}")
        return {"name": name, "revoked": True}

    def principal(self, token: str | None) -> Principal | None:
        """Who holds this API token, or None for no, an unknown, an expired or a revoked token, or one whose
        owner's account is disabled. The use is recorded (at most once a minute)."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        row = self.tokens.find(token)
        if row is None:
            return None
        now = self.clock.now()
        if row.get("expires_at") and now >= dt.datetime.fromisoformat(row["expires_at"]):
            return None
        owner = row.get("owner")
        if owner and "@" in owner and self._people is not None:
            person = self.people.find_user(owner)
            if person is not None and not person["enabled"]:
                return None
        last = row.get("last_used_at")
        if last is None or now - dt.datetime.fromisoformat(last) >= TOUCH_EVERY:
            self.tokens.touch(row["id"], now)
        return Principal(name=row["name"], role=row["role"], party=row["party"], token=token,
                         scope=row.get("scope") or "write")
