"""Configuration: one TOML file plus `MEMPOOLS_*` environment overrides.

Precedence, lowest first: built-in defaults, the TOML file, environment variables. Nested keys
are reached from the environment with a double underscore (`MEMPOOLS_API__PORT=9000`,
`MEMPOOLS_WEBHOOKS__ALLOW_PRIVATE_NETWORKS=true`); a value is read as a TOML value when it
parses as one (numbers, booleans, arrays) and as a plain string otherwise.

Bot tokens are secrets: they are read only from `MEMPOOLS_TELEGRAM_TOKEN` /
`MEMPOOLS_DISCORD_TOKEN` or from a `token_file`, never from the TOML itself, and they are held
in a `Secret` whose repr never shows the value, so a logged config cannot leak them.

Every problem is a `ConfigError` naming the key (`chains[1].rpc: must list at least one URL`),
because an operator fixing a file needs the place, not a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from core.errors import ConfigError
from core.models import Chain
from core.models import Denom as DenomModel

ENV_PREFIX = "MEMPOOLS_"
_SECRET_ENV = {"telegram": "MEMPOOLS_TELEGRAM_TOKEN", "discord": "MEMPOOLS_DISCORD_TOKEN"}
#: Variables of ours that are not config keys: `MEMPOOLS_REQUIRE_BROWSER=1` (CI) makes a missing
#: Chromium fail the console's browser tests; `mempools serve` started under it must not refuse it.
_NOT_OVERRIDES = {"MEMPOOLS_CONFIG", "MEMPOOLS_REQUIRE_BROWSER", *_SECRET_ENV.values()}
_CHAIN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Node names go into NATS subjects and lease values: no dots, spaces or wildcards.
_NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: Keys that take a list whose environment form is comma-separated (`MEMPOOLS_CLUSTER__NATS=nats://a,nats://b`).
_COMMA_LISTS = {("cluster", "nats")}


class Secret:
    """A string that never shows itself in repr/str, so it cannot end up in a log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for config sections: unknown keys are an error, not silently ignored."""


class ApiConfig(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    cors_origins: list[str] = []
    max_body_bytes: int = 64 * 1024
    public_url: str | None = None
    # Peers (IPs or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto are believed; none by default,
    # so a client cannot pick its own address for the per-address throttles.
    trusted_proxies: list[str] = []
    # Open connections at most; 0 derives it from the process's descriptor limit (RLIMIT_NOFILE),
    # keeping room for the watchers, the dispatcher, the bots and the store.
    max_connections: int = 0
    # Seconds a request's head and body get to arrive; a slower connection is closed (408).
    request_timeout: float = 10.0


class StoreConfig(_Section):
    path: str = "./data"
    # fsync every write batch: survives power loss, at roughly 50x the cost. The WAL alone
    # already survives a killed process, which is what the crash tests check.
    sync_writes: bool = False


class WebhooksConfig(_Section):
    allow_private_networks: bool = False
    connect_timeout: float = 5.0
    total_timeout: float = 15.0


class Denom(_Section):
    base: str
    display: str
    exponent: int


class ChainConfig(_Section):
    id: str
    name: str
    rpc: list[str]
    bech32_prefix: str
    # The chain's Cosmos REST API (gRPC gateway, "LCD", port 1317 on a node): validator and
    # governance monitoring ask x/staking, x/slashing and x/gov through it. Empty: those
    # presets cannot look validators up, and proposals are told without their titles.
    rest: list[str] = []
    explorer_tx_url: str | None = None
    # Where a proposal is shown, with {id}; default: derived from explorer_tx_url ("/tx/{hash}"
    # -> "/proposals/{id}", as Mintscan and Ping.pub lay their pages out).
    explorer_proposal_url: str | None = None
    start_height: int = 0
    denoms: list[Denom] = []
    # How far behind the tip a watcher may be and still count as ready.
    lag_budget_blocks: int = 20
    # How long a watcher may go without any answer from the chain's endpoints and still count as ready.
    stall_seconds: float = 120.0

    def to_chain(self) -> Chain:
        """The chain as the rest of the system sees it (no endpoints, no watcher settings)."""
        return Chain(
            id=self.id,
            name=self.name,
            bech32_prefix=self.bech32_prefix,
            explorer_tx_url=self.explorer_tx_url,
            explorer_proposal_url=self.explorer_proposal_url or _proposal_url(self.explorer_tx_url),
            denoms=tuple(DenomModel(base=d.base, display=d.display, exponent=d.exponent) for d in self.denoms),
        )


def _proposal_url(tx_url: str | None) -> str | None:
    for tail in ("/tx/{hash}", "/txs/{hash}", "/transactions/{hash}"):
        if tx_url and tx_url.endswith(tail):
            return tx_url.removesuffix(tail) + "/proposals/{id}"
    return None


class DispatchConfig(_Section):
    workers: int = 64  # deliveries in flight at once
    per_destination: int = 4  # ... to any one destination
    telegram_workers: int = 8  # ... through Telegram (each waits out its rate limit)
    discord_workers: int = 8  # ... through Discord's REST API
    failing_workers: int = 16  # ... to destinations that are failing (an endpoint may hang until the timeout)
    per_account: int = 32  # ... of any one account (the others keep the rest)
    slow_workers: int = 16  # ... to destinations that answer slowly (average latency above slow_after_ms)
    slow_after_ms: float = 1000.0


class TelegramConfig(_Section):
    token_file: str | None = None
    api_url: str = "https://api.telegram.org"
    token: Secret | None = None  # filled from the environment or token_file, never from TOML


class DiscordConfig(_Section):
    token_file: str | None = None
    guild_id: int | None = None
    api_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg"
    token: Secret | None = None  # filled from the environment or token_file, never from TOML


class QuotasConfig(_Section):
    subscriptions_per_account: int = 100
    destinations_per_account: int = 20
    address_labels_per_account: int = 500  # the address book (/alias, /v1/address-book)


class HistoryConfig(_Section):
    retention_days: int = 90
    dead_letter_days: int = 30


class ClusterConfig(_Section):
    """Cluster mode (issue #16): several nodes on one NATS JetStream cluster; absent = one node."""

    nats: list[str]  # server URLs (nats://, tls://, ws://, wss://); any one of them is enough to join
    node: str = msgspec.field(default_factory=socket.gethostname)  # this node's name, unique in the cluster
    replicas: int = 3  # copies of every stream and bucket (R3 survives the loss of one NATS node)
    credentials_file: str | None = None  # NATS user credentials (.creds), when the cluster wants them
    # Seconds a dead holder keeps a lease (a chain's watcher, a delivery partition, the bots): the
    # takeover time. Below ~10 s a NATS leader election (4-9 s of stalled writes) can cost leases.
    lease_ttl: int = 10


class LoggingConfig(_Section):
    level: str = "INFO"
    json: bool = False


def _default_chains() -> list[ChainConfig]:
    """Cosmos Hub and Osmosis through several public endpoints: real notifications out of the box."""
    return [
        ChainConfig(
            id="cosmoshub-4",
            name="Cosmos Hub",
            rest=["https://cosmos-rest.publicnode.com", "https://rest.cosmos.directory/cosmoshub"],
            rpc=[
                "https://cosmos-rpc.publicnode.com",
                "https://rpc.cosmos.directory/cosmoshub",
                "https://cosmoshub.tendermintrpc.lava.build",
            ],
            bech32_prefix="cosmos",
            explorer_tx_url="https://www.mintscan.io/cosmos/tx/{hash}",
            denoms=[Denom(base="uatom", display="ATOM", exponent=6)],
        ),
        ChainConfig(
            id="osmosis-1",
            name="Osmosis",
            rest=["https://osmosis-rest.publicnode.com", "https://rest.cosmos.directory/osmosis"],
            rpc=[
                "https://osmosis-rpc.publicnode.com",
                "https://rpc.cosmos.directory/osmosis",
                "https://osmosis.tendermintrpc.lava.build",
            ],
            bech32_prefix="osmo",
            explorer_tx_url="https://www.mintscan.io/osmosis/tx/{hash}",
            denoms=[Denom(base="uosmo", display="OSMO", exponent=6)],
        ),
    ]


class Config(_Section):
    api: ApiConfig = msgspec.field(default_factory=ApiConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    webhooks: WebhooksConfig = msgspec.field(default_factory=WebhooksConfig)
    dispatch: DispatchConfig = msgspec.field(default_factory=DispatchConfig)
    chains: list[ChainConfig] = msgspec.field(default_factory=_default_chains)
    telegram: TelegramConfig = msgspec.field(default_factory=TelegramConfig)
    discord: DiscordConfig = msgspec.field(default_factory=DiscordConfig)
    quotas: QuotasConfig = msgspec.field(default_factory=QuotasConfig)
    history: HistoryConfig = msgspec.field(default_factory=HistoryConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    cluster: ClusterConfig | None = None  # None: single node, embedded RocksDB, NATS never imported

    def chain(self, chain_id: str) -> ChainConfig | None:
        return next((c for c in self.chains if c.id == chain_id), None)


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read, override, type-check and validate the configuration."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = _read_toml(Path(path)) if path is not None else {}
    _apply_env_overrides(raw, env)
    for section in ("telegram", "discord"):
        if isinstance(raw.get(section), dict) and "token" in raw[section]:
            raise ConfigError(
                f"{section}.token: tokens are not read from the config; "
                f"set {_SECRET_ENV[section]} or {section}.token_file"
            )
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc)) from None
    _validate(config)
    config.telegram.token = _read_secret("telegram", config.telegram.token_file, env)
    config.discord.token = _read_secret("discord", config.discord.token_file, env)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _apply_env_overrides(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in _NOT_OVERRIDES:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(parts):
            raise ConfigError(f"environment variable {name}: empty key segment")
        target = raw
        for i, part in enumerate(parts[:-1]):
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                dotted = ".".join(parts[: i + 1])
                raise ConfigError(f"environment variable {name}: {dotted} is not a table")
            target = nxt
        parsed = _parse_env_value(value)
        if tuple(parts) in _COMMA_LISTS and isinstance(parsed, str):
            parsed = [item.strip() for item in parsed.split(",") if item.strip()]
        target[parts[-1]] = parsed


def _parse_env_value(value: str) -> Any:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


_PATH_IN_ERROR = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def _describe_validation_error(exc: msgspec.ValidationError) -> str:
    match = _PATH_IN_ERROR.match(str(exc))
    assert match is not None
    msg, path = match.group("msg"), match.group("path")
    if msg.startswith("Object contains unknown field"):
        field = msg.split("`")[1]
        key = f"{path.lstrip('.')}.{field}" if path else field
        return f"{key}: unknown key"
    if msg.startswith("Object missing required field"):
        field = msg.split("`")[1]
        key = f"{path.lstrip('.')}.{field}" if path else field
        return f"{key}: required key is missing"
    if path:
        return f"{path.lstrip('.')}: {msg.lower()}"
    return f"config: {msg.lower()}"


def _validate(config: Config) -> None:
    if not 0 <= config.api.port < 65536:
        raise ConfigError(f"api.port: {config.api.port} is not a TCP port (0-65535; 0 picks a free one)")
    if config.api.max_body_bytes < 1024:
        raise ConfigError("api.max_body_bytes: must be at least 1024")
    for i, proxy in enumerate(config.api.trusted_proxies):
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(f"api.trusted_proxies[{i}]: {proxy!r} is not an IP address or CIDR network") from None
    if config.api.max_connections < 0:
        raise ConfigError("api.max_connections: must be 0 (derived from the descriptor limit) or positive")
    if config.api.request_timeout <= 0:
        raise ConfigError("api.request_timeout: must be positive")
    for key, value in (
        ("webhooks.connect_timeout", config.webhooks.connect_timeout),
        ("webhooks.total_timeout", config.webhooks.total_timeout),
    ):
        if value <= 0:
            raise ConfigError(f"{key}: must be positive")
    for key, value in (
        ("quotas.subscriptions_per_account", config.quotas.subscriptions_per_account),
        ("quotas.destinations_per_account", config.quotas.destinations_per_account),
        ("quotas.address_labels_per_account", config.quotas.address_labels_per_account),
        ("history.retention_days", config.history.retention_days),
        ("history.dead_letter_days", config.history.dead_letter_days),
        ("dispatch.workers", config.dispatch.workers),
        ("dispatch.per_destination", config.dispatch.per_destination),
        ("dispatch.telegram_workers", config.dispatch.telegram_workers),
        ("dispatch.discord_workers", config.dispatch.discord_workers),
        ("dispatch.failing_workers", config.dispatch.failing_workers),
        ("dispatch.per_account", config.dispatch.per_account),
        ("dispatch.slow_workers", config.dispatch.slow_workers),
    ):
        if value < 1:
            raise ConfigError(f"{key}: must be at least 1")
    if config.dispatch.slow_after_ms <= 0:
        raise ConfigError("dispatch.slow_after_ms: must be positive")
    if config.logging.level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(f"logging.level: {config.logging.level!r} is not a log level")
    for key, url in (("telegram.api_url", config.telegram.api_url), ("discord.api_url", config.discord.api_url)):
        _check_url(key, url, ("http", "https"))
    _check_url("discord.gateway_url", config.discord.gateway_url, ("ws", "wss"))
    seen: set[str] = set()
    for i, chain in enumerate(config.chains):
        where = f"chains[{i}]"
        if not _CHAIN_ID.match(chain.id):
            raise ConfigError(f"{where}.id: {chain.id!r} is not a chain id (letters, digits, '.', '_', '-')")
        if chain.id in seen:
            raise ConfigError(f"{where}.id: chain {chain.id!r} is configured twice")
        seen.add(chain.id)
        if not chain.rpc:
            raise ConfigError(f"{where}.rpc: must list at least one URL")
        for j, url in enumerate(chain.rpc):
            _check_url(f"{where}.rpc[{j}]", url, ("http", "https"))
        if not re.fullmatch(r"[a-z][a-z0-9]{0,31}", chain.bech32_prefix):
            raise ConfigError(f"{where}.bech32_prefix: {chain.bech32_prefix!r} is not a bech32 prefix")
        if chain.explorer_tx_url is not None and "{hash}" not in chain.explorer_tx_url:
            raise ConfigError(f"{where}.explorer_tx_url: must contain the placeholder {{hash}}")
        if chain.explorer_proposal_url is not None and "{id}" not in chain.explorer_proposal_url:
            raise ConfigError(f"{where}.explorer_proposal_url: must contain the placeholder {{id}}")
        for j, url in enumerate(chain.rest):
            _check_url(f"{where}.rest[{j}]", url, ("http", "https"))
        if chain.start_height < 0:
            raise ConfigError(f"{where}.start_height: must be 0 (chain tip) or a positive height")
        if chain.lag_budget_blocks < 1:
            raise ConfigError(f"{where}.lag_budget_blocks: must be at least 1")
        if chain.stall_seconds <= 0:
            raise ConfigError(f"{where}.stall_seconds: must be positive")
        for j, denom in enumerate(chain.denoms):
            if not 0 <= denom.exponent <= 30:
                raise ConfigError(f"{where}.denoms[{j}].exponent: must be between 0 and 30")
    if config.cluster is not None:
        _validate_cluster(config.cluster)


def _validate_cluster(cluster: ClusterConfig) -> None:
    if not cluster.nats:
        raise ConfigError("cluster.nats: must list at least one NATS server URL")
    for i, url in enumerate(cluster.nats):
        _check_url(f"cluster.nats[{i}]", url, ("nats", "tls", "ws", "wss"))
    if not _NODE_NAME.match(cluster.node):
        raise ConfigError(f"cluster.node: {cluster.node!r} is not a node name (letters, digits, '_', '-')")
    if not 1 <= cluster.replicas <= 5:
        raise ConfigError(f"cluster.replicas: {cluster.replicas} is not between 1 and 5 (JetStream's limit)")
    if not 1 <= cluster.lease_ttl <= 60:
        raise ConfigError(f"cluster.lease_ttl: {cluster.lease_ttl} is not between 1 and 60 seconds")
    if cluster.credentials_file is not None and not Path(cluster.credentials_file).is_file():
        raise ConfigError(f"cluster.credentials_file: {cluster.credentials_file} does not exist")


def _check_url(key: str, url: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigError(f"{key}: {url!r} is not a {'/'.join(schemes)} URL")


def _read_secret(section: str, token_file: str | None, env: Mapping[str, str]) -> Secret | None:
    value = env.get(_SECRET_ENV[section], "").strip()
    if value:
        return Secret(value)
    if token_file is None:
        return None
    try:
        value = Path(token_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{section}.token_file: cannot read {token_file}: {exc.strerror or exc}") from None
    if not value:
        raise ConfigError(f"{section}.token_file: {token_file} is empty")
    return Secret(value)
