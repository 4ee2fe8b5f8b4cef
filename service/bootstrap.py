"""Fresh-machine bootstrap: the two quick-start commands.

    python3 -m service.bootstrap run    # install, start PostGIS, API + worker, demo data
    python3 -m service.bootstrap test   # install, start PostGIS, run the test suite

Standard library only: it runs before the virtualenv exists. It installs PostgreSQL and
PostGIS from the OS packages when they are absent, creates `.venv` with the package and its
test extras, and, when DATABASE_URL is unset, runs a private PostgreSQL cluster under
`.var/pg` (loopback only, its own port) with the PostGIS extension: the embedded default.
That cluster asks for a password (SCRAM-SHA-256; generated into `.var/pg-password`, mode 0600,
and handed on in DATABASE_URL) and runs with fsync on, except under `test`.
SIAGA_STATE_DIR moves `.var` (the cluster and its password) and SIAGA_PG_PORT the port.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STATE = Path(os.environ.get("SIAGA_STATE_DIR") or ROOT / ".var")
PG_PORT = int(os.environ.get("SIAGA_PG_PORT", "55432"))
PG_DB = "siaga"
APT_PACKAGES = ["postgresql", "postgresql-postgis"]
TEST_APT_PACKAGES = ["chromium"]


def log(msg: str) -> None:
    print(f"[siaga-bootstrap] {msg}", flush=True)


def _sudo() -> list[str]:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo"):
        return ["sudo", "-n"]
    sys.exit("root or sudo is needed to install OS packages")


def _pg_bindir() -> Path | None:
    base = Path("/usr/lib/postgresql")
    if not base.is_dir():
        return None
    versions = sorted(
        (p for p in base.iterdir() if (p / "bin" / "initdb").exists()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
    )
    return versions[-1] / "bin" if versions else None


def _postgis_installed(bindir: Path) -> bool:
    version = bindir.parent.name
    return Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists()


def _apt_install(packages: list[str]) -> None:
    t0 = time.monotonic()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*_sudo(), "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*_sudo(), "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    log(f"installed {' '.join(packages)} in {time.monotonic() - t0:.1f}s")


def ensure_os_packages(*, for_tests: bool) -> None:
    wanted: list[str] = []
    if not os.environ.get("DATABASE_URL"):
        bindir = _pg_bindir()
        if bindir is None or not _postgis_installed(bindir):
            wanted += APT_PACKAGES
    if for_tests and not (shutil.which("chromium") or shutil.which("chromium-browser")):
        wanted += TEST_APT_PACKAGES
    if wanted:
        if not shutil.which("apt-get"):
            sys.exit(f"missing {wanted} and no apt-get here: install them, or set DATABASE_URL")
        _apt_install(wanted)


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> None:
    stamp = VENV / ".siaga-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and _venv_python().exists():
        return
    t0 = time.monotonic()
    if not _venv_python().exists():
        log("creating .venv")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(_venv_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
    stamp.write_text(digest)
    log(f"python environment ready in {time.monotonic() - t0:.1f}s")


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root: run the server binaries as the postgres user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Cluster:
    """The embedded PostgreSQL under `<state>/pg`, password-protected (SCRAM-SHA-256).

    The generated password is kept in `<state>/pg-password` (mode 0600; `.var/` is ignored
    by git) and handed on inside DATABASE_URL. A cluster made by an older checkout with
    `trust` authentication is given the password and switched to SCRAM when it is next used.
    """

    def __init__(self, state: Path = STATE, port: int = PG_PORT) -> None:
        self.state, self.port = state, port
        self.dir = state / "pg"
        self.data, self.run_dir = self.dir / "data", self.dir / "run"
        self.password_file = state / "pg-password"

    # -- the password -----------------------------------------------------------------------

    def password(self) -> str:
        """The cluster's password, generated (0600) on first use."""
        if self.password_file.exists():
            self.password_file.chmod(0o600)
            return self.password_file.read_text().strip()
        self.state.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(24)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret + "\n")
        return secret

    def url(self) -> str:
        secret = quote(self.password(), safe="")
        return f"postgresql+psycopg://postgres:{secret}@127.0.0.1:{self.port}/{PG_DB}"

    # -- commands ---------------------------------------------------------------------------

    def _psql(self, bindir: Path, sql: str, *, db: str = "postgres", trust: bool = False) -> str:
        env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
        if not trust:
            env["PGPASSWORD"] = self.password()
        cmd = [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        done = subprocess.run(
            [*cmd, "-qtA", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        return done.stdout.strip()

    def _pg_ctl(self, bindir: Path, action: str) -> None:
        opts = f"-k {self.run_dir} -p {self.port} -c listen_addresses=127.0.0.1"
        log_file = str(self.dir / "server.log")
        cmd = [str(bindir / "pg_ctl"), "-D", str(self.data), "-l", log_file, "-o", opts]
        subprocess.run(
            _as_postgres([*cmd, "-w", action]),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def owns_port(self) -> bool:
        """Whether the server on our port is this cluster (not another one we must not touch)."""
        pid_file = self.data / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            os.kill(int(lines[0]), 0)
            return int(lines[3]) == self.port
        except (OSError, ValueError, IndexError):
            return False

    def _initdb(self, bindir: Path) -> None:
        log(f"initialising private cluster in {self.data}")
        pwfile = self.dir / ".initdb-pw"
        pwfile.write_text(self.password() + "\n")
        pwfile.chmod(0o600)
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        try:
            subprocess.run(
                _as_postgres(
                    [
                        str(bindir / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        "postgres",
                        "--auth=scram-sha-256",
                        f"--pwfile={pwfile}",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _hba_trusts(self) -> bool:
        hba = self.data / "pg_hba.conf"
        return any(
            line.split()[-1] == "trust"
            for line in hba.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        )

    def _migrate_from_trust(self, bindir: Path) -> None:
        """An older checkout's cluster: set the password, switch pg_hba to SCRAM, reload."""
        log("private cluster trusts every local user: setting a password, switching to SCRAM")
        sql = (
            "SET password_encryption = 'scram-sha-256'; "
            f"ALTER ROLE postgres PASSWORD '{self.password()}'"
        )
        self._psql(bindir, sql, trust=True)
        hba = self.data / "pg_hba.conf"
        lines = []
        for line in hba.read_text().splitlines():
            fields = line.split()
            if fields and not line.lstrip().startswith("#") and fields[-1] == "trust":
                line = line[: line.rindex("trust")] + "scram-sha-256"
            lines.append(line)
        hba.write_text("\n".join(lines) + "\n")
        self._psql(bindir, "SELECT pg_reload_conf()")

    def _durability(self, bindir: Path, *, fsync: bool) -> None:
        """fsync on for `run` (a power cut must not corrupt the database); `test` may turn
        it off for speed. Set with ALTER SYSTEM + reload: no restart needed."""
        current = self._psql(bindir, "SELECT setting, source FROM pg_settings WHERE name='fsync'")
        setting, _, source = current.partition("|")
        if setting == ("on" if fsync else "off"):
            return
        if source == "command line":  # started by an older checkout with -c fsync=off
            log("restarting the private cluster without the command-line fsync=off")
            self._pg_ctl(bindir, "restart")
        self._psql(bindir, f"ALTER SYSTEM SET fsync = {'on' if fsync else 'off'}")
        self._psql(bindir, "SELECT pg_reload_conf()")
        if fsync:  # what was written while fsync was off reaches the disk now
            self._psql(bindir, "CHECKPOINT")
            os.sync()
        log(f"private cluster: fsync {'on' if fsync else 'off'}")

    def ensure(self, *, fsync: bool = True) -> str:
        """Initialise (once), start (if down), secure and return the cluster's URL."""
        bindir = _pg_bindir()
        if bindir is None:
            sys.exit("PostgreSQL server binaries not found after install")
        t0 = time.monotonic()
        if _port_open(self.port) and not self.owns_port():
            log(
                f"127.0.0.1:{self.port} is served by another PostgreSQL (not {self.data}): "
                "using it as it is, without a password; set SIAGA_PG_PORT to run our own"
            )
            return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{PG_DB}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.password()  # made by the invoking user, readable by it alone
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._initdb(bindir)
        self.run_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.run_dir, "postgres", "postgres")
        if not _port_open(self.port):
            self._pg_ctl(bindir, "start")
        if self._hba_trusts():
            self._migrate_from_trust(bindir)
        self._durability(bindir, fsync=fsync)
        exists = self._psql(bindir, f"SELECT 1 FROM pg_database WHERE datname='{PG_DB}'")
        if not exists:
            self._psql(bindir, f"CREATE DATABASE {PG_DB}")
        self._psql(bindir, "CREATE EXTENSION IF NOT EXISTS postgis", db=PG_DB)
        log(f"private PostGIS on 127.0.0.1:{self.port} ready in {time.monotonic() - t0:.1f}s")
        return self.url()


def ensure_private_cluster(*, fsync: bool = True) -> str:
    """Start the embedded PostgreSQL under .var/pg and return its URL (password included)."""
    return Cluster().ensure(fsync=fsync)


def prepare(*, for_tests: bool, fsync: bool = True) -> dict[str, str]:
    t0 = time.monotonic()
    ensure_os_packages(for_tests=for_tests)
    ensure_venv()
    env = dict(os.environ)
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = ensure_private_cluster(fsync=fsync)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    log(f"setup took {time.monotonic() - t0:.1f}s")
    return env


def run(extra: list[str]) -> int:
    env = prepare(for_tests=False)
    env.setdefault("SIAGA_ENV", "development")
    siaga = [str(_venv_python()), "-m", "service"]
    subprocess.run([*siaga, "db", "upgrade"], check=True, env=env, cwd=ROOT)
    subprocess.run([*siaga, "demo", "load"], check=True, env=env, cwd=ROOT)
    procs = [
        subprocess.Popen([*siaga, "serve", *extra], env=env, cwd=ROOT),
        subprocess.Popen([*siaga, "worker"], env=env, cwd=ROOT),
    ]
    log("API on http://127.0.0.1:8000 (OGC API at /ogc); Ctrl-C stops both processes")

    def stop(*_: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop()
    for p in procs:
        p.wait(timeout=20)
    return max(p.returncode or 0 for p in procs)


def test(extra: list[str]) -> int:
    env = prepare(for_tests=True, fsync=False)  # tests trade durability for speed
    cmd = [str(_venv_python()), "-m", "pytest", *extra]
    return subprocess.run(cmd, env=env, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "setup"}:
        print(__doc__)
        return 2
    if argv[0] == "run":
        return run(argv[1:])
    if argv[0] == "test":
        return test(argv[1:])
    env = prepare(for_tests=True)
    print(f"DATABASE_URL={env['DATABASE_URL']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
