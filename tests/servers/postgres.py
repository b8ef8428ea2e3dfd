"""A throwaway PostgreSQL cluster on 127.0.0.1, for the `postgres` fixture and the demo script.

`start_postgres(base_dir)` runs initdb and `pg_ctl start` under base_dir (socket dir there too),
on a free port with trust auth, and creates database `mailbridge`; `stop()` and `start()` restart it
on the same port, for tests of a database outage. PostgreSQL refuses to run as
root, so as root the cluster runs as the `postgres` system user (or `mbpg`, created if needed).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from .util import HOST, free_port, log_tail, make_traversable

DB_USER = "mailbridge"
DB_NAME = "mailbridge"
INSTALL_HINT = "PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install -y postgresql"


def find_pg_bin() -> Path:
    """Return the directory holding initdb and pg_ctl (PATH first, then /usr/lib/postgresql/*/bin)."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0
    )
    for candidate in reversed(candidates):
        if os.access(f"{candidate}/initdb", os.X_OK) and os.access(f"{candidate}/pg_ctl", os.X_OK):
            return Path(candidate)
    raise RuntimeError(INSTALL_HINT)


def _run_as_user() -> str | None:
    """Return the OS user to run PostgreSQL as when we are root (None when we are not)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "mbpg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "mbpg"], check=True)
    return "mbpg"


@dataclass
class PostgresServer:
    host: str
    port: int
    base_dir: Path
    pg_bin: Path
    os_user: str | None
    pid: int

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3) of database `mailbridge`."""
        return self.url_for(DB_NAME)

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3) of another database on this server."""
        return f"postgresql+psycopg://{DB_USER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database name (dropping an old one) and return its SQLAlchemy URL."""
        with psycopg.connect(host=self.host, port=self.port, user=DB_USER, dbname="postgres", autocommit=True) as conn:
            ident = sql.Identifier(name)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
        return self.url_for(name)

    def start(self) -> None:
        """Run `pg_ctl start` on the cluster's data directory and port, and wait until it accepts connections."""
        data, log = self.base_dir / "data", self.base_dir / "postgres.log"
        options = (
            f"-c listen_addresses={self.host} -p {self.port} -c unix_socket_directories={self.base_dir / 'sockets'} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        try:
            _pg(self, "pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "30", "start")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\nlog tail:\n{log_tail(log)}") from None
        self.pid = int((data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        """Run `pg_ctl stop -m fast` and wait for the postmaster to exit."""
        data = self.base_dir / "data"
        if (data / "postmaster.pid").exists():
            _pg(self, "pg_ctl", "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop")


def _pg(server_or_bin, tool: str, *args: str, user: str | None = None) -> subprocess.CompletedProcess:
    """Run a PostgreSQL tool (as the cluster's OS user) and raise with its output on failure."""
    if isinstance(server_or_bin, PostgresServer):
        pg_bin, user = server_or_bin.pg_bin, server_or_bin.os_user
    else:
        pg_bin = server_or_bin
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    drop: dict = {}
    if user is not None:  # drop root's uid, gid and groups alike
        entry = pwd.getpwnam(user)
        env.update(HOME=entry.pw_dir, USER=user, LOGNAME=user)
        drop = dict(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
    result = subprocess.run(
        [str(pg_bin / tool), *args], env=env, cwd="/", stdin=subprocess.DEVNULL, capture_output=True, text=True, **drop
    )
    if result.returncode != 0:
        raise RuntimeError(f"{tool} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def start_postgres(base_dir: Path) -> PostgresServer:
    """initdb + pg_ctl start under base_dir on a free 127.0.0.1 port; create database mailbridge."""
    pg_bin = find_pg_bin()
    base = Path(base_dir).resolve()
    data, sockets = base / "data", base / "sockets"
    base.mkdir(parents=True, exist_ok=True)
    sockets.mkdir(exist_ok=True)
    os_user = _run_as_user()
    if os_user is not None:
        make_traversable(base)
        entry = pwd.getpwnam(os_user)
        for path in (base, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    _pg(
        pg_bin,
        "initdb",
        "-D",
        str(data),
        "-U",
        DB_USER,
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-locale",
        "--no-sync",
        user=os_user,
    )
    server = PostgresServer(host=HOST, port=free_port(), base_dir=base, pg_bin=pg_bin, os_user=os_user, pid=0)
    server.start()
    server.create_database(DB_NAME)
    return server
