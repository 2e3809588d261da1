"""The pydantic models of the inventory's sections and of one host entry.

``cluster``, ``network``, ``ssh`` (with its ``bastion``), ``sources`` and ``lab``, and
``Host`` with its per-host SSH overrides. Each checks its own fields; the checks across
fields live in :mod:`helpers.inventory.meaning`, the whole file in
:mod:`helpers.inventory.model`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from helpers.constants import LAB_BRIDGE_PREFIX, ROLES
from helpers.inventory.fields import (
    _IFNAME,
    _VERSION,
    Address,
    Label,
    Network,
    Port,
    Range,
    Role,
    Text,
    UserName,
    _domain,
    _http_url,
    _resolve_path,
    _text,
)
from helpers.inventory.reading import _short


@functools.cache
def _pinned_kubernetes() -> str:
    from helpers.releases import load_versions  # noqa: PLC0415

    return load_versions()["kubernetes"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# --- the sections -------------------------------------------------------------------------


class Cluster(_Model):
    """Cluster identity: name, the hosts' DNS domain, the cluster's own and the Kubernetes version.

    ``name`` is used for state paths; ``dns_domain`` is the domain of Services and pods
    (``cluster.local`` unless set), ``domain`` the hosts'.
    """

    name: Label
    domain: Annotated[str, BeforeValidator(_text), AfterValidator(_domain)]
    dns_domain: Annotated[str, BeforeValidator(_text), AfterValidator(_domain)] = "cluster.local"
    kubernetes_version: str = "pinned"

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value == "pinned":
            return value
        if not _VERSION.match(value):
            raise ValueError(f"{_short(value)!r} must be 'pinned' or a release such as v1.35.0")
        pinned = _pinned_kubernetes()
        if value.rsplit(".", 1)[0] != pinned.rsplit(".", 1)[0]:
            minor = pinned.rsplit(".", 1)[0].lstrip("v")
            raise ValueError(f"this series is written for Kubernetes {minor} (pinned {pinned}): its "
                             f"configuration files, flags and checks follow that release; use 'pinned' "
                             f"or a {pinned.rsplit('.', 1)[0]}.x patch release, not {value}")
        return value


class NetworkPlan(_Model):
    """The address plan: node subnet with gateway and VIP, pod and service ranges."""

    node_subnet: Network
    gateway: Address
    vip: Address | None = None
    pod_cidr: Network
    service_cidr: Network
    cluster_dns: Address
    #: addresses MetalLB gives LoadBalancer Services (07), inside the node subnet: first-last or CIDR
    loadbalancer_pool: Range | None = None


class Bastion(_Model):
    """A jump host the SSH connections go through."""

    host: Text
    user: UserName | None = None
    port: Port = 22

    @field_validator("host")
    @classmethod
    def _plain_host(cls, value: str) -> str:
        if "@" in value:
            user, _, host = value.rpartition("@")
            raise ValueError(f"{_short(value)!r} has a user in it: write host: {_short(host)} and user: {_short(user)}")
        if any(c.isspace() for c in value) or value.count(":") == 1:
            raise ValueError(f"{_short(value)!r} is not a host name or address (a port goes in bastion.port)")
        return value


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


_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _duration(value: object) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    match = _DURATION.match(str(value).strip()) if isinstance(value, str | int) else None
    if not match:
        raise ValueError(f"{_short(value)!r} is not a duration: write a number and a unit, e.g. 365d, 12h, 30m")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


Duration = Annotated[dt.timedelta, BeforeValidator(_duration)]


class RootCA(_Model):
    """An organisation's existing root CA: the cluster's three CAs become its intermediates.

    ``cert`` is the root's certificate (PEM). With ``key`` the series signs the
    intermediates itself; without it, ``python -m helpers pki csrs`` writes their requests
    for the organisation to sign, and the series waits for the signed certificates.
    Relative paths are relative to the inventory file.
    """

    cert: Path
    key: Path | None = None

    _paths = field_validator("cert", "key", mode="before")(_resolve_path)


class PKISettings(_Model):
    """How long the certificates the series issues last, when a run renews them, and what they chain to."""

    leaf_validity: Duration = dt.timedelta(days=365)
    renew_before: Duration = dt.timedelta(days=30)
    root_ca: RootCA | None = None

    @model_validator(mode="after")
    def _window(self) -> PKISettings:
        if self.leaf_validity < dt.timedelta(minutes=10):
            raise ValueError("leaf_validity under 10 minutes: a certificate would expire before a run ends")
        if self.renew_before >= self.leaf_validity:
            raise ValueError(f"renew_before ({self.renew_before}) must be shorter than leaf_validity "
                             f"({self.leaf_validity}), or every run would renew every certificate")
        return self


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
                f"{_short(value)!r} is not a valid interface name: 1-15 letters, digits, '_', '.' or '-'"
            )
        if not value.startswith(LAB_BRIDGE_PREFIX) or value == LAB_BRIDGE_PREFIX:
            raise ValueError(
                f"{value!r} is not a lab bridge name: the lab creates, readdresses and on down deletes its "
                f"bridge, so it must be one of its own, named {LAB_BRIDGE_PREFIX}<something> (e.g. "
                f"{LAB_BRIDGE_PREFIX}demo), never an existing bridge such as docker0"
            )
        return value
