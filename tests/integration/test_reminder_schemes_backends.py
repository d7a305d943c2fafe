"""The reminder-scheme tests of tests/unit/test_issue13_reminder_schemes.py run again on SQLite and PostgreSQL
(marked `postgres`: skipped with a reason where no server answers, failed under CONVENANT_REQUIRE_PG=1): the
agreement's amended scheme (a fact holding a table), the re-planned steps of its open deadlines and the migrate and
apply_amendment records are stored and read back the same on every backend, and `audit replay` says equal."""
from __future__ import annotations

from tests.conftest import on_backends
from tests.unit.test_issue13_reminder_schemes import *  # noqa: F403

pytestmark = on_backends("sqlite", "postgres")
