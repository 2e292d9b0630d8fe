"""SSRF guard: a webhook URL may only reach the public internet.

Anybody can register a webhook, so without this guard Mempools would POST on their behalf to
its own loopback, the LAN, or a cloud metadata service. The URL is checked when it is
registered (`check_webhook_url`, called by the API) and again at every new connection
(`resolve_target`), because DNS answers change: the HTTP client then connects to the very
address that was checked, so a rebinding DNS server cannot swap in 127.0.0.1 between the check
and the connect. `WebhooksConfig.allow_private_networks` turns the address check off (tests,
self-hosted setups posting to their own LAN); the scheme and userinfo rules always apply.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import msgspec

from core.errors import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Resolver = Callable[[str, int], Awaitable[list[str]]]


class UnsafeAddressError(ValidationError):
    """The URL resolves to an address webhooks may not reach."""


class ParsedUrl(msgspec.Struct, frozen=True):
    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse_webhook_url(url: str) -> ParsedUrl:
    """Scheme, host, port and request target; refuses what is never acceptable whatever the DNS."""
    if len(url) > 2048:
        raise ValidationError("webhook URL is longer than 2048 characters")
    if any(c in url for c in "\r\n\t ") or not url.isprintable():
        raise ValidationError("webhook URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"webhook URL is not valid: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError("webhook URL must use http or https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValidationError("webhook URL must not contain a user name or password")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValidationError("webhook URL has no host")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return ParsedUrl(
        scheme=parts.scheme, host=host, port=port or (443 if parts.scheme == "https" else 80), target=target
    )


def forbidden_reason(address: IPAddress) -> str | None:
    """Why webhooks may not reach `address` (None: a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return forbidden_reason(address.ipv4_mapped)
        if address in _NAT64:
            return forbidden_reason(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address in _METADATA:
        return "a cloud metadata address"
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "a carrier-grade NAT address"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "a site-local address"),
        (address.is_private, "a private or unique-local address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "a non-public address"),
    )
    return next((why for hit, why in checks if hit), None)


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, through the loop's (threaded) getaddrinfo."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: list[str] = []
    for *_, sockaddr in infos:
        ip = str(sockaddr[0]).split("%", 1)[0]
        if ip not in seen:
            seen.append(ip)
    return seen


async def resolve_target(
    parsed: ParsedUrl, *, allow_private_networks: bool, resolver: Resolver | None = None
) -> list[str]:
    """The checked addresses to connect to; every answer must be acceptable, or none is used.

    Refusing when *any* answer is private (rather than picking a public one) closes the trick of
    a DNS name that answers both a public and an internal address.
    """
    try:
        literal: IPAddress | None = ipaddress.ip_address(parsed.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await (resolver or system_resolver)(parsed.host, parsed.port)
        except (OSError, UnicodeError) as exc:
            raise ValidationError(f"webhook host {parsed.host} cannot be resolved: {exc}") from None
        if not addresses:
            raise ValidationError(f"webhook host {parsed.host} has no address")
    if not allow_private_networks:
        for text in addresses:
            why = forbidden_reason(ipaddress.ip_address(text))
            if why is not None:
                shown = parsed.host if literal is not None else f"{parsed.host} ({text})"
                raise UnsafeAddressError(f"webhook URL points to {why}: {shown}; only public addresses are allowed")
    return addresses


async def check_webhook_url(
    url: str, *, allow_private_networks: bool = False, resolver: Resolver | None = None
) -> ParsedUrl:
    """Validate a webhook URL at registration; raises ValidationError with a message for the user."""
    parsed = parse_webhook_url(url)
    await resolve_target(parsed, allow_private_networks=allow_private_networks, resolver=resolver)
    return parsed
