"""Fresh-machine bootstrap: the two quick-start commands.

    python3 -m service.bootstrap run    # install, start PostGIS, API + worker, demo data
    python3 -m service.bootstrap test   # install, start PostGIS, run the test suite

Standard library only: it runs before the virtualenv exists. It installs PostgreSQL and
PostGIS from the OS packages when they are absent, creates `.venv` with the package and its
test extras, and, when DATABASE_URL is unset, runs a private PostgreSQL cluster under
`.var/pg` (loopback only, its own port) with the PostGIS extension: the embedded default.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STATE = ROOT / ".var"
PG_DIR = STATE / "pg"
PG_DATA = PG_DIR / "data"
PG_RUN = PG_DIR / "run"
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


def ensure_private_cluster() -> str:
    """Start the embedded PostgreSQL under .var/pg and return its URL."""
    bindir = _pg_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries not found after install")
    t0 = time.monotonic()
    PG_DIR.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(STATE, "postgres", "postgres")
        shutil.chown(PG_DIR, "postgres", "postgres")
    if not (PG_DATA / "PG_VERSION").exists():
        log(f"initialising private cluster in {PG_DATA}")
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(PG_DATA),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    PG_RUN.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(PG_RUN, "postgres", "postgres")
    if not _port_open(PG_PORT):
        opts = f"-k {PG_RUN} -p {PG_PORT} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(PG_DATA),
                    "-l",
                    str(PG_DIR / "server.log"),
                    "-o",
                    opts,
                    "-w",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    psql = [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-qtA"]
    exists = subprocess.run(
        [*psql, "-d", "postgres", "-c", f"SELECT 1 FROM pg_database WHERE datname='{PG_DB}'"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not exists:
        subprocess.run([*psql, "-d", "postgres", "-c", f"CREATE DATABASE {PG_DB}"], check=True)
    subprocess.run([*psql, "-d", PG_DB, "-c", "CREATE EXTENSION IF NOT EXISTS postgis"], check=True)
    log(f"private PostGIS on 127.0.0.1:{PG_PORT} ready in {time.monotonic() - t0:.1f}s")
    return f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/{PG_DB}"


def prepare(*, for_tests: bool) -> dict[str, str]:
    t0 = time.monotonic()
    ensure_os_packages(for_tests=for_tests)
    ensure_venv()
    env = dict(os.environ)
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = ensure_private_cluster()
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
    env = prepare(for_tests=True)
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
