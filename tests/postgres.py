"""A throwaway PostgreSQL server for the DuckLake catalog in tests and benchmarks.

Debian's server binaries (/usr/lib/postgresql/<version>/bin, installed by `.ci/run` when
missing) start a cluster in a temporary folder in about a second: `initdb -A trust --no-sync`,
`pg_ctl -w start` on 127.0.0.1 at a free port. initdb refuses to run as root (CI runs as root),
so there the cluster belongs to `nobody`, in a folder of its own outside pytest's root-only
temp tree.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

UNPRIVILEGED = "nobody"


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin folder (DORA_PG_BIN overrides), or None."""
    if os.environ.get("DORA_PG_BIN"):
        return Path(os.environ["DORA_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def unavailable() -> str | None:
    """Why no PostgreSQL can be started here, or None when one can."""
    folder = bin_dir()
    if folder is None or not (folder / "initdb").exists():
        return "PostgreSQL's server binaries are not installed (apt-get install postgresql)"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "running as root without setpriv to start PostgreSQL as an unprivileged user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Postgres:
    folder: Path
    port: int
    bin: Path

    def dsn(self, dbname: str) -> str:
        """The libpq connection string of one database (no password: trust authentication)."""
        return f"dbname={dbname} host=127.0.0.1 port={self.port} user=postgres"

    def create_database(self, name: str) -> str:
        subprocess.run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
            check=True, capture_output=True,
        )
        return self.dsn(name)

    def stop(self) -> None:
        _as_owner([str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.folder, ignore_errors=True)


def _as_owner(cmd: list[str]) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        cmd = ["setpriv", f"--reuid={UNPRIVILEGED}", f"--regid={_group()}", "--clear-groups", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd="/")


def _group() -> int:
    import pwd

    return pwd.getpwnam(UNPRIVILEGED).pw_gid


def start() -> Postgres:
    """A new cluster, started; call stop() when done."""
    folder = Path(tempfile.mkdtemp(prefix="dora-pg-"))
    folder.chmod(0o755)
    data = folder / "data"
    data.mkdir(mode=0o700)
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam(UNPRIVILEGED)
        os.chown(data, user.pw_uid, user.pw_gid)
        os.chown(folder, user.pw_uid, user.pw_gid)
    pg = Postgres(folder, _free_port(), bin_dir())
    _as_owner([str(pg.bin / "initdb"), "-D", str(data), "-A", "trust", "--no-sync", "-U", "postgres"])
    options = f"-h 127.0.0.1 -p {pg.port} -k {folder} -c fsync=off -c max_connections=200"
    try:
        _as_owner([str(pg.bin / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w", "start"])
    except subprocess.CalledProcessError as exc:
        log = (folder / "log").read_text() if (folder / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr} {log[-500:]}") from None
    return pg
