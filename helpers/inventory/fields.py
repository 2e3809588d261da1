"""Field types of the inventory with plain-language errors.

The parsers behind every scalar field (IPv4 addresses and networks, ports, RFC 1123
names, DNS domains, user names, URLs, file paths) and the ``Annotated`` types built
from them, so a wrong value is reported as ``'192.168.7.300' is not an IPv4 address``
rather than in pydantic's own words. Also the ``Role`` and ``Problem`` types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import AfterValidator, BeforeValidator, ValidationInfo

from helpers.inventory.reading import _short

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


@dataclass(frozen=True)
class AddressRange:
    """An inclusive range of IPv4 addresses, written ``first-last`` or as a CIDR block."""

    first: IPv4Address
    last: IPv4Address

    def __contains__(self, address: object) -> bool:
        return isinstance(address, IPv4Address) and self.first <= address <= self.last

    def __len__(self) -> int:
        return int(self.last) - int(self.first) + 1

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


def _address_range(value: Any) -> AddressRange:
    if isinstance(value, AddressRange):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an address range such as 192.168.4.100-192.168.4.119, got {_short(value)!r}")
    text = value.strip()
    if "/" in text:
        net = _network(text)
        return AddressRange(net.network_address, net.broadcast_address)
    first, sep, last = text.partition("-")
    if not sep:
        raise ValueError(f"{_short(value)!r} is not a range: write first-last (192.168.4.100-192.168.4.119) or a CIDR block")
    start, end = _address(first), _address(last)
    if end < start:
        raise ValueError(f"{_short(value)!r} ends before it starts")
    return AddressRange(start, end)


Address = Annotated[IPv4Address, BeforeValidator(_address)]
Range = Annotated[AddressRange, BeforeValidator(_address_range)]
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
