"""SSRF guard: webhook URLs may reach only public addresses, checked at registration and delivery."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from core.dispatch.http import BlockedAddressError, HttpClient
from core.dispatch.ssrf import check_webhook_url, parse_webhook_url
from core.dispatch.webhook import WebhookChannel
from core.errors import ValidationError
from tests.apikit import Env, api_client, signup
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


# -- #13.8: every special-purpose range, and IPv4 addresses hidden inside IPv6 ones ------------

OPTION_HINT = "set [webhooks] allow_private_networks = true to allow private networks"


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("[2002:a9fe:a9fe::]", "a 6to4 address embedding 169.254.169.254 (a cloud metadata address)"),
        ("[2002:7f00:1::]", "a 6to4 address embedding 127.0.0.1 (a loopback address"),
        ("[2002:a00:1::]", "a 6to4 address embedding 10.0.0.1 (a private-use address"),
        ("192.0.0.8", "IETF protocol assignments"),
        ("192.0.0.9", "IETF protocol assignments"),
        ("[3fff::1]", "documentation"),
    ],
)
async def test_the_forms_named_in_the_issue_are_refused(host: str, why: str) -> None:
    with pytest.raises(ValidationError) as caught:
        await check_webhook_url(f"http://{host}/hook")
    assert why in str(caught.value)


@pytest.mark.parametrize(
    ("address", "name", "rfc"),
    [
        ("0.1.2.3", "this network", "RFC 791"),
        ("10.9.8.7", "private-use", "RFC 1918"),
        ("100.127.255.254", "shared address space", "RFC 6598"),
        ("127.255.0.1", "loopback", "RFC 1122"),
        ("169.254.1.1", "link-local", "RFC 3927"),
        ("172.31.255.255", "private-use", "RFC 1918"),
        ("192.0.0.10", "IETF protocol assignments", "RFC 6890"),
        ("192.0.0.170", "IETF protocol assignments", "RFC 6890"),
        ("192.0.2.1", "documentation (TEST-NET-1)", "RFC 5737"),
        ("192.88.99.1", "deprecated 6to4 relay anycast", "RFC 7526"),
        ("192.168.100.1", "private-use", "RFC 1918"),
        ("198.18.0.1", "benchmarking", "RFC 2544"),
        ("198.19.255.255", "benchmarking", "RFC 2544"),
        ("198.51.100.7", "documentation (TEST-NET-2)", "RFC 5737"),
        ("203.0.113.9", "documentation (TEST-NET-3)", "RFC 5737"),
        ("224.0.0.251", "multicast", "RFC 5771"),
        ("239.255.255.250", "multicast", "RFC 5771"),
        ("240.0.0.1", "reserved", "RFC 1112"),
        ("255.255.255.255", "limited broadcast", "RFC 919"),
        ("::", "unspecified", "RFC 4291"),
        ("::1", "loopback", "RFC 4291"),
        ("0.0.0.0", "unspecified", "RFC 1122"),
        ("2001:4:112::1", "IETF protocol assignments", "RFC 2928"),  # AS112-v6: the whole /23 is refused
        ("100::1", "discard-only", "RFC 6666"),
        ("2001:2::1", "IETF protocol assignments", "RFC 2928"),
        ("2001:db8::1", "documentation", "RFC 3849"),
        ("2001:10::1", "IETF protocol assignments", "RFC 2928"),
        ("3fff:fff::1", "documentation", "RFC 9637"),
        ("5f00::1", "SRv6 segment identifier", "RFC 9602"),
        ("fc00::1", "unique-local", "RFC 4193"),
        ("fdff::1", "unique-local", "RFC 4193"),
        ("fe80::1", "link-local", "RFC 4291"),
        ("fec0::1", "deprecated site-local", "RFC 3879"),
        ("ff02::1", "multicast", "RFC 4291"),
        ("4000::1", "outside the IPv6 global unicast space 2000::/3", "RFC 4291"),
        ("64:ff9b:1::5db8:d822", "NAT64 local-use", "RFC 8215"),
    ],
)
async def test_every_special_purpose_range_is_refused_and_named(address: str, name: str, rfc: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(ValidationError) as caught:
        await check_webhook_url(f"http://{host}/hook")
    message = str(caught.value)
    assert name in message and rfc in message and address in message, message
    assert message.endswith(OPTION_HINT), message


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("::ffff:10.1.2.3", "an IPv4-mapped address embedding 10.1.2.3 (a private-use address (RFC 1918))"),
        ("::10.1.2.3", "an IPv4-compatible address embedding 10.1.2.3 (a private-use address (RFC 1918))"),
        ("64:ff9b::7f00:1", "a NAT64 address embedding 127.0.0.1 (a loopback address (RFC 1122))"),
        ("2002:c0a8:101::1", "a 6to4 address embedding 192.168.1.1 (a private-use address (RFC 1918))"),
        # Teredo: server 65.54.227.120 (public), client ~0x3ffffdd2... = 192.0.2.45 (documentation).
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo address embedding 192.0.2.45"),
        # Teredo with client 10.0.0.1 obfuscated (~0x0a000001 = 0xf5fffffe).
        ("2001:0:4136:e378::f5ff:fffe", "a Teredo address embedding 10.0.0.1 (a private-use address"),
        # Teredo with a loopback *server*.
        ("2001:0:7f00:1::1", "a Teredo address embedding 127.0.0.1 (a loopback address"),
    ],
)
async def test_embedded_ipv4_addresses_get_the_same_check(address: str, why: str) -> None:
    with pytest.raises(ValidationError) as caught:
        await check_webhook_url(f"http://[{address}]/hook")
    assert why in str(caught.value)


@pytest.mark.parametrize(
    "address",
    ["2002:5db8:d822::1", "2001:0:4136:e378:8000:63bf:a247:29dd"],  # 6to4 / Teredo of public addresses
)
async def test_transition_ranges_are_refused_even_around_public_addresses(address: str) -> None:
    """6to4 and Teredo are "globally reachable: N/A" in the registry: relays, not servers."""
    with pytest.raises(ValidationError, match=r"6to4|Teredo") as caught:
        await check_webhook_url(f"http://[{address}]/hook")
    assert OPTION_HINT in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.216.34/x",
        "https://[2606:4700::1111]/x",
        "https://[::ffff:93.184.216.34]/x",  # IPv4-mapped public: the same public address
        "https://[64:ff9b::5db8:d822]/x",  # NAT64 of a public address
        "https://192.31.196.1/x",  # AS112 (globally reachable in the registry)
        "https://[2a00:1450:4001:80b::200e]/x",
    ],
)
async def test_public_addresses_and_their_embedded_forms_are_accepted(url: str) -> None:
    assert (await check_webhook_url(url)).scheme == "https"


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "fd00:ec2::254",
        "169.254.170.2",
        "::ffff:169.254.169.254",
        "::169.254.169.254",
        "2002:a9fe:a9fe::",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::a9fe:a9fe",  # NAT64 local-use, a /96 inside the /48
        "64:ff9b:1:a9fe:a9:fe00::",  # NAT64 local-use, the RFC 6052 /48 layout
        "2001:0:4136:e378::5601:5601",  # Teredo client ~0x56015601 = 169.254.169.254
    ],
)
async def test_metadata_addresses_stay_refused_with_private_networks_allowed(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(ValidationError, match="cloud metadata") as caught:
        await check_webhook_url(f"http://{host}/latest/meta-data", allow_private_networks=True)
    message = str(caught.value)
    assert "allow_private_networks" not in message.split(";", 1)[0] and OPTION_HINT not in message
    assert "never allowed" in message


async def test_a_name_resolving_to_metadata_is_refused_with_private_networks_allowed() -> None:
    async def metadata(host: str, port: int) -> list[str]:
        return ["10.0.0.5", "169.254.169.254"]

    with pytest.raises(ValidationError, match=r"cloud metadata address: metadata.example \(169.254.169.254\)"):
        await check_webhook_url("http://metadata.example/x", allow_private_networks=True, resolver=metadata)


async def test_private_networks_allowed_still_lets_the_lan_through() -> None:
    for url in ("http://10.0.0.5/x", "http://[fd12::1]/x", "http://[2002:a00:1::]/x", "http://[::1]:8080/x"):
        assert (await check_webhook_url(url, allow_private_networks=True)).scheme == "http"


# -- #13.6: paths percent-encoded as UTF-8, hosts IDNA-encoded --------------------------------


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://h.example/hook/ü/日本?q=é", "/hook/%C3%BC/%E6%97%A5%E6%9C%AC?q=%C3%A9"),
        ("http://h.example/a%20b%2Fc?x=%C3%A9&y=1", "/a%20b%2Fc?x=%C3%A9&y=1"),  # valid escapes kept as they are
        ("http://h.example/100%/x?p=50%", "/100%25/x?p=50%25"),  # a lone % is encoded, not left invalid
        ('http://h.example/a|b{c}?q="x"', "/a%7Cb%7Bc%7D?q=%22x%22"),
        ("http://h.example/ok/-._~!$&'()*+,;=:@?a=/?", "/ok/-._~!$&'()*+,;=:@?a=/?"),
        ("http://h.example", "/"),
        ("http://h.example/€#frag", "/%E2%82%AC"),
    ],
)
def test_path_and_query_are_percent_encoded_as_utf8(url: str, target: str) -> None:
    parsed = parse_webhook_url(url)
    assert parsed.target == target and parsed.target.isascii()


@given(st.text(st.characters(categories=("L", "M", "N", "P", "S"), exclude_characters="#?%"), max_size=40))
def test_any_printable_path_becomes_ascii_that_decodes_back_and_stays_put(path: str) -> None:
    parsed = parse_webhook_url(f"http://h.example/{path}")
    assert parsed.target.isascii() and unquote(parsed.target) == f"/{path}"
    assert parse_webhook_url(f"http://h.example{parsed.target}").target == parsed.target  # no double encoding


async def test_an_international_host_is_idna_encoded_before_resolving() -> None:
    asked: list[str] = []

    async def public(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.216.34"]

    parsed = await check_webhook_url("https://Bücher.Example:8443/ü", resolver=public)
    assert (parsed.host, parsed.host_header, parsed.target) == (
        "xn--bcher-kva.example",
        "xn--bcher-kva.example:8443",
        "/%C3%BC",
    )
    assert asked == ["xn--bcher-kva.example"]


async def test_a_host_mapping_to_an_ip_literal_is_checked_as_that_address() -> None:
    """UTS46 maps full-width digits to ASCII: the mapped literal must not dodge the check."""
    with pytest.raises(ValidationError, match="loopback"):
        await check_webhook_url("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/hook")  # full-width 127.0.0.1


@pytest.mark.parametrize("host", ["\u0300a.example", "a\u200db.example", "xn--a.example\u00e9\u0000"])
def test_a_host_that_cannot_be_idna_encoded_is_a_clear_error(host: str) -> None:
    with pytest.raises(ValidationError, match=r"webhook URL|webhook host"):
        parse_webhook_url(f"https://{host}/x")


def test_idna_error_message_names_the_host() -> None:
    with pytest.raises(ValidationError, match=r"webhook host .* cannot be IDNA-encoded"):
        parse_webhook_url("https://\u0300a.example/x")


async def test_a_unicode_webhook_path_is_registered_tested_and_received_percent_encoded(tmp_path: Path) -> None:
    """Before: accepted, then "internal error: UnicodeEncodeError" on the test and every delivery."""
    http = HttpClient(allow_private_networks=True, total_timeout=5)
    env = Env(tmp_path, tester=WebhookChannel(http).send_test_event)
    try:
        async with WebhookReceiver() as receiver, api_client(env.app) as client:
            _, h = await signup(client, "unicode@example.com")
            url = f"http://127.0.0.1:{receiver.port}/hook/ü/日本?q=é"
            r = await client.post("/v1/destinations", json={"kind": "webhook", "url": url}, headers=h)
            assert r.status_code == 201, r.text
            created = r.json()
            r = await client.post(f"/v1/destinations/{created['id']}/test", headers=h)
            assert r.status_code == 200 and r.json()["ok"] is True and r.json()["status"] == 200, r.text
            (got,) = receiver.received
            assert got.path == "/hook/%C3%BC/%E6%97%A5%E6%9C%AC?q=%C3%A9"
            assert got.headers["host"] == f"127.0.0.1:{receiver.port}"
            assert Webhook(created["secret"]).verify(got.body, got.headers)["type"] == "webhook.test"
    finally:
        await http.close()
        env.close()


async def test_a_webhook_host_that_cannot_be_idna_encoded_is_a_400_problem(tmp_path: Path) -> None:
    env = Env(tmp_path)
    try:
        async with api_client(env.app) as client:
            _, h = await signup(client, "idna@example.com")
            url = "https://\u0300a.example/hook"
            r = await client.post("/v1/destinations", json={"kind": "webhook", "url": url}, headers=h)
            assert r.status_code in (400, 422), r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "cannot be IDNA-encoded" in r.json()["detail"], r.json()
    finally:
        env.close()
