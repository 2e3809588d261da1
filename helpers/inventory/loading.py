"""Loading an inventory: read the YAML file, validate every section, collect every problem.

``load_inventory`` is what callers use; ``validate_inventory`` does the work on parsed
data, so one mistake does not hide the others and ``InventoryError`` names them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from helpers.errors import InventoryError
from helpers.inventory.fields import Problem
from helpers.inventory.meaning import check_meaning, host_values, network_values
from helpers.inventory.messages import _translate, _unknown_key
from helpers.inventory.model import REQUIRED, SECTIONS, Inventory
from helpers.inventory.sections import Host


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InventoryError(str(path), [("(file)", f"cannot read: {err.strerror or err}")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = getattr(err, "problem", None) or str(err)
        raise InventoryError(str(path), [("(file)", f"invalid YAML: {where}{what}")]) from None


def validate_inventory(data: Any, base_dir: Path | None = None) -> tuple[Inventory | None, list[Problem]]:
    """Validate inventory data (a parsed YAML document); return the model and every problem.

    Each section and each host entry is validated on its own, so one mistake does not
    hide the others; cross-field checks then run over whatever validated.
    """
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else type(data).__name__
        return None, [("(file)", f"expected a mapping with sections {', '.join(REQUIRED)}; got {kind}")]
    context = {"base_dir": base_dir or Path.cwd()}
    problems: list[Problem] = []
    known = [*SECTIONS, "hosts"]
    for key in data:
        if key not in known:
            problems.append((str(key), _unknown_key(key, known)))
    parts: dict[str, Any] = {}
    for name, model in SECTIONS.items():
        if data.get(name) is None:
            if name in REQUIRED:
                problems.append((name, "required section is missing or empty"))
            continue
        try:
            parts[name] = model.model_validate(data[name], context=context)
        except ValidationError as err:
            problems += _translate(err, model, name)
    hosts: list[Host] = []
    raw_hosts = data.get("hosts")
    all_valid = False
    if raw_hosts is None or raw_hosts == []:
        problems.append(("hosts", "required section is missing or empty; list at least one host"))
    elif not isinstance(raw_hosts, list):
        problems.append(("hosts", f"expected a list of hosts, got {type(raw_hosts).__name__}"))
    else:
        all_valid = True
        for i, entry in enumerate(raw_hosts):
            try:
                hosts.append(Host.model_validate(entry, context=context))
            except ValidationError as err:
                all_valid = False
                problems += _translate(err, Host, f"hosts[{i}]")
    raw_net = data.get("network")
    net = network_values(raw_net)
    if isinstance(raw_net, dict) and raw_net.get("vip") is not None:
        net["_vip_given"] = True  # an invalid vip is reported on its own, not as missing
    entries = [(i, *host_values(e)) for i, e in enumerate(raw_hosts)] if isinstance(raw_hosts, list) else []
    problems += check_meaning(net, entries, hosts if all_valid else None)
    if problems:
        return None, problems
    return Inventory.model_validate(data, context=context), []


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate an inventory file.

    Args:
        path: the YAML file; relative ``identity_file``/``known_hosts`` inside it are
            resolved against its directory.

    Returns:
        The validated ``Inventory``.

    Raises:
        InventoryError: listing every problem as ``(field path, reason)``.
    """
    path = Path(path).expanduser().resolve()
    inventory, problems = validate_inventory(_read(path), base_dir=path.parent)
    if problems or inventory is None:
        raise InventoryError(str(path), problems)
    inventory._path = path
    return inventory
