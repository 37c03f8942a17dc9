"""Run a command (the test suite) against throwaway PostgreSQL and Redis servers started here.

    python scripts/testservers.py -- pytest ...

When the PostgreSQL server binaries (initdb, pg_ctl) and redis-server are on the machine, each is started on a
free loopback port in a temporary directory, the command runs with ``DATABASE_URL`` pointing at PostgreSQL and
``WORKBENCH_TEST_REDIS_URL`` at Redis (the Celery integration tests start a real worker against both), and both
servers are stopped and deleted afterwards. A missing server is reported in one clear line and the suite runs on
SQLite / without the worker tests. ``WORKBENCH_TEST_REQUIRE_SERVICES=1`` (set by ``.ci/run``) turns a missing
server into a failure instead.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_pg_bindir() -> Path | None:
    candidates = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out:
            candidates.append(Path(out))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates += [Path(p) for p in versions]
    for on_path in (shutil.which("initdb"),):
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its binaries as the 'postgres' user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class PostgresServer:
    def __init__(self, bindir: Path, workdir: Path) -> None:
        self.bindir = bindir
        self.dir = workdir / "pg"
        self.port = free_port()
        self.log = workdir / "pg.log"

    def start(self) -> str:
        self.dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.dir.parent, "postgres")
            shutil.chown(self.dir, "postgres")
        subprocess.run(
            as_postgres([str(self.bindir / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                         "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
            check=True, stdout=subprocess.DEVNULL,
        )
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        subprocess.run(
            as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-o", options,
                         "-l", str(self.dir / "server.log"), "-w", "-t", "60", "start"]),
            check=True, stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            as_postgres([str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                         "workbench"]),
            check=True,
        )
        return f"postgres://postgres@127.0.0.1:{self.port}/workbench"

    def restart_command(self) -> list[str]:
        """Restart with the same options, disconnecting every client at once (for the outage test)."""
        return as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "-t", "60",
                            "-l", str(self.dir / "server.log"), "restart"])

    def stop(self) -> None:
        subprocess.run(
            as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop"]),
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )


class RedisServer:
    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.dir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> str:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return f"redis://127.0.0.1:{self.port}/0"
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    if not argv:
        print("usage: testservers.py -- COMMAND ...", file=sys.stderr)
        return 2
    require = os.environ.get("WORKBENCH_TEST_REQUIRE_SERVICES") == "1"
    env = dict(os.environ)
    workdir = Path(tempfile.mkdtemp(prefix="workbench-test-"))
    os.chmod(workdir, 0o755)  # noqa: S103 - the postgres user must reach its data directory inside
    env["WORKBENCH_VAR_DIR"] = str(workdir / "var")
    # The live-server threads of the browser tests must not keep connections that block dropping the test database.
    env["CONN_MAX_AGE"] = "0"
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"):
        env.pop(name, None)  # the suite decides its own configuration
    servers: list[PostgresServer | RedisServer] = []
    missing: list[str] = []
    try:
        bindir = find_pg_bindir()
        if bindir is None:
            missing.append("PostgreSQL server (initdb/pg_ctl) not found: the suite runs on SQLite")
        else:
            pg = PostgresServer(bindir, workdir)
            env["DATABASE_URL"] = pg.start()
            env["WORKBENCH_TEST_PG_RESTART"] = json.dumps(pg.restart_command())
            servers.append(pg)
            print(f"testservers: PostgreSQL {bindir.parent.name} started on 127.0.0.1:{pg.port}", flush=True)
        redis_binary = shutil.which("redis-server")
        if redis_binary is None:
            missing.append("redis-server not found: the Celery worker integration tests are skipped")
        else:
            redis = RedisServer(redis_binary, workdir)
            env["WORKBENCH_TEST_REDIS_URL"] = redis.start()
            servers.append(redis)
            print(f"testservers: Redis started on 127.0.0.1:{redis.port}", flush=True)
        for line in missing:
            print(f"testservers: {line}", flush=True)
        if missing and require:
            print("testservers: WORKBENCH_TEST_REQUIRE_SERVICES=1 and a service is missing: failing", flush=True)
            return 3
        env["WORKBENCH_TEST_SERVICES"] = ",".join(
            ["postgresql"] * ("DATABASE_URL" in env) + ["redis"] * ("WORKBENCH_TEST_REDIS_URL" in env)
        )
        return subprocess.run(argv, env=env, check=False).returncode
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
