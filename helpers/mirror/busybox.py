"""A busybox image for client pods, from Debian's busybox-static package.

Not built from source: the binary is Debian's static (glibc) busybox, fetched with
``apt-get download busybox-static`` through the host's apt sources. The image is tagged
like upstream's (``docker.io/library/busybox:<upstream version>``); the manifest records
the Debian package and version it came from. ``/bin/<applet>`` links to ``/bin/busybox``
for every applet; ``CMD ["sh"]`` as upstream.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers.artifacts import release
from helpers.errors import BuildError
from helpers.mirror import images
from helpers.mirror.layout import Output, Unit

PACKAGE = "busybox-static"


def _run(cmd: list[str], cwd: Path, log_file: Path, step: str) -> str:
    with open(log_file, "a") as lf:
        lf.write(f"\n$ {' '.join(cmd)}\n")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    with open(log_file, "a") as lf:
        lf.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise BuildError(
            f"failed to {step}: {' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}"
        )
    return proc.stdout


def debian_upstream_version(debian_version: str) -> str:
    """'1:1.35.0-4+deb12u1+b1' -> '1.35.0' (no epoch, no Debian revision)."""
    return debian_version.split(":", 1)[-1].rsplit("-", 1)[0]


def busybox_unit(versions: dict) -> Unit:
    """docker.io/library/busybox:<pinned> made from Debian's busybox-static."""
    version = versions["busybox"]
    rel = release("image-bundle:busybox", versions)
    outputs = [
        Output(
            rel,
            rel.filename,
            f"deb:{PACKAGE}",
            version,
            note="Debian package binary, not built from source",
        )
    ]

    def build(unit: Unit) -> None:
        work = unit.dir / "deb"
        work.mkdir(parents=True, exist_ok=True)
        for old in work.glob("*.deb"):
            old.unlink()
        _run(
            ["apt-get", "download", PACKAGE],
            work,
            unit.log_file,
            f"download Debian package {PACKAGE}",
        )
        deb = next(work.glob("*.deb"))
        debver = _run(
            ["dpkg-deb", "-f", str(deb), "Version"], work, unit.log_file, "read the package version"
        ).strip()
        if debian_upstream_version(debver) != version:
            raise BuildError(
                f"failed to build busybox {version}: apt offers {PACKAGE} {debver}; pin busybox: "
                f"{debian_upstream_version(debver)} in versions.yaml"
            )
        root = work / "root"
        _run(["dpkg-deb", "-x", str(deb), str(root)], work, unit.log_file, f"extract {deb.name}")
        binary = root / "bin" / "busybox"
        applets = _run([str(binary), "--list"], work, unit.log_file, "list busybox applets").split()
        entries = [images.File("bin/busybox", binary, 0o755), *images.base_files()]
        entries += [
            images.Symlink(f"bin/{a}", "busybox") for a in sorted(set(applets)) if a != "busybox"
        ]
        entries.append(images.Directory("root", 0o700))
        images.write_image_archive(unit.out / rel.filename, rel.image_ref, entries, cmd=["sh"])
        unit.sources[rel.filename] = {
            "module": f"deb:{PACKAGE}",
            "version": debver,
            "file": deb.name,
        }

    return Unit(
        "busybox", version, outputs, build, {"version": version, "package": PACKAGE, "image": 1}
    )
