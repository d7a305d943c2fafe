"""Who is asking: a bearer token (API), the same token kept in an http-only cookie (pages), or a token in the
query string (calendar feeds, which cannot send headers). The service layer (engine/accounts.py) says whose token
it is; engine/access.py decides what they may see and do."""
from __future__ import annotations

import secrets

from convenant.engine.access import Principal, may_see, require_role, root_of
from convenant.engine.errors import ConvenantError

__all__ = ["COOKIE", "LOGIN_CSRF_COOKIE", "Principal", "Unauthenticated", "bearer", "may_see", "new_login_csrf",
           "require_role", "root_of"]

COOKIE = "convenant_token"
LOGIN_CSRF_COOKIE = "convenant_login_csrf"


class Unauthenticated(ConvenantError):
    """No token, or one that is unknown or revoked (HTTP 401)."""
    exit_code = 1
    http_status = 401
    kind = "unauthenticated"


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)
