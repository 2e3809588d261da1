"""Images made from Debian packages: download with apt, extract, check the shared-library closure.

The bundle's busybox and Redis images are not built from source: they are Debian's own
binaries, fetched with ``apt-get download`` through the build host's apt sources (the
same packages ``apt install`` would verify and install), unpacked with ``dpkg-deb -x``.
:func:`download_closure` follows a package's ``Depends`` through the shared libraries
only (``lib*`` packages): a container needs the libraries its binaries load, not
``adduser`` or an init script's helpers. :func:`check_closure` then proves the result: every
``DT_NEEDED`` library of every ELF file is in the image, and the image's own loader runs a
binary with the image's libraries alone.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from helpers.errors import BuildError

#: Where Debian (amd64) puts shared libraries.
LIB_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib64")
LOADER = "lib64/ld-linux-x86-64.so.2"
#: What an image leaves out of an extracted package tree: documentation, init scripts, units,
#: and glibc's character-set converters (iconv modules no server here loads).
DROPPED = ("usr/share/doc", "usr/share/man", "usr/share/lintian", "usr/share/bash-completion",
           "etc/init.d", "etc/default", "etc/logrotate.d", "lib/systemd", "usr/lib/systemd",
           "usr/lib/x86_64-linux-gnu/gconv")


def run(cmd: list[str], cwd: Path, log_file: Path, step: str) -> str:
    """Run ``cmd`` in ``cwd``, appending its output to ``log_file``; return stdout.

    Raises:
        BuildError: the command exited non-zero (the message names the step and stderr's tail).
    """
    with open(log_file, "a") as lf:
        lf.write(f"\n$ {' '.join(cmd)}\n")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    with open(log_file, "a") as lf:
        lf.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise BuildError(f"failed to {step}: {' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def upstream_version(debian_version: str) -> str:
    """'1:1.35.0-4+deb12u1+b1' -> '1.35.0' (no epoch, no Debian revision)."""
    return debian_version.split(":", 1)[-1].rsplit("-", 1)[0]


def depends_names(field: str) -> list[str]:
    """Package names of a ``Depends`` field, the first of each alternative, without versions or arch.

    >>> depends_names("libc6 (>= 2.34), libssl3 (>= 3.0.0) | libssl1.1, perl:any")
    ['libc6', 'libssl3', 'perl']
    """
    names = []
    for clause in field.split(","):
        first = clause.split("|", 1)[0].strip()
        name = re.split(r"[\s(:]", first, maxsplit=1)[0]
        if name:
            names.append(name)
    return names


def download(package: str, work: Path, log_file: Path) -> Path:
    """``apt-get download package`` into ``work``; returns the .deb."""
    before = set(work.glob("*.deb"))
    run(["apt-get", "download", package], work, log_file, f"download Debian package {package}")
    new = sorted(set(work.glob("*.deb")) - before) or sorted(work.glob(f"{package}_*.deb"))
    if not new:
        raise BuildError(f"failed to download Debian package {package}: apt-get wrote no .deb in {work}")
    return new[0]


def field(deb: Path, name: str, work: Path, log_file: Path) -> str:
    """One control field of a .deb (``Version``, ``Depends``); empty when the package has none."""
    return run(["dpkg-deb", "-f", str(deb), name], work, log_file, f"read {name} of {deb.name}").strip()


def download_closure(roots: list[str], work: Path, log_file: Path) -> dict[str, Path]:
    """Download ``roots`` and, recursively, the ``lib*`` packages they depend on; name -> .deb."""
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("*.deb"):
        old.unlink()
    debs: dict[str, Path] = {}
    queue = list(roots)
    while queue:
        name = queue.pop(0)
        if name in debs:
            continue
        debs[name] = deb = download(name, work, log_file)
        queue += [d for d in depends_names(field(deb, "Depends", work, log_file))
                  if d.startswith("lib") and d not in debs]
    return debs


def extract(debs: dict[str, Path], root: Path, work: Path, log_file: Path) -> None:
    """Unpack every .deb into ``root`` and drop what an image does not need (:data:`DROPPED`)."""
    import shutil  # noqa: PLC0415

    if root.exists():
        shutil.rmtree(root)
    for deb in debs.values():
        run(["dpkg-deb", "-x", str(deb), str(root)], work, log_file, f"extract {deb.name}")
    for rel in DROPPED:
        if (root / rel).is_dir():
            shutil.rmtree(root / rel)


def _needed(path: Path, work: Path, log_file: Path) -> list[str] | None:
    """The DT_NEEDED entries of an ELF file; ``None`` when ``path`` is not ELF."""
    with open(path, "rb") as f:
        if f.read(4) != b"\x7fELF":
            return None
    out = run(["readelf", "-d", str(path)], work, log_file, f"read the dynamic section of {path.name}")
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def check_closure(root: Path, binary: str, args: list[str], work: Path, log_file: Path) -> str:
    """Prove the image's libraries suffice; returns what ``binary args`` printed.

    Raises:
        BuildError: an ELF file needs a library the image lacks (named), or the image's
            loader cannot run ``binary`` with the image's libraries alone.
    """
    present = {p.name for d in LIB_DIRS if (root / d).is_dir() for p in (root / d).iterdir()}
    missing: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        for lib in _needed(path, work, log_file) or []:
            if lib not in present:
                missing.setdefault(lib, []).append(str(path.relative_to(root)))
    if missing:
        named = "; ".join(f"{lib} (needed by {', '.join(users[:3])})" for lib, users in sorted(missing.items()))
        raise BuildError(f"failed to make an image of {root.name}: libraries missing: {named}")
    library_path = ":".join(str(root / d) for d in LIB_DIRS)
    return run([str(root / LOADER), "--library-path", library_path, str(root / binary), *args], work, log_file,
               f"run {binary} with the image's own loader and libraries")


def tree_entries(root: Path) -> list:
    """The files, links and directories under ``root`` as image entries, modes kept, in path order."""
    from helpers.mirror import images  # noqa: PLC0415

    entries: list = []
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            entries.append(images.Symlink(rel, str(path.readlink())))
        elif path.is_dir():
            entries.append(images.Directory(rel, path.stat().st_mode & 0o7777))
        else:
            entries.append(images.File(rel, path, path.stat().st_mode & 0o7777))
    return entries
