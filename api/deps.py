"""Names of the values `create_app` injects into handlers (Litestar named dependencies)."""

from __future__ import annotations

from typing import Annotated

from litestar.di import NamedDependency
from litestar.params import PathParameter

from api.auth import Caller
from api.csrf import OriginPolicy
from api.page_json import RecordJson
from api.settings import ApiSettings
from api.throttle import LoginThrottle, SignupThrottle
from core.services.accounts import AccountService
from core.services.address_book import AddressBookService
from core.services.chains import ChainService
from core.services.destinations import DestinationService
from core.services.history import HistoryService
from core.services.presets import PresetService
from core.services.queries import QueryService
from core.services.subscriptions import SubscriptionService

CallerDep = NamedDependency[Caller]
AccountsDep = NamedDependency[AccountService]
AddressBookDep = NamedDependency[AddressBookService]
ChainsDep = NamedDependency[ChainService]
DestinationsDep = NamedDependency[DestinationService]
SubscriptionsDep = NamedDependency[SubscriptionService]
HistoryDep = NamedDependency[HistoryService]
QueriesDep = NamedDependency[QueryService]
PresetsDep = NamedDependency[PresetService]
ThrottleDep = NamedDependency[LoginThrottle]
SignupThrottleDep = NamedDependency[SignupThrottle]
SettingsDep = NamedDependency[ApiSettings]
OriginPolicyDep = NamedDependency[OriginPolicy]
RecordJsonDep = NamedDependency[RecordJson]

#: An object id in a path (`sub_...`, `dst_...`): longer ones cannot exist.
PathId = Annotated[str, PathParameter(min_length=1, max_length=64)]

#: An address in a path (`/v1/address-book/{address}`): bech32 addresses are at most 90 characters.
PathAddress = Annotated[str, PathParameter(min_length=1, max_length=128)]
