"""deploy/cluster/compose.yaml holds together: read as data, never run (no images pulled in tests).

What an operator would only find out at `docker compose up`: a NATS node missing from another's
routes, an image older than 2.12, two mempools nodes sharing a name or a replica volume, a config
key the loader refuses.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import Config, load_config

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "cluster"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def _services(compose: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in compose["services"].items() if name.startswith(prefix)}


def _flags(command: list[str]) -> dict[str, str]:
    """`["--name", "n1", "--js", ...]` -> {"--name": "n1", "--js": ""}."""
    flags: dict[str, str] = {}
    for i, word in enumerate(command):
        if word.startswith("-"):
            following = command[i + 1] if i + 1 < len(command) else "-"
            flags[word] = "" if following.startswith("-") else following
    return flags


def _named_volume(spec: dict[str, Any], target: str) -> str:
    for volume in spec.get("volumes", []):
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == target:
            return source
    raise AssertionError(f"nothing mounted at {target}: {spec.get('volumes')}")


def _config(spec: dict[str, Any]) -> tuple[Path, Config]:
    """The service's mounted config file, loaded as `mempools serve --config` loads it."""
    command = spec["command"]
    inside = command[command.index("--config") + 1]
    for volume in spec["volumes"]:
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == inside:
            path = DEPLOY / source
            return path, load_config(path, env={})
    raise AssertionError(f"{inside} is not mounted: {spec['volumes']}")


def test_three_nats_nodes_of_2_12_or_later_route_to_each_other(compose: dict[str, Any]) -> None:
    nats = _services(compose, "nats-")
    assert len(nats) == 3, sorted(nats)
    names, stores = set(), set()
    for service, spec in nats.items():
        image = spec["image"]
        m = re.fullmatch(r"nats:(\d+)\.(\d+)(?:\.\d+)?(?:-alpine[\d.]*)?", image)
        assert m and (int(m.group(1)), int(m.group(2))) >= (2, 12), f"{service}: {image} is not nats 2.12+"
        flags = _flags(spec["command"])
        assert "--js" in flags, f"{service}: JetStream is off"
        names.add(flags["--name"])
        route_port = flags["--cluster"].rsplit(":", 1)[1]
        routes = {r.removeprefix("nats-route://") for r in flags["--routes"].split(",")}
        assert routes == {f"{other}:{route_port}" for other in nats}, f"{service} routes {routes}"
        assert flags["--cluster_name"] == "mempools"
        stores.add(_named_volume(spec, flags["--store_dir"]))
        assert flags["--http_port"] and "healthz" in " ".join(spec["healthcheck"]["test"])
    assert len(names) == 3 and len(stores) == 3, (names, stores)
    assert stores <= set(compose["volumes"]), "a JetStream directory is not a named volume"


def test_two_mempools_nodes_with_their_own_names_and_replicas(compose: dict[str, Any]) -> None:
    nodes = _services(compose, "mempools-")
    nats = _services(compose, "nats-")
    assert len(nodes) == 2, sorted(nodes)
    names, replicas, ports = set(), set(), set()
    for service, spec in nodes.items():
        assert spec["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (DEPLOY / spec["build"]["context"] / spec["build"]["dockerfile"]).is_file()
        assert spec["build"]["args"]["EXTRAS"] == "cluster", "the image would lack the NATS client"
        path, config = _config(spec)
        assert config.cluster is not None, f"{path.name} has no [cluster]"
        assert config.cluster.node == service, f"{path.name}: node {config.cluster.node} in service {service}"
        assert config.cluster.replicas == 3
        hosts = {re.fullmatch(r"nats://([\w-]+):4222", url).group(1) for url in config.cluster.nats}  # type: ignore[union-attr]
        assert hosts == set(nats), f"{path.name} lists {hosts}"
        names.add(config.cluster.node)
        replicas.add(_named_volume(spec, config.store.path))
        assert config.api.host == "0.0.0.0"
        health = " ".join(spec["healthcheck"]["test"])
        assert f"127.0.0.1:{config.api.port}/ready" in health, health
        ports.update(p.split(":")[-1] for p in spec["ports"])
        assert all(spec["depends_on"][n]["condition"] == "service_healthy" for n in nats)
    assert len(names) == 2 and len(replicas) == 2, (names, replicas)
    assert ports == {"8080"} and len({p for s in nodes.values() for p in s["ports"]}) == 2
    assert replicas <= set(compose["volumes"]), "a replica is not a named volume"


def test_the_dockerfile_installs_the_cluster_extra_when_asked() -> None:
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    assert 'ARG EXTRAS=""' in dockerfile
    assert 'pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}"' in dockerfile
