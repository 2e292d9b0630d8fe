"""Every exception Mempools raises on purpose, and the one table of how a front door shows each.

The tree (classes marked * are defined next to the code that raises them and subclass a node here)::

    MempoolsError                       root; anything else escaping is a bug
    ├── UserError                       the caller can fix it: 4xx, its message shown as it is
    │   ├── ValidationError  422        well-formed but unacceptable input
    │   │   └── *UnsafeAddressError     (core/dispatch/ssrf.py) a webhook URL we may not reach
    │   ├── *QuerySyntaxError 422       (core/query/errors.py) with the position and a caret
    │   │   └── *QueryTooLongError
    │   ├── *ChainChoiceRequired 422    (bot/actions.py) several chains share an address prefix
    │   ├── NotFoundError  404
    │   ├── ConflictError  409
    │   │   ├── *UniqueConflictError    (core/store/collection.py) a unique index is taken
    │   │   └── FencedError             a newer holder of a chain's lease claimed its epoch: stop
    │   ├── AuthenticationError  401
    │   │   └── *SignInRequired         (api/console/session.py) a console page without a session
    │   ├── PermissionDeniedError  403  may look but not change (not a group admin)
    │   ├── QuotaExceededError  403
    │   ├── *CrossOriginRefused  403    (api/csrf.py)
    │   ├── *StaleForm  403             (api/console/forms.py) a console form without this session's token
    │   ├── Throttled  429              with `retry_after`
    │   └── *CommandError               (mempools/cli.py) a CLI misuse
    ├── ServiceError                    not the caller's fault and it passes: 5xx, "try again"
    │   ├── UpstreamError  502          a chain's RPC or a webhook endpoint could not answer
    │   │   ├── *RpcError ...           (core/chain/errors.py) the watcher reacts to each kind
    │   │   └── *HttpError ...          (core/dispatch/http.py) a delivery got no HTTP answer
    │   ├── UnavailableError  503       the feature is not wired in this process
    │   ├── OverloadedError  503        with `retry_after`
    │   └── StoreUnavailableError  503  the store refuses writes for now (also a StoreError)
    │       └── ClusterUnavailableError  in cluster mode: NATS unreachable (also a ClusterError)
    └── InternalError                   the operator's to fix or a bug: 500 with an error id, logged
        ├── ConfigError
        ├── StoreError                  the data directory cannot be used
        │   ├── StoreLockedError
        │   ├── SchemaVersionError
        │   └── StoreUnavailableError   (see above: a ServiceError first)
        ├── ClusterError                the NATS cluster cannot be used (unreachable, too old, a setting dropped)
        │   ├── ClusterUnreachableError no NATS server answered (at start: the node keeps trying)
        │   └── ClusterUnavailableError (see above: a ServiceError first)
        ├── *ReplicatedWriteError       (core/cluster/store.py) a local write to a cluster replica: a bug
        ├── *DispatchStalledError       (core/dispatch/dispatcher.py)
        ├── *PortInUseError             (mempools/runtime.py)
        ├── *ControlError               (mempools/control.py)
        └── *DiscordLoginError          (bot/discord/frontdoor.py) the token was refused

Private control-flow exceptions (`_NotBase64`, `_Stale`, `_RpcFault`, `_PeerOffline`, `FlowExpiredError`) never
leave their module and are not part of the tree.

How a front door shows an error is decided here, once: each class carries `status` (the HTTP
status, also what a bot's reply means) and `slug` (the problem type, `/problems/<slug>`), and
`describe()` turns any exception into an `ErrorView` with the one sentence that the API (as the
problem's `detail`), the Telegram bot and the Discord bot all show. User and service errors show
their own message; everything else (an `InternalError`, or any exception that is not a
`MempoolsError`, i.e. a bug) is logged once with its traceback under a fresh error id, and the
person sees only "Something went wrong on our side (error id X); please try again." so that
support can find the log line without the reply revealing anything.
"""

from __future__ import annotations

import logging
import secrets
from typing import ClassVar

import msgspec


class MempoolsError(Exception):
    """Base class of every failure Mempools raises on purpose (see the tree above)."""

    #: HTTP status a front door answers with; bots use it to pick their wording.
    status: ClassVar[int] = 500
    #: Problem type slug (`/problems/<slug>`), documented in docs/API.md.
    slug: ClassVar[str] = "internal"
    #: Seconds the caller should wait before trying again, when that is known.
    retry_after: int | None = None


class UserError(MempoolsError):
    """The caller can fix it: a 4xx whose message is written for them."""

    status = 400
    slug = "bad-request"


class ServiceError(MempoolsError):
    """Not the caller's fault and not permanent: a 5xx whose message says why, and "try again"."""

    status = 503
    slug = "unavailable"


class InternalError(MempoolsError):
    """The operator's to fix, or a bug: shown to users only as an error id (and logged with it)."""


# -- user errors --------------------------------------------------------------------------------
class ValidationError(UserError):
    """Input that is well-formed but not acceptable (bad address, unknown chain, ...)."""

    status = 422
    slug = "validation"


class NotFoundError(UserError):
    """The object does not exist, or is not the caller's (the two are never told apart)."""

    status = 404
    slug = "not-found"


class ConflictError(UserError):
    """The request collides with existing state (an email already registered)."""

    status = 409
    slug = "conflict"


class FencedError(ConflictError):
    """This node's watcher of a chain was superseded: a newer lease holder claimed the chain's epoch
    (core/watch/fence.py), so every batch it stamps is refused by every replica. It stops; never
    retried, since retrying could only be refused again (or, worse, race the new holder)."""


class AuthenticationError(UserError):
    """Credentials (password, session, API key) are missing, wrong, expired or revoked."""

    status = 401
    slug = "unauthenticated"


class PermissionDeniedError(UserError):
    """The user may look but not change: not an admin of the group / no Manage Server."""

    status = 403
    slug = "forbidden"


class QuotaExceededError(UserError):
    """The account has reached a configured limit."""

    status = 403
    slug = "quota-exceeded"


class Throttled(UserError):
    """Too many attempts; try again after `retry_after` seconds."""

    status = 429
    slug = "throttled"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# -- service errors -----------------------------------------------------------------------------
class UpstreamError(ServiceError):
    """A service we depend on (a chain's RPC, a webhook endpoint) could not answer."""

    status = 502
    slug = "upstream"


class UnavailableError(ServiceError):
    """The feature is not wired in this process (e.g. no block fetcher was configured)."""

    status = 503
    slug = "unavailable"


class OverloadedError(ServiceError):
    """Too much work of one kind is already in progress; try again after `retry_after` seconds."""

    status = 503
    slug = "overloaded"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# -- internal errors ----------------------------------------------------------------------------
class ConfigError(InternalError):
    """The configuration file or an environment override is wrong. Names the key."""


class StoreError(InternalError):
    """The data directory cannot be used."""


class StoreLockedError(StoreError):
    """Another process holds the data directory."""


class StoreUnavailableError(StoreError, ServiceError):
    """The store refuses writes for now (a full disk, an I/O error); reads still work.

    Not the caller's fault and not permanent: front doors answer "try again later" (HTTP 503
    with Retry-After) and the watcher retries the same block, because the store recovers by
    itself once the operator frees space (see `core/store/rocks.py`). People are not shown the
    I/O error (it is the operator's), only `STORE_BUSY`.
    """

    status = 503
    slug = "store-unavailable"
    retry_after = 60  # seconds a caller should wait before trying again


class ClusterError(InternalError):
    """The NATS JetStream cluster cannot be used as configured: unreachable, too old, or it dropped a
    setting Mempools needs. One line that names the server version or the setting (`mempools serve`
    prints it and exits 2), because running on a server that silently ignores a setting would lose data.
    """


class ClusterUnavailableError(StoreUnavailableError, ClusterError):
    """The cluster's store takes no writes for now: NATS is unreachable from this node, or the change
    log had no leader for longer than a commit waits. A `StoreUnavailableError` because that is what
    it is to everything above the seam: it passes by itself, front doors answer "try again" (503
    with Retry-After), the watcher retries the same blocks, the dispatcher waits, and nothing is
    acknowledged that the log did not store.
    """

    retry_after = 10


class ClusterUnreachableError(ClusterError):
    """No NATS server of `cluster.nats` answered: at start, the node starts anyway and keeps trying."""


class SchemaVersionError(StoreError):
    """The data directory was written by a newer (or incompatible) version of mempools."""


#: What everyone is told while the store refuses writes (`StoreUnavailableError`, a full disk).
STORE_BUSY = "Mempools cannot save anything right now, so nothing was changed. Please try again in a minute."


# -- the one table of how each error is shown -----------------------------------------------------
class ErrorView(msgspec.Struct, frozen=True, kw_only=True):
    """An error as every front door shows it: `message` is the same text in the API and both bots.

    The API shows it as the problem's `detail` (cut to a bounded length); the bots as a sentence
    (`sentence(message)`), with their own icon and a hint in their own command syntax.
    `error_id` is set for internal errors only (the id under which the traceback was logged).
    """

    status: int
    slug: str
    message: str
    retry_after: int | None = None
    error_id: str | None = None

    @property
    def internal(self) -> bool:
        return self.error_id is not None


def is_internal(exc: BaseException) -> bool:
    """True when people must not see the message: an `InternalError` or anything that is not ours."""
    return not isinstance(exc, UserError | ServiceError)


def new_error_id() -> str:
    """A short random id that a person can read out to support and that is grep-able in the log."""
    return secrets.token_hex(6)


def describe(exc: BaseException, log: logging.Logger, where: str) -> ErrorView:
    """How `exc` is shown, logging it (once, with its traceback and a new error id) when internal.

    `where` says what failed (`"GET /v1/subscriptions"`, `"telegram /watch"`) for the log line.
    """
    if not is_internal(exc):
        assert isinstance(exc, MempoolsError)
        message = STORE_BUSY if isinstance(exc, StoreUnavailableError) else str(exc)
        return ErrorView(status=exc.status, slug=exc.slug, message=message, retry_after=exc.retry_after)
    error_id = new_error_id()
    log.error("%s failed (error id %s)", where, error_id, exc_info=exc, extra={"error_id": error_id})
    return ErrorView(
        status=500,
        slug="internal",
        message=f"Something went wrong on our side (error id {error_id}); please try again.",
        error_id=error_id,
    )


def sentence(text: str) -> str:
    """`text` as a sentence: capitalised, ending with a full stop (unless it already ends one)."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
