"""A CometBFT JSON-RPC node on loopback for offline use, demos, tests and benchmarks.

`DevnetChain` makes the blocks (generated deterministically from a seed, or replayed from
recordings); `DevnetServer` serves them over the real RPC shapes with optional faults.
See docs/DEVNET.md.
"""

from mempools.devnet.chain import ChainConfig, DevnetChain, InjectedTx
from mempools.devnet.faults import Faults
from mempools.devnet.server import DevnetServer

__all__ = ["ChainConfig", "DevnetChain", "DevnetServer", "Faults", "InjectedTx"]
