"""Following chains: the matcher registry, the per-block processor and the per-chain watcher."""
