"""A busybox image for client pods, from Debian's busybox-static package.

Not built from source: the binary is Debian's static (glibc) busybox, fetched with
``apt-get download busybox-static`` through the host's apt sources. The image is tagged
like upstream's (``docker.io/library/busybox:<upstream version>``); the manifest records
the Debian package and version it came from. ``/bin/<applet>`` links to ``/bin/busybox``
for every applet; ``CMD ["sh"]`` as upstream.
"""

from __future__ import annotations

from helpers.artifacts import release
from helpers.errors import BuildError
from helpers.mirror import images
from helpers.mirror.debian import download, run, upstream_version
from helpers.mirror.layout import Output, Unit

PACKAGE = "busybox-static"


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
        deb = download(PACKAGE, work, unit.log_file)
        debver = run(
            ["dpkg-deb", "-f", str(deb), "Version"], work, unit.log_file, "read the package version"
        ).strip()
        if upstream_version(debver) != version:
            raise BuildError(
                f"failed to build busybox {version}: apt offers {PACKAGE} {debver}; pin busybox: "
                f"{upstream_version(debver)} in versions.yaml"
            )
        root = work / "root"
        run(["dpkg-deb", "-x", str(deb), str(root)], work, unit.log_file, f"extract {deb.name}")
        binary = root / "bin" / "busybox"
        applets = run([str(binary), "--list"], work, unit.log_file, "list busybox applets").split()
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
