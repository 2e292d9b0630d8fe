"""The `[cluster]` section: absent means one node; every key validated and settable from the environment."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from core.config import load_config
from core.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_no_cluster_section_means_single_node(tmp_path: Path) -> None:
    assert load_config(None, env={}).cluster is None
    assert load_config(_write(tmp_path, "[api]\nport = 9000\n"), env={}).cluster is None


def test_cluster_section_defaults(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "[cluster]\nnats = ['nats://127.0.0.1:4222']\n"), env={})
    assert config.cluster is not None
    assert config.cluster.nats == ["nats://127.0.0.1:4222"]
    assert config.cluster.node == socket.gethostname()
    assert config.cluster.replicas == 3
    assert config.cluster.credentials_file is None


def test_cluster_keys_from_the_file(tmp_path: Path) -> None:
    creds = tmp_path / "nats.creds"
    creds.write_text("-----BEGIN NATS USER JWT-----\n")
    text = (
        "[cluster]\nnats = ['nats://a:4222', 'tls://b:4222']\nnode = 'node-2'\nreplicas = 5\n"
        f"credentials_file = '{creds}'\n"
    )
    config = load_config(_write(tmp_path, text), env={})
    assert config.cluster is not None
    assert config.cluster.nats == ["nats://a:4222", "tls://b:4222"]
    assert (config.cluster.node, config.cluster.replicas, config.cluster.credentials_file) == ("node-2", 5, str(creds))


def test_cluster_from_the_environment_alone_with_a_comma_separated_list() -> None:
    config = load_config(
        None,
        env={
            "MEMPOOLS_CLUSTER__NATS": "nats://127.0.0.1:4222, nats://127.0.0.1:4223,nats://127.0.0.1:4224",
            "MEMPOOLS_CLUSTER__NODE": "eu-1",
            "MEMPOOLS_CLUSTER__REPLICAS": "1",
        },
    )
    assert config.cluster is not None
    assert config.cluster.nats == ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223", "nats://127.0.0.1:4224"]
    assert (config.cluster.node, config.cluster.replicas) == ("eu-1", 1)


def test_environment_overrides_the_file_and_takes_a_toml_array_too(tmp_path: Path) -> None:
    path = _write(tmp_path, "[cluster]\nnats = ['nats://a:4222']\nnode = 'a'\n")
    config = load_config(path, env={"MEMPOOLS_CLUSTER__NATS": '["nats://b:4222"]', "MEMPOOLS_CLUSTER__NODE": "b"})
    assert config.cluster is not None
    assert (config.cluster.nats, config.cluster.node) == (["nats://b:4222"], "b")
    config = load_config(path, env={"MEMPOOLS_CLUSTER__NATS": "nats://c:4222"})
    assert config.cluster is not None and config.cluster.nats == ["nats://c:4222"]


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[cluster]\n", {}, "cluster.nats: required key is missing"),
        ("[cluster]\nnats = []\n", {}, "cluster.nats: must list at least one NATS server URL"),
        ("", {"MEMPOOLS_CLUSTER__NATS": ","}, "cluster.nats: must list at least one NATS server URL"),
        ("[cluster]\nnats = ['http://a:4222']\n", {}, "cluster.nats[0]: 'http://a:4222' is not a nats/tls/ws/wss URL"),
        ("", {"MEMPOOLS_CLUSTER__NATS": "nats://a:4222,localhost"}, "cluster.nats[1]: 'localhost' is not a nats"),
        ("[cluster]\nnats = ['nats://a']\nreplicas = 0\n", {}, "cluster.replicas: 0 is not between 1 and 5"),
        ("[cluster]\nnats = ['nats://a']\n", {"MEMPOOLS_CLUSTER__REPLICAS": "7"}, "cluster.replicas: 7 is not between"),
        ("[cluster]\nnats = ['nats://a']\nreplicas = 'three'\n", {}, "cluster.replicas: expected `int`, got `str`"),
        ("[cluster]\nnats = ['nats://a']\nlease_ttl = 0\n", {}, "cluster.lease_ttl: 0 is not between 1 and 60"),
        ("[cluster]\nnats = ['nats://a']\nnode = 'a.b'\n", {}, "cluster.node: 'a.b' is not a node name"),
        ("[cluster]\nnats = ['nats://a']\nnode = ''\n", {}, "cluster.node: '' is not a node name"),
        (
            "[cluster]\nnats = ['nats://a']\ncredentials_file = '/nonexistent/nats.creds'\n",
            {},
            "cluster.credentials_file: /nonexistent/nats.creds does not exist",
        ),
        ("[cluster]\nnats = ['nats://a']\nnodes = 3\n", {}, "cluster.nodes: unknown key"),
    ],
)
def test_cluster_errors_name_the_key(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text), env=env)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
