"""Who is asking: a person's session (pages: the session id in an http-only cookie, never a token), a bearer
token (API: machines), or a calendar feed secret in the query string (feeds, which cannot send headers). The
service layer (engine/accounts.py) says whose session, token or feed secret it is; engine/access.py decides what
they may see and do."""
from __future__ import annotations

import secrets
from typing import Any

from convenant.engine.access import Principal, may_see, require_role, root_of
from convenant.engine.accounts import RateLimited, Unauthenticated

__all__ = ["LOGIN_CSRF_COOKIE", "SESSION_COOKIE", "Principal", "RateLimited", "Unauthenticated", "bearer",
           "clear_session_cookie", "may_see", "new_login_csrf", "require_role", "root_of", "set_session_cookie"]

SESSION_COOKIE = "convenant_session"
LOGIN_CSRF_COOKIE = "convenant_login_csrf"


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_session_cookie(response: Any, session_id: str, *, secure: bool, max_age: int) -> None:
    """The session id in an http-only cookie. SameSite=Lax, not Strict: a person coming back from their identity
    provider (a top-level navigation from another site) must arrive signed in; every form that changes
    anything carries a CSRF token bound to the session besides."""
    response.set_cookie(SESSION_COOKIE, session_id, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=secure)


def clear_session_cookie(response: Any, *, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
