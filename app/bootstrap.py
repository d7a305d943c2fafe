"""The one place that reads config.toml and knows every concrete part: it picks the store (storage/), the
clock, the renderer and the mail transport (notifications/) and wires the service layer (engine/) on them. The
ways in (app/cli.py, app/web/) receive an `App` and talk to its service layer only."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from convenant import workflows
from convenant.app.oidc_config import Auth
from convenant.engine.accounts import Accounts, SessionPolicy
from convenant.engine.clock import DatabaseClock
from convenant.engine.config import Settings, Strict, check_reminder_kinds, load_settings, settings_from_dict
from convenant.engine.definitions import WorkflowDefinition
from convenant.engine.errors import BadInput, ConvenantError
from convenant.engine.notify import governance_contacts
from convenant.engine.ports import Clock
from convenant.engine.queries import Queries
from convenant.engine.service import Service
from convenant.engine.whatif import Fork
from convenant.notifications.settings import Mail
from convenant.storage.outbox import OutboxRepo
from convenant.storage.people import SqlPeople, SqlTokens
from convenant.storage.queries import SqlReadModels
from convenant.storage.settings import Database
from convenant.storage.store import SqlStore, check_url, head_revision

if TYPE_CHECKING:
    from convenant.notifications.dispatcher import Dispatcher


def render_subject(*args: Any, **kwargs: Any) -> str:
    """The subject of a queued notification. The renderer (Jinja2, icalendar) is imported at the first mail, not
    at start: `convenant show` and the other reads render none."""
    from convenant.notifications.render import render_subject as render
    return render(*args, **kwargs)


# -- config.toml: the engine's settings joined by the installation's own, each defined where it is used --------
class Web(Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    secure_cookies: bool = False
    # people's sessions and local sign-in (engine/accounts.py)
    session_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 12
    session_idle_minutes: Annotated[float, Field(gt=0, le=24 * 60 * 30)] = 120
    sign_in_attempts: Annotated[int, Field(ge=1, le=1000)] = 5
    sign_in_attempts_per_address: Annotated[int, Field(ge=1, le=100000)] = 20
    sign_in_window_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 15


class Config(Settings):
    """The whole of config.toml, validated on load with errors that name the key."""
    database: Database = Field(default_factory=Database)
    mail: Mail = Field(default_factory=Mail)
    web: Web = Field(default_factory=Web)
    auth: Auth = Field(default_factory=Auth)       # sign-in through an OpenID Connect provider (app/oidc_config.py)


def load_config(path: str | os.PathLike | None) -> Config:
    return load_settings(path, model=Config)


def config_from_dict(raw: dict, *, base_dir: Path = Path("."), source: str = "config.toml") -> Config:
    return settings_from_dict(raw, base_dir=base_dir, source=source, model=Config)


class NotInitialised(ConvenantError):
    exit_code = 1
    http_status = 503
    kind = "not_initialised"


class Unavailable(ConvenantError):
    """The database named in [database] url cannot be reached (a closed port, a wrong password, a missing
    folder): exit 1 with one line naming the database and why."""
    exit_code = 1
    http_status = 503
    kind = "unavailable"


def explain_failure(exc: BaseException, database_url: str | None = None) -> ConvenantError | None:
    """The error boundaries' view of an exception from a part the ways in do not know (storage): an
    unreachable database as one line that names it and says why; text a database refused as bad input.
    None for anything else (a fault, reported with a correlation id)."""
    import sqlalchemy as sa
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        url = database_url
        orig = getattr(exc, "orig", None) or exc
        why = " ".join(str(orig).split())[:300] or type(orig).__name__
        where = _masked(url) if url else "the database"
        return Unavailable(f"cannot reach {where}: {why}")
    if isinstance(exc, sa.exc.DataError):
        why = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        return BadInput(f"the database refused a value: {why}")
    return None


def _masked(url: str) -> str:
    try:
        import sqlalchemy as sa
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # a URL that does not parse is shown as the config gave it
        return url


@dataclass
class App:
    settings: Config
    store: SqlStore          # for bootstrap and the tests only: the ways in use service, queries and accounts
    service: Service         # commands
    queries: Queries         # read models
    accounts: Accounts       # people, their sessions, API tokens
    outbox: OutboxRepo
    workflows: dict[str, WorkflowDefinition]
    config_path: Path | None

    def dispatcher(self) -> Dispatcher:
        from convenant.notifications.dispatcher import Dispatcher, RetryPolicy
        from convenant.notifications.transports import make_transport
        mail = self.settings.mail
        try:
            transport = make_transport(self.settings.mail.transport_config(self.settings.base_dir),
                                       base_dir=self.settings.base_dir)
        except ValueError as exc:
            from convenant.engine.errors import BadInput
            raise BadInput(f"config.toml: {exc}", field=str(exc).split(":")[0].split()[-1]) from None

        def secretariat(root_id: str) -> list[dict[str, str]]:
            root = self.queries.find(root_id)
            return governance_contacts(self.service, root, "secretariat") if root else []

        retry = RetryPolicy(base_seconds=mail.retry_base_seconds, max_seconds=mail.retry_max_seconds,
                            lifetime_days=mail.retry_lifetime_days)
        return Dispatcher(self.outbox, transport, sender=mail.sender, retry=retry, batch_size=mail.batch_size,
                          tz=self.settings.tz, secretariat=secretariat, witness=self.service.log.witness)

    def fork(self) -> Fork:
        """A fresh in-memory store for `whatif` (engine/whatif.py): a throwaway copy of one agreement that never
        touches this database or the mail transport."""
        from convenant.storage.memory import MemoryReadModels, MemoryStore
        store = MemoryStore()
        return Fork(store=store, outbox=store.outbox, reads=MemoryReadModels(store), load=store.load)

    def require_schema(self) -> None:
        if not self.store.schema_ready():
            raise NotInitialised(f"the database {self.settings.database.url} is not initialised: run "
                                 f"'convenant init' first")
        current, head = self.store.schema_revision(), head_revision()
        if current != head:
            raise NotInitialised(f"the database {self.settings.database.url} is at schema {current}, this "
                                 f"convenant needs {head}: run 'convenant init' to upgrade it (the upgrade keeps "
                                 f"every agreement and its history)")


def config_path(given: str | None) -> Path | None:
    if given:
        return Path(given)
    env = os.environ.get("CONVENANT_CONFIG")
    if env:
        return Path(env)
    default = Path("config.toml")
    return default if default.exists() else None


def write_default_config(given: str | None) -> Path | None:
    """`convenant init` in a folder with no config.toml (and none named): write the shipped, commented one
    there, so that every setting is visible and editable. Returns the file written, or None."""
    if config_path(given) is not None:
        return None
    from convenant import DEFAULT_CONFIG
    target = Path("config.toml")
    target.write_text(DEFAULT_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    return target.resolve()


def build(given_config: str | None = None, *, clock: Clock | None = None,
          settings: Config | None = None) -> App:
    """`clock`: the real-time clock (default: the system's) for a database on the real clock; a simulation
    database runs on its own virtual clock whatever is given here."""
    path = config_path(given_config)
    settings = settings or load_config(path)
    if path is None:
        settings = settings.model_copy(update={"base_dir": Path.cwd()})
    check_url(settings.database.url)
    defs = workflows.load_all()
    check_reminder_kinds(settings, {d.kind for wf in defs.values() for v in wf.versions.values()   # every version's
                                    for p in v.processes.values() for d in p.deadlines})
    store = SqlStore(settings.database.resolved_url(settings.base_dir), echo=settings.database.echo,
                     synchronous=settings.database.sqlite_synchronous)
    db_clock = DatabaseClock(store, real=clock)
    service = Service(store, settings, defs, subject=render_subject, clock=db_clock)
    queries = Queries(SqlReadModels(store), service)
    web = settings.web
    policy = SessionPolicy(hours=web.session_hours, idle_minutes=web.session_idle_minutes,
                           attempts=web.sign_in_attempts, address_attempts=web.sign_in_attempts_per_address,
                           window_minutes=web.sign_in_window_minutes)
    # people's sessions and tokens run on the installation's real time, even on a simulation database
    accounts = Accounts(SqlTokens(store), db_clock.real, queries, SqlPeople(store), policy=policy,
                        tz=settings.tz)
    return App(settings=settings, store=store, service=service, queries=queries, accounts=accounts,
               outbox=OutboxRepo(store), workflows=defs, config_path=path)
