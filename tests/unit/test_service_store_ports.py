"""Both stores implement every storage port of engine/ports.py: each Protocol method exists on the SQL and the
memory implementation with the same parameters (names, kinds, defaults), and each Protocol attribute is there.
A port added to engine/ports.py fails here until it is mapped to its implementations below."""
from __future__ import annotations

import inspect
from typing import Any

import pytest

from convenant.engine import ports
from convenant.storage.memory import MemoryOutbox, MemoryPeople, MemoryReadModels, MemoryStore, MemoryTokens, MemoryTx
from convenant.storage.outbox import OutboxRepo
from convenant.storage.people import SqlPeople, SqlTokens
from convenant.storage.queries import SqlReadModels
from convenant.storage.store import SqlStore, Tx

IMPLEMENTED_BY_STORAGE: dict[str, tuple[type, type]] = {   # port: (SQL, memory)
    "MetaStore": (Tx, MemoryTx),
    "UnitOfWork": (Tx, MemoryTx),
    "Store": (SqlStore, MemoryStore),
    "ReadModels": (SqlReadModels, MemoryReadModels),
    "TokenStore": (SqlTokens, MemoryTokens),
    "PeopleStore": (SqlPeople, MemoryPeople),
    "OutboxQueue": (OutboxRepo, MemoryOutbox),
}
IMPLEMENTED_ELSEWHERE = {"Clock"}                          # engine/clock.py


def protocols() -> dict[str, type]:
    return {name: obj for name, obj in vars(ports).items()
            if inspect.isclass(obj) and obj.__module__ == ports.__name__ and getattr(obj, "_is_protocol", False)}


def members(proto: type) -> tuple[dict[str, Any], set[str]]:
    """(methods, attributes) a Protocol asks for, its base Protocols' included."""
    methods: dict[str, Any] = {}
    attributes: set[str] = set()
    for klass in reversed(proto.__mro__):
        if not getattr(klass, "_is_protocol", False) or klass.__module__ != ports.__name__:
            continue
        attributes |= set(vars(klass).get("__annotations__", {}))
        methods.update({n: v for n, v in vars(klass).items() if inspect.isfunction(v) and not n.startswith("_")})
    return methods, attributes


def parameters(fn: Any) -> list[tuple[str, Any, Any]]:
    sig = inspect.signature(fn)
    return [(p.name, p.kind, p.default) for p in sig.parameters.values() if p.name != "self"]


def instances(kind: type) -> Any:
    """An instance of each implementation, for the attributes set in __init__."""
    sql = SqlStore("sqlite://")
    memory = MemoryStore()
    conn = sql.engine.connect()
    made = {Tx: Tx(conn, sql), MemoryTx: MemoryTx(memory), SqlStore: sql, MemoryStore: memory,
            SqlReadModels: SqlReadModels(sql), MemoryReadModels: MemoryReadModels(memory),
            SqlTokens: SqlTokens(sql), MemoryTokens: MemoryTokens(memory), OutboxRepo: OutboxRepo(sql),
            MemoryOutbox: memory.outbox, SqlPeople: SqlPeople(sql), MemoryPeople: MemoryPeople(memory)}
    return made[kind], lambda: (conn.close(), sql.dispose())


def test_every_port_is_mapped():
    assert set(protocols()) == set(IMPLEMENTED_BY_STORAGE) | IMPLEMENTED_ELSEWHERE


@pytest.mark.parametrize("port", sorted(IMPLEMENTED_BY_STORAGE))
def test_both_stores_implement_the_port_with_the_same_signatures(port):
    proto = protocols()[port]
    methods, attributes = members(proto)
    assert methods or attributes
    for impl in IMPLEMENTED_BY_STORAGE[port]:
        for name, fn in methods.items():
            got = getattr(impl, name, None)
            assert callable(got), f"{impl.__name__} lacks {port}.{name}"
            assert parameters(got) == parameters(fn), f"{impl.__name__}.{name}{inspect.signature(got)} is not " \
                                                      f"{port}.{name}{inspect.signature(fn)}"
        obj, close = instances(impl)
        try:
            for name in attributes:
                assert hasattr(obj, name), f"{impl.__name__} lacks the attribute {port}.{name}"
        finally:
            close()


def test_the_memory_store_is_not_postgres_and_reports_its_schema_ready():
    store = MemoryStore()
    store.migrate()
    assert store.schema_ready() is True and store.is_postgres is False


# What the SQL implementations offer beyond the ports that has no meaning without SQL.
SQL_ONLY = {"Tx": {"flush", "reference"}, "SqlStore": {"reading"}}


@pytest.mark.parametrize("port", sorted(IMPLEMENTED_BY_STORAGE))
def test_the_memory_implementation_offers_what_the_sql_one_offers(port):
    """Beyond the port: a public method the SQL store has (the process log's `log_of`, say) is there in memory
    too, with the same parameters, so code written against the SQL store runs on the memory store."""
    sql, memory = IMPLEMENTED_BY_STORAGE[port]
    for name, fn in vars(sql).items():
        if name.startswith("_") or not inspect.isfunction(fn) or name in SQL_ONLY.get(sql.__name__, set()):
            continue
        got = getattr(memory, name, None)
        assert callable(got), f"{memory.__name__} lacks {name}, which {sql.__name__} has"
        assert parameters(got) == parameters(fn), f"{memory.__name__}.{name}{inspect.signature(got)} is not " \
                                                  f"{sql.__name__}.{name}{inspect.signature(fn)}"
