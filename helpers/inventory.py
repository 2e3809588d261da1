"""The inventory: which hosts make up the cluster, how to reach them, how they are wired.

An inventory is a YAML file (see ``inventories/``). ``load_inventory`` reads it, checks
its shape with pydantic and its meaning (addresses inside the node subnet, no
overlapping ranges, an odd etcd group, ...) with plain Python, and raises one
``InventoryError`` naming *every* problem with its field path (``hosts[3].address``)
before any host is touched.

The command ``python -m helpers inventory check FILE`` does the same from a shell and
prints the address plan.
"""

from __future__ import annotations

import difflib
import re
import sys
import typing
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from helpers import paths
from helpers.constants import ROLES
from helpers.errors import InventoryError

Role = Literal["lb", "etcd", "master", "worker"]
Problem = tuple[str, str]

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_VERSION = re.compile(r"^v\d+\.\d+\.\d+$")
_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


# --- field types with plain-language errors -------------------------------------------


def _address(value: Any) -> IPv4Address:
    if isinstance(value, IPv4Address):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv4 address such as 192.168.4.11, got {value!r}")
    try:
        return IPv4Address(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None


def _network(value: Any) -> IPv4Network:
    if isinstance(value, IPv4Network):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv4 network in CIDR form such as 10.0.0.0/24, got {value!r}")
    text = value.strip()
    if "/" not in text:
        raise ValueError(f"{value!r} has no prefix length; write it in CIDR form such as 10.0.0.0/24")
    try:
        return IPv4Network(text)
    except ValueError as err:
        if "host bits set" in str(err):
            suggestion = IPv4Network(text, strict=False)
            raise ValueError(f"{value!r} has host bits set; did you mean {suggestion}?") from None
        raise ValueError(f"{value!r} is not an IPv4 network in CIDR form") from None


def _port(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"port must be a whole number from 1 to 65535, got {value!r}")
    return value


def _label(value: str) -> str:
    if not _LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use lowercase letters, digits and '-', start and "
            "end with a letter or digit, at most 63 characters (an RFC 1123 label)"
        )
    return value


def _domain(value: str) -> str:
    labels = value.rstrip(".").split(".")
    if len(value) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(
            f"{value!r} is not a valid DNS domain: dot-separated lowercase labels of letters, "
            "digits and '-'"
        )
    return value.rstrip(".")


def _user(value: str) -> str:
    if not _USER.match(value):
        raise ValueError(f"{value!r} is not a valid user name")
    return value


def _http_url(value: str) -> str:
    url = urlparse(value)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value.rstrip("/")


def _text(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    return value


Address = Annotated[IPv4Address, BeforeValidator(_address)]
Network = Annotated[IPv4Network, BeforeValidator(_network)]
Port = Annotated[int, BeforeValidator(_port)]
Label = Annotated[str, BeforeValidator(_text), AfterValidator(_label)]
Text = Annotated[str, BeforeValidator(_text)]
UserName = Annotated[str, AfterValidator(_user)]


def _resolve_path(value: Any, info: ValidationInfo) -> Any:
    """Expand ``~`` and resolve relative paths against the inventory file's directory."""
    if value is None:
        return None
    if not isinstance(value, str | Path) or not str(value).strip():
        raise ValueError(f"expected a file path, got {value!r}")
    path = Path(value).expanduser()
    if not path.is_absolute():
        base = (info.context or {}).get("base_dir") or Path.cwd()
        path = Path(base) / path
    return path.resolve()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# --- the model -------------------------------------------------------------------------


class Cluster(_Model):
    """Cluster identity: its name (used for state paths), DNS domain and Kubernetes version."""

    name: Label
    domain: Annotated[str, BeforeValidator(_text), AfterValidator(_domain)]
    kubernetes_version: str = "pinned"

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value != "pinned" and not _VERSION.match(value):
            raise ValueError(f"{value!r} must be 'pinned' or a release such as v1.35.0")
        return value


class NetworkPlan(_Model):
    """The address plan: node subnet with gateway and VIP, pod and service ranges."""

    node_subnet: Network
    gateway: Address
    vip: Address | None = None
    pod_cidr: Network
    service_cidr: Network
    cluster_dns: Address


class Bastion(_Model):
    """A jump host the SSH connections go through."""

    host: Text
    user: UserName | None = None
    port: Port = 22


class SSH(_Model):
    """How to reach every host over SSH (hosts may override user, port and key)."""

    user: UserName = "root"
    port: Port = 22
    identity_file: Path
    known_hosts: Path
    bastion: Bastion | None = None

    _paths = field_validator("identity_file", "known_hosts", mode="before")(_resolve_path)


class HostSSH(_Model):
    """Per-host SSH overrides; unset fields fall back to the inventory's ``ssh`` section."""

    user: UserName | None = None
    port: Port | None = None
    identity_file: Path | None = None

    _paths = field_validator("identity_file", mode="before")(_resolve_path)


class Sources(_Model):
    """Where releases, images and Debian packages come from."""

    release_mirror: str = "upstream"
    images: Literal["bundle", "registry"] = "registry"
    registry_mirror: Text | None = None
    apt_proxy: Annotated[str, AfterValidator(_http_url)] | None = None

    @field_validator("release_mirror")
    @classmethod
    def _mirror(cls, value: str) -> str:
        if value == "upstream":
            return value
        url = urlparse(value)
        if url.scheme in ("http", "https") and url.netloc:
            return value.rstrip("/")
        if url.scheme == "file" and url.path.startswith("/"):
            return value.rstrip("/") if url.path != "/" else value
        raise ValueError(
            f"{value!r} must be 'upstream' or a base URL starting with http://, https:// or file:///"
        )


class Host(_Model):
    """One machine of the cluster."""

    name: Label
    address: Address
    roles: list[Role]
    ssh: HostSSH = Field(default_factory=HostSSH)
    _domain: str = PrivateAttr(default="")

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"a host needs at least one role (one of {', '.join(ROLES)})")
        twice = sorted({r for r in value if value.count(r) > 1})
        if twice:
            raise ValueError(f"role {twice[0]!r} is listed more than once")
        return value

    @property
    def fqdn(self) -> str:
        """The host's fully qualified name, ``<name>.<cluster.domain>``."""
        return f"{self.name}.{self._domain}" if self._domain else self.name


class LabSpec(_Model):
    """How the one-box lab builds this inventory's machines (only lab inventories have it)."""

    name: Label
    bridge: str
    release: Label = "trixie"

    @field_validator("bridge")
    @classmethod
    def _bridge(cls, value: str) -> str:
        if not _IFNAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid interface name: 1-15 letters, digits, '_', '.' or '-'"
            )
        return value


SECTIONS: dict[str, type[_Model]] = {
    "cluster": Cluster,
    "network": NetworkPlan,
    "ssh": SSH,
    "sources": Sources,
    "lab": LabSpec,
}
REQUIRED = ("cluster", "network", "ssh", "hosts")


class Inventory(_Model):
    """A validated inventory. Build it with ``load_inventory``."""

    cluster: Cluster
    network: NetworkPlan
    ssh: SSH
    sources: Sources = Field(default_factory=Sources)
    hosts: list[Host]
    lab: LabSpec | None = None
    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _meaning(self) -> Inventory:
        net = self.network.model_dump()
        hosts = [(i, h.name, h.address) for i, h in enumerate(self.hosts)]
        problems = check_meaning(net, hosts, self.hosts)
        if problems:
            raise ValueError("; ".join(f"{p}: {r}" for p, r in problems))
        for host in self.hosts:
            host._domain = self.cluster.domain
        return self

    @property
    def path(self) -> Path | None:
        """The YAML file this inventory was loaded from."""
        return self._path

    @property
    def cluster_dir(self) -> Path:
        """Directory of this cluster's generated state (PKI, configs, kubeconfigs)."""
        return paths.cluster_dir(self.cluster.name)

    def hosts_with(self, role: str) -> list[Host]:
        """Return the hosts that have ``role``, in file order."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        return [h for h in self.hosts if role in h.roles]

    def host(self, name: str) -> Host:
        """Return the host called ``name``; raise KeyError when there is none."""
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(f"no host {name!r} in inventory {self.path or ''}".rstrip())


# --- checks of meaning (cross-field) -----------------------------------------------------


def _edge(net: IPv4Network, addr: IPv4Address) -> str | None:
    if net.prefixlen >= 31:
        return None
    if addr == net.network_address:
        return "network"
    if addr == net.broadcast_address:
        return "broadcast"
    return None


def _lenient(parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except (ValueError, TypeError):
        return None


def _loose_network(value: Any) -> IPv4Network:
    # host bits set is reported on its own; the cross checks still use the network
    return IPv4Network(value, strict=False) if isinstance(value, str) and "/" in value else _network(value)


def network_values(raw: Any) -> dict[str, Any]:
    """Parse whatever fields of a network section are valid; the others become None."""
    raw = raw if isinstance(raw, dict) else {}
    nets = {k: _lenient(_loose_network, raw.get(k)) for k in ("node_subnet", "pod_cidr", "service_cidr")}
    addrs = {k: _lenient(_address, raw.get(k)) for k in ("gateway", "vip", "cluster_dns")}
    return nets | addrs


def host_values(raw: Any) -> tuple[str | None, IPv4Address | None]:
    """Parse the name and address of a host entry when they are valid, else None."""
    raw = raw if isinstance(raw, dict) else {}
    name = raw.get("name")
    name = name if isinstance(name, str) and _LABEL.match(name) else None
    return name, _lenient(_address, raw.get("address"))


def check_meaning(
    net: dict[str, Any],
    hosts: list[tuple[int, str | None, IPv4Address | None]],
    valid_hosts: list[Host] | None,
) -> list[Problem]:
    """Return the problems that only show across fields: addresses, ranges, role groups.

    Every check runs on whatever values are valid, so one broken field does not hide
    the problems of the others.

    Args:
        net: the network values (``network_values``); None where a field is invalid.
        hosts: ``(index, name, address)`` of every host entry, None where invalid.
        valid_hosts: all hosts when every entry validated, else None; the role-group
            checks (master, etcd quorum, lb) need the full list.
    """
    problems = _check_network(net)
    seen_names: dict[str, int] = {}
    seen_addresses: dict[IPv4Address, int] = {}
    subnet, gateway, vip = net["node_subnet"], net["gateway"], net["vip"]
    for i, name, address in hosts:
        where = f"hosts[{i}]"
        if name is not None and name in seen_names:
            problems.append((f"{where}.name", f"duplicate host name {name!r} (also hosts[{seen_names[name]}].name)"))
        elif name is not None:
            seen_names[name] = i
        if address is None:
            continue
        if address in seen_addresses:
            problems.append((f"{where}.address", f"duplicate address {address} (also hosts[{seen_addresses[address]}].address)"))
        else:
            seen_addresses[address] = i
        if subnet is not None and address not in subnet:
            problems.append((f"{where}.address", f"{address} is outside the node subnet {subnet}"))
        elif subnet is not None and (edge := _edge(subnet, address)):
            problems.append((f"{where}.address", f"{address} is the {edge} address of the node subnet {subnet}"))
        elif address == gateway:
            problems.append((f"{where}.address", f"{address} is the gateway address"))
        if vip is not None and address == vip:
            problems.append(("network.vip", f"{vip} is also the address of host {name or '?'} ({where}.address)"))
    if valid_hosts:
        problems += _check_roles(valid_hosts, net)
    return problems


def _check_network(net: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    ranges = [(k, net[k]) for k in ("node_subnet", "pod_cidr", "service_cidr") if net[k] is not None]
    for j, (name_b, b) in enumerate(ranges):
        for name_a, a in ranges[:j]:
            if a.overlaps(b):
                problems.append((f"network.{name_b}", f"{b} overlaps network.{name_a} {a}"))
    subnet, gateway, vip = net["node_subnet"], net["gateway"], net["vip"]
    if subnet is not None and gateway is not None:
        if gateway not in subnet:
            problems.append(("network.gateway", f"{gateway} is outside the node subnet {subnet}"))
        elif edge := _edge(subnet, gateway):
            problems.append(("network.gateway", f"{gateway} is the {edge} address of the node subnet {subnet}"))
    if vip is not None:
        if subnet is not None and vip not in subnet:
            problems.append(("network.vip", f"{vip} is outside the node subnet {subnet}"))
        elif subnet is not None and (edge := _edge(subnet, vip)):
            problems.append(("network.vip", f"{vip} is the {edge} address of the node subnet {subnet}"))
        elif vip == gateway:
            problems.append(("network.vip", f"{vip} is the gateway address"))
    svc, dns = net["service_cidr"], net["cluster_dns"]
    if svc is not None and dns is not None:
        if dns not in svc:
            problems.append(("network.cluster_dns", f"{dns} is outside the service range {svc}"))
        elif edge := _edge(svc, dns):
            problems.append(("network.cluster_dns", f"{dns} is the {edge} address of the service range {svc}"))
        elif svc.num_addresses > 2 and dns == svc.network_address + 1:
            problems.append(("network.cluster_dns", f"{dns} is the first address of {svc}, which the 'kubernetes' API service takes"))
    return problems


def _names(hosts: Iterable[Host]) -> str:
    return ", ".join(h.name for h in hosts)


def _check_roles(hosts: list[Host], net: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    by_role = {role: [h for h in hosts if role in h.roles] for role in ROLES}
    if not by_role["master"]:
        problems.append(("hosts", "no host has role master; the cluster needs at least one"))
    if not by_role["worker"]:
        problems.append(("hosts", "no host has role worker; pods (CoreDNS too) need at least one"))
    etcd = by_role["etcd"]
    if not etcd:
        problems.append(("hosts", "no host has role etcd; the etcd group needs 1, 3 or 5 members"))
    elif len(etcd) % 2 == 0:
        problems.append(("hosts", f"the etcd group has {len(etcd)} members ({_names(etcd)}); it needs an odd number (1, 3, 5) to keep quorum"))
    if by_role["lb"] and net["vip"] is None and net.get("_vip_given") is not True:
        problems.append(("network.vip", f"hosts with role lb ({_names(by_role['lb'])}) need a vip to share; none is set"))
    return problems


# --- translating pydantic's errors -----------------------------------------------------


def _unwrap(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _unwrap(arg)
            if found is not None:
                return found
    return None


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = _unwrap(field.annotation) if field else None
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _unknown_key(key: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
    return f"unknown key {key!r}{hint}"


def _dotted(prefix: str, loc: Iterable[Any]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _reason(err: dict[str, Any], model: type[BaseModel]) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return _unknown_key(err["loc"][-1], _known_keys(model, err["loc"][:-1]))
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind == "literal_error":
        expected = err["ctx"]["expected"].replace(" or ", ", ")
        what = "role" if len(err["loc"]) >= 2 and err["loc"][-2] == "roles" else "value"
        return f"unknown {what} {value!r}; expected one of {expected}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping of keys, got {type(value).__name__} {value!r}"
    if kind == "list_type":
        return f"expected a list, got {type(value).__name__} {value!r}"
    if kind == "string_type":
        return f"expected text, got {type(value).__name__} {value!r} (quote it in YAML)"
    return f"{err['msg']} (got {value!r})"


def _translate(error: ValidationError, model: type[BaseModel], prefix: str) -> list[Problem]:
    return [(_dotted(prefix, e["loc"]), _reason(e, model)) for e in error.errors()]


# --- loading ---------------------------------------------------------------------------


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


# --- the command ---------------------------------------------------------------------------


def format_summary(inv: Inventory) -> str:
    """Return the address plan as a plain-text table (hosts, then VIP and ranges)."""
    rows = [("HOST", "ROLES", "ADDRESS", "FQDN")]
    rows += [(h.name, ",".join(h.roles), str(h.address), h.fqdn) for h in inv.hosts]
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    net, src = inv.network, inv.sources
    lines = [
        f"cluster {inv.cluster.name} (domain {inv.cluster.domain}, kubernetes {inv.cluster.kubernetes_version}), "
        f"{len(inv.hosts)} hosts",
        "",
        *("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows),
        "",
        f"node subnet   {net.node_subnet}   gateway {net.gateway}   vip {net.vip or '-'}",
        f"pod range     {net.pod_cidr}",
        f"service range {net.service_cidr}   cluster dns {net.cluster_dns}",
        f"releases      {src.release_mirror}   images {src.images}"
        + (f" ({src.registry_mirror})" if src.registry_mirror else "")
        + f"   apt proxy {src.apt_proxy or '-'}",
        f"ssh           user {inv.ssh.user}, port {inv.ssh.port}"
        + (f", via {inv.ssh.bastion.host}" if inv.ssh.bastion else "")
        + f"   key {inv.ssh.identity_file}   known_hosts {inv.ssh.known_hosts}",
    ]
    if inv.lab:
        lines.append(f"lab           {inv.lab.name} on bridge {inv.lab.bridge} (Debian {inv.lab.release})")
    return "\n".join(lines)


def _check_command(args: Any) -> int:
    try:
        inv = load_inventory(args.file)
    except InventoryError as err:
        print(err, file=sys.stderr)
        return 1
    print(format_summary(inv))
    print(f"\ninventory {args.file}: ok")
    return 0


def add_cli(sub: Any) -> None:
    """Register ``inventory check FILE``."""
    parser = sub.add_parser("inventory", help="inspect inventories")
    inner = parser.add_subparsers(dest="inventory_command", metavar="ACTION", required=True)
    check = inner.add_parser("check", help="validate an inventory and print its address plan")
    check.add_argument("file", metavar="FILE", help="inventory YAML file")
    check.set_defaults(func=_check_command)
