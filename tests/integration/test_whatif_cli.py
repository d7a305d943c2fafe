"""`convenant whatif` and `explain` through the command line on a real database (SQLite and PostgreSQL): the
database is byte for byte (SQLite) or row for row (PostgreSQL) as it was, and the maildir stays empty."""
from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa

from tests.conftest import Cli


def fingerprint(url: str) -> str:
    """Every row of every table, in order: what `whatif` must leave as it was."""
    engine = sa.create_engine(url)
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for table in sorted(sa.inspect(conn).get_table_names()):
            rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).fetchall()
            digest.update(json.dumps([table, sorted(map(repr, rows))]).encode())
    engine.dispose()
    return digest.hexdigest()


def test_whatif_and_explain_write_nothing_and_send_nothing(tmp_path, db_url):
    c = Cli(tmp_path, db_url)
    c.run("init", "--simulation", "--start", "2025-03-01T09:00:00+01:00")
    c.run("agreements", "create", "--example", "krachtenbundeling")
    c.trigger("krachtenbundeling", "open_signing")
    c.advance("2025-03-20T12:00:00+01:00")
    for party in ("ienw", "ipo", "uvw", "vng"):
        c.trigger("krachtenbundeling", "sign", role="party", party=party, actor=f"namens {party}", on="2025-03-20")
    c.advance("2025-03-25T10:00:00+01:00")
    c.trigger("krachtenbundeling", "publish", ref="Stcrt. 2025, 11512", on="2025-03-25")
    c.advance("2026-01-15T10:00:00+01:00")
    sent = sorted(p.name for p in (c.mail / "new").iterdir()) if (c.mail / "new").exists() else []
    db_file = tmp_path / "convenant.db"
    before = (db_file.read_bytes() if db_url.startswith("sqlite") else None, fingerprint(db_url))

    out = c.run("whatif", "krachtenbundeling", "--act", "give_notice --party vng --on 2026-01-31 --ref VNG/1",
                "--until", "2026-04-01T00:00:00+02:00").data
    states = {(s["process"], s["state"], s["at"]) for s in out["states"]}
    assert ("krachtenbundeling/termination-1", "continuation_decision", "2026-03-01") in states
    assert {"process", "kind", "due", "status"} <= set(out["deadlines"][0])
    assert out["mails"] and {"date", "to", "subject"} <= set(out["mails"][0])
    why = c.run("explain", "krachtenbundeling", "publication", "--lang", "en").data
    assert (why["kind"], why["due"], why["article"], why["rule"]) == ("publication", "2025-04-03", "Art. 5.5",
                                                                     "last_signature + 14 days")
    assert why["inputs"][1]["seq"] == why["inputs"][0]["seq"] and why["steps"][2] == \
        "20 March 2025 + 14 days = 3 April 2025."
    assert c.run("explain", "krachtenbundeling", "nothing", expect=4).code == 4
    assert c.run("whatif", "krachtenbundeling", "--act", "--party vng", "--until", "2026-04-01T00:00:00+02:00",
                 expect=2).code == 2

    after = (db_file.read_bytes() if db_url.startswith("sqlite") else None, fingerprint(db_url))
    assert after == before
    now_sent = sorted(p.name for p in (c.mail / "new").iterdir()) if (c.mail / "new").exists() else []
    assert now_sent == sent
    assert c.show()["state"] == "active"          # the real agreement: no notice, no termination
