"""A throw-away PostgreSQL server for tests: initdb in a temp dir, pg_ctl start, stop, delete.

As root the server runs as the ``postgres`` user (``runuser``); otherwise as the current user.
It listens on a Unix socket in its own directory only (no TCP), so parallel test workers do not
collide. ``find_binaries`` returns None when PostgreSQL is not installed; callers skip then.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def find_binaries() -> Path | None:
    """Directory holding initdb and pg_ctl, or None."""
    candidates = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    candidates += [Path("/usr/local/pgsql/bin")]
    for d in candidates:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    bindir: Path
    root: Path
    port: int
    as_postgres: bool

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        r = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
        )
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {r.stderr.strip()[-2000:]}")
        opts = f"-p {self.port} -k {self.root} -c listen_addresses='' -c fsync=off"
        opts += " -c full_page_writes=off -c synchronous_commit=off"
        r = self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-o",
            opts,
            "-l",
            str(self.root / "log.txt"),
            "-w",
            "-t",
            "60",
            "start",
        )
        if r.returncode != 0:
            log = (self.root / "log.txt").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()} {log}")

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def conninfo(self) -> str:
        return f"host={self.root} port={self.port} user=postgres dbname=postgres"


def start_server(bindir: Path) -> PgServer:
    root = Path(tempfile.mkdtemp(prefix="rules_export_pg_"))
    as_postgres = hasattr(os, "geteuid") and os.geteuid() == 0
    if as_postgres:
        shutil.chown(root, user="postgres", group="postgres")
    server = PgServer(bindir=bindir, root=root, port=_free_port(), as_postgres=as_postgres)
    try:
        server.start()
    except Exception:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server
