"""Sign-in through the organisation's identity provider: OpenID Connect, authorization code flow with PKCE (S256),
state and nonce, through Authlib (its httpx2 client for the provider's endpoints, joserfc and Authlib's CodeIDToken
for the ID token). Configured in config.toml [auth] (app/oidc_config.py); without an issuer these routes answer 404
and the local sign-in is the way in.

GET /sign-in/oidc            a fresh state, nonce and PKCE verifier in a short-lived http-only cookie (SameSite=Lax,
                             so that it comes back with the provider's redirect), then off to the provider.
GET /sign-in/oidc/callback   the state must be the cookie's; the code is exchanged with the verifier; the ID token
                             is checked (signature by the provider's JWKS, issuer, audience, nonce, expiry); the
                             claims map to an account (app/oidc_config.py map_claims); a session opens.

Nothing of the pending sign-in is kept on the server, so any number of web processes may answer the callback."""
from __future__ import annotations

import base64
import hmac
import json
import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from convenant.app.oidc_config import NO_EMAIL, NO_GROUP, UNVERIFIED_EMAIL, Auth, Mapped, MissingSecret, map_claims
from convenant.app.web.auth import SESSION_COOKIE, set_session_cookie
from convenant.app.web.pages import convenant, lang_of, render, safe_next
from convenant.engine.accounts import secret_hash
from convenant.engine.clock import SystemClock
from convenant.engine.errors import ConvenantError
from convenant.i18n import N_, gettext

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

PENDING_COOKIE = "convenant_oidc"          # state, nonce, verifier and where to go: one sign-in under way
PENDING_PATH = "/sign-in/oidc"
MARKER_COOKIE = "convenant_oidc_signed_in"   # this browser's session began at the provider
PENDING_SECONDS = 600                      # a sign-in at the provider may take this long
LEEWAY_SECONDS = 60                        # clock skew allowed on the ID token's exp and iat
# Asymmetric signatures only: an ID token signed with the client secret (HS256) or not at all ("none") is refused.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
                      "Ed25519")

REFUSALS = {
    NO_EMAIL: N_("%(provider)s sent no email address for you (claim %(detail)s), so no account can be found."),
    UNVERIFIED_EMAIL: N_("%(provider)s has not verified your email address %(detail)s, so it cannot be used to "
                         "sign in."),
    NO_GROUP: N_("You are not in any group that has access to Convenant. Ask your administrator to add you to "
                 "one of its groups at %(provider)s."),
}


class SignInFailed(Exception):
    """A sign-in that ends on a page saying why (`message` a msgid with %(provider)s and the params)."""

    def __init__(self, status: int, message: str, log_reason: str, **params: str) -> None:
        super().__init__(log_reason)
        self.status = status
        self.message = message
        self.params = params


# -- the provider: discovery document and keys, fetched once per application ------------------------------------
@dataclass
class ProviderInfo:
    auth: Auth
    metadata: dict[str, Any] | None = None
    jwks: dict[str, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _get(self, url: str) -> dict[str, Any]:
        import httpx2
        try:
            response = httpx2.get(url, timeout=self.auth.timeout_seconds, follow_redirects=False,
                                 headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise SignInFailed(502, UNREACHABLE, f"GET {url}: {type(exc).__name__}: {exc}") from None
        if not isinstance(body, dict):
            raise SignInFailed(502, UNREACHABLE, f"GET {url}: not a JSON object")
        return body

    def discovery(self) -> dict[str, Any]:
        """The provider's metadata (OpenID Connect Discovery 1.0); its issuer must be exactly the configured one."""
        with self.lock:
            if self.metadata is None:
                assert self.auth.issuer is not None
                doc = self._get(self.auth.issuer.rstrip("/") + "/.well-known/openid-configuration")
                if doc.get("issuer") != self.auth.issuer:
                    raise SignInFailed(502, UNREACHABLE, f"the discovery document names issuer "
                                                         f"{doc.get('issuer')!r}, not {self.auth.issuer!r}")
                missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)]
                if missing:
                    raise SignInFailed(502, UNREACHABLE, f"the discovery document has no {missing[0]}")
                methods = doc.get("code_challenge_methods_supported")
                if methods is not None and "S256" not in methods:
                    raise SignInFailed(502, UNREACHABLE, "the provider does not support PKCE with S256")
                self.metadata = doc
            return self.metadata

    def keys(self, *, refresh: bool = False) -> dict[str, Any]:
        """The provider's signing keys; fetched again once when a token names a key not in the set (rotation)."""
        jwks_uri = self.discovery()["jwks_uri"]
        with self.lock:
            if self.jwks is None or refresh:
                self.jwks = self._get(jwks_uri)
            return self.jwks


def provider_of(request: Request) -> ProviderInfo:
    app = convenant(request)
    state = request.app.state
    info = getattr(state, "oidc_provider", None)
    if info is None or info.auth is not app.settings.auth:
        info = ProviderInfo(app.settings.auth)
        state.oidc_provider = info
    return info


# -- the flow -------------------------------------------------------------------------------------------------------
def _auth(request: Request) -> Auth:
    auth: Auth = convenant(request).settings.auth
    if not auth.enabled:
        from starlette.exceptions import HTTPException
        raise HTTPException(404)
    return auth


def redirect_uri(request: Request, auth: Auth) -> str:
    return auth.redirect_uri or str(request.url_for("oidc_callback"))


def _client(auth: Auth, request: Request):
    from authlib.integrations.httpx_client import OAuth2Client
    try:
        secret = auth.client_secret()
    except MissingSecret as exc:
        raise SignInFailed(500, UNREACHABLE, str(exc)) from None
    return OAuth2Client(client_id=auth.client_id, client_secret=secret, scope=" ".join(auth.scopes),
                        redirect_uri=redirect_uri(request, auth), code_challenge_method="S256",
                        token_endpoint_auth_method="client_secret_basic" if secret else "none",
                        timeout=auth.timeout_seconds)


def _encode(pending: dict[str, str]) -> str:
    """base64url without padding: a cookie value that needs no quoting."""
    return base64.urlsafe_b64encode(json.dumps(pending, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(raw: str | None) -> dict[str, str] | None:
    if not raw or len(raw) > 4000:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    keys = ("state", "nonce", "verifier", "next")
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in keys):
        return None
    return {k: value[k] for k in keys}


@router.get("/sign-in/oidc", name="oidc_start")
def start(request: Request, next: str | None = None) -> Response:
    auth = _auth(request)
    try:
        metadata = provider_of(request).discovery()
        pending = {"state": secrets.token_urlsafe(32), "nonce": secrets.token_urlsafe(32),
                   "verifier": secrets.token_urlsafe(64), "next": safe_next(next)}
        with _client(auth, request) as client:
            url, _ = client.create_authorization_url(metadata["authorization_endpoint"], state=pending["state"],
                                                     code_verifier=pending["verifier"], nonce=pending["nonce"])
    except SignInFailed as failed:
        return _failure(request, auth, failed)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(PENDING_COOKIE, _encode(pending), max_age=PENDING_SECONDS, path=PENDING_PATH,
                        httponly=True, samesite="lax", secure=convenant(request).settings.web.secure_cookies)
    return response


@router.get("/sign-in/oidc/callback", name="oidc_callback")
def callback(request: Request) -> Response:
    auth = _auth(request)
    try:
        mapped = _signed_in_person(request, auth)
        session_id = _open_session(request, mapped)
    except SignInFailed as failed:
        response = _failure(request, auth, failed)
        response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)
        return response
    pending = _decode(request.cookies.get(PENDING_COOKIE)) or {}
    target = safe_next(pending.get("next"))
    log.info("signed in through %s: %s as %s%s (group %s)", auth.issuer, mapped.email, mapped.role,
             f" of {mapped.party}" if mapped.party else "", mapped.group)
    response = RedirectResponse(target, status_code=303)
    secure = convenant(request).settings.web.secure_cookies
    set_session_cookie(response, session_id, secure=secure, max_age=convenant(request).accounts.session_seconds())
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH, secure=secure, httponly=True, samesite="lax")
    # remembered for sign-out, which then goes on to the provider (the session itself does not say how it began)
    response.set_cookie(MARKER_COOKIE, marker(session_id), max_age=convenant(request).accounts.session_seconds(), path="/",
                        httponly=True, samesite="lax", secure=secure)
    response.headers["Cache-Control"] = "no-store"
    return response


def _signed_in_person(request: Request, auth: Auth) -> Mapped:
    params = request.query_params
    pending = _decode(request.cookies.get(PENDING_COOKIE))
    if pending is None:
        raise SignInFailed(400, EXPIRED, "no sign-in under way in this browser (no or a bad pending cookie)")
    if not hmac.compare_digest(params.get("state", ""), pending["state"]):
        raise SignInFailed(400, EXPIRED, "the state does not match this browser's sign-in")
    if params.get("iss") is not None and params.get("iss") != auth.issuer:     # RFC 9207: mix-up attacks
        raise SignInFailed(400, NOT_VERIFIED, f"the answer names issuer {params.get('iss')!r}")
    if params.get("error"):
        reason = (params.get("error_description") or params.get("error") or "")[:300]
        raise SignInFailed(403, PROVIDER_REFUSED, f"the provider answered {params.get('error')}: {reason}",
                           reason=reason)
    code = params.get("code")
    if not code:
        raise SignInFailed(400, NOT_VERIFIED, "the answer carries no code")
    info = provider_of(request)
    metadata = info.discovery()
    token = _exchange(request, auth, metadata, code, pending["verifier"])
    claims = verify_id_token(info, auth, token.get("id_token"), nonce=pending["nonce"],
                             access_token=token.get("access_token"))
    if metadata.get("userinfo_endpoint") and token.get("access_token"):
        claims = {**_userinfo(auth, metadata["userinfo_endpoint"], token["access_token"], claims["sub"]), **claims}
    mapped = map_claims(claims, auth)
    if not isinstance(mapped, Mapped):
        raise SignInFailed(403, REFUSALS[mapped.reason], f"refused ({mapped.reason}): {mapped.detail}",
                           detail=mapped.detail)
    return mapped


def _exchange(request: Request, auth: Auth, metadata: dict[str, Any], code: str, verifier: str) -> dict[str, Any]:
    import httpx2
    from authlib.integrations.base_client.errors import OAuthError
    try:
        with _client(auth, request) as client:
            token = client.fetch_token(metadata["token_endpoint"], grant_type="authorization_code", code=code,
                                       code_verifier=verifier)
    except OAuthError as exc:
        raise SignInFailed(403, PROVIDER_REFUSED, f"the token endpoint refused: {exc.error}: {exc.description}",
                           reason=str(exc.description or exc.error)[:300]) from None
    except (httpx2.HTTPError, ValueError) as exc:
        raise SignInFailed(502, UNREACHABLE, f"token endpoint: {type(exc).__name__}: {exc}") from None
    return dict(token)


def verify_id_token(info: ProviderInfo, auth: Auth, id_token: Any, *, nonce: str, access_token: str | None,
                    now: int | None = None) -> dict[str, Any]:
    """The ID token's claims once its signature (a key of the provider's JWKS, an asymmetric algorithm the
    provider announces), issuer, audience (and authorized party), nonce, expiry and at_hash hold; SignInFailed
    otherwise. The time is the system clock's: the token's lifetime is real time, whatever the engine's clock."""
    from authlib.oidc.core import CodeIDToken
    from joserfc import jwt
    from joserfc.errors import InvalidKeyIdError, JoseError
    from joserfc.jwk import KeySet

    if not isinstance(id_token, str) or not id_token:
        raise SignInFailed(401, NOT_VERIFIED, "the token response has no id_token")
    announced = info.discovery().get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in announced if a in SIGNING_ALGORITHMS]
    try:
        try:
            token = jwt.decode(id_token, KeySet.import_key_set(info.keys()), algorithms=algorithms)
        except InvalidKeyIdError:
            token = jwt.decode(id_token, KeySet.import_key_set(info.keys(refresh=True)), algorithms=algorithms)
        claims = CodeIDToken(token.claims, token.header,
                             {"iss": {"essential": True, "value": auth.issuer},
                              "aud": {"essential": True, "value": auth.client_id},
                              "exp": {"essential": True}},
                             {"nonce": nonce, "client_id": auth.client_id, "access_token": access_token})
        moment = now if now is not None else int(SystemClock().now().timestamp())
        claims.validate(now=moment, leeway=LEEWAY_SECONDS)
    except (JoseError, ValueError) as exc:
        raise SignInFailed(401, NOT_VERIFIED, f"the ID token is not valid: {type(exc).__name__}: {exc}") from None
    return dict(claims)


def _userinfo(auth: Auth, url: str, access_token: str, sub: str) -> dict[str, Any]:
    """The UserInfo claims (a provider may send email and groups there rather than in the ID token); they count only
    for the same subject as the ID token (OpenID Connect Core 5.3.2)."""
    import httpx2
    try:
        response = httpx2.get(url, headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                             timeout=auth.timeout_seconds)
        response.raise_for_status()
        body = response.json()
    except (httpx2.HTTPError, ValueError) as exc:
        raise SignInFailed(502, UNREACHABLE, f"userinfo: {type(exc).__name__}: {exc}") from None
    if not isinstance(body, dict) or body.get("sub") != sub:
        raise SignInFailed(401, NOT_VERIFIED, "the userinfo answer is about another subject")
    return body


def _open_session(request: Request, mapped: Mapped) -> str:
    """The person's account (made on the first sign-in, as the mapping says), then a session of it. A disabled
    account stays disabled: the provider vouches for who someone is, not for their access here."""
    accounts = convenant(request).accounts
    user = accounts.find_user(mapped.email)
    if user is not None and _disabled(user):
        raise SignInFailed(403, DISABLED, f"account {mapped.email} is disabled", detail=mapped.email)
    if user is None:
        try:
            accounts.add_user(mapped.name, mapped.email, mapped.role, party=mapped.party, language=mapped.language)
        except ConvenantError as exc:
            if accounts.find_user(mapped.email) is None:      # not a first sign-in of the same person meanwhile
                raise SignInFailed(403, NO_ACCOUNT, f"no account made for {mapped.email}: {exc}",
                                   reason=str(exc)[:300]) from None
        log.info("account %s made on first sign-in through OpenID Connect (group %s: %s%s)", mapped.email,
                 mapped.group, mapped.role, f" of {mapped.party}" if mapped.party else "")
    try:
        return accounts.open_session(mapped.email, method="oidc")
    except ConvenantError as exc:
        raise SignInFailed(403, DISABLED, f"no session for {mapped.email}: {exc}", detail=mapped.email) from None


def _disabled(user: dict[str, Any]) -> bool:
    return user.get("enabled") is False


# -- sign-out at the provider --------------------------------------------------------------------------------------
def sign_out_redirect(request: Request) -> str | None:
    """Where the sign-out (pages.logout, after it ended the session here) sends a browser whose session began at
    the provider: this module's page that goes on to the provider's sign-out. None for anyone else."""
    auth: Auth = convenant(request).settings.auth
    session_id = request.cookies.get(SESSION_COOKIE)
    if not auth.enabled or not auth.end_session or not session_id \
            or not hmac.compare_digest(request.cookies.get(MARKER_COOKIE, ""), marker(session_id)):
        return None
    return "/sign-out/oidc"


def marker(session_id: str) -> str:
    """Names the session that began at the provider, without being its id: a later session of another kind in the
    same browser does not sign out at the provider."""
    return secret_hash(session_id)[:32]


def end_session_url(request: Request) -> str | None:
    """The provider's end_session_endpoint (RP-Initiated Logout 1.0) with the way back to the sign-in page; None
    without that endpoint, with [auth] end_session = false, or when the provider cannot be reached (signing out
    here does not wait on it)."""
    auth: Auth = convenant(request).settings.auth
    if not auth.enabled or not auth.end_session:
        return None
    try:
        endpoint = provider_of(request).discovery().get("end_session_endpoint")
    except SignInFailed:
        return None
    if not endpoint:
        return None
    back = str(request.base_url).rstrip("/") + "/sign-in"
    separator = "&" if "?" in endpoint else "?"
    return f"{endpoint}{separator}{urlencode({'client_id': auth.client_id, 'post_logout_redirect_uri': back})}"


@router.get("/sign-out/oidc", name="oidc_sign_out")
def signed_out(request: Request) -> Response:
    """After the session here has ended: on to the provider's sign-out. A page that moves on (Refresh) rather than
    a redirect, because the sign-out form's redirects may not leave this site (CSP form-action 'self')."""
    url = end_session_url(request) if request.cookies.get(MARKER_COOKIE) else None
    secure = convenant(request).settings.web.secure_cookies
    if url is None:
        response: Response = RedirectResponse("/sign-in", status_code=303)
    else:
        lang = lang_of(request)
        auth: Auth = convenant(request).settings.auth
        response = render(request, "oidc_signed_out.html", {
            "title": gettext("You are signed out", lang), "url": url, "provider": auth.provider_name})
        response.headers["Refresh"] = f"0; url={url}"
    response.delete_cookie(MARKER_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
    response.headers["Cache-Control"] = "no-store"
    return response


# -- pages ----------------------------------------------------------------------------------------------------------
UNREACHABLE = N_("%(provider)s cannot be reached at the moment, or answered in a way Convenant does not accept. "
                 "Please try again later, or tell your administrator.")
EXPIRED = N_("This sign-in took too long, or was not started in this browser. Please try again.")
NOT_VERIFIED = N_("The answer of %(provider)s could not be verified, so you are not signed in. Please try again.")
PROVIDER_REFUSED = N_("%(provider)s did not sign you in: %(reason)s")
DISABLED = N_("Your account (%(detail)s) has been disabled. Ask the secretariat if this is a mistake.")
NO_ACCOUNT = N_("No account could be made for you: %(reason)s")


def _failure(request: Request, auth: Auth, failed: SignInFailed) -> Response:
    log.warning("sign-in through %s failed (%s): %s", auth.issuer, failed.status, failed)
    lang = lang_of(request)
    params = {"provider": auth.provider_name, "detail": "", "reason": "", **failed.params}
    message = gettext(failed.message, lang, **params)
    return render(request, "oidc_error.html", {"title": gettext("Sign-in failed", lang), "message": message},
                  status=failed.status)
