"""The migration tests of tests/unit/test_issue13_migrate.py and the amendment-deadline tests of
tests/unit/test_issue13_amendment_deadlines.py, run again on SQLite and PostgreSQL (marked `postgres`: skipped with
a reason where no server answers, failed under CONVENANT_REQUIRE_PG=1): the rows' definition_version, the moved,
cancelled and added deadlines and the one migrate record are stored and read back the same on every backend."""
from __future__ import annotations

from tests.conftest import on_backends
from tests.unit.test_issue13_amendment_deadlines import *  # noqa: F403
from tests.unit.test_issue13_migrate import *  # noqa: F403

pytestmark = on_backends("sqlite", "postgres")
