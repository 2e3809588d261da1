"""The runner: execute the notebooks in order, headless, keeping every executed copy.

``run_notebooks`` runs ``notebooks/NN-*.ipynb`` one after the other with papermill,
injecting the inventory path and the cluster directory as parameters, and writes each
executed notebook to ``runs/<UTC timestamp>/`` as the audit log of what was done. It
stops at the first failure and names the notebook, the failing cell and the error.

Commands:
    ``python -m helpers run [--inventory FILE] [--from NN] [--only NN] [--out DIR]``
    ``python -m helpers up [--inventory FILE]``: the main job (artifacts, lab, notebooks).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from helpers import paths
from helpers.errors import BuildError, ConfigError, LabError, NotebookFailed
from helpers.inventory import load_inventory

NOTEBOOKS_DIR = paths.REPO / "notebooks"
RUNS_DIR = paths.REPO / "runs"
PLANNED = (
    "01-architecture",
    "02-network",
    "03-etcd",
    "04-masters",
    "05-workers",
    "06-objects",
)
#: the last notebook of the series that builds the cluster (``make up``, a plain ``run``); the ones
#: after it change or probe a built cluster (10 operations, 11 resilience, 12 conformance) and run
#: only when named (``--only 11``, ``--from 10``) and in ``make test``
SERIES_END = "09"
_NUMBERED = re.compile(r"^(\d\d)-.+\.ipynb$")


def discover(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Return the numbered notebooks (``NN-name.ipynb``) of a directory, in order."""
    if not notebooks_dir.is_dir():
        return []
    return sorted(p for p in notebooks_dir.iterdir() if _NUMBERED.match(p.name))


NOTEBOOKS: list[Path] = discover()
"""The ordered list of notebooks the runner iterates (as found at import time)."""


@dataclass
class NotebookResult:
    """What happened to one notebook in a run."""

    notebook: str
    status: str  # ok | failed | not run
    seconds: float = 0.0
    output: str = ""
    error: str = ""


def _number(token: str) -> str:
    match = re.match(r"^(\d{1,2})(?:-|\.|$)", str(token).strip())
    if not match:
        raise ConfigError(f"notebook selector {token!r} must start with its number, e.g. 03 or 03-etcd")
    return f"{int(match.group(1)):02d}"


def select(notebooks: list[Path], from_: str | None = None, only: str | None = None) -> list[Path]:
    """Pick the notebooks to run: the series (01 to :data:`SERIES_END`), from number NN, or only NN.

    ``from_`` within the series resumes it and stops at its end; ``from_`` after it runs from
    there to the last notebook.

    Raises:
        ConfigError: when the number given matches no notebook.
    """
    have = [p.name[:2] for p in notebooks]
    token = only if only is not None else from_
    if token is None:
        return [p for p in notebooks if p.name[:2] <= SERIES_END]
    number = _number(token)
    if number not in have:
        listing = ", ".join(p.stem for p in notebooks) or "none"
        raise ConfigError(f"no notebook numbered {number} (have: {listing})")
    if only is not None:
        return [p for p in notebooks if p.name[:2] == number]
    end = SERIES_END if number <= SERIES_END else "99"
    return [p for p in notebooks if number <= p.name[:2] <= end]


def failing_cell(executed: Path) -> tuple[str, str]:
    """Return ``(cell source, "ename: evalue")`` of the first cell with an error output."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except (OSError, ValueError) as err:
        return "(executed copy unreadable)", f"{type(err).__name__}: {err}"
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return cell.source, f"{output.get('ename')}: {output.get('evalue')}"
    return "(no cell recorded an error)", ""


def _ipc_kernel_manager() -> type:
    """A kernel manager that talks to the kernel over local sockets, not loopback TCP."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import Unicode

    class IPCKernelManager(AsyncKernelManager):
        transport = Unicode("ipc", config=True)

    return IPCKernelManager


def _new_run_dir() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir, n = RUNS_DIR / stamp, 1
    while run_dir.exists():
        n += 1
        run_dir = RUNS_DIR / f"{stamp}-{n}"
    return run_dir


@contextlib.contextmanager
def _env(**values: str):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _write_summary(out_dir: Path, results: list[NotebookResult]) -> None:
    rows = [asdict(r) for r in results]
    (out_dir / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")


def run_notebooks(
    inventory_path: str | Path,
    from_: str | None = None,
    only: str | None = None,
    out_dir: str | Path | None = None,
    notebooks_dir: str | Path = NOTEBOOKS_DIR,
    kernel_name: str = "python3",
) -> list[NotebookResult]:
    """Execute the numbered notebooks in order with papermill.

    The inventory is validated first (nothing runs on a bad one). Each notebook gets the
    parameters ``inventory`` (absolute path) and ``cluster_dir``, runs with its own
    directory as working directory, and is written executed to ``out_dir``.

    Args:
        inventory_path: the inventory YAML file.
        from_: start at notebook number NN (resume).
        only: run only notebook number NN.
        out_dir: where executed copies and ``summary.json`` go; default ``runs/<UTC timestamp>``.
        notebooks_dir: where the ``NN-*.ipynb`` notebooks are.
        kernel_name: the Jupyter kernel to execute with.

    Returns:
        One ``NotebookResult`` per selected notebook, all ``ok``.

    Raises:
        InventoryError: the inventory is invalid.
        ConfigError: no notebooks, or the number given matches none.
        NotebookFailed: a notebook failed; names the cell, the error and the executed copy.
    """
    import papermill
    from tqdm import tqdm

    inventory_path = Path(inventory_path).expanduser().resolve()
    inv = load_inventory(inventory_path)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("papermill").setLevel(logging.WARNING)  # the bar and our lines say it
    notebooks_dir = Path(notebooks_dir).resolve()
    selected = select(discover(notebooks_dir), from_, only)
    if not selected:
        raise ConfigError(f"no notebooks (NN-name.ipynb) in {notebooks_dir}")
    out = Path(out_dir).resolve() if out_dir else _new_run_dir()
    out.mkdir(parents=True, exist_ok=True)
    parameters = {"inventory": str(inventory_path), "cluster_dir": str(inv.cluster_dir)}
    results = [NotebookResult(p.stem, "not run") for p in selected]
    _write_summary(out, results)
    bar = tqdm(selected, desc="notebooks", unit="nb", file=sys.stderr, dynamic_ncols=True)
    with _env(KJ_INVENTORY=str(inventory_path)):
        for result, source in zip(results, bar, strict=True):
            bar.set_postfix_str(source.stem)
            executed = out / source.name
            result.output = str(executed)
            started = time.monotonic()
            try:
                papermill.execute_notebook(
                    str(source),
                    str(executed),
                    parameters=parameters,
                    kernel_name=kernel_name,
                    cwd=str(notebooks_dir),
                    progress_bar=False,
                    kernel_manager_class=_ipc_kernel_manager(),
                )
            except Exception as err:  # every failure is reported the same way
                result.seconds = round(time.monotonic() - started, 2)
                cell, error = failing_cell(executed) if executed.exists() else ("(not started)", "")
                result.status, result.error = "failed", error or f"{type(err).__name__}: {err}"
                _write_summary(out, results)
                bar.close()
                tqdm.write(f"{source.stem}: failed after {result.seconds:.1f} s", file=sys.stderr)
                raise NotebookFailed(source.stem, str(executed), cell, result.error) from err
            result.seconds = round(time.monotonic() - started, 2)
            result.status = "ok"
            _write_summary(out, results)
            tqdm.write(f"{source.stem}: ok in {result.seconds:.1f} s", file=sys.stderr)
    bar.close()
    return results


# --- commands ------------------------------------------------------------------------------


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _helpers_command(*args: str, error: type[Exception]) -> float:
    """Run ``python -m helpers ARGS`` in a child process; return its wall time."""
    command = [sys.executable, "-m", "helpers", *args]
    print(f"==> python -m helpers {' '.join(args)}", flush=True)
    started = time.monotonic()
    code = subprocess.call(command, cwd=paths.REPO)
    seconds = time.monotonic() - started
    if code != 0:
        raise error(f"failed to run `python -m helpers {' '.join(args)}`: exit {code} (its output is above)")
    print(f"==> python -m helpers {' '.join(args)}: done in {seconds:.0f} s", flush=True)
    return seconds


def _print_results(results: list[NotebookResult]) -> None:
    for r in results:
        print(f"  {r.notebook:<20} {r.status:<8} {r.seconds:8.1f} s")
    if results:
        print(f"executed notebooks: {Path(results[0].output).parent}/ (summary.json)")


def _run_command(args: Any) -> int:
    results = run_notebooks(args.inventory, from_=args.from_, only=args.only, out_dir=args.out)
    _print_results(results)
    return 0


def main_job(
    inventory_path: str | Path,
    notebooks_dir: str | Path = NOTEBOOKS_DIR,
    out_dir: str | Path | None = None,
) -> int:
    """The main job: build the release artifacts, bring the lab up, run every notebook.

    The artifacts build and the lab only apply to inventories with a ``lab`` section;
    other inventories describe hosts that exist already and take releases from
    ``sources.release_mirror``.

    Args:
        inventory_path: the inventory YAML file.
        notebooks_dir: where the ``NN-*.ipynb`` notebooks are.
        out_dir: where executed copies go; default ``runs/<UTC timestamp>``.

    Returns:
        0 when every notebook that exists ran (the ones not written yet are named);
        a failure raises instead.
    """
    inventory_path = Path(inventory_path).expanduser().resolve()
    inv = load_inventory(inventory_path)
    started = time.monotonic()
    if inv.lab is None:
        print(f"no lab section in {inventory_path.name}: using your hosts as they are; "
              f"releases come from {inv.sources.release_mirror}")
    elif not _module_exists("helpers.mirror.cli"):
        print("skipped artifacts build: helpers.mirror is not part of this checkout yet")
    else:
        _helpers_command("artifacts", "build", error=BuildError)
    if inv.lab is not None:
        if _module_exists("helpers.lab.cli"):
            _helpers_command("lab", "up", "--inventory", str(inventory_path), error=LabError)
        else:
            print("skipped lab up: helpers.lab is not part of this checkout yet")
    present = {p.stem for p in discover(Path(notebooks_dir))}
    missing = [name for name in PLANNED if name not in present]
    if present:
        _print_results(run_notebooks(inventory_path, notebooks_dir=notebooks_dir, out_dir=out_dir))
    kubeconfig = inv.cluster_dir / "kubeconfigs" / "admin.kubeconfig"
    print(f"\nfinished in {time.monotonic() - started:.0f} s")
    if kubeconfig.exists():
        print(f"admin kubeconfig: {kubeconfig}")
        print(f"  kubectl --kubeconfig {kubeconfig} get nodes")
        fetched = sorted(paths.cache_dir().glob("downloads/dl.k8s.io/release/*/bin/linux/amd64/kubectl"))
        if fetched:
            print(f"  (no kubectl? the one 04-masters fetched from the mirror: {fetched[-1]})")
    else:
        print(f"no admin kubeconfig yet ({kubeconfig}): 04-masters writes it")
    if missing:
        done = "what the notebooks above built" if present else "nothing: no notebook ran"
        print(f"\nNOT COMPLETE: the series is still being written; these notebooks do not "
              f"exist yet: {', '.join(missing)}. The cluster has {done}.")
    return 0


def _up_command(args: Any) -> int:
    return main_job(args.inventory)


def add_cli(sub: Any) -> None:
    """Register ``run`` and ``up``."""
    run = sub.add_parser("run", help="run the notebooks in order (papermill)")
    run.add_argument("--inventory", default=str(paths.default_inventory()), help="inventory YAML file")
    group = run.add_mutually_exclusive_group()
    group.add_argument("--from", dest="from_", metavar="NN", help="resume at notebook NN")
    group.add_argument("--only", metavar="NN", help="run only notebook NN")
    run.add_argument("--out", metavar="DIR", help="directory for executed copies (default runs/<UTC time>)")
    run.set_defaults(func=_run_command)
    up = sub.add_parser("up", help="the main job: artifacts, lab, then every notebook")
    up.add_argument("--inventory", default=str(paths.default_inventory()), help="inventory YAML file")
    up.set_defaults(func=_up_command)
