"""Loading an inventory: read the YAML file, validate every section, collect every problem.

``load_inventory`` is what callers use; ``validate_inventory`` does the work on parsed
data, so one mistake does not hide the others and ``InventoryError`` names them all.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from helpers.errors import InventoryError
from helpers.inventory.fields import Problem
from helpers.inventory.meaning import check_meaning, host_values, network_values
from helpers.inventory.messages import _translate, _unknown_key
from helpers.inventory.model import REQUIRED, SECTIONS, Inventory
from helpers.inventory.reading import _short, read_inventory_file
from helpers.inventory.sections import Host


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
    typos: dict[str, str] = {}           # a section the operator meant -> the key written instead
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            if close and close[0] not in data:
                typos[close[0]] = str(key)
                continue
            problems.append((_short(key), _unknown_key(_short(key), known)))
    for meant, written in typos.items():
        # one problem, where the mistake is: not a second, false one about the section it hid
        required = " (a required section)" if meant in REQUIRED or meant == "hosts" else ""
        problems.append((_short(written), f"unknown key {_short(written)!r}; did you mean {meant!r}{required}?"))
    parts: dict[str, Any] = {}
    for name, model in SECTIONS.items():
        if data.get(name) is None:
            if name in REQUIRED and name not in typos:
                problems.append((name, "required section is missing or empty"))
            continue
        try:
            parts[name] = model.model_validate(data[name], context=context)
        except ValidationError as err:
            problems += _translate(err, model, name)
    hosts: list[Host] = []
    raw_hosts = data.get("hosts")
    all_valid = False
    if (raw_hosts is None or raw_hosts == []) and "hosts" in typos:
        pass                              # named above, where the typo is
    elif raw_hosts is None or raw_hosts == []:
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
    if not isinstance(raw_net, dict):
        net["_missing"] = True    # the missing section is reported; nothing inferred from its absence
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
    inventory, problems = validate_inventory(read_inventory_file(path), base_dir=path.parent)
    if problems or inventory is None:
        raise InventoryError(str(path), problems)
    inventory._path = path
    return inventory
