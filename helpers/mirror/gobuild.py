"""Go builds from the module proxy: environment, wrapper modules, module metadata, go build.

Every build runs in a small wrapper module under the unit's build directory that
requires the upstream module at the pinned version (and replaces what upstream's own
go.mod replaces with local paths). The module cache, build cache and GOPATH live under
``paths.cache_dir()/go`` so a second build, and CI on the same machine, reuse them.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from helpers import paths
from helpers.errors import BuildError

log = logging.getLogger(__name__)

SUMDB_URL = "https://sum.golang.org/latest"
_PACKAGE_LINE = re.compile(r"^[A-Za-z0-9_.~\-]+(/[A-Za-z0-9_.~\-]+)*$")


class _Counter:
    """Packages compiled by ``go build -v`` since the last reset (read by the progress reports)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def reset(self) -> None:
        with self._lock:
            self.value = 0

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.value += n


COMPILED = _Counter()


def go_binary() -> str:
    """Path of the ``go`` command (PATH first, then /usr/local/go/bin/go).

    Raises:
        BuildError: no Go toolchain is installed.
    """
    found = shutil.which("go") or (
        "/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None
    )
    if not found:
        raise BuildError("failed to find the go command: install Go >= 1.26 (https://go.dev/dl/)")
    return found


@functools.cache
def sumdb_reachable(timeout: float = 5.0) -> bool:
    """Whether the Go checksum database answers; module downloads are verified when it does."""
    try:
        with urllib.request.urlopen(SUMDB_URL, timeout=timeout) as resp:  # noqa: S310 - fixed https URL
            return resp.status == 200
    except OSError:
        return False


def go_env(toolchain: str | None = None, cgo: bool = False) -> dict[str, str]:
    """Environment for ``go`` commands: caches under the cache dir, module mode, GOSUMDB.

    GOSUMDB stays on when sum.golang.org is reachable; when it is not (air-gapped build
    boxes that reach only the module proxy) it is turned off and module zips are trusted
    as served by the proxy over TLS; the decision is logged.
    """
    root = paths.cache_dir() / "go"
    env = dict(os.environ)
    go_dir = os.path.dirname(go_binary())
    env["PATH"] = go_dir + os.pathsep + env.get("PATH", "")
    env.update(
        GOMODCACHE=str(root / "mod"),
        GOCACHE=str(root / "build-cache"),
        GOPATH=str(root / "path"),
        GOFLAGS="-mod=mod",
        GOOS="linux",
        GOARCH="amd64",
        CGO_ENABLED="1" if cgo else "0",
        GOPROXY=os.environ.get("GOPROXY", "https://proxy.golang.org,direct"),
    )
    if toolchain:
        env["GOTOOLCHAIN"] = toolchain
    if "GOSUMDB" not in os.environ and not sumdb_reachable():
        log.warning(
            "sum.golang.org unreachable: GOSUMDB=off (modules trusted as served by the proxy)"
        )
        env["GOSUMDB"] = "off"
    return env


def run_go(args: list[str], cwd: Path, env: dict[str, str], log_file: Path, step: str) -> str:
    """Run ``go <args>`` in ``cwd``, appending its output to ``log_file``; return stdout.

    Raises:
        BuildError: go exited non-zero; the message names the step and the log's tail.
    """
    cmd = [go_binary(), *args]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(log_file, "a") as lf, tempfile.TemporaryFile("w+") as stdout:
        lf.write(f"\n$ (cd {cwd} && {' '.join(cmd)})\n")
        lf.flush()
        # stderr is read line by line: `go build -v` names each package as it compiles it
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        for line in proc.stderr:
            lf.write(line)
            if _PACKAGE_LINE.match(line.strip()):
                COMPILED.add()
        proc.wait()
        lf.write(f"# exit {proc.returncode} after {time.monotonic() - start:.1f}s\n")
        stdout.seek(0)
        out = stdout.read()
    if proc.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-25:])
        raise BuildError(f"failed to {step}: go exited {proc.returncode} (log {log_file})\n{tail}")
    return out


def write_wrapper_module(
    src: Path,
    module: str,
    requires: dict[str, str],
    replaces: dict[str, str] | None = None,
    go_version: str = "1.26.0",
) -> bool:
    """Write ``src/go.mod`` for a wrapper module unless one with the same header exists.

    go fills in the indirect requirements on the first build (GOFLAGS=-mod=mod); the
    file is kept afterwards so later builds resolve the same versions. Returns whether
    it was (re)written.
    """
    lines = [
        f"module {module}",
        "",
        f"go {go_version}",
        "",
        f"godebug default=go{go_version.rsplit('.', 1)[0]}",
        "",
    ]
    lines += ["require ("] + [f"\t{m} {v}" for m, v in sorted(requires.items())] + [")", ""]
    if replaces:
        lines += ["replace ("] + [f"\t{m} => {t}" for m, t in sorted(replaces.items())] + [")", ""]
    header = "\n".join(lines)
    marker = src / ".wrapper-header"
    gomod = src / "go.mod"
    if gomod.exists() and marker.exists() and marker.read_text() == header:
        return False
    src.mkdir(parents=True, exist_ok=True)
    gomod.write_text(header)
    marker.write_text(header)
    (src / "go.sum").unlink(missing_ok=True)
    return True


def module_download(module: str, version: str, env: dict[str, str], log_file: Path) -> dict:
    """``go mod download -json module@version``: returns Dir, Info, GoMod, Sum ... plus Time/Hash.

    ``Time`` (the version's commit time) and ``Hash`` (its commit, when the proxy
    records the origin) come from the .info file and are used to stamp versions.
    """
    tmp = paths.cache_dir() / "build" / ".download"
    tmp.mkdir(parents=True, exist_ok=True)
    out = run_go(
        ["mod", "download", "-json", f"{module}@{version}"],
        tmp,
        env,
        log_file,
        f"download module {module}@{version} from the Go module proxy",
    )
    data = json.loads(out)
    if data.get("Error"):
        raise BuildError(f"failed to download module {module}@{version}: {data['Error']}")
    info = json.loads(Path(data["Info"]).read_text())
    data["Time"] = info.get("Time", "")
    data["Hash"] = (info.get("Origin") or {}).get("Hash", "")
    return data


def wrap_module(module: str, version: str, unit, toolchain: str, cgo: bool = False) -> tuple[dict, dict[str, str]]:
    """Download ``module@version`` and write the wrapper go.mod in ``unit.dir/src``; returns (module info, env).

    The wrapper is ``kubernetes-journey/build/<unit name>``, requiring the module alone, so
    its dependencies resolve to the versions the module's own go.mod pins.
    """
    env = go_env(toolchain, cgo=cgo)
    info = module_download(module, version, env, unit.log_file)
    write_wrapper_module(unit.dir / "src", f"kubernetes-journey/build/{unit.name}", {module: version})
    return info, env


def go_build(
    src: Path,
    out_dir: Path,
    packages: list[str],
    env: dict[str, str],
    log_file: Path,
    ldflags: str = "-s -w",
    tags: str = "",
    parallel: int | None = None,
    step: str = "go build",
    buildmode: str = "",
) -> None:
    """Build one or more main packages into ``out_dir`` in one ``go build`` (shared compilation).

    Builds are -trimpath; ``parallel`` defaults to the number of CPUs; ``buildmode``
    (``pie``) is passed as ``-buildmode``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    args = ["build", "-v", "-p", str(parallel or os.cpu_count() or 2), "-trimpath"]
    if buildmode:
        args += [f"-buildmode={buildmode}"]
    if tags:
        args += ["-tags", tags]
    args += ["-ldflags", ldflags, "-o", str(out_dir) + "/", *packages]
    run_go(args, src, env, log_file, step)
