"""People and machines on SQLAlchemy: personal accounts, their sessions and failed sign-ins (`PeopleStore`), and
API tokens with their owner, expiry, scope and last use (`TokenStore`). Secrets are kept as their SHA-256 (a
token, a session id: random and long, so a fast hash is enough); passwords arrive already hashed (Argon2id,
engine/accounts.py)."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

import sqlalchemy as sa

from convenant.engine.errors import NotAllowed
from convenant.storage import tables as t
from convenant.storage.store import SqlStore, aware, naive


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _iso(moment: dt.datetime | None) -> str | None:
    return aware(moment).isoformat() if moment is not None else None


def user_view(row: Any) -> dict[str, Any]:
    """An account as the engine sees it (aware times; the password hash only as whether there is one)."""
    r = dict(row)
    return {"id": r["id"], "email": r["email"], "name": r["name"], "role": r["role"], "party": r["party"],
            "language": r["language"], "enabled": bool(r["enabled"]), "password_hash": r["password_hash"],
            "feed_key": r["feed_key"], "created_at": _iso(r["created_at"]), "disabled_at": _iso(r["disabled_at"])}


def token_view(row: Any) -> dict[str, Any]:
    r = dict(row)
    return {"id": r["id"], "name": r["name"], "role": r["role"], "party": r["party"], "owner": r["owner"],
            "scope": r["scope"] or "write", "created_at": _iso(r["created_at"]), "expires_at": _iso(r["expires_at"]),
            "revoked_at": _iso(r["revoked_at"]), "last_used_at": _iso(r["last_used_at"])}


class SqlPeople:
    """`PeopleStore` (engine/ports.py) on SQLAlchemy."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def add_user(self, user: dict[str, Any]) -> dict[str, Any]:
        with self.store.transaction() as tx:
            taken = tx.conn.execute(sa.select(t.users.c.id).where(t.users.c.email == user["email"])).first()
            if taken:
                raise NotAllowed(f"an account for {user['email']} exists already")
            tx.conn.execute(t.users.insert().values(
                email=user["email"], name=user["name"], role=user["role"], party=user.get("party"),
                language=user.get("language") or "nl", enabled=True, password_hash=user.get("password_hash"),
                feed_key=user.get("feed_key") or secrets.token_hex(32), created_at=naive(user["created_at"]),
                disabled_at=None))
        found = self.find_user(user["email"])
        assert found is not None
        return found

    def find_user(self, email: str) -> dict[str, Any] | None:
        with self.store.reading() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.email == email)).mappings().first()
            return user_view(row) if row else None

    def user_by_id(self, user_id: int) -> dict[str, Any] | None:
        with self.store.reading() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.id == user_id)).mappings().first()
            return user_view(row) if row else None

    def list_users(self) -> list[dict[str, Any]]:
        with self.store.reading() as conn:
            return [user_view(r) for r in conn.execute(sa.select(t.users).order_by(t.users.c.email)).mappings()]

    def disable_user(self, email: str, now: dt.datetime) -> bool:
        with self.store.transaction() as tx:
            row = tx.conn.execute(sa.select(t.users.c.id).where(t.users.c.email == email,
                                                                 t.users.c.enabled.is_(True))).first()
            if row is None:
                return False
            tx.conn.execute(t.users.update().where(t.users.c.id == row[0])
                            .values(enabled=False, disabled_at=naive(now)))
            tx.conn.execute(t.sessions.update().where(t.sessions.c.user_id == row[0], t.sessions.c.closed_at.is_(None))
                            .values(closed_at=naive(now)))
            return True

    def set_password(self, email: str, password_hash: str | None) -> bool:
        with self.store.transaction() as tx:
            done = tx.conn.execute(t.users.update().where(t.users.c.email == email)
                                   .values(password_hash=password_hash))
            return done.rowcount == 1

    def open_session(self, session_hash: str, user_id: int, method: str, now: dt.datetime,
                     expires_at: dt.datetime) -> None:
        with self.store.transaction() as tx:
            tx.conn.execute(t.sessions.insert().values(hash=session_hash, user_id=user_id, method=method,
                                                       created_at=naive(now), last_seen_at=naive(now),
                                                       expires_at=naive(expires_at), closed_at=None))

    def find_session(self, session_hash: str) -> dict[str, Any] | None:
        s, u = t.sessions, t.users
        with self.store.reading() as conn:
            session = conn.execute(sa.select(s).where(s.c.hash == session_hash)).mappings().first()
            if session is None:
                return None
            user = conn.execute(sa.select(u).where(u.c.id == session["user_id"])).mappings().first()
            return {"hash": session["hash"], "method": session["method"], "created_at": aware(session["created_at"]),
                    "last_seen_at": aware(session["last_seen_at"]), "expires_at": aware(session["expires_at"]),
                    "closed_at": aware(session["closed_at"]) if session["closed_at"] else None,
                    "user": user_view(user)}

    def touch_session(self, session_hash: str, now: dt.datetime) -> None:
        with self.store.transaction() as tx:
            tx.conn.execute(t.sessions.update().where(t.sessions.c.hash == session_hash)
                            .values(last_seen_at=naive(now)))

    def close_session(self, session_hash: str, now: dt.datetime) -> bool:
        with self.store.transaction() as tx:
            done = tx.conn.execute(t.sessions.update().where(t.sessions.c.hash == session_hash,
                                                             t.sessions.c.closed_at.is_(None))
                                   .values(closed_at=naive(now)))
            return done.rowcount == 1

    def add_failure(self, keys: list[str], now: dt.datetime) -> None:
        if not keys:
            return
        with self.store.transaction() as tx:
            tx.conn.execute(t.sign_in_failures.insert(), [{"key": k[:300], "at": naive(now)} for k in keys])

    def failures_since(self, key: str, since: dt.datetime) -> list[dt.datetime]:
        f = t.sign_in_failures
        with self.store.reading() as conn:
            return [aware(r[0]) for r in conn.execute(sa.select(f.c.at).where(f.c.key == key[:300],
                                                                               f.c.at > naive(since))
                                                      .order_by(f.c.at))]

    def clear_failures(self, key: str) -> None:
        with self.store.transaction() as tx:
            tx.conn.execute(t.sign_in_failures.delete().where(t.sign_in_failures.c.key == key[:300]))


class SqlTokens:
    """`TokenStore` on SQLAlchemy, with owner, expiry, scope and last use (tokens are stored as their SHA-256)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def create(self, name: str, role: str, party: str | None, now: dt.datetime, owner: str | None = None,
               expires_at: dt.datetime | None = None, scope: str = "write") -> str:
        token = "cvn_" + secrets.token_urlsafe(32)
        with self.store.transaction() as tx:
            if tx.conn.execute(sa.select(t.tokens.c.id).where(t.tokens.c.name == name)).first():
                raise NotAllowed(f"a token named {name!r} exists already; revoke it first")
            tx.conn.execute(t.tokens.insert().values(name=name, role=role, party=party, hash=secret_hash(token),
                                                     created_at=naive(now), owner=owner,
                                                     expires_at=naive(expires_at), scope=scope))
        return token

    def list(self) -> list[dict[str, Any]]:
        with self.store.reading() as conn:
            return [token_view(r) for r in conn.execute(sa.select(t.tokens).order_by(t.tokens.c.name)).mappings()]

    def revoke(self, name: str, now: dt.datetime) -> bool:
        with self.store.transaction() as tx:
            done = tx.conn.execute(t.tokens.update().where(t.tokens.c.name == name, t.tokens.c.revoked_at.is_(None))
                                   .values(revoked_at=naive(now)))
            return done.rowcount == 1

    def find(self, token: str) -> dict[str, Any] | None:
        """An unrevoked token (expired or not: the caller judges the expiry on its clock)."""
        with self.store.reading() as conn:
            row = conn.execute(sa.select(t.tokens).where(t.tokens.c.hash == secret_hash(token),
                                                         t.tokens.c.revoked_at.is_(None))).mappings().first()
            return token_view(row) if row else None

    def touch(self, token_id: int, now: dt.datetime) -> None:
        with self.store.transaction() as tx:
            tx.conn.execute(t.tokens.update().where(t.tokens.c.id == token_id).values(last_used_at=naive(now)))


__all__ = ["SqlPeople", "SqlTokens", "secret_hash", "token_view", "user_view"]
