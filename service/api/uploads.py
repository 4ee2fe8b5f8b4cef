"""Multipart uploads: stage files in a private temp folder under the size limit; check form keys.

Staging folders live in one known folder (`SIAGA_STORAGE_UPLOAD_DIR`, default
`<system temp>/siaga-uploads`) and are named after the process that made them, so a process
that starts up removes what dead processes left behind (`clean_stale_uploads`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import Request, UploadFile

from service.errors import InvalidInput, PayloadTooLarge

CHUNK = 1 << 20
PREFIX = "siaga-upload-"
# A folder older than this is removed at start-up even if its process seems alive
# (its pid may have been reused).
STALE_AFTER_S = 24 * 3600

log = logging.getLogger(__name__)


def upload_root(configured: Path | None) -> Path:
    return configured or Path(tempfile.gettempdir()) / "siaga-uploads"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_stale_uploads(root: Path, *, now: float | None = None) -> list[str]:
    """Remove staging folders whose process is gone (or that are older than a day)."""
    now = time.time() if now is None else now
    removed: list[str] = []
    if not root.is_dir():
        return removed
    for entry in root.iterdir():
        if not entry.name.startswith(PREFIX):
            continue
        pid_text = entry.name.removeprefix(PREFIX).split("-", 1)[0]
        try:
            pid = int(pid_text)
            age = now - entry.stat().st_mtime
        except (ValueError, OSError):
            continue
        if pid != os.getpid() and (not _pid_alive(pid) or age > STALE_AFTER_S):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    if removed:
        log.warning("removed %d upload folder(s) left by stopped processes", len(removed))
    return removed


def safe_filename(name: str | None, index: int) -> str:
    base = Path(name or "").name
    base = re.sub(r"[^\w.\-]+", "_", base).strip("._")
    return base or f"upload-{index}"


@contextmanager
def staged_uploads(
    files: Iterable[UploadFile], *, max_mb: float, root: Path | None = None
) -> Iterator[list[Path]]:
    """Copy the uploads (keeping their names, so sidecars like .prj pair up) into a temp folder."""
    limit = int(max_mb * 1024 * 1024)
    uploads = list(files)
    names = [safe_filename(u.filename, i) for i, u in enumerate(uploads)]
    # Sizes are known once the multipart body is parsed: refuse before copying anything.
    total = 0
    for name, upload in zip(names, uploads, strict=True):
        total += upload.size or 0
        if total > limit:
            raise _too_large(name, max_mb)
    base = upload_root(root)
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
    try:
        paths: list[Path] = []
        total = 0
        for name, upload in zip(names, uploads, strict=True):
            dest = folder / name
            if dest.exists():
                raise InvalidInput(f"two uploaded files are both named {name!r}; rename one")
            with dest.open("wb") as out:
                while chunk := upload.file.read(CHUNK):
                    total += len(chunk)
                    if total > limit:
                        raise _too_large(name, max_mb)
                    out.write(chunk)
            paths.append(dest)
        yield paths
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _too_large(name: str, max_mb: float) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{name} is larger than the upload limit of {max_mb:g} MB (SIAGA_API_MAX_UPLOAD_MB); "
        "import it with the `siaga` CLI on the server, or compress it (zip a Shapefile)"
    )


def only_form_fields(
    allowed: Iterable[str],
) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """Dependency: a 400 naming any form field the endpoint does not know (typos fail loudly)."""
    known = set(allowed)

    async def dependency(request: Request) -> None:
        form = await request.form()  # parsed once by FastAPI already; this is the cached copy
        unknown = sorted(set(form.keys()) - known)
        if unknown:
            raise InvalidInput(
                f"unknown form field(s): {', '.join(unknown)}; "
                f"this endpoint accepts: {', '.join(sorted(known))}"
            )

    return dependency
