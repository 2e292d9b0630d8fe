"""SSRF guard: webhook URLs may reach only public addresses, checked at registration and delivery."""

from __future__ import annotations

import pytest

from core.dispatch.http import BlockedAddressError, HttpClient
from core.dispatch.ssrf import check_webhook_url, parse_webhook_url
from core.errors import ValidationError
from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.1.2.3:8080/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://172.16.0.1/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("http://[fd00:ec2::254]/latest", "cloud metadata"),
        ("http://[::1]:9000/hook", "loopback"),
        ("http://[fc00::1]/hook", "unique-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://100.64.0.1/hook", "carrier-grade NAT"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://localhost:8080/hook", "loopback"),
    ],
)
async def test_private_targets_are_refused(url: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        await check_webhook_url(url)


async def test_public_address_is_accepted_without_dns() -> None:
    parsed = await check_webhook_url("https://93.184.216.34:8443/in?a=1")
    assert (parsed.host, parsed.port, parsed.target) == ("93.184.216.34", 8443, "/in?a=1")


async def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    async def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.5"]

    with pytest.raises(ValidationError, match=r"hooks.example.com \(10.0.0.5\)"):
        await check_webhook_url("https://hooks.example.com/x", resolver=rebinding)

    async def public(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    assert (await check_webhook_url("https://hooks.example.com/x", resolver=public)).host == "hooks.example.com"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("https://user:pass@example.com/x", "user name or password"),
        ("https://user@example.com/x", "user name or password"),
        ("https:///x", "no host"),
        ("https://example.com/a b", "whitespace"),
        ("https://example.com:99999/", "not valid"),
    ],
)
def test_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_webhook_url(url)


async def test_allow_private_networks_lets_loopback_through() -> None:
    assert (await check_webhook_url("http://127.0.0.1:1/x", allow_private_networks=True)).port == 1
    with pytest.raises(ValidationError, match="user name"):
        await check_webhook_url("http://u:p@127.0.0.1/x", allow_private_networks=True)


async def test_delivery_time_check_blocks_before_connecting() -> None:
    """A name that resolves to loopback at delivery time is refused: nothing reaches the server."""
    async with WebhookReceiver() as receiver:

        async def now_loopback(host: str, port: int) -> list[str]:
            return ["127.0.0.1"]

        client = HttpClient(resolver=now_loopback)
        with pytest.raises(BlockedAddressError, match="loopback"):
            await client.post(f"http://hooks.example.com:{receiver.port}/x", b"{}", {})
        assert receiver.received == []
        # With private networks allowed, the client connects to the address it checked.
        allowed = HttpClient(resolver=now_loopback, allow_private_networks=True)
        response = await allowed.post(f"http://hooks.example.com:{receiver.port}/x", b"{}", {})
        assert response.status == 200 and receiver.received[0].headers["host"] == f"hooks.example.com:{receiver.port}"
        await allowed.close()
