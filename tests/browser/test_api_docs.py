"""The interactive API documentation (/api/v1/docs) in a real Chromium: it renders every operation of the OpenAPI
document from the package's own Swagger UI files, and no request leaves the server (no CDN, no validator badge,
no font or favicon from elsewhere); the page's Content-Security-Policy refuses anything else besides."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_the_docs_load_with_no_outside_request(site, page):
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    response = page.goto(f"{site.url}/api/v1/docs")
    assert response is not None and response.ok
    assert response.headers["api-version"] == "1.1.0"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary-path", timeout=30000)   # the operations, drawn from the document
    page.wait_for_load_state("networkidle")

    paths = page.locator(".opblock-summary-path").all_inner_texts()
    doc = page.request.get(f"{site.url}/api/v1/openapi.json").json()
    assert len(paths) == sum(len(ops) for ops in doc["paths"].values())
    assert any("/api/v1/processes/{process_id}/triggers/{trigger}" in p.replace("\u200b", "") for p in paths)
    assert page.locator("button.authorize").count() == 1           # the bearer scheme offers to authorise

    assert requests and all(url.startswith(site.url + "/") for url in requests), \
        [u for u in requests if not u.startswith(site.url + "/")]
    assert f"{site.url}/static/vendor/swagger-ui/swagger-ui-bundle.js" in requests
    assert f"{site.url}/api/v1/openapi.json" in requests
    assert not problems, problems


def test_the_old_docs_address_leads_there(site, page):
    response = page.goto(f"{site.url}/api/docs")
    assert response is not None and response.ok and page.url == f"{site.url}/api/v1/docs"
