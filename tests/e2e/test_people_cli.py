"""`convenant users add|list|disable|set-password` and `tokens create|list` end to end (in-process, --json):
accounts by email with their fields, bad input refused with exit 2 naming the field and nothing changed, the
password read from standard input only, and tokens that keep every field INTERFACE.md names."""
from __future__ import annotations

import json

import pytest

from tests.conftest import Cli

PASSWORD = "correct horse battery staple"


def convenant(cli: Cli, *args: str, input: str | None = None, expect: int = 0):
    from convenant.app.cli import cli as command
    done = cli.runner.invoke(command, ["--config", str(cli.config), "--json", *args], input=input,
                             catch_exceptions=False)
    assert done.exit_code == expect, (args, done.exit_code, done.stdout, done.stderr)
    return (json.loads(done.stdout) if done.stdout.strip() else None), done.stderr


@pytest.fixture
def people(cli: Cli) -> Cli:
    cli.run("init")
    cli.run("agreements", "create", "--example", "krachtenbundeling")
    return cli


def test_users_add_list_disable(people):
    made, _ = convenant(people, "users", "add", "--name", "Anna de Vries", "--email", "Anna@Example.org",
                        "--role", "party", "--party", "ipo", "--language", "en", "--password-stdin",
                        input=PASSWORD + "\n")
    assert {k: made[k] for k in ("email", "name", "role", "party", "language", "enabled", "password")} == {
        "email": "anna@example.org", "name": "Anna de Vries", "role": "party", "party": "ipo", "language": "en",
        "enabled": True, "password": True}
    convenant(people, "users", "add", "--name", "Beheer", "--email", "beheer@example.org", "--role", "administrator")
    listed, _ = convenant(people, "users", "list")
    assert [(u["email"], u["role"], u["password"]) for u in listed] == [
        ("anna@example.org", "party", True), ("beheer@example.org", "administrator", False)]
    gone, _ = convenant(people, "users", "disable", "ANNA@example.org")
    assert gone["enabled"] is False and gone["disabled_at"]
    again, _ = convenant(people, "users", "disable", "anna@example.org")        # changes nothing
    assert again["disabled_at"] == gone["disabled_at"]
    _, err = convenant(people, "users", "disable", "nobody@example.org", expect=4)
    assert "nobody@example.org" in err
    _, err = convenant(people, "users", "add", "--name", "Anna", "--email", "anna@example.org", "--role", "auditor",
                       expect=3)
    assert "exists already" in err
    convenant(people, "users", "set-password", "beheer@example.org", input=PASSWORD + "\n")
    assert [u["password"] for u in convenant(people, "users", "list")[0]] == [True, True]
    # the human output names the columns
    human = people.runner.invoke(__import__("convenant.app.cli", fromlist=["cli"]).cli,
                                 ["--config", str(people.config), "users", "list"])
    assert human.exit_code == 0 and "email" in human.stdout and "beheer@example.org" in human.stdout


@pytest.mark.parametrize("args, field", [
    (("--name", "X", "--email", "not-an-address", "--role", "secretariat"), "email"),
    (("--name", "X", "--email", "x@example.org", "--role", "minister"), "role"),
    (("--name", "X", "--email", "x@example.org", "--role", "party", "--party", "gelderland"), "party"),
    (("--name", "X", "--email", "x@example.org", "--role", "party"), "party"),
    (("--name", "X", "--email", "x@example.org", "--role", "auditor", "--language", "fr"), "language"),
    (("--name", " ", "--email", "x@example.org", "--role", "auditor"), "name"),
])
def test_bad_input_is_exit_2_naming_the_field_and_adds_nobody(people, args, field):
    _, err = convenant(people, "users", "add", *args, expect=2)
    assert f"[{field}]" in err
    assert convenant(people, "users", "list")[0] == []


def test_a_password_comes_from_standard_input_only_and_is_checked(people):
    _, err = convenant(people, "users", "add", "--name", "X", "--email", "x@example.org", "--role", "auditor",
                       "--password-stdin", input="short\n", expect=2)
    assert "[password]" in err and convenant(people, "users", "list")[0] == []
    _, err = convenant(people, "users", "add", "--name", "X", "--email", "x@example.org", "--role", "auditor",
                       "--password-stdin", input="", expect=2)
    assert "[password]" in err
    _, err = convenant(people, "users", "set-password", "nobody@example.org", input=PASSWORD + "\n", expect=4)


def test_tokens_keep_interfaces_fields_and_gain_owner_expiry_scope(people):
    convenant(people, "users", "add", "--name", "Anna", "--email", "anna@example.org", "--role", "secretariat")
    made, _ = convenant(people, "tokens", "create", "--name", "sync", "--role", "party", "--party", "ipo",
                        "--owner", "anna@example.org", "--expires", "2099-12-31", expect=2)   # beyond ten years
    made, _ = convenant(people, "tokens", "create", "--name", "sync", "--role", "party", "--party", "ipo",
                        "--owner", "anna@example.org", "--days", "90", "--scope", "read")
    assert {"name", "role", "party", "token"} <= set(made) and (made["name"], made["role"], made["party"]) == \
        ("sync", "party", "ipo")
    assert made["owner"] == "anna@example.org" and made["scope"] == "read" and made["token"].startswith("cvn_")
    for args, field in ((("--owner", "bob@example.org"), "owner"), (("--scope", "admin"), "scope"),
                        (("--days", "0"), "days"), (("--expires", "soon"), "expires"),
                        (("--role", "boss"), "role")):
        base = ["--name", "other", "--role", "secretariat"]
        if args[0] == "--role":
            base = ["--name", "other"]
        _, err = convenant(people, "tokens", "create", *base, *args, expect=2)
        assert f"[{field}]" in err
    listed, _ = convenant(people, "tokens", "list")
    assert [t["name"] for t in listed] == ["sync"]
    assert {"owner", "scope", "expires_at", "last_used_at", "created_at", "revoked_at"} <= set(listed[0])
    assert listed[0]["last_used_at"] is None
