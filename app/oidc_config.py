"""[auth]: sign-in through an OpenID Connect provider (app/web/oidc.py runs the flow), and the mapping from the
provider's claims to a person's account. Kept apart from the web module so that reading config.toml (every CLI
command) loads no HTTP or JOSE library; the mapping is a pure function, tested on its own."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from convenant.engine.config import Strict
from convenant.engine.definitions import ROLES

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ClaimName = Annotated[str, Field(min_length=1, max_length=200)]


def _web_address(value: str, what: str) -> str:
    """https://, or http:// on this machine only (a test provider): an issuer over plain HTTP elsewhere would
    let anyone on the way forge sign-ins."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} is an https:// address, like https://login.example.org/realms/rijk")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise ValueError(f"{what} must use https:// (http:// only on 127.0.0.1 or localhost, for tests)")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} has no query or fragment")
    return value


class GroupRole(Strict):
    """What membership of one group of the provider makes of a person: a role, and for role party its party."""
    role: str
    party: str | None = None

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(f"unknown role {value!r}; one of {', '.join(ROLES)}")
        return value

    @model_validator(mode="after")
    def _party_with_party_role(self) -> GroupRole:
        if self.role == "party" and not self.party:
            raise ValueError("role party needs a party (party = \"uvw\", a party id of the agreement)")
        if self.role != "party" and self.party:
            raise ValueError(f"party goes with role party only, not with role {self.role}")
        return self


class Auth(Strict):
    """[auth]. Without `issuer` nobody signs in through a provider: the local sign-in is the way in."""
    issuer: str | None = None                   # the provider's issuer identifier, exactly as its discovery says
    client_id: str | None = Field(default=None, validate_default=True)   # this installation's client there
    client_secret_env: str | None = None        # the environment variable that holds the client secret (none: a
                                                # public client, PKCE alone)
    scopes: list[ClaimName] = Field(default_factory=lambda: ["openid", "email", "profile"])
    provider_name: Annotated[str, Field(min_length=1, max_length=80)] = "uw organisatie"   # on the sign-in button
    redirect_uri: str | None = None             # the callback as the provider knows it (default: this server's
                                                # own /sign-in/oidc/callback, as the browser reached it)
    email_claim: ClaimName = "email"
    name_claim: ClaimName = "name"
    groups_claim: ClaimName = "groups"
    groups: dict[str, GroupRole] = Field(default_factory=dict, validate_default=True)  # group value -> role
    end_session: bool = True                    # sign-out also ends the session at the provider, if it can
    timeout_seconds: Annotated[int, Field(ge=1, le=120)] = 10   # each request to the provider

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        return None if value is None else _web_address(value, "the issuer")

    @field_validator("client_id")
    @classmethod
    def _client(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("issuer") is not None and not value:
            raise ValueError("[auth] issuer needs client_id (this installation's client at the provider)")
        if value and "issuer" in info.data and info.data["issuer"] is None:
            raise ValueError("[auth] client_id goes with issuer (the provider); without issuer there is no "
                             "sign-in through a provider")
        return value

    @field_validator("groups")
    @classmethod
    def _some_group(cls, value: dict[str, GroupRole], info: ValidationInfo) -> dict[str, GroupRole]:
        if info.data.get("issuer") is not None and not value:
            raise ValueError("no group maps to a role, so nobody could sign in through the provider (add "
                             "[auth.groups], e.g. \"secretariaat\" = { role = \"secretariat\" })")
        return value

    @field_validator("redirect_uri")
    @classmethod
    def _redirect(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _web_address(value, "the redirect URI")
        if not urlsplit(value).path.endswith("/sign-in/oidc/callback"):
            raise ValueError("the redirect URI ends in /sign-in/oidc/callback (this server's callback)")
        return value

    @field_validator("client_secret_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and (not value or not all(ch.isalnum() or ch == "_" for ch in value)):
            raise ValueError("the name of an environment variable (letters, digits, _), not the secret itself")
        return value

    @field_validator("scopes")
    @classmethod
    def _openid(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError("OpenID Connect needs the scope \"openid\"")
        if any(" " in scope for scope in value):
            raise ValueError("one scope per item, without spaces")
        return value

    @property
    def enabled(self) -> bool:
        return self.issuer is not None

    def client_secret(self) -> str | None:
        """The secret, read from the environment when needed (never kept in config.toml)."""
        if self.client_secret_env is None:
            return None
        secret = os.environ.get(self.client_secret_env)
        if not secret:
            raise MissingSecret(f"config.toml: [auth] client_secret_env names {self.client_secret_env}, "
                                f"which is not set in the environment")
        return secret


class MissingSecret(RuntimeError):
    pass


# -- claims -> account -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mapped:
    """A person the provider vouched for, and what the mapping makes of them."""
    email: str
    name: str
    role: str
    party: str | None
    group: str          # the group that decided
    language: str


@dataclass(frozen=True)
class Refused:
    """Why the claims give no account: `reason` one of NO_EMAIL, UNVERIFIED_EMAIL, NO_GROUP (the page says it in
    words), `detail` what the provider sent instead."""
    reason: str
    detail: str = ""


NO_EMAIL, UNVERIFIED_EMAIL, NO_GROUP = "no_email", "unverified_email", "no_group"


def groups_of(claims: dict[str, Any], claim: str) -> list[str]:
    """The groups claim as a list of strings: providers send a list, some one string (space-separated)."""
    value = claims.get(claim)
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, (str, int))]
    return []


def map_claims(claims: dict[str, Any], auth: Auth) -> Mapped | Refused:
    """The account the claims ask for. The first group of [auth.groups], in the order of config.toml, that the
    person is in decides role and party; a person in none of them is refused, whatever else they are."""
    email = claims.get(auth.email_claim)
    if not isinstance(email, str) or "@" not in email.strip():
        return Refused(NO_EMAIL, auth.email_claim)
    if claims.get("email_verified") is False and auth.email_claim == "email":
        return Refused(UNVERIFIED_EMAIL, email)
    member = set(groups_of(claims, auth.groups_claim))
    group = next((g for g in auth.groups if g in member), None)
    if group is None:
        return Refused(NO_GROUP, ", ".join(sorted(member)))
    mapping = auth.groups[group]
    raw_name = claims.get(auth.name_claim)
    name = raw_name.strip() if isinstance(raw_name, str) and raw_name.strip() else email.strip()
    locale = claims.get("locale")
    language = "en" if isinstance(locale, str) and locale.lower().startswith("en") else "nl"
    return Mapped(email=email.strip().lower(), name=name, role=mapping.role, party=mapping.party, group=group,
                  language=language)
