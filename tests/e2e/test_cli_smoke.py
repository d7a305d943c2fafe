"""The main line through the CLI on both backends (a quick check that wiring holds together)."""
from tests.conftest import active


def test_main_line_both_backends(cli_any):
    c = active(cli_any)
    doc = c.show()
    assert doc["effective_from"] == "2025-03-21" and doc["ends_on"] == "2027-01-01"
    assert c.deadline("publication")["status"] == "met"
    c.advance("2027-01-01T00:30:00+01:00")
    assert c.show()["state"] == "ended"
    assert c.run("audit", "verify").data["intact"] is True
