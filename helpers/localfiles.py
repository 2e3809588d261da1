"""Files on the operator's machine, written atomically: the one temp-file-then-rename writer.

Every local file the helpers write (certificates and keys, kubeconfigs, generated
secrets, records of what a notebook measured, extracted binaries, downloads, the lab's
files) goes through :func:`atomic_open` — usually through :func:`write_atomic`:

- the data goes to a temporary file in the target's own directory (so the rename stays
  on one filesystem), which gets its final mode *before* any byte is written and before
  it is renamed into place: a private key is never, not even briefly, readable by others;
- the temporary file is flushed and fsync'ed, then :func:`os.replace`'d onto the target,
  so a reader sees the old file or the whole new one, never half of one;
- on any failure (including an interrupt) the temporary file is removed.

Missing parent directories are created; with ``private=True`` a missing parent directory
is created 0700. :func:`ensure_private_dir` also brings an existing one back to 0700.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def ensure_private_dir(directory: str | os.PathLike) -> Path:
    """Create ``directory`` (and its parents) if missing and make sure it is mode 0700; return it."""
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if directory.stat().st_mode & 0o777 != 0o700:
        directory.chmod(0o700)
    return directory


@contextmanager
def atomic_open(path: str | os.PathLike, mode: int = 0o644, *, private: bool = False) -> Iterator[BinaryIO]:
    """Open a binary file that replaces ``path`` (with ``mode``) when the ``with`` block ends.

    For a writer that streams (a download); :func:`write_atomic` is the usual entry point.
    Nothing appears under ``path`` unless the block completes; if it raises, the
    temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700 if private else 0o777, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)     # the final mode, before any data and before the rename
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: str | bytes, mode: int = 0o644, *, private: bool = False) -> bool:
    """Write ``data`` (a str is UTF-8 encoded) to the local ``path`` with ``mode``; return True if it changed.

    Nothing is written (and False returned) when the file already holds ``data`` with
    ``mode``; when only the mode differs, only the mode is fixed (True). Otherwise the
    file is replaced through :func:`atomic_open`. ``private=True``: a missing parent
    directory is created 0700.
    """
    path = Path(path)
    data = data.encode() if isinstance(data, str) else data
    try:
        if path.read_bytes() == data:
            if stat.S_IMODE(path.stat().st_mode) == mode:
                return False
            path.chmod(mode)
            return True
    except (FileNotFoundError, IsADirectoryError):
        pass                                # nothing to compare with: write it (a directory fails the rename)
    with atomic_open(path, mode, private=private) as f:
        f.write(data)
    return True
