"""API tokens as a command and a query of the service layer: create (shown once, stored hashed), list, revoke,
and who a presented token is."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from convenant.engine.access import Principal
from convenant.engine.definitions import ROLES
from convenant.engine.errors import BadInput, NotFound

if TYPE_CHECKING:
    from convenant.engine.ports import Clock, TokenStore
    from convenant.engine.queries import Queries

MAX_TOKEN_LENGTH = 200


class Accounts:
    def __init__(self, tokens: TokenStore, clock: Clock, queries: Queries) -> None:
        self.tokens = tokens
        self.clock = clock
        self.queries = queries

    def create_token(self, name: str, role: str, party: str | None) -> dict[str, Any]:
        """A token for a role (and, for role party, a party of an agreement in this database)."""
        if not name or not name.strip():
            raise BadInput("--name names the token", field="name")
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
        token = self.tokens.create(name, role, party, self.clock.now())
        return {"name": name, "role": role, "party": party, "token": token}

    def list_tokens(self) -> list[dict[str, Any]]:
        return self.tokens.list()

    def revoke_token(self, name: str) -> dict[str, Any]:
        if not self.tokens.revoke(name, self.clock.now()):
            raise NotFound(f"no active token named {name!r}")
        return {"name": name, "revoked": True}

    def principal(self, token: str | None) -> Principal | None:
        """Who holds this token, or None for no, an unknown or a revoked token."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        row = self.tokens.find(token)
        if row is None:
            return None
        return Principal(name=row["name"], role=row["role"], party=row["party"], token=token)
