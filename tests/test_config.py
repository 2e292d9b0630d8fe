"""Configuration: defaults, the example file, environment overrides and every kind of mistake."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import ClusterConfig, Config, DispatchConfig, load_config
from core.dispatch.dispatcher import DispatchLimits
from core.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "config.example.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_watch_cosmos_hub_and_osmosis() -> None:
    config = load_config(None, env={})
    assert config.api.host == "127.0.0.1" and config.api.port == 8080
    assert config.store.path == "./data"
    assert config.webhooks.allow_private_networks is False
    assert [c.id for c in config.chains] == ["cosmoshub-4", "osmosis-1"]
    assert all(len(c.rpc) >= 2 for c in config.chains)
    assert config.telegram.token is None and config.discord.token is None


def test_example_file_loads_and_documents_every_key() -> None:
    config = load_config(EXAMPLE, env={})
    chain = config.chains[0]
    assert chain.id == "cosmoshub-4" and chain.rpc == ["https://rpc.example", "https://rpc2.example"]
    assert chain.denoms[0].display == "ATOM" and chain.denoms[0].exponent == 6
    text = EXAMPLE.read_text()
    for section in Config.__struct_fields__:
        sub = getattr(config, section)
        if sub is None:  # an optional section (cluster), commented out in the example
            sub = ClusterConfig(nats=["nats://127.0.0.1:4222"])
        fields = type(sub[0]).__struct_fields__ if isinstance(sub, list) else type(sub).__struct_fields__
        for field in fields:
            if field == "token":
                continue
            pattern = rf"^#?\s*({field}\s*=|\[\[{section}\.{field}\]\])"
            assert re.search(pattern, text, re.M), f"{section}.{field} is not in the example"


def test_environment_overrides_nested_keys() -> None:
    config = load_config(
        EXAMPLE,
        env={
            "MEMPOOLS_API__PORT": "9000",
            "MEMPOOLS_WEBHOOKS__ALLOW_PRIVATE_NETWORKS": "true",
            "MEMPOOLS_STORE__PATH": "/var/lib/mempools",
            "MEMPOOLS_API__CORS_ORIGINS": '["https://a.example"]',
            "MEMPOOLS_API__TRUSTED_PROXIES": '["10.0.0.1", "fd00::/8"]',
        },
    )
    assert config.api.trusted_proxies == ["10.0.0.1", "fd00::/8"]
    assert config.api.port == 9000
    assert config.webhooks.allow_private_networks is True
    assert config.store.path == "/var/lib/mempools"
    assert config.api.cors_origins == ["https://a.example"]


def test_the_ci_browser_switch_is_not_taken_for_a_config_key() -> None:
    """`.ci/run` exports MEMPOOLS_REQUIRE_BROWSER=1 for the whole suite; every server it starts sees it."""
    config = load_config(None, env={"MEMPOOLS_REQUIRE_BROWSER": "1", "MEMPOOLS_API__PORT": "9001"})
    assert config.api.port == 9001


def test_dispatch_section_sets_the_dispatcher_limits() -> None:
    config = load_config(EXAMPLE, env={"MEMPOOLS_DISPATCH__WORKERS": "128", "MEMPOOLS_DISPATCH__FAILING_WORKERS": "4"})
    limits = DispatchLimits.from_config(config.dispatch)
    assert limits.workers == 128 and limits.failing == 4 and limits.per_destination == 4
    assert limits.per_channel == {"telegram": 8, "discord": 8}
    assert DispatchLimits.from_config(DispatchConfig()) == DispatchLimits()  # one set of defaults
    config = load_config(
        EXAMPLE,
        env={
            "MEMPOOLS_DISPATCH__PER_ACCOUNT": "8",
            "MEMPOOLS_DISPATCH__SLOW_WORKERS": "2",
            "MEMPOOLS_DISPATCH__SLOW_AFTER_MS": "2500",
        },
    )
    limits = DispatchLimits.from_config(config.dispatch)
    assert (limits.per_account, limits.slow, limits.slow_after_ms) == (8, 2, 2500.0)


def test_tokens_come_from_environment_or_file_and_never_show(tmp_path: Path) -> None:
    config = load_config(None, env={"MEMPOOLS_TELEGRAM_TOKEN": "123456:SECRET"})
    assert config.telegram.token is not None and config.telegram.token.get() == "123456:SECRET"
    assert "SECRET" not in repr(config) and "SECRET" not in str(config.telegram)
    token_file = tmp_path / "discord"
    token_file.write_text("discord-secret\n")
    config = load_config(_write(tmp_path, f'[discord]\ntoken_file = "{token_file}"\n'), env={})
    assert config.discord.token is not None and config.discord.token.get() == "discord-secret"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[api]\nport = 'x'\n", {}, "api.port: expected `int`, got `str`"),
        ("[api]\nport = 70000\n", {}, "api.port: 70000 is not a TCP port"),
        ("[api]\nprot = 1\n", {}, "api.prot: unknown key"),
        ("[nonsense]\n", {}, "nonsense: unknown key"),
        ("[api\n", {}, "is not valid TOML"),
        ("[telegram]\ntoken = 'abc'\n", {}, "telegram.token: tokens are not read from the config"),
        ("[[chains]]\nid = 'a'\n", {}, "chains[0].name: required key is missing"),
        (
            "[[chains]]\nid='a'\nname='A'\nrpc=[]\nbech32_prefix='a'\n",
            {},
            "chains[0].rpc: must list at least one URL",
        ),
        (
            "[[chains]]\nid='a'\nname='A'\nrpc=['ftp://x']\nbech32_prefix='a'\n",
            {},
            "chains[0].rpc[0]: 'ftp://x' is not a http/https URL",
        ),
        (
            "[[chains]]\nid='a'\nname='A'\nrpc=['http://x']\nbech32_prefix='a'\nexplorer_tx_url='http://e/'\n",
            {},
            "chains[0].explorer_tx_url: must contain the placeholder {hash}",
        ),
        (
            "[[chains]]\nid='a'\nname='A'\nrpc=['http://x']\nbech32_prefix='a'\n"
            "[[chains]]\nid='a'\nname='B'\nrpc=['http://y']\nbech32_prefix='b'\n",
            {},
            "chains[1].id: chain 'a' is configured twice",
        ),
        (
            "[[chains]]\nid='a'\nname='A'\nrpc=['http://x']\nbech32_prefix='a'\n[[chains.denoms]]\nbase='u'\n",
            {},
            "chains[0].denoms[0].display: required key is missing",
        ),
        ("", {"MEMPOOLS_API__PORT": "eighty"}, "api.port: expected `int`, got `str`"),
        ("", {"MEMPOOLS_API__NOPE": "1"}, "api.nope: unknown key"),
        ("[logging]\nlevel = 'LOUD'\n", {}, "logging.level: 'LOUD' is not a log level"),
        ("[dispatch]\nworkers = 0\n", {}, "dispatch.workers: must be at least 1"),
        ("", {"MEMPOOLS_DISPATCH__TELEGRAM_WORKERS": "-3"}, "dispatch.telegram_workers: must be at least 1"),
        ("[dispatch]\nworker = 8\n", {}, "dispatch.worker: unknown key"),
        ("[dispatch]\nper_account = 0\n", {}, "dispatch.per_account: must be at least 1"),
        ("", {"MEMPOOLS_DISPATCH__SLOW_WORKERS": "0"}, "dispatch.slow_workers: must be at least 1"),
        (
            "",
            {"MEMPOOLS_QUOTAS__ADDRESS_LABELS_PER_ACCOUNT": "0"},
            "quotas.address_labels_per_account: must be at least 1",
        ),
        ("[dispatch]\nslow_after_ms = 0\n", {}, "dispatch.slow_after_ms: must be positive"),
        ("[discord]\ntoken_file = '/nonexistent/token'\n", {}, "discord.token_file: cannot read /nonexistent/token"),
        (
            "[api]\ntrusted_proxies = ['10.0.0.0/8', 'proxy.local']\n",
            {},
            "api.trusted_proxies[1]: 'proxy.local' is not an IP address or CIDR network",
        ),
        ("", {"MEMPOOLS_API__MAX_CONNECTIONS": "-1"}, "api.max_connections: must be 0"),
        ("[api]\nrequest_timeout = 0\n", {}, "api.request_timeout: must be positive"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text), env=env)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml", env={})
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(binary, env={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[api\n", "is not valid TOML"),
        ("[api]\nport = true\n", "api.port: expected `int`, got `bool`"),
        ("[store]\nunknown = 1\n", "store.unknown: unknown key"),
    ],
)
def test_cli_reports_config_errors_in_one_line_with_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    proc = subprocess.run(
        [sys.executable, "-m", "mempools", "serve", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("MEMPOOLS_")},
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr
    assert "Traceback" not in proc.stderr
