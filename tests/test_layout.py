"""The folders tell the architecture, and imports keep them honest (README, "Layout").

core/ is the domain: it imports nothing from the front doors (api/, bot/) or the process around
them (mempools/). The front doors reach the domain through core services, never the store or the
repositories. core/'s top level holds only the vocabulary every part shares.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def _offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path} imports {name}"
        for path, names in _imports(package).items()
        for name in sorted(names)
        if name.split(".")[0] in forbidden or any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_core_imports_no_front_door_and_no_process_plumbing() -> None:
    assert _offenders("core", ("api", "bot", "mempools")) == []


def test_front_doors_never_touch_the_store() -> None:
    store = ("core.store", "core.store.repositories", "core.store.rocks", "core.store.collection")
    assert _offenders("api", store) == []
    assert _offenders("bot", store) == []


def test_core_top_level_holds_only_the_vocabulary() -> None:
    modules = sorted(p.name for p in (ROOT / "core").glob("*.py"))
    assert modules == ["__init__.py", "config.py", "errors.py", "ids.py", "models.py"]


def test_each_bot_keeps_to_itself() -> None:
    """What both bots share (signed buttons, chat actions, aliases) lives in bot/ itself: neither
    bot reaches into the other, so either can change or go without touching the other."""
    assert _offenders("bot/discord", ("bot.telegram",)) == []
    assert _offenders("bot/telegram", ("bot.discord",)) == []


def test_only_cluster_mode_imports_nats() -> None:
    """A single node never loads the NATS client: only core/cluster/ imports nats, and only `serve`
    and the runtime reach core.cluster (inside the functions that run when the config has a [cluster]
    section, and for type hints only), and the `mempools cluster` commands (inside their handlers).
    test_cluster_connection.py checks in a subprocess that a single node really loads no nats."""
    offenders = [o for package in ("core", "api", "bot", "mempools") for o in _offenders(package, ("nats",))]
    assert [o for o in offenders if not o.startswith("core/cluster/")] == []
    users = [o for package in ("core", "api", "bot", "mempools") for o in _offenders(package, ("core.cluster",))]
    assert [o for o in users if not o.startswith("core/cluster/")] == [
        "mempools/commands/cluster.py imports core.cluster.connection",
        "mempools/commands/cluster.py imports core.cluster.importer",
        "mempools/commands/cluster.py imports core.cluster.schema",
        "mempools/commands/cluster.py imports core.cluster.status",
        "mempools/commands/cluster.py imports core.cluster.store",
        "mempools/commands/serve.py imports core.cluster.node",
        "mempools/runtime.py imports core.cluster.connection",
        "mempools/runtime.py imports core.cluster.node",
    ]
