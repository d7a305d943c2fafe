"""P6: the HTTP API under load. `convenant serve` runs as a process of its own on a free port of 127.0.0.1, on a
prepared SQLite database (many signed agreements, nothing due, a secretariat token); 50 clients, each a closed
loop on its own keep-alive connection (asyncio streams in this process, bounded in time and in requests), half of
them reading agreements (GET /api/v1/processes/ID), half firing `report_progress` on agreements of their own
(POST .../triggers/report_progress), for the given time. Reported: requests per second (over the whole run and
per fifth of it), p50/p99/max latency, status codes, and the CPU time of the server and of the load generator."""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

from bench import measure as m
from bench.cli import convenant_command
from bench.seed import make_app, seed_agreements

HOST = "127.0.0.1"
CLIENTS = 50
MAX_REQUESTS = 100_000        # per client: a bound besides the time
BODY = json.dumps({"data": {"theme": "ruimte", "status": "on_track"}}).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def prepare(workdir: Path, n: int) -> tuple[Path, str, list[str]]:
    folder = workdir / "http"
    folder.mkdir()
    url = f"sqlite:///{folder / 'api.db'}"
    app = make_app(url, folder)
    seeded = seed_agreements(app, n, prefix="api")
    app.service.run_due()                    # the seeded reminders go out now, so the server starts with nothing due
    token = app.accounts.create_token("bench", "secretariat", None)["token"]
    app.store.dispose()
    (folder / "config.toml").write_text(f'[database]\nurl = "{url}"\n\n[mail]\ntransport = "maildir"\n'
                                        f'path = "{folder / "mail"}"\n', encoding="utf-8")
    return folder, token, seeded.ids


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while True:
        row = await reader.readline()
        if row in (b"\r\n", b"\n", b""):
            break
        key, _, value = row.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                await reader.readline()
                break
            parts.append(await reader.readexactly(size))
            await reader.readline()
        body = b"".join(parts)
    else:
        body = b""
    return status, headers, body


async def client(kind: str, ids: list[str], port: int, token: str, until: float, out: list[tuple]) -> None:
    reader = writer = None
    for i in range(MAX_REQUESTS):
        if time.perf_counter() >= until:
            break
        pid = ids[i % len(ids)]
        if kind == "read":
            request = (f"GET /api/v1/processes/{pid} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {token}"
                       f"\r\n\r\n").encode()
        else:
            request = (f"POST /api/v1/processes/{pid}/triggers/report_progress HTTP/1.1\r\nHost: {HOST}\r\n"
                       f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(BODY)}\r\n\r\n").encode() + BODY
        t0 = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(request)
            await writer.drain()
            status, headers, _ = await read_response(reader)  # type: ignore[arg-type]
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader = writer = None
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
            status = -1
            if writer is not None:
                writer.close()
            reader = writer = None
        out.append((kind, t0, time.perf_counter() - t0, status))
    if writer is not None:
        writer.close()


async def load(port: int, token: str, ids: list[str], seconds: float) -> list[tuple]:
    out: list[tuple] = []
    readers, writers = CLIENTS // 2, CLIENTS - CLIENTS // 2
    rng = random.Random(15)
    until = time.perf_counter() + seconds
    tasks = [client("read", rng.sample(ids, min(len(ids), 500)), port, token, until, out) for _ in range(readers)]
    tasks += [client("trigger", ids[w::writers], port, token, until, out) for w in range(writers)]
    await asyncio.gather(*tasks)
    return out


def start_server(folder: Path, port: int) -> subprocess.Popen:
    log = open(folder / "serve.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(convenant_command() + ["--config", str(folder / "config.toml"), "serve", "--host", HOST,
                                                   "--port", str(port)],
                            cwd=folder, stdout=log, stderr=subprocess.STDOUT, env=os.environ)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"convenant serve exited {proc.returncode}: "
                               f"{(folder / 'serve.log').read_text()[-2000:]}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("convenant serve did not listen within 60 s")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def in_process(folder: Path, token: str, ids: list[str], n: int) -> None:
    """What the server's two calls cost without HTTP, on the same database, in this process: the token lookup
    every request makes, a read (require_visible, show, the JSON text of the answer) and a trigger (fire, then
    find for the ETag), each CPU per call; and a CPU profile of the reads."""
    from bench.commands import fire_report
    from bench.profiling import print_profile, profile
    from bench.seed import open_app

    app = open_app(f"sqlite:///{folder / 'api.db'}", folder)
    who = app.accounts.principal(token)
    queries = app.queries

    def read(pid: str) -> None:
        queries.require_visible(who, pid)
        json.dumps(queries.show(pid, who.role, who.party), ensure_ascii=False)

    def trigger(pid: str) -> None:
        fire_report(app.service, pid)
        queries.find(pid)

    reads, fires = ids[:n], ids[n:2 * n]
    for pid in reads[:10]:
        read(pid)
    lookup = m.timed_block(lambda: [app.accounts.principal(token) for _ in range(n)], n)
    r = m.timed_block(lambda: [read(pid) for pid in reads], n)
    t = m.timed_block(lambda: [trigger(pid) for pid in fires], n)
    m.line(f"in-process, no HTTP (same database, {n} calls each): token lookup {m.ms(lookup.cpu_per_op)} CPU, "
           f"read {m.ms(r.cpu_per_op)} CPU ({m.ms(r.wall_per_op)} wall), trigger {m.ms(t.cpu_per_op)} CPU "
           f"({m.ms(t.wall_per_op)} wall) per call")
    print_profile(profile(lambda: [read(pid) for pid in reads], n), "profile of a read (require_visible, show, "
                  "JSON), in-process", unit="read")
    app.store.dispose()


def p6(workdir: Path, *, seconds: float, agreements: int, load_test: bool = True) -> None:
    folder, token, ids = prepare(workdir, agreements)
    reserved, ids = ids[-400:], ids[:-400]
    in_process(folder, token, reserved[:300], 150)
    if not load_test:
        return
    port = free_port()
    server = start_server(folder, port)
    try:
        asyncio.run(load(port, token, reserved[300:], 1.0))     # warm up on agreements the run does not use
        server0, client0 = m.proc_cpu_seconds(server.pid), m.cpu_seconds()
        started = time.perf_counter()
        got = asyncio.run(load(port, token, ids, seconds))
        wall = time.perf_counter() - started
        server_cpu, client_cpu = m.proc_cpu_seconds(server.pid) - server0, m.cpu_seconds() - client0
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    report(got, wall, server_cpu, client_cpu)
    import sqlite3
    db = sqlite3.connect(folder / "api.db")
    mail = dict(db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
    db.close()
    m.line(f"outbox after the run (the scheduler inside serve also sends mail, at start and every [scheduler] "
           f"interval_seconds): {mail}")
    log = (folder / "serve.log").read_text(encoding="utf-8", errors="replace")
    m.line(f"server log: {log.count(' 200 OK')} lines '200 OK', {log.count('Traceback')} tracebacks, "
           f"{sum(1 for row in log.splitlines() if ' ERROR ' in row)} ERROR lines")


def report(got: list[tuple], wall: float, server_cpu: float, client_cpu: float) -> None:
    start = min(t0 for _, t0, _, _ in got)
    span = max(t0 + lat for _, t0, lat, _ in got) - start
    m.line(f"{CLIENTS} clients for {wall:.1f} s: {len(got):,} requests; CPU: server {server_cpu:.1f} s "
           f"({server_cpu / wall:.0%} of a core), load generator {client_cpu:.1f} s ({client_cpu / wall:.0%})")
    targets = {"read": 0.050, "trigger": 0.100}
    bad_total = 0
    for kind in ("read", "trigger"):
        rows = [r for r in got if r[0] == kind]
        lat = [lat for _, _, lat, status in rows if status in (200, 201)]
        statuses: dict[int, int] = {}
        for *_, status in rows:
            statuses[status] = statuses.get(status, 0) + 1
        windows = [0] * 5
        for _, t0, _, _ in rows:
            windows[min(4, int((t0 - start) / span * 5))] += 1
        rates = [w / (span / 5) for w in windows]
        bad = sum(v for k, v in statuses.items() if k not in (200, 201, 409))
        bad_total += bad
        m.line(f"{kind}s: {len(rows):,} ({len(rows) / span:,.0f}/s; per fifth of the run "
               f"{m.spread(rates, m.per_s)}), latency of the answered: p50 {m.ms(percentile(lat, 0.5))}, p99 "
               f"{m.ms(percentile(lat, 0.99))}, max {m.ms(max(lat) if lat else 0)}; status {dict(sorted(statuses.items()))}"
               f" (-1: no answer)")
        p99 = percentile(lat, 0.99)
        m.verdict("P6", f"{kind} p99 latency, SQLite, {CLIENTS} clients", m.ms(p99), f"<= {m.ms(targets[kind])}",
                  p99 <= targets[kind] and bool(lat))
    m.verdict("P6", "errors other than 409", str(bad_total), "0", bad_total == 0)
