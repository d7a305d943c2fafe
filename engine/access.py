"""Who may do what: one module for authorisation (role x party x representation), read by commands, queries,
pages and the API alike.

- `Principal`: who is asking over HTTP (a person's session or a machine's token: name, role, party, scope).
- `may_see`: a party reads the agreements it is a party to; the secretariat and auditors read everything.
- `authorise`: may this role (and party) fire this trigger of this process? The checks, in order, are a table
  (`CHECKS`); the first that refuses decides, with the reason and the article."""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from convenant.engine.errors import NotAllowed, NotFound

if TYPE_CHECKING:
    from convenant.engine.definitions import TriggerSpec, WorkflowDefinition
    from convenant.engine.model import Process


@dataclass(frozen=True)
class Principal:
    """Who is asking: a person signed in (a session: `name` the person's name, `email` their account) or a machine
    with an API token (`name` the token's name). `token` is the secret the request presented (the session id or
    the bearer token): the CSRF token is bound to it. A `read` scope may look but never change anything."""
    name: str
    role: str       # secretariat, party, auditor, administrator
    party: str | None
    token: str
    email: str | None = None
    scope: str = "write"        # read | write
    via: str = "token"          # token | session

    @property
    def reads_only(self) -> bool:
        return self.role in ("auditor", "administrator") or self.scope == "read"

    @property
    def administers(self) -> bool:
        """Manages accounts and tokens (the administrator's page, `users`, `tokens`)."""
        return self.role == "administrator"

    def csrf(self) -> str:
        """Bound to the session: only who holds the (http-only) token can compute it."""
        return hmac.new(self.token.encode(), b"convenant-csrf", hashlib.sha256).hexdigest()

    def csrf_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf(), given or "")


def root_of(pid: str) -> str:
    """Child ids are '{root}/{kind}-{n}'; roots never contain '/'."""
    return pid.split("/", 1)[0]


def agreement_of(proc: Process, get: Callable[[str], Process | None]) -> Process:
    """The agreement a process belongs to (itself, for an agreement), read with `get` (a unit of work's
    get_process, or the read models' process)."""
    if proc.is_root:
        return proc
    root = get(proc.root_id or root_of(proc.id))
    if root is None:
        raise NotFound(f"the agreement of {proc.id!r} is missing", process=proc.id)
    return root


def may_see(principal: Principal, root: Process) -> bool:
    return principal.role != "party" or principal.party in root.parties


def require_role(principal: Principal, *roles: str, what: str) -> None:
    if principal.role not in roles:
        raise NotAllowed(f"the role {principal.role} may not {what}; {' or '.join(roles)} may", forbidden=True)


@dataclass(frozen=True)
class Attempt:
    """One attempt to fire a trigger, as authorisation sees it."""
    wf: WorkflowDefinition
    trigger: TriggerSpec
    process: Process
    root: Process
    role: str
    party: str | None

    def refuse(self, message: str, article: str | None = None) -> NotAllowed:
        return NotAllowed(message, forbidden=True, process=self.process.id, trigger=self.trigger.name,
                          article=article or self.trigger.article)


def _auditors_read(a: Attempt) -> NotAllowed | None:
    if a.role == "auditor":
        return a.refuse("auditors read; they cannot change anything")
    return None


def _administrators_manage(a: Attempt) -> NotAllowed | None:
    if a.role == "administrator":
        return a.refuse("administrators manage accounts and tokens; they do not act on agreements")
    return None


def _role_may(a: Attempt) -> NotAllowed | None:
    if a.role not in a.trigger.roles:
        return a.refuse(f"the role {a.role} may not {a.trigger.name}; {' or '.join(a.trigger.roles)} may")
    return None


def _acts_itself(a: Attempt) -> NotAllowed | None:
    """A represented party acts only through its representative (the agreement's parties clause). The
    secretariat recording an act without naming a party passes this and the next two checks."""
    if a.party is None:
        return None
    representative = a.root.parties[a.party].represented_by
    if representative:
        return a.refuse(f"{a.party} acts only through its representative {representative}: record this act for "
                        f"{representative} (it counts for {a.party})", a.wf.parties_article)
    return None


def _party_may(a: Attempt) -> NotAllowed | None:
    if a.party is not None and a.trigger.parties is not None and a.party not in a.trigger.parties:
        return a.refuse(f"only {', '.join(a.trigger.parties)} (or the secretariat on its behalf) may "
                        f"{a.trigger.name}, not {a.party}")
    return None


def _owner_only(a: Attempt) -> NotAllowed | None:
    if a.party is not None and a.trigger.own and a.process.facts.get(a.trigger.own) != a.party:
        return a.refuse(f"only {a.process.facts.get(a.trigger.own)} may {a.trigger.name} this {a.process.ptype}")
    return None


# In order; the first refusal decides. An automatic-only trigger is refused later, with the state checks
# ("happens automatically"), after the values have been validated (INTERFACE.md's order of checks).
CHECKS: list[Callable[[Attempt], NotAllowed | None]] = [_auditors_read, _administrators_manage, _role_may,
                                                       _acts_itself, _party_may, _owner_only]
NOBODY_BY_HAND = (_auditors_read, _administrators_manage)   # the checks an automatic-only trigger gets here


def authorise(attempt: Attempt) -> None:
    """Raise NotAllowed (exit 3, HTTP 403) if this role and party may not fire this trigger here."""
    checks = CHECKS if attempt.trigger.manual else NOBODY_BY_HAND
    for check in checks:
        refusal = check(attempt)
        if refusal is not None:
            raise refusal
