"""Sign-in through a real OpenID Connect provider (oidc-provider, tests/oidc/provider.mjs; its fixtures are in
tests/oidc/harness.py) in Debian's Chromium: the authorization code flow with PKCE, the account made from the
provider's claims on the first sign-in, an act recorded under the person's own name, a person in no mapped group
refused, a disabled account's session ended, and sign-out at both ends."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.oidc import harness
from tests.oidc.harness import USERS, OidcSite, sign_in_at_provider

pytestmark = pytest.mark.browser
# the provider and the app it signs in to (tests/oidc/harness.py); the browser is tests/browser/conftest.py's
oidc_provider = harness.oidc_provider
oidc_site = harness.oidc_site

ADA = USERS["ada"]["claims"]["email"]          # in the group "secretariaat": the secretariat
BOB = USERS["bob"]["claims"]["email"]          # in "medewerkers" only: no mapped group


def convenant(site: OidcSite, *args: str) -> dict | list:
    """The command line against the served installation's config.toml."""
    from convenant.app.cli import cli
    result = CliRunner().invoke(cli, ["--config", str(site.config), "--json", *args], catch_exceptions=False)
    assert result.exit_code == 0, f"convenant {' '.join(args)}: exit {result.exit_code}\n{result.output}"
    return json.loads(result.stdout)


def session_cookie(page) -> str | None:
    from convenant.app.web.auth import SESSION_COOKIE
    found = [c["value"] for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    return found[0] if found else None


def test_the_secretariat_signs_in_through_the_provider_and_acts_under_its_own_name(page, oidc_site):
    site = oidc_site
    assert site.app.accounts.find_user(ADA) is None
    page.goto(site.url + "/processes/krachtenbundeling")
    assert page.url.startswith(site.url + "/sign-in?next=")
    assert page.locator("#sign-in-oidc").inner_text().strip() == "Inloggen via Testprovider"

    sign_in_at_provider(page, site, "ada")
    assert page.url == site.url + "/processes/krachtenbundeling"       # back where the sign-in began
    assert "Ingelogd als Ada Jansen" in page.locator("header").inner_text()

    account = site.app.accounts.find_user(ADA)
    assert account is not None
    assert (account["name"], account["role"], account["party"], account["enabled"], account["password"]) == \
        ("Ada Jansen", "secretariat", None, True, False)
    session = site.app.accounts.people.find_session(_hash(session_cookie(page)))
    assert session["method"] == "oidc" and session["user"]["email"] == ADA

    details = page.locator("#action-open_signing")
    details.locator("summary").click()
    with page.expect_navigation():
        details.locator("form button[type=submit]").click()
    assert page.locator("#state").get_attribute("data-state") == "signing"

    last = convenant(site, "history", "krachtenbundeling")[-1]
    assert (last["trigger"], last["actor"], last["role"], last["party"]) == \
        ("open_signing", "Ada Jansen", "secretariat", None)


def test_a_person_in_no_mapped_group_is_refused_and_gets_no_account(page, oidc_site):
    site = oidc_site
    with page.expect_response(lambda r: "/sign-in/oidc/callback" in r.url) as answer:
        sign_in_at_provider(page, site, "bob")
    assert answer.value.status == 403
    message = page.locator("#oidc-error").inner_text()
    assert "U zit niet in een groep die toegang heeft tot Convenant" in message
    assert "Testprovider" in message
    assert page.locator("h1").inner_text() == "Inloggen is niet gelukt"
    assert site.app.accounts.find_user(BOB) is None
    assert session_cookie(page) is None
    page.goto(site.url + "/")
    assert page.url.startswith(site.url + "/sign-in")


def test_disabling_an_account_ends_its_session_and_refuses_the_next_sign_in(page, oidc_site):
    site = oidc_site
    sign_in_at_provider(page, site, "ada")
    assert "Ada Jansen" in page.locator("header").inner_text()
    session_id = session_cookie(page)
    assert site.app.accounts.session_principal(session_id) is not None

    convenant(site, "users", "disable", ADA)
    page.goto(site.url + "/")
    assert page.url.startswith(site.url + "/sign-in"), "a disabled account's session still works"
    assert site.app.accounts.session_principal(session_id) is None

    # the provider still knows her (its own session goes on), but convenant does not let her in again
    page.goto(site.url + "/sign-in")
    with page.expect_response(lambda r: "/sign-in/oidc/callback" in r.url) as answer:
        with page.expect_navigation(url=lambda u: u.startswith(site.url + "/sign-in/oidc/callback")):
            page.click("#sign-in-oidc")
    assert answer.value.status == 403
    assert "is uitgeschakeld" in page.locator("#oidc-error").inner_text()
    assert session_cookie(page) == session_id              # no new session: only the ended one's cookie is left
    assert site.app.accounts.session_principal(session_id) is None


def test_signing_out_ends_the_session_here_and_at_the_provider(page, oidc_site):
    site = oidc_site
    sign_in_at_provider(page, site, "ada")
    session_id = session_cookie(page)
    with page.expect_navigation(url=lambda u: u.startswith(site.provider.issuer)):
        page.locator("header form[action='/logout'] button[type=submit]").click()
    assert site.app.accounts.session_principal(session_id) is None       # ended here before leaving
    with page.expect_navigation(url=lambda u: u.startswith(site.url + "/sign-in")):
        page.click("button[name=logout]")                               # the provider's own confirmation
    # the provider's session has ended too: signing in again asks for the password again
    with page.expect_navigation(url=lambda u: u.startswith(site.provider.issuer + "/interaction/")):
        page.click("#sign-in-oidc")


def _hash(session_id: str | None) -> str:
    from convenant.engine.accounts import secret_hash
    assert session_id
    return secret_hash(session_id)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_sign_in_button_and_the_refusal_meet_wcag_aa(browser, oidc_site, lang):
    from tests.browser.conftest import axe_violations, context_for
    site = oidc_site
    context = context_for(browser, 375, lang)       # CSP bypassed only to inject axe-core
    page = context.new_page()
    try:
        page.goto(f"{site.url}/sign-in?lang={lang}")
        button = page.locator("#sign-in-oidc")
        assert button.inner_text().strip() == ("Inloggen via Testprovider" if lang == "nl" else
                                               "Sign in with Testprovider")
        assert axe_violations(page) == []
        with page.expect_response(lambda r: "/sign-in/oidc/callback" in r.url) as answer:
            sign_in_at_provider(page, site, "bob")
        assert answer.value.status == 403
        assert ("U zit niet in een groep" if lang == "nl" else "You are not in any group") in \
            page.locator("#oidc-error").inner_text()
        assert axe_violations(page) == []
    finally:
        context.close()
