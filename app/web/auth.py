"""Who is asking: a bearer token (API), the same token kept in an http-only cookie (pages), or a token in the
query string (calendar feeds, which cannot send headers). Tokens are stored hashed (storage.queries)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from convenant.engine.errors import ConvenantError, NotAllowed, NotFound

COOKIE = "convenant_token"
LOGIN_CSRF_COOKIE = "convenant_login_csrf"


class Unauthenticated(ConvenantError):
    """No token, or one that is unknown or revoked (HTTP 401)."""
    exit_code = 1
    http_status = 401
    kind = "unauthenticated"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str       # secretariat, party, auditor
    party: str | None
    token: str

    @property
    def reads_only(self) -> bool:
        return self.role == "auditor"

    def csrf(self) -> str:
        """Bound to the session: only who holds the (http-only) token can compute it."""
        return hmac.new(self.token.encode(), b"convenant-csrf", hashlib.sha256).hexdigest()

    def csrf_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf(), given or "")


def principal_for(store, token: str | None) -> Principal | None:
    from convenant.storage.queries import find_token
    if not token or len(token) > 200:
        return None
    row = find_token(store, token)
    if row is None:
        return None
    return Principal(name=row["name"], role=row["role"], party=row["party"], token=token)


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def root_of(pid: str) -> str:
    """Child ids are '{root}/{kind}-{n}'; roots never contain '/'."""
    return pid.split("/", 1)[0]


def may_see(principal: Principal, root) -> bool:
    return principal.role != "party" or principal.party in root.parties


def require_visible(service, principal: Principal, pid: str) -> None:
    """A party token reads the agreements it is a party to; others read everything. 404 before 403."""
    with service.store.transaction() as tx:
        proc = tx.get_process(pid)
        root = tx.get_process(root_of(pid)) if proc is not None else None
    if proc is None or root is None:
        raise NotFound(f"no process {pid!r}", process=pid)
    if not may_see(principal, root):
        raise NotAllowed(f"the party {principal.party} is not a party to {root.id}; a party token sees its own "
                         f"agreements only", forbidden=True, process=pid)


def require_role(principal: Principal, *roles: str, what: str) -> None:
    if principal.role not in roles:
        raise NotAllowed(f"the role {principal.role} may not {what}; {' or '.join(roles)} may", forbidden=True)
