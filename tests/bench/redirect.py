"""Benchmark of the tracked redirect against a bare Flask redirect, under gunicorn.

    python tests/bench/redirect.py [--backend sqlite|postgresql|both] [--rounds 3] [--duration 10]

For each backend (SQLite in a temporary file; PostgreSQL in a throwaway database created
on the server at SHOPPABLE_BENCH_POSTGRES_URL, default the local one, and dropped at the
end) and each write mode (buffered, the default; durable):

* seeds 10,000 tracked links (to 100 published posts) and migrates the database;
* serves the real ``/shop/s/<code>`` (A) and a bare Flask app answering the same URL
  shape with a 302 and a Set-Cookie (B) under the same gunicorn settings (2 sync
  workers, --preload, the recorder's worker_exit hook), both kept running;
* warms both up, then loads them in turn, A B A B... (``--rounds``), each for
  ``--duration`` seconds, from another process on 127.0.0.1 with 32 connections: wrk
  (Debian's package) with tests/bench/redirect.lua picking random codes, UTM parameters,
  an fbclid and Instagram's in-app user agent; a Python load generator when wrk is
  missing (slower: its figures are a floor);
* prints requests/s, p50 and p99 for both, and the ratios of the medians;
* stops the tracked server gracefully and checks that the interactions written equal
  the 302s counted (the load generator abandons at most one request per connection
  when a run ends; those were served and recorded but not counted, so the check allows
  that many more rows and no fewer).

Goals (issue 3): PostgreSQL buffered >= 0.70 of the bare throughput with p99 <= 2x bare;
durable >= 0.40 on PostgreSQL and >= 0.50 on SQLite. The benchmark reports; it does not
fail a build (machines differ); its exit status is 1 only when clicks were lost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
LINKS = 10_000
POSTS = 100
CONNECTIONS = 32
WORKERS = 2
POSTGRES_ADMIN_URL = os.environ.get(
    "SHOPPABLE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
GOALS = {
    ("postgresql", "buffered"): (0.70, 2.0),
    ("postgresql", "durable"): (0.40, None),
    ("sqlite", "durable"): (0.50, None),
}

GUNICORN_CONFIG = """\
worker_exit = "flask_shoppable.tracking.recorder.gunicorn_worker_exit"
"""


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    redirects: int
    others: int
    errors: int


@dataclass
class Result:
    backend: str
    mode: str
    commit_rate: float = 0.0
    tracked: list[Run] = field(default_factory=list)
    bare: list[Run] = field(default_factory=list)
    redirects_counted: int = 0
    rows: int = 0
    runs_counted: int = 0

    def median(self, runs: list[Run], attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs)

    @property
    def throughput_ratio(self) -> float:
        return self.median(self.tracked, "rps") / self.median(self.bare, "rps")

    @property
    def p99_ratio(self) -> float:
        return self.median(self.tracked, "p99_ms") / self.median(self.bare, "p99_ms")

    @property
    def lost(self) -> bool:
        return self.rows < self.redirects_counted

    @property
    def in_flight_bound(self) -> int:
        return self.runs_counted * CONNECTIONS


# --- databases ------------------------------------------------------------------------


class Database:
    """A throwaway database of one backend, migrated and seeded with links."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self._admin: sa.Engine | None = None
        if backend == "sqlite":
            self.url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        else:
            admin_url = sa.engine.make_url(POSTGRES_ADMIN_URL)
            self._admin = sa.create_engine(
                admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
            )
            self.name = f"shoppable_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            with self._admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
            self.url = admin_url.set(database=self.name).render_as_string(hide_password=False)

    def prepare(self, codes_file: Path) -> None:
        from flask_shoppable import db, schema
        from flask_shoppable.social.links import new_code
        from flask_shoppable.social.models import Post, TrackedLink

        engine = db.make_engine(self.url)
        schema.upgrade(engine)
        now = db.utcnow()
        codes = [new_code() for _ in range(LINKS)]
        with engine.begin() as conn:
            conn.execute(
                sa.insert(Post.__table__),
                [
                    {
                        "slug": f"look-{i:04d}",
                        "caption": f"Look {i}",
                        "image_url": "",
                        "image_alt": "",
                        "campaign": "summer",
                        "status": "published",
                        "published_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(POSTS)
                ],
            )
            post_ids = list(conn.scalars(sa.select(Post.__table__.c.id)))
            conn.execute(
                sa.insert(TrackedLink.__table__),
                [
                    {
                        "code": code,
                        "channel": "instagram",
                        "label": "",
                        "utm_source": "instagram",
                        "utm_medium": "social",
                        "utm_campaign": "summer",
                        "utm_content": "",
                        "utm_term": "",
                        "partner": "",
                        "target": "post",
                        "post_id": random.choice(post_ids),
                        "active": True,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for code in codes
                ],
            )
        engine.dispose()
        codes_file.write_text("\n".join(codes) + "\n")

    def commit_rate(self, seconds: float = 3.0, connections: int = WORKERS) -> float:
        """Single-row autocommit INSERTs per second from ``connections`` threads: the
        ceiling of durable mode on this machine (one commit per click)."""
        from flask_shoppable import db

        engine = db.make_engine(self.url, {"pool_size": connections})
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE bench_commit_probe (id INTEGER, v TEXT)"))
        counts = [0] * connections
        stop_at = time.monotonic() + seconds

        def work(i: int) -> None:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                statement = sa.text("INSERT INTO bench_commit_probe (id, v) VALUES (:i, 'x')")
                while time.monotonic() < stop_at:
                    conn.execute(statement, {"i": i})
                    counts[i] += 1

        threads = [threading.Thread(target=work, args=(i,)) for i in range(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE bench_commit_probe"))
        engine.dispose()
        return sum(counts) / seconds

    def count_and_clear_interactions(self) -> int:
        from flask_shoppable import db
        from flask_shoppable.tracking.models import Interaction

        engine = db.make_engine(self.url)
        table = Interaction.__table__
        with engine.begin() as conn:
            count = conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0
            # TRUNCATE on PostgreSQL: a DELETE would leave the next mode a bloated table.
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text(f"TRUNCATE {table.name}"))
            else:
                conn.execute(sa.delete(table))
        engine.dispose()
        return count

    def drop(self) -> None:
        if self._admin is not None:
            with self._admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self._admin.dispose()


# --- servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """One gunicorn serving ``apps:<factory>()`` with the benchmark's fixed settings."""

    def __init__(self, factory: str, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        config = workdir / "gunicorn.conf.py"
        config.write_text(GUNICORN_CONFIG)
        self.log = open(workdir / f"gunicorn-{factory}-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(config),
                "--workers",
                str(WORKERS),
                "--worker-class",
                "sync",
                "--preload",
                "--backlog",
                "2048",
                "--log-level",
                "warning",
                "--bind",
                f"127.0.0.1:{self.port}",
                f"apps:{factory}()",
            ],
            cwd=HERE,
            env={**os.environ, **env, "PYTHONPATH": str(HERE)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.proc.returncode}: see {self.log.name}"
                )
            try:
                conn = HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/shop/s/ReadyCheck0", headers={"User-Agent": "curl/8"})
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        """SIGTERM: a graceful stop (the workers write their buffered clicks)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        finally:
            self.log.close()
        if self.proc.returncode != 0:
            raise RuntimeError(f"gunicorn stopped with {self.proc.returncode}: {self.log.name}")


# --- load -----------------------------------------------------------------------------


def load(url: str, seconds: float, codes_file: Path) -> Run:
    if shutil.which("wrk"):
        return _wrk(url, seconds, codes_file)
    return _python_load(url, seconds, codes_file)


def _wrk(url: str, seconds: float, codes_file: Path) -> Run:
    out = subprocess.run(
        [
            "wrk",
            "--threads",
            "2",
            "--connections",
            str(CONNECTIONS),
            "--duration",
            f"{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "--script",
            str(HERE / "redirect.lua"),
            url,
        ],
        env={**os.environ, "BENCH_CODES": str(codes_file)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return Run(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        redirects=data["redirects"],
        others=data["others"],
        errors=errors,
    )


_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Instagram 300.0.0.29.110"
)


def _python_load(url: str, seconds: float, codes_file: Path) -> Run:
    """Fallback load: 32 threads, one request per connection (as gunicorn sync answers)."""
    codes = codes_file.read_text().split()
    port = int(url.rsplit(":", 1)[1])
    latencies: list[float] = []
    counts = {"redirects": 0, "others": 0, "errors": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        rng = random.Random()
        mine: list[float] = []
        local = {"redirects": 0, "others": 0, "errors": 0}
        while time.monotonic() < stop_at:
            path = (
                f"/shop/s/{rng.choice(codes)}?utm_source=instagram&utm_medium=social"
                f"&utm_campaign=summer&fbclid=IwAR{rng.randrange(10**9)}"
            )
            start = time.perf_counter()
            try:
                conn = HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", path, headers={"User-Agent": _UA})
                response = conn.getresponse()
                response.read()
                conn.close()
            except OSError:
                local["errors"] += 1
                continue
            mine.append(time.perf_counter() - start)
            local["redirects" if response.status == 302 else "others"] += 1
        with lock:
            latencies.extend(mine)
            for k, v in local.items():
                counts[k] += v

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0
        )

    return Run(
        rps=len(latencies) / elapsed,
        p50_ms=pct(0.50),
        p99_ms=pct(0.99),
        redirects=counts["redirects"],
        others=counts["others"],
        errors=counts["errors"],
    )


# --- the benchmark --------------------------------------------------------------------


def bench_backend(backend: str, args: argparse.Namespace, workdir: Path) -> list[Result]:
    database = Database(backend, workdir)
    results = []
    try:
        codes_file = workdir / f"codes-{backend}.txt"
        database.prepare(codes_file)
        rate = database.commit_rate()
        print(
            f"\n{backend}: {rate:.0f} single-row commits/s from {WORKERS} connections "
            "(the ceiling of durable mode here)",
            flush=True,
        )
        for mode in args.modes:
            result = bench_mode(database, mode, args, workdir, codes_file)
            result.commit_rate = rate
            results.append(result)
    finally:
        database.drop()
    return results


def bench_mode(
    database: Database, mode: str, args: argparse.Namespace, workdir: Path, codes_file: Path
) -> Result:
    result = Result(database.backend, mode)
    database.count_and_clear_interactions()
    instance = workdir / "instance"
    env = {
        "BENCH_DATABASE_URL": database.url,
        "BENCH_WRITE_MODE": mode,
        "BENCH_INSTANCE": str(instance),
    }
    print(f"\n== {database.backend}, {mode} mode", flush=True)
    tracked = Server("tracked", env, workdir)
    bare = Server("bare", env, workdir)
    try:
        for name, server in (("tracked", tracked), ("bare", bare)):
            warm = load(server.url, args.warmup, codes_file)
            if name == "tracked":
                result.redirects_counted += warm.redirects
                result.runs_counted += 1
        for round_no in range(1, args.rounds + 1):
            for name, server, runs in (
                ("tracked", tracked, result.tracked),
                ("bare", bare, result.bare),
            ):
                run = load(server.url, args.duration, codes_file)
                runs.append(run)
                if name == "tracked":
                    result.redirects_counted += run.redirects
                    result.runs_counted += 1
                print(
                    f"   round {round_no} {name:8} {run.rps:8.0f} req/s  p50 {run.p50_ms:6.2f} ms"
                    f"  p99 {run.p99_ms:6.2f} ms  302s {run.redirects}  other {run.others}"
                    f"  errors {run.errors}",
                    flush=True,
                )
    finally:
        bare.stop()
        tracked.stop()
    result.rows = database.count_and_clear_interactions()
    return result


def report(results: list[Result], args: argparse.Namespace) -> bool:
    print("\nRedirect benchmark: /shop/s/<code> (tracked) vs bare Flask 302 + Set-Cookie")
    print(
        f"gunicorn {WORKERS} sync workers, {CONNECTIONS} connections, {LINKS} links, "
        f"{args.rounds} rounds x {args.duration:g} s, load: "
        f"{'wrk' if shutil.which('wrk') else 'python'}; medians of the rounds\n"
    )
    header = (
        f"{'backend':11}{'mode':9}{'tracked r/s':>12}{'bare r/s':>10}{'ratio':>7}"
        f"{'p50 t/b ms':>15}{'p99 t/b ms':>15}{'p99 x':>7}  goal"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for r in results:
        goal = GOALS.get((r.backend, r.mode))
        verdict = ""
        if goal is not None:
            min_ratio, max_p99 = goal
            met = r.throughput_ratio >= min_ratio and (max_p99 is None or r.p99_ratio <= max_p99)
            verdict = (
                ("met" if met else "MISSED")
                + f" (>= {min_ratio:.2f}"
                + (f", p99 <= {max_p99:g}x)" if max_p99 else ")")
            )
        print(
            f"{r.backend:11}{r.mode:9}{r.median(r.tracked, 'rps'):12.0f}"
            f"{r.median(r.bare, 'rps'):10.0f}{r.throughput_ratio:7.2f}"
            f"{r.median(r.tracked, 'p50_ms'):7.2f}/{r.median(r.bare, 'p50_ms'):<7.2f}"
            f"{r.median(r.tracked, 'p99_ms'):7.2f}/{r.median(r.bare, 'p99_ms'):<7.2f}"
            f"{r.p99_ratio:7.2f}  {verdict}"
        )
    print("\nDatabase commit rate (single-row autocommit INSERTs/s, 2 connections):")
    for backend in dict.fromkeys(r.backend for r in results):
        rate = next(r.commit_rate for r in results if r.backend == backend)
        print(f"  {backend:11}{rate:8.0f}/s")
    print("\nClicks: rows written vs 302s counted by the load generator")
    for r in results:
        extra = r.rows - r.redirects_counted
        state = (
            "LOST CLICKS"
            if r.lost
            else ("ok" if extra <= r.in_flight_bound else "MORE ROWS THAN REQUESTS")
        )
        print(
            f"  {r.backend:11}{r.mode:9} rows {r.rows:>8}  302s {r.redirects_counted:>8}"
            f"  in flight at the end of runs {extra:>3} (<= {r.in_flight_bound})  {state}"
        )
        ok = ok and state == "ok"
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds per server")
    parser.add_argument(
        "--modes", default="buffered,durable", help="comma-separated: buffered,durable"
    )
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if shutil.which("wrk") is None:
        print("wrk not found (apt-get install wrk): using the Python load generator", flush=True)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="shoppable-bench-") as tmp:
        for backend in backends:
            results.extend(bench_backend(backend, args, Path(tmp)))
    return 0 if report(results, args) else 1


if __name__ == "__main__":
    sys.exit(main())
