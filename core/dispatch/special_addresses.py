"""Which IP addresses a webhook may not reach, and why: the IANA special-purpose registries as data.

Python's `ipaddress` flags (`is_private`, `is_global`, ...) differ between Python releases (3.11.7
and 3.12.4 disagree about 192.0.0.9 or 2001:4:112::/48) and miss recent ranges (3fff::/20,
5f00::/16), so the guard owns its table instead: every range of the IANA IPv4 and IPv6
Special-Purpose Address Registries whose "Globally Reachable" is False or N/A, plus multicast,
IPv6 outside the global unicast space, and the cloud metadata addresses.

Deliberate departures from the registry (each costs nothing a webhook legitimately needs):
- 192.0.0.0/24 is refused whole, including 192.0.0.9/32 (PCP anycast) and 192.0.0.10/32 (TURN
  anycast), which the registry marks globally reachable: they are anycast addresses answered by
  the nearest relay of *our own* network, i.e. infrastructure next to Mempools, never a user's
  server. 2001::/23 is refused whole for the same reason (PCP/TURN/SRP anycast, ORCHID, DETs).
- 6to4 (2002::/16) and Teredo (2001::/32) are refused even around a public IPv4 address: they are
  "N/A" in the registry, they reach their target through some relay, and each embedded address is
  decoded first so that the refusal names what it hides ("a 6to4 address embedding
  169.254.169.254 (a cloud metadata address)").
- IPv4-mapped (::ffff:0:0/96) and NAT64 (64:ff9b::/96) addresses are judged by the IPv4 address
  they carry: connecting to one reaches exactly that address.

A `Refusal` says whether `[webhooks] allow_private_networks` lifts it: it lifts everything except
cloud metadata addresses (and their embedded forms), which hand out credentials of the machine
Mempools runs on.
"""

from __future__ import annotations

import ipaddress

import msgspec

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SpecialRange(msgspec.Struct, frozen=True):
    network: str
    name: str  # "a private-use address": completes "webhook URL points to ..."
    rfc: str


class Refusal(msgspec.Struct, frozen=True):
    reason: str
    metadata: bool  # a cloud metadata address: refused even with allow_private_networks = true


# Cloud metadata and credential endpoints (instance metadata, ECS task credentials, EKS Pod
# Identity, Alibaba Cloud). Refused whatever the configuration.
METADATA_ADDRESSES: dict[str, str] = {
    "169.254.169.254": "AWS, GCP, Azure, OCI, OpenStack instance metadata",
    "fd00:ec2::254": "AWS instance metadata (IPv6)",
    "169.254.170.2": "AWS ECS task credentials",
    "169.254.170.23": "AWS EKS Pod Identity",
    "fd00:ec2::23": "AWS EKS Pod Identity (IPv6)",
    "100.100.100.200": "Alibaba Cloud instance metadata",
}

# IANA IPv4 Special-Purpose Address Registry (2024), entries not globally reachable, plus
# multicast (RFC 5771). The first entry holding an address names it (0.0.0.0/32 before 0/8).
IPV4_SPECIAL: tuple[SpecialRange, ...] = (
    SpecialRange("0.0.0.0/32", 'an unspecified ("this host") address', "RFC 1122"),
    SpecialRange("0.0.0.0/8", 'a "this network" address', "RFC 791"),
    SpecialRange("10.0.0.0/8", "a private-use address", "RFC 1918"),
    SpecialRange("100.64.0.0/10", "a carrier-grade NAT (shared address space) address", "RFC 6598"),
    SpecialRange("127.0.0.0/8", "a loopback address", "RFC 1122"),
    SpecialRange("169.254.0.0/16", "a link-local address", "RFC 3927"),
    SpecialRange("172.16.0.0/12", "a private-use address", "RFC 1918"),
    SpecialRange("192.0.0.0/24", "an IETF protocol assignments address", "RFC 6890"),
    SpecialRange("192.0.2.0/24", "a documentation (TEST-NET-1) address", "RFC 5737"),
    SpecialRange("192.88.99.0/24", "a deprecated 6to4 relay anycast address", "RFC 7526"),
    SpecialRange("192.168.0.0/16", "a private-use address", "RFC 1918"),
    SpecialRange("198.18.0.0/15", "a benchmarking address", "RFC 2544"),
    SpecialRange("198.51.100.0/24", "a documentation (TEST-NET-2) address", "RFC 5737"),
    SpecialRange("203.0.113.0/24", "a documentation (TEST-NET-3) address", "RFC 5737"),
    SpecialRange("224.0.0.0/4", "a multicast address", "RFC 5771"),
    SpecialRange("255.255.255.255/32", "a limited broadcast address", "RFC 919"),
    SpecialRange("240.0.0.0/4", "a reserved address", "RFC 1112"),
)

# IANA IPv6 Special-Purpose Address Registry (2024), entries not globally reachable, plus the
# multicast and deprecated site-local blocks of the IPv6 Address Space registry. The embedding
# ranges (::ffff:0:0/96, ::/96, 64:ff9b::/96, 2002::/16, 2001::/32) are decoded before this table.
IPV6_SPECIAL: tuple[SpecialRange, ...] = (
    SpecialRange("::/128", "an unspecified address", "RFC 4291"),
    SpecialRange("::1/128", "a loopback address", "RFC 4291"),
    SpecialRange("64:ff9b:1::/48", "a NAT64 local-use address", "RFC 8215"),
    SpecialRange("100::/64", "a discard-only address", "RFC 6666"),
    SpecialRange("100:0:0:1::/64", "a dummy IPv6 prefix address", "RFC 9780"),
    SpecialRange("2001::/23", "an IETF protocol assignments address", "RFC 2928"),
    SpecialRange("2001:db8::/32", "a documentation address", "RFC 3849"),
    SpecialRange("3fff::/20", "a documentation address", "RFC 9637"),
    SpecialRange("5f00::/16", "an SRv6 segment identifier (SID) address", "RFC 9602"),
    SpecialRange("fc00::/7", "a unique-local address", "RFC 4193"),
    SpecialRange("fe80::/10", "a link-local address", "RFC 4291"),
    SpecialRange("fec0::/10", "a deprecated site-local address", "RFC 3879"),
    SpecialRange("ff00::/8", "a multicast address", "RFC 4291"),
)

_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_OUTSIDE_GLOBAL_UNICAST = "an address outside the IPv6 global unicast space 2000::/3 (RFC 4291)"
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _compile(table: tuple[SpecialRange, ...]) -> tuple[tuple[Network, str], ...]:
    return tuple((ipaddress.ip_network(r.network), f"{r.name} ({r.rfc})") for r in table)


_IPV4 = _compile(IPV4_SPECIAL)
_IPV6 = _compile(IPV6_SPECIAL)
_METADATA = frozenset(ipaddress.ip_address(a) for a in METADATA_ADDRESSES)


def forbidden_reason(address: IPAddress) -> Refusal | None:
    """Why webhooks may not reach `address`, or None for a public address."""
    if address in _METADATA:
        return Refusal("a cloud metadata address", metadata=True)
    if isinstance(address, ipaddress.IPv4Address):
        return next((Refusal(why, metadata=False) for net, why in _IPV4 if address in net), None)
    carries_ipv4, verdict = _embedded(address)
    if carries_ipv4:
        return verdict
    special = next((why for net, why in _IPV6 if address in net), None)
    if special is None and address not in _GLOBAL_UNICAST:
        special = _OUTSIDE_GLOBAL_UNICAST  # IANA has assigned no unicast space elsewhere
    return None if special is None else Refusal(special, metadata=False)


def _embedded(address: ipaddress.IPv6Address) -> tuple[bool, Refusal | None]:
    """(whether `address` carries IPv4 addresses, the verdict on it if it does)."""
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return True, _judge_inner("an IPv4-mapped address", [address.ipv4_mapped])
    if address in _NAT64:
        return True, _judge_inner("a NAT64 address", [low32])
    if address in _NAT64_LOCAL:
        return True, _judge_inner("a NAT64 local-use address", [_nat64_local_ipv4(address)], refused_anyway="RFC 8215")
    if address.sixtofour is not None:
        return True, _judge_inner("a 6to4 address", [address.sixtofour], refused_anyway="RFC 3056")
    if address.teredo is not None:  # (server, client); ipaddress already un-obfuscates the client
        return True, _judge_inner("a Teredo address", list(address.teredo), refused_anyway="RFC 4380")
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are in the table
        return True, _judge_inner("an IPv4-compatible address", [low32], refused_anyway="RFC 4291")
    return False, None


def _judge_inner(kind: str, inner: list[ipaddress.IPv4Address], *, refused_anyway: str = "") -> Refusal | None:
    """The first refused embedded address names the refusal; `refused_anyway` (an RFC) refuses the rest."""
    for address in inner:
        verdict = forbidden_reason(address)
        if verdict is not None:
            return Refusal(f"{kind} embedding {address} ({verdict.reason})", metadata=verdict.metadata)
    return Refusal(f"{kind} ({refused_anyway})", metadata=False) if refused_anyway else None


def _nat64_local_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    """The IPv4 address in 64:ff9b:1::/48, laid out for a /96 inside it or for the /48 itself.

    RFC 6052 section 2.2: under a /96 prefix the address is the last 32 bits (bits 48-95 are then
    zero); under the /48 it is bits 48-63 and 72-87, around the zero "u" octet.
    """
    value = int(address)
    if (value >> 32) & ((1 << 48) - 1) == 0:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return ipaddress.IPv4Address((((value >> 64) & 0xFFFF) << 16) | ((value >> 40) & 0xFFFF))
