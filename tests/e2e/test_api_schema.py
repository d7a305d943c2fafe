"""schemathesis against /api/v1/openapi.json, in-process (ASGI) on a real SQLite database holding the example
agreement, signed: no server error anywhere, and every answer - status, media type, headers, body - is what the
document declares for it (problem details for errors, `API-Version` on each)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.e2e.test_api import KB, Api

EXAMPLES = {"secretariat": 25, "auditor": 8, "ipo": 8, "administrator": 10}   # per operation; the whole test stays well under 90 s
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance")


@pytest.fixture(scope="module")
def signed_api(tmp_path_factory) -> Api:
    api = Api(tmp_path_factory.mktemp("schema")).signed()
    api.tokens["administrator"] = api.app.accounts.create_token("administrator", "administrator", None)["token"]
    return api


@pytest.mark.parametrize("who", list(EXAMPLES))
def test_every_answer_is_what_the_document_declares(signed_api, who):
    import schemathesis
    from schemathesis import checks

    api = signed_api
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api.web)
    used = [getattr(checks, name) for name in CHECKS]
    failures: list[str] = []
    statuses: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES[who], deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            response = case.call(headers=api.h(who))
            statuses.append(response.status_code)
            try:
                case.validate_response(response, checks=used, headers=api.h(who))
            except BaseException as exc:  # a failed check (a FailureGroup): collect it, with its request
                failures.append(f"{case.method} {case.formatted_path} {case.query} {case.body!r:.200}: "
                                f"{response.status_code} {str(exc)[:600]}")

        check()
    assert not failures, "\n\n".join(failures[:6])
    assert operations >= 25 and 200 in statuses and any(s >= 400 for s in statuses)  # it explored
    assert not [s for s in statuses if s >= 500]
    assert api.get("/api/v1/audit/verify", "auditor").json()["intact"] is True


# Requests that succeed, whose bodies random data seldom reaches: each answer checked against its schema too.
REAL = [
    ("GET", "/api/v1", {}, {}, None, 200),
    ("GET", "/api/v1/processes", {}, {"page": 1, "pageSize": 1}, None, 200),
    ("GET", "/api/v1/processes/{process_id}", {"process_id": KB}, {}, None, 200),
    ("GET", "/api/v1/processes/{process_id}/history", {"process_id": KB}, {"pageSize": 2, "page": 2}, None, 200),
    ("GET", "/api/v1/processes/{process_id}/history", {"process_id": KB}, {"format": "csv"}, None, 200),
    ("GET", "/api/v1/processes/{process_id}/deadlines", {"process_id": KB}, {}, None, 200),
    ("GET", "/api/v1/processes/{process_id}/deadlines/{kind}/explanation", {"process_id": KB, "kind": "publication"},
     {"lang": "nl"}, None, 200),
    ("GET", "/api/v1/deadlines", {}, {"explain": "true", "all": "true"}, None, 200),
    ("POST", "/api/v1/processes/{process_id}/whatif", {"process_id": KB}, {},
     {"acts": [{"trigger": "publish", "ref": "Stcrt. 2025, 1"}, "give_notice --party vng --on 2026-01-31"],
      "until": "2026-04-01T00:00:00+02:00"}, 200),
    ("POST", "/api/v1/processes/{process_id}/corrections", {"process_id": KB}, {},
     {"seq": 3, "reason": "typo", "set": {"on": "2025-03-19"}, "dryRun": True}, 200),
    ("POST", "/api/v1/processes/{process_id}/corrections", {"process_id": KB}, {},
     {"seq": 3, "reason": "typo", "set": {"on": "2025-03-32"}, "dryRun": True}, 400),
    ("GET", "/api/v1/notifications", {}, {"status": "pending", "process": KB}, None, 200),
    ("GET", "/api/v1/notifications/{notification_id}", {"notification_id": 1}, {}, None, 200),
    ("POST", "/api/v1/notifications/{notification_id}/deliveries", {"notification_id": 1}, {}, None, 409),
    ("GET", "/api/v1/refusals", {}, {}, None, 200),
    ("GET", "/api/v1/audit/verify", {}, {}, None, 200),
    ("GET", "/api/v1/audit/export", {}, {"format": "csv"}, None, 200),
    ("GET", "/api/v1/log/checkpoints", {}, {}, None, 200),
    ("GET", "/api/v1/users", {}, {}, None, 403),
    ("GET", "/api/v1/processes/{process_id}", {"process_id": KB}, {"asRecordedOn": "2025-03-20"}, None, 200),
    ("GET", "/api/v1/workflows", {}, {}, None, 200),
    ("GET", "/api/v1/workflows/{name}", {"name": "stedendriehoek"}, {}, None, 200),
    ("GET", "/api/v1/workflows/{name}", {"name": KB}, {"diagram": "mermaid"}, None, 200),
    ("GET", "/api/v1/clock", {}, {}, None, 200),
    ("GET", "/api/v1/progress", {}, {}, None, 200),
    ("GET", "/api/v1/processes/{process_id}/progress", {"process_id": KB}, {}, None, 200),
    ("GET", "/api/v1/processes/{process_id}/parties/{party}", {"process_id": KB, "party": "ez"}, {}, None, 200),
    ("PUT", "/api/v1/processes/{process_id}/parties/{party}/contacts", {"process_id": KB, "party": "ipo"}, {},
     {"contacts": [{"name": "R.F. Douwstra", "email": "ipo@example.org", "language": "en"}], "reason": "English"}, 200),
    ("POST", "/api/v1/processes/{process_id}/triggers/{trigger}", {"process_id": KB, "trigger": "publish"}, {},
     {"ref": "Stcrt. 2025, 11512"}, 200),
    ("POST", "/api/v1/processes/{process_id}/triggers/{trigger}", {"process_id": KB, "trigger": "publish"}, {},
     {"ref": "again"}, 409),
]


def test_real_answers_are_what_the_document_declares(tmp_path):
    import schemathesis
    from schemathesis import checks

    api = Api(tmp_path).signed()
    api.advance("2025-03-21T12:00:00+01:00")            # the confirmations go out, a checkpoint is signed
    api.fire(KB, "sign", body={"party": "ipo"})         # refused (signed already): a refusal to list
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api.web)
    used = [getattr(checks, name) for name in CHECKS]
    for method, path, params, query, body, status in REAL:
        operation = schema[path][method]
        kwargs = {"body": body} if body is not None else {}
        case = operation.Case(path_parameters=params, query=query, **kwargs)
        response = case.call(headers=api.h("secretariat"))
        assert response.status_code == status, (method, path, response.text[:500])
        case.validate_response(response, checks=used, headers=api.h("secretariat"))
        assert response.headers["api-version"] == ["1.1.0"]
