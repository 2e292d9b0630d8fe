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
import re
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

import idna
import msgspec

from core.dispatch.special_addresses import IPAddress, Refusal, forbidden_reason
from core.errors import ValidationError

__all__ = ["IPAddress", "ParsedUrl", "Refusal", "Resolver", "UnsafeAddressError", "forbidden_reason"]

PRIVATE_NETWORKS_HINT = "set [webhooks] allow_private_networks = true to allow private networks"
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_SAFE = "/:@!$&'()*+,;=%"  # RFC 3986 pchar and "/"; "%" keeps existing escapes as they are
_QUERY_SAFE = _PATH_SAFE + "?"

Resolver = Callable[[str, int], Awaitable[list[str]]]


class UnsafeAddressError(ValidationError):
    """The URL resolves to an address webhooks may not reach."""


class ParsedUrl(msgspec.Struct, frozen=True):
    """A webhook URL as sent on the wire: `host` and `target` are pure ASCII."""

    scheme: str
    host: str  # IDNA-encoded (A-labels) or an IP literal
    port: int
    target: str  # path and query, percent-encoded UTF-8, as sent in the request line

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
    host = _ascii_host((parts.hostname or "").rstrip("."))
    if not host:
        raise ValidationError("webhook URL has no host")
    target = _percent_encode(parts.path or "/", _PATH_SAFE)
    if parts.query:
        target += "?" + _percent_encode(parts.query, _QUERY_SAFE)
    return ParsedUrl(
        scheme=parts.scheme, host=host, port=port or (443 if parts.scheme == "https" else 80), target=target
    )


def _ascii_host(host: str) -> str:
    """An international name as IDNA A-labels (UTS #46 mapping, as browsers do); ASCII as it is.

    ASCII names are left alone rather than run through IDNA, which would refuse names DNS
    allows (underscores). The mapping can turn a name into an IP literal (full-width digits):
    the caller then checks that literal like any other.
    """
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii").rstrip(".")
    except UnicodeError as exc:  # idna.IDNAError is one
        raise ValidationError(f"webhook host {host!a} cannot be IDNA-encoded: {exc}") from None


def _percent_encode(part: str, safe: str) -> str:
    """UTF-8 percent-encoding that keeps valid %XX escapes (no double encoding) and fixes lone %s."""
    return quote(_LONE_PERCENT.sub("%25", part), safe=safe)


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
    for text in addresses:
        verdict = forbidden_reason(ipaddress.ip_address(text))
        if verdict is None or (allow_private_networks and not verdict.metadata):
            continue
        shown = parsed.host if literal is not None else f"{parsed.host} ({text})"
        rule = (
            "cloud metadata addresses are never allowed"
            if verdict.metadata
            else f"only public addresses are allowed; {PRIVATE_NETWORKS_HINT}"
        )
        raise UnsafeAddressError(f"webhook URL points to {verdict.reason}: {shown}; {rule}")
    return addresses


async def check_webhook_url(
    url: str, *, allow_private_networks: bool = False, resolver: Resolver | None = None
) -> ParsedUrl:
    """Validate a webhook URL at registration; raises ValidationError with a message for the user."""
    parsed = parse_webhook_url(url)
    await resolve_target(parsed, allow_private_networks=allow_private_networks, resolver=resolver)
    return parsed
