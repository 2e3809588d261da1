"""The inventory: which hosts make up the cluster, how to reach them, how they are wired.

An inventory is a YAML file (see ``inventories/``). ``load_inventory`` reads it, checks
its shape with pydantic and its meaning (addresses inside the node subnet, no
overlapping ranges, an odd etcd group, ...) with plain Python, and raises one
``InventoryError`` naming *every* problem with its field path (``hosts[3].address``)
before any host is touched.

The command ``python -m helpers inventory check FILE`` does the same from a shell and
prints the address plan.

The package, one job per module (every public name is re-exported here):

- :mod:`~helpers.inventory.fields` - field types with plain-language errors, ``Role``, ``Problem``;
- :mod:`~helpers.inventory.sections` - the models of the sections and of one host;
- :mod:`~helpers.inventory.meaning` - the checks across fields (addresses, ranges, role groups);
- :mod:`~helpers.inventory.model` - ``Inventory``, the whole file;
- :mod:`~helpers.inventory.messages` - pydantic's errors in words, did-you-mean suggestions;
- :mod:`~helpers.inventory.loading` - reading the YAML, ``validate_inventory``, ``load_inventory``;
- :mod:`~helpers.inventory.summary` - the address plan as a table;
- :mod:`~helpers.inventory.cli` - ``inventory check``.
"""

from helpers.errors import InventoryError
from helpers.inventory.cli import add_cli
from helpers.inventory.fields import (
    Address,
    Label,
    Network,
    Port,
    Problem,
    Role,
    Text,
    UserName,
)
from helpers.inventory.loading import load_inventory, validate_inventory
from helpers.inventory.meaning import check_meaning, host_values, network_values
from helpers.inventory.model import REQUIRED, SECTIONS, Inventory
from helpers.inventory.sections import (
    SSH,
    Bastion,
    Cluster,
    Host,
    HostSSH,
    LabSpec,
    NetworkPlan,
    Sources,
)
from helpers.inventory.summary import format_summary

__all__ = [
    "REQUIRED",
    "SECTIONS",
    "SSH",
    "Address",
    "Bastion",
    "Cluster",
    "Host",
    "HostSSH",
    "Inventory",
    "InventoryError",
    "LabSpec",
    "Label",
    "Network",
    "NetworkPlan",
    "Port",
    "Problem",
    "Role",
    "Sources",
    "Text",
    "UserName",
    "add_cli",
    "check_meaning",
    "format_summary",
    "host_values",
    "load_inventory",
    "network_values",
    "validate_inventory",
]
