"""Sign-in through an OpenID Connect provider, without the provider: config.toml [auth] validated with errors that
name the key, the mapping from claims to an account (app/oidc_config.py), the checks of an ID token
(app/web/oidc.py verify_id_token, on tokens signed here) and the callback's refusals before any provider is asked.
The whole flow against a real provider is tests/browser/test_oidc_sign_in.py."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from convenant.app.bootstrap import config_from_dict
from convenant.app.oidc_config import NO_EMAIL, NO_GROUP, UNVERIFIED_EMAIL, Auth, Mapped, Refused, map_claims
from convenant.engine.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://login.example.org/realms/rijk"
GROUPS = {"secretariaat": {"role": "secretariat"}, "uvw": {"role": "party", "party": "uvw"},
          "audit": {"role": "auditor"}}


def auth(**changes) -> Auth:
    raw = {"issuer": ISSUER, "client_id": "convenant", "groups": GROUPS, **changes}
    return config_from_dict({"auth": raw}).auth


# -- config.toml [auth] ----------------------------------------------------------------------------------------------
def test_without_an_issuer_nobody_signs_in_through_a_provider():
    assert config_from_dict({}).auth.enabled is False
    shipped = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    assert config_from_dict(shipped).auth.enabled is False       # the shipped file documents [auth], commented


def test_a_complete_auth_table_is_read():
    a = auth(client_secret_env="CONVENANT_OIDC_SECRET", scopes=["openid", "email", "groups"],
             provider_name="Rijksportaal", email_claim="upn", groups_claim="roles")
    assert a.enabled and a.client_id == "convenant" and a.scopes == ["openid", "email", "groups"]
    assert list(a.groups) == ["secretariaat", "uvw", "audit"]                 # config order: first match decides
    assert a.groups["uvw"].role == "party" and a.groups["uvw"].party == "uvw"
    assert (a.email_claim, a.groups_claim, a.name_claim) == ("upn", "roles", "name")
    assert auth().scopes == ["openid", "email", "profile"] and auth().end_session is True


@pytest.mark.parametrize(("raw", "key", "words"), [
    ({"issuer": ISSUER, "groups": GROUPS}, "auth.client_id", "issuer needs client_id"),
    ({"client_id": "convenant"}, "auth.client_id", "goes with issuer"),
    ({"issuer": ISSUER, "client_id": "c"}, "auth.groups", "nobody could sign in"),
    ({"issuer": "http://login.example.org", "client_id": "c", "groups": GROUPS}, "auth.issuer", "https://"),
    ({"issuer": "login.example.org", "client_id": "c", "groups": GROUPS}, "auth.issuer", "https://"),
    ({"issuer": ISSUER, "client_id": "c", "groups": {"x": {"role": "boss"}}}, "auth.groups.x.role", "unknown role"),
    ({"issuer": ISSUER, "client_id": "c", "groups": {"x": {"role": "party"}}}, "auth.groups.x", "needs a party"),
    ({"issuer": ISSUER, "client_id": "c", "groups": {"x": {"role": "secretariat", "party": "uvw"}}}, "auth.groups.x",
     "party goes with role party only"),
    ({"issuer": ISSUER, "client_id": "c", "groups": {"x": {"role": "auditor", "rol": "x"}}}, "auth.groups.x.rol",
     "did you mean 'role'"),
    ({"issuer": ISSUER, "client_id": "c", "groups": GROUPS, "scopes": ["email"]}, "auth.scopes", "openid"),
    ({"issuer": ISSUER, "client_id": "c", "groups": GROUPS, "client_secret_env": "s3cr3t value!"},
     "auth.client_secret_env", "environment variable"),
    ({"issuer": ISSUER, "client_id": "c", "groups": GROUPS, "redirect_uri": "https://x.org/elsewhere"},
     "auth.redirect_uri", "/sign-in/oidc/callback"),
    ({"issuer": ISSUER, "client_id": "c", "groups": GROUPS, "isuer": ISSUER}, "auth.isuer", "did you mean 'issuer'"),
    ({"issuer": ISSUER, "client_id": "c", "groups": GROUPS, "timeout_seconds": 0}, "auth.timeout_seconds", ""),
])
def test_a_bad_auth_table_is_bad_input_naming_the_key(raw, key, words):
    with pytest.raises(BadInput) as caught:
        config_from_dict({"auth": raw})
    assert caught.value.field == key
    assert key in str(caught.value) and words in str(caught.value)


def test_an_issuer_over_plain_http_is_allowed_on_this_machine_only():
    assert auth(issuer="http://127.0.0.1:8080").issuer == "http://127.0.0.1:8080"
    assert auth(issuer="http://localhost:8080/realms/test").enabled


def test_the_client_secret_is_read_from_the_environment_it_names(monkeypatch):
    from convenant.app.oidc_config import MissingSecret
    a = auth(client_secret_env="CONVENANT_TEST_SECRET_OF_UNIT")
    monkeypatch.delenv("CONVENANT_TEST_SECRET_OF_UNIT", raising=False)
    with pytest.raises(MissingSecret, match="CONVENANT_TEST_SECRET_OF_UNIT"):
        a.client_secret()
    monkeypatch.setenv("CONVENANT_TEST_SECRET_OF_UNIT", "geheim")
    assert a.client_secret() == "geheim"
    assert auth().client_secret() is None                 # a public client: PKCE alone


# -- claims -> account -----------------------------------------------------------------------------------------------
def test_the_first_mapped_group_decides_role_and_party():
    a = auth()
    got = map_claims({"email": "Ada.Jansen@Example.org", "name": "Ada Jansen", "groups": ["staf", "secretariaat"]}, a)
    assert got == Mapped(email="ada.jansen@example.org", name="Ada Jansen", role="secretariat", party=None,
                         group="secretariaat", language="nl")
    both = map_claims({"email": "s@uvw.nl", "groups": ["uvw", "secretariaat"]}, a)
    assert isinstance(both, Mapped) and (both.role, both.group) == ("secretariat", "secretariaat")  # config order
    party = map_claims({"email": "s@uvw.nl", "name": "S.E. Mager", "groups": ["uvw"], "locale": "en-GB"}, a)
    assert isinstance(party, Mapped)
    assert (party.role, party.party, party.language) == ("party", "uvw", "en")


def test_a_person_in_no_mapped_group_is_refused():
    a = auth()
    assert map_claims({"email": "bob@example.org", "groups": ["medewerkers"]}, a) == Refused(NO_GROUP, "medewerkers")
    assert map_claims({"email": "bob@example.org"}, a) == Refused(NO_GROUP, "")
    assert map_claims({"email": "bob@example.org", "groups": "Secretariaat"}, a).reason == NO_GROUP  # exact values


def test_groups_as_one_string_and_claims_of_other_names():
    a = auth(email_claim="upn", groups_claim="roles", name_claim="display_name")
    got = map_claims({"upn": "c.jansen@minienw.nl", "roles": "lezers audit", "display_name": "C.A. Jansen",
                      "email": "other@example.org"}, a)
    assert isinstance(got, Mapped)
    assert (got.email, got.name, got.role) == ("c.jansen@minienw.nl", "C.A. Jansen", "auditor")


def test_no_email_or_an_unverified_one_is_refused_and_a_missing_name_is_the_email():
    a = auth()
    assert map_claims({"groups": ["secretariaat"]}, a) == Refused(NO_EMAIL, "email")
    assert map_claims({"email": "not an address", "groups": ["secretariaat"]}, a).reason == NO_EMAIL
    assert map_claims({"email": "x@example.org", "email_verified": False, "groups": ["secretariaat"]}, a) == \
        Refused(UNVERIFIED_EMAIL, "x@example.org")
    got = map_claims({"email": "x@example.org", "email_verified": True, "groups": ["secretariaat"], "name": " "}, a)
    assert isinstance(got, Mapped) and got.name == "x@example.org"


# -- the ID token ----------------------------------------------------------------------------------------------------
NOW = 1_780_000_000          # a fixed moment (2026-05-28): the checks take `now`, no clock is read here
NONCE = "n-0S6_WzA2Mj"


@pytest.fixture(scope="module")
def keys():
    from joserfc.jwk import RSAKey
    return RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"}), \
        RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})


def provider(key):
    from convenant.app.web.oidc import ProviderInfo
    a = auth()
    info = ProviderInfo(a)
    info.metadata = {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/auth", "token_endpoint": f"{ISSUER}/t",
                     "jwks_uri": f"{ISSUER}/jwks", "id_token_signing_alg_values_supported": ["RS256", "HS256"]}
    info.jwks = {"keys": [key.as_dict(private=False)]}
    return info, a


def id_token(key, alg: str = "RS256", **changes) -> str:
    from joserfc import jwt
    claims = {"iss": ISSUER, "sub": "ada", "aud": "convenant", "iat": NOW - 10, "exp": NOW + 600, "nonce": NONCE,
              "email": "ada.jansen@example.org", **changes}
    return jwt.encode({"alg": alg, "kid": "k1"}, {k: v for k, v in claims.items() if v is not None}, key)


def test_a_valid_id_token_gives_its_claims(keys):
    from convenant.app.web.oidc import verify_id_token
    info, a = provider(keys[0])
    claims = verify_id_token(info, a, id_token(keys[0]), nonce=NONCE, access_token=None, now=NOW)
    assert claims["sub"] == "ada" and claims["email"] == "ada.jansen@example.org"


@pytest.mark.parametrize(("changes", "why"), [
    ({"iss": "https://evil.example.org"}, "iss"),
    ({"aud": "another-client"}, "aud"),
    ({"aud": ["another-client", "convenant"]}, "azp"),            # several audiences: azp must name us
    ({"nonce": "replayed"}, "nonce"),
    ({"nonce": None}, "nonce"),
    ({"exp": NOW - 61}, "exp"),                                    # past the leeway of 60 s
    ({"exp": None}, "exp"),
    ({"sub": None}, "sub"),
])
def test_an_id_token_that_fails_a_check_is_refused(keys, changes, why):
    from convenant.app.web.oidc import SignInFailed, verify_id_token
    info, a = provider(keys[0])
    with pytest.raises(SignInFailed) as caught:
        verify_id_token(info, a, id_token(keys[0], **changes), nonce=NONCE, access_token=None, now=NOW)
    assert caught.value.status == 401 and why in str(caught.value)


def test_an_id_token_signed_by_another_key_or_with_the_client_secret_is_refused(keys):
    from joserfc.jwk import OctKey

    from convenant.app.web.oidc import SignInFailed, verify_id_token
    info, a = provider(keys[0])
    with pytest.raises(SignInFailed, match="BadSignature"):
        verify_id_token(info, a, id_token(keys[1]), nonce=NONCE, access_token=None, now=NOW)
    secret = OctKey.import_key("the-client-secret-of-convenant-32b")
    with pytest.raises(SignInFailed):                      # HS256: announced by the provider, never accepted here
        verify_id_token(info, a, id_token(secret, alg="HS256"), nonce=NONCE, access_token=None, now=NOW)
    with pytest.raises(SignInFailed, match="no id_token"):
        verify_id_token(info, a, None, nonce=NONCE, access_token=None, now=NOW)


# -- the callback refuses before it asks the provider ------------------------------------------------------------------
@pytest.fixture
def client(tmp_path):
    from fastapi.testclient import TestClient

    from convenant.app.web.server import create_app
    from tests.conftest import build_app
    app = build_app(f"sqlite:///{tmp_path / 'convenant.db'}", tmp_path,
                    extra={"auth": {"issuer": ISSUER, "client_id": "convenant", "groups": GROUPS,
                                    "provider_name": "Rijksportaal"}})
    with TestClient(create_app(app, scheduler=False), base_url="http://127.0.0.1") as c:
        yield c
    app.store.dispose()


def pending_cookie(state: str) -> str:
    from convenant.app.web.oidc import _encode
    return _encode({"state": state, "nonce": "n", "verifier": "v" * 43, "next": "/"})


def test_the_sign_in_page_offers_the_provider(client):
    page = client.get("/sign-in")
    assert page.status_code == 200
    assert 'id="sign-in-oidc"' in page.text and "Inloggen via Rijksportaal" in page.text


def test_a_callback_without_this_browsers_sign_in_is_refused(client):
    from convenant.app.web.oidc import PENDING_COOKIE
    answer = client.get("/sign-in/oidc/callback?code=abc&state=xyz", follow_redirects=False)
    assert answer.status_code == 400 and "niet in deze browser begonnen" in answer.text
    client.cookies.set(PENDING_COOKIE, pending_cookie("the-real-state"), path="/sign-in/oidc")
    answer = client.get("/sign-in/oidc/callback?code=abc&state=forged", follow_redirects=False)
    assert answer.status_code == 400 and "niet in deze browser begonnen" in answer.text
    assert "convenant_session" not in answer.headers.get("set-cookie", "")


def test_a_refusal_by_the_provider_is_a_page_saying_so(client):
    from convenant.app.web.oidc import PENDING_COOKIE
    client.cookies.set(PENDING_COOKIE, pending_cookie("s1"), path="/sign-in/oidc")
    answer = client.get("/sign-in/oidc/callback?error=access_denied&error_description=End-User+aborted&state=s1")
    assert answer.status_code == 403
    assert "Rijksportaal heeft u niet ingelogd: End-User aborted" in answer.text
    mixed = client.get("/sign-in/oidc/callback?code=c&state=s1&iss=https%3A%2F%2Fevil.example.org")
    assert mixed.status_code == 400 and "kon niet worden gecontroleerd" in mixed.text


def test_without_a_provider_the_routes_do_not_exist(tmp_path):
    from fastapi.testclient import TestClient

    from convenant.app.web.server import create_app
    from tests.conftest import build_app
    app = build_app(f"sqlite:///{tmp_path / 'convenant.db'}", tmp_path)
    with TestClient(create_app(app, scheduler=False)) as c:
        assert c.get("/sign-in/oidc", follow_redirects=False).status_code == 404
        assert c.get("/sign-in/oidc/callback", follow_redirects=False).status_code == 404
        assert 'id="sign-in-oidc"' not in c.get("/sign-in").text
    app.store.dispose()


def test_the_shipped_config_documents_every_key_of_auth():
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    section = text[text.index("# [auth]"):]
    for key in set(Auth.model_fields) - {"groups"}:                # [auth.groups] is a table of its own
        assert f"# {key} = " in section, f"config.toml does not document [auth] {key}"
    assert "# [auth.groups]" in section and '{ role = "party", party = "uvw" }' in section
    uncommented = tomllib.loads("\n".join(line[2:] for line in section.splitlines() if line.startswith("# ")
                                          and not line.startswith("#  ")))
    assert config_from_dict(uncommented).auth.enabled          # the commented example is itself valid


def test_sign_out_goes_on_to_the_provider_only_for_the_session_that_began_there():
    from types import SimpleNamespace

    from starlette.requests import Request

    from convenant.app.web.auth import SESSION_COOKIE
    from convenant.app.web.oidc import MARKER_COOKIE, marker, sign_out_redirect

    def request(cookies: dict[str, str], a: Auth) -> Request:
        app = SimpleNamespace(state=SimpleNamespace(convenant=SimpleNamespace(settings=SimpleNamespace(auth=a))))
        header = "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()
        return Request({"type": "http", "method": "POST", "path": "/logout", "headers": [(b"cookie", header)],
                        "app": app})

    began_there = {SESSION_COOKIE: "cvs_one", MARKER_COOKIE: marker("cvs_one")}
    assert sign_out_redirect(request(began_there, auth())) == "/sign-out/oidc"
    # a later session of another kind (a password) in the same browser, the marker of an older one left
    assert sign_out_redirect(request({SESSION_COOKIE: "cvs_two", MARKER_COOKIE: marker("cvs_one")}, auth())) is None
    assert sign_out_redirect(request({SESSION_COOKIE: "cvs_one"}, auth())) is None
    assert sign_out_redirect(request(began_there, auth(end_session=False))) is None
    assert sign_out_redirect(request(began_there, config_from_dict({}).auth)) is None


def test_a_provider_that_does_not_answer_is_a_page_saying_so(tmp_path):
    import socket

    from fastapi.testclient import TestClient

    from convenant.app.web.server import create_app
    from tests.conftest import build_app
    with socket.socket() as s:                   # a port nobody listens on: the connection is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = build_app(f"sqlite:///{tmp_path / 'convenant.db'}", tmp_path,
                    extra={"auth": {"issuer": f"http://127.0.0.1:{port}", "client_id": "convenant", "groups": GROUPS,
                                    "provider_name": "Rijksportaal", "timeout_seconds": 2}})
    with TestClient(create_app(app, scheduler=False)) as c:
        answer = c.get("/sign-in/oidc", follow_redirects=False)
        assert answer.status_code == 502
        assert "Rijksportaal is op dit moment niet bereikbaar" in answer.text
        assert "convenant_oidc=" not in answer.headers.get("set-cookie", "")
    app.store.dispose()
