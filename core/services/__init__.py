"""Core services: the only way in to accounts, destinations, subscriptions and history.

The REST API and both bots call these and nothing below them. Each service gets its
dependencies through its constructor; `Services.build` wires the usual set from the config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.config import Config
from core.dispatch.outbox import Outbox
from core.monitor.facts import ChainQueries
from core.services.accounts import AccountService
from core.services.activity import ActivityFeed
from core.services.address_book import AddressBookService
from core.services.chains import ChainInfo, ChainService, StatsProvider
from core.services.clock import Clock, utcnow
from core.services.conversations import ConversationService
from core.services.deliveries import DeliveryService
from core.services.destinations import DestinationService, UrlCheck, WebhookTester
from core.services.errors import AuthenticationError, ConflictError, UnavailableError, UpstreamError
from core.services.history import HistoryService, NotificationDetail
from core.services.matcher_feed import MatcherFeed
from core.services.passwords import Passwords
from core.services.presets import PresetPreview, PresetService
from core.services.queries import FetchBlock, LatestHeight, QueryService, QueryTestResult
from core.services.subscriptions import SubscriptionService
from core.services.validators import ValidatorDirectory
from core.store.repositories import Repositories
from core.watch.matching import SubscriptionMatcher

__all__ = [
    "AccountService",
    "ActivityFeed",
    "AddressBookService",
    "AuthenticationError",
    "ChainInfo",
    "ChainService",
    "ConflictError",
    "DestinationService",
    "HistoryService",
    "NotificationDetail",
    "PresetPreview",
    "PresetService",
    "QueryService",
    "QueryTestResult",
    "Services",
    "SubscriptionService",
    "UnavailableError",
    "UpstreamError",
]


@dataclass(frozen=True, slots=True)
class Services:
    """One instance of each service, sharing one store and one matcher."""

    accounts: AccountService
    chains: ChainService
    destinations: DestinationService
    subscriptions: SubscriptionService
    history: HistoryService
    queries: QueryService
    presets: PresetService
    delivery: DeliveryService
    conversations: ConversationService
    address_book: AddressBookService
    activity: ActivityFeed
    validators: ValidatorDirectory

    @classmethod
    def build(
        cls,
        config: Config,
        repos: Repositories,
        matcher: SubscriptionMatcher,
        outbox: Outbox,
        *,
        stats: StatsProvider | None = None,
        fetch_block: FetchBlock | None = None,
        latest_height: LatestHeight | None = None,
        tester: WebhookTester | None = None,
        check_url: UrlCheck | None = None,
        passwords: Passwords | None = None,
        chain_queries: Callable[[str], ChainQueries | None] | None = None,
        monitoring_problems: Callable[[str], Mapping[str, str]] | None = None,
        clock: Clock = utcnow,
    ) -> Services:
        # The matcher follows the store, not the services: a subscription written anywhere (on
        # another node, in cluster mode) reaches it as a committed write.
        MatcherFeed(repos.subscriptions, matcher)
        chains = ChainService(config.chains, stats, monitoring_problems)
        destinations = DestinationService(
            repos,
            max_per_account=config.quotas.destinations_per_account,
            allow_private_networks=config.webhooks.allow_private_networks,
            check_url=check_url,
            tester=tester,
            clock=clock,
        )
        delivery = DeliveryService(repos, outbox, clock=clock)
        validators = ValidatorDirectory(chain_queries or (lambda _chain_id: None))
        return cls(
            accounts=AccountService(repos, passwords=passwords, clock=clock),
            chains=chains,
            destinations=destinations,
            subscriptions=SubscriptionService(
                repos,
                chains,
                destinations,
                max_per_account=config.quotas.subscriptions_per_account,
                validators=validators,
                clock=clock,
            ),
            history=HistoryService(repos, delivery, chain_ids=chains.ids),
            queries=QueryService(chains, fetch_block, latest_height),
            presets=PresetService(chains),
            delivery=delivery,
            conversations=ConversationService(repos.store, clock=clock),
            address_book=AddressBookService(
                repos, chains, max_per_account=config.quotas.address_labels_per_account, clock=clock
            ),
            activity=ActivityFeed(repos, outbox),
            validators=validators,
        )
