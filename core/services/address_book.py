"""Address books (#15.8): the names an account gives addresses, shown in its notifications.

"Treasury received 1.5 ATOM" reads better than "cosmos1qy…7xu received 1.5 ATOM", but only if the
label is right. So a label is bounded and printable (it lands in chat messages and webhook
payloads), and the address is checked against the chains this service is configured with: an
address of a chain nobody watches could never appear in a notification, and saying so ("osmo1… is
an Osmosis address; this service watches Cosmos Hub") beats accepting a label that is never used.
Validator operator and consensus addresses of a configured chain are accepted too: they appear in
staking and slashing events.

The watcher asks `labels_for` at match time and copies the answer into the notification, so the
history keeps the name it was sent with.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import NotFoundError, QuotaExceededError, ValidationError
from core.models import AddressLabel, Chain
from core.query.addresses import unwatched_prefix, validate_address
from core.services.chains import ChainService
from core.services.clock import Clock, utcnow
from core.services.guards import is_key
from core.store.repositories import Repositories

MAX_LABEL = 64
MAX_LABELS_PER_ACCOUNT = 500
_VALIDATOR_SUFFIXES = ("valoper", "valcons")


def check_label(label: object) -> str:
    """The trimmed label, or a ValidationError saying what a label may be."""
    if not isinstance(label, str) or not label.strip():
        raise ValidationError("label: give a name for the address, such as Treasury")
    text = label.strip()
    if len(text) > MAX_LABEL:
        raise ValidationError(f"label: at most {MAX_LABEL} characters (this one has {len(text)})")
    if not text.isprintable():
        raise ValidationError("label: only printable characters (no control characters or line breaks)")
    return text


def _base_prefix(hrp: str) -> str:
    for suffix in _VALIDATOR_SUFFIXES:
        if hrp.endswith(suffix) and len(hrp) > len(suffix):
            return hrp.removesuffix(suffix)
    return hrp


class AddressBookService:
    """Per-account labels for addresses: set, remove, list, and the lookup notifications use."""

    def __init__(
        self,
        repos: Repositories,
        chains: ChainService,
        *,
        max_per_account: int = MAX_LABELS_PER_ACCOUNT,
        clock: Clock = utcnow,
    ) -> None:
        self._repos = repos
        self._chains = chains
        self.max_per_account = max_per_account
        self._clock = clock

    def _configured(self) -> list[Chain]:
        return [self._chains.require(chain_id) for chain_id in self._chains.ids()]

    def check_address(self, address: object) -> str:
        """The normalised address if a configured chain uses its prefix, else a ValidationError
        that names the chain it belongs to (when known) and the chains watched here."""
        normalised = validate_address(address)
        hrp = normalised.rpartition("1")[0]
        chains = self._configured()
        if any(c.bech32_prefix == _base_prefix(hrp) for c in chains):
            return normalised
        raise ValidationError(f"address: {unwatched_prefix(_base_prefix(hrp), hrp, chains)}")

    async def set(self, owner_id: str, address: object, label: object) -> tuple[AddressLabel, bool]:
        """Label `address` (a new entry or a rename); returns the entry and whether it is new."""
        normalised = self.check_address(address)
        text = check_label(label)
        now = self._clock()
        existing = self._repos.address_labels.get(owner_id, normalised)
        if existing is None:
            limit = self.max_per_account
            if len(self._repos.address_labels.of_owner(owner_id, limit=limit)) >= limit:
                raise QuotaExceededError(f"the address book is full ({limit} labels); remove a label first")
            entry = AddressLabel(owner_id=owner_id, address=normalised, label=text, created_at=now, updated_at=now)
        else:
            entry = AddressLabel(
                owner_id=owner_id, address=normalised, label=text, created_at=existing.created_at, updated_at=now
            )
        await self._repos.address_labels.save(entry)
        return entry, existing is None

    def get(self, owner_id: str, address: str) -> AddressLabel:
        entry = self._lookup(owner_id, address)
        if entry is None:
            raise NotFoundError("that address has no label in your address book")
        return entry

    async def remove(self, owner_id: str, address: str) -> AddressLabel:
        """Remove the label; NotFoundError if the address has none."""
        entry = self.get(owner_id, address)
        await self._repos.address_labels.remove(owner_id, entry.address)
        return entry

    def list(self, owner_id: str) -> list[AddressLabel]:
        """The whole book, ordered by address. `max_per_account` bounds it, except that joining
        two accounts (`/link`) keeps both books whole."""
        return self._repos.address_labels.of_owner(owner_id)

    def labels_for(self, owner_id: str, addresses: Iterable[str]) -> dict[str, str]:
        """address -> label for those of `addresses` the owner has labelled (point reads only)."""
        found: dict[str, str] = {}
        for address in dict.fromkeys(addresses):
            if not is_key(address):
                continue
            entry = self._repos.address_labels.get(owner_id, address)
            if entry is not None:
                found[address] = entry.label
        return found

    def _lookup(self, owner_id: str, address: str) -> AddressLabel | None:
        text = address.strip().lower()
        if not is_key(owner_id) or not is_key(text):
            return None
        return self._repos.address_labels.get(owner_id, text)
