"""Deterministic .tar.gz release tarballs (fixed mtimes, root-owned, gzip without name/mtime)."""

from __future__ import annotations

import gzip
import os
import tarfile
from datetime import datetime
from pathlib import Path


def write_tarball(
    dest: Path,
    files: list[tuple[str, Path, int]],
    directories: list[str] | None = None,
    mtime: str = "1970-01-01T00:00:00Z",
) -> None:
    """Write ``dest`` (.tar.gz) holding ``files`` as (name in archive, host path, mode).

    Args:
        dest: the tarball (replaced atomically).
        files: members in order.
        directories: directory members written first (e.g. the top-level directory).
        mtime: RFC 3339 time every member carries, for reproducible archives.
    """
    stamp = int(datetime.fromisoformat(mtime.replace("Z", "+00:00")).timestamp())
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for name in directories or []:
                info = tarfile.TarInfo(name)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, stamp
                tar.addfile(info)
            for name, path, mode in files:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = path.stat().st_size, mode, stamp
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
    os.replace(tmp, dest)
