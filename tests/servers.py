"""Real database servers for the tests, started from Debian's packages on 127.0.0.1.

:class:`Redis` runs ``redis-server`` on a free port of 127.0.0.1, without persistence.

:class:`PostgreSQL` runs ``initdb`` and ``pg_ctl`` in a temporary directory (as the
``postgres`` user when the tests run as root, since PostgreSQL refuses root), listening on a
free port of 127.0.0.1 with trust authentication, and stops with the session.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgresql_bin() -> Path | None:
    """The folder of PostgreSQL's server programs, or None when it is not installed."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


class PostgreSQL:
    """A PostgreSQL server of its own; :meth:`database` makes a fresh database for a test."""

    def __init__(self) -> None:
        bin_dir = postgresql_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (Debian: apt install postgresql)")
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="kb-postgres-"))
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._numbers = itertools.count(1)
        data = self.dir / "data"
        self._run("initdb", "-D", str(data), "-U", "kb", "--auth=trust", "-E", "UTF8",
                  "--no-locale")  # fmt: skip
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}"
                   " -c fsync=off -c max_connections=400")  # fmt: skip
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.dir / "log"), "-w",
                  "start")  # fmt: skip
        self.admin = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([*self._as, str(self.bin / program), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip

    def url(self, database: str) -> str:
        """The URL of ``database`` on this server."""
        return f"postgresql://kb@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """Make an empty database; return its URL."""
        name = f"kb_test_{next(self._numbers)}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and delete its files."""
        self.admin.dispose()
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """A redis-server of its own on 127.0.0.1; :meth:`url` names one of its databases."""

    def __init__(self) -> None:
        program = shutil.which("redis-server")
        if program is None:
            raise RuntimeError("Redis is not installed (Debian: apt install redis-server)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="kb-redis-"))
        self.process = subprocess.Popen(
            [program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._numbers = itertools.count(1)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def url(self) -> str:
        """A database of this server no other test uses (Redis has 16)."""
        return f"redis://127.0.0.1:{self.port}/{next(self._numbers) % 16}"

    def stop(self) -> None:
        """Stop the server and delete its files."""
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
