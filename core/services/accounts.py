"""Accounts, their identities, and every way to prove who you are: password, session, API key.

One account is one person; identities (email, Telegram user, Discord user) point at it, and a
one-time link code joins a chat identity to an existing account (`/link CODE` in a bot).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import TypeVar

import msgspec

from core.errors import NotFoundError, QuotaExceededError, ValidationError
from core.ids import new_id
from core.models import Account, ApiKey, DeadLetter, Identity, IdentityKind, Notification
from core.services.clock import Clock, utcnow
from core.services.errors import AuthenticationError, ConflictError
from core.services.guards import is_key
from core.services.passwords import MAX_PASSWORD, MIN_PASSWORD, Passwords
from core.services.records import LinkCode, LinkCodeRepository, Session, SessionRepository
from core.store.base import WriteBatch
from core.store.collection import Collection
from core.store.repositories import Repositories

_EMAIL = re.compile(r"^[^@\s\x00]{1,64}@[^@\s\x00]{1,190}\.[^@\s.\x00]{2,63}$")
API_KEY_PREFIX = "mp_"
#: Unambiguous upper-case letters and digits (no 0/O, 1/I/L): read aloud or typed on a phone.
LINK_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LINK_CODE_LENGTH = 8
_MOVE_BATCH = 1000
#: Records that belong to an account and follow it when accounts are merged.
_Owned = TypeVar("_Owned", Notification, DeadLetter)


def normalise_email(email: str) -> str:
    """Trimmed and lower-cased; refuses what cannot be an address (a clear 422, not a bounce later)."""
    text = email.strip().lower()
    if len(text) > 254 or not _EMAIL.match(text):
        raise ValidationError("email: not a valid email address")
    return text


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountService:
    """Registration, login, sessions, API keys and identity linking.

    `session_ttl`: how long a login lasts. `key_touch_interval`: `last_used_at` of an API key is
    written at most this often, so an API client does not turn every read into a store write.
    """

    def __init__(
        self,
        repos: Repositories,
        *,
        passwords: Passwords | None = None,
        clock: Clock = utcnow,
        session_ttl: timedelta = timedelta(days=14),
        link_code_ttl: timedelta = timedelta(minutes=10),
        key_touch_interval: timedelta = timedelta(minutes=5),
        max_api_keys: int = 20,
    ) -> None:
        self._repos = repos
        self._passwords = passwords or Passwords()
        self._clock = clock
        self._sessions = SessionRepository(repos.store)
        self._links = LinkCodeRepository(repos.store)
        self.session_ttl = session_ttl
        self.link_code_ttl = link_code_ttl
        self.key_touch_interval = key_touch_interval
        self.max_api_keys = max_api_keys

    # -- accounts ---------------------------------------------------------------------------------
    async def register(self, email: str, password: str, *, display_name: str | None = None) -> Account:
        """A new account with an email identity; ConflictError if the email is registered."""
        address = normalise_email(email)
        if len(password) < MIN_PASSWORD:
            raise ValidationError(f"password: at least {MIN_PASSWORD} characters")
        if len(password) > MAX_PASSWORD:
            raise ValidationError(f"password: at most {MAX_PASSWORD} characters")
        if self._repos.accounts.by_email(address) is not None:
            raise ConflictError("an account with this email already exists")
        password_hash = await self._passwords.hash(password)
        now = self._clock()
        account = Account(
            id=new_id("acc"), created_at=now, email=address, password_hash=password_hash, display_name=display_name
        )
        identity = Identity(kind="email", external_id=address, account_id=account.id, created_at=now)
        # No await between this check and the batch; the unique index's precondition decides a race
        # with another node (in a cluster both checks can pass: one commit is then refused).
        batch = WriteBatch()
        try:
            self._repos.accounts.put(account, batch)
            self._repos.identities.put(identity, batch)
            await self._repos.store.commit(batch)
        except ConflictError:  # UniqueConflictError here, or the refused commit of a race lost
            raise ConflictError("an account with this email already exists") from None
        return account

    async def authenticate(self, email: str, password: str) -> Account:
        """The account, or AuthenticationError with the same message for every kind of failure."""
        failure = AuthenticationError("email or password is wrong")
        try:
            address = normalise_email(email)
        except ValidationError:
            address = None
        account = self._repos.accounts.by_email(address) if address else None
        if account is None or account.password_hash is None:
            await self._passwords.verify_dummy(password[:MAX_PASSWORD])
            raise failure
        if len(password) > MAX_PASSWORD or not await self._passwords.verify(account.password_hash, password):
            raise failure
        if self._passwords.needs_rehash(account.password_hash):
            account.password_hash = await self._passwords.hash(password)
            await self._repos.accounts.save(account)
        return account

    def get(self, account_id: str) -> Account:
        account = self._repos.accounts.get(account_id) if is_key(account_id) else None
        if account is None:
            raise NotFoundError("account not found")
        return account

    def identities(self, account_id: str) -> list[Identity]:
        return self._repos.identities.of_account(account_id)

    async def get_or_create_for_identity(
        self, kind: IdentityKind, external_id: str, username: str | None = None
    ) -> Account:
        """The account behind a Telegram or Discord user, created on first contact (bots call this)."""
        if not is_key(external_id):
            raise ValidationError("external_id: not a valid identity")
        identity = self._repos.identities.find(kind, external_id)
        if identity is not None:
            account = self._repos.accounts.get(identity.account_id)
            if account is not None:
                if username is not None and identity.username != username:
                    identity.username = username
                    await self._repos.identities.save(identity)
                return account
        now = self._clock()
        account = Account(id=new_id("acc"), created_at=now, display_name=username)
        batch = WriteBatch()
        self._repos.accounts.put(account, batch)
        fresh = Identity(kind=kind, external_id=external_id, account_id=account.id, created_at=now, username=username)
        if identity is None:
            self._repos.identities.insert(fresh, batch)
        else:  # left behind by an account that is gone: taken over
            self._repos.identities.put(fresh, batch)
        try:
            await self._repos.store.commit(batch)
        except ConflictError:  # the same person's first message reached another node at the same time
            raced = self._repos.identities.find(kind, external_id)
            existing = self._repos.accounts.get(raced.account_id) if raced is not None else None
            if existing is None:
                raise
            return existing
        return account

    # -- sessions ---------------------------------------------------------------------------------
    async def create_session(self, account_id: str) -> tuple[Session, str]:
        """A new session and its token (the cookie value); only the token's hash is stored."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        expires = now + self.session_ttl
        session = Session(id=hash_token(token), account_id=account_id, created_at=now, expires_at=expires)
        await self._sessions.save(session)
        return session, token

    async def session_account(self, token: str) -> str:
        """The account id of a live session; an expired one is removed on sight."""
        if not token or len(token) > 128:
            raise AuthenticationError("session is not valid")
        session = self._sessions.get(hash_token(token))
        if session is None:
            raise AuthenticationError("session is not valid")
        if session.expires_at <= self._clock():
            await self._sessions.remove(session.id)
            raise AuthenticationError("session has expired")
        return session.account_id

    async def end_session(self, token: str) -> None:
        if token and len(token) <= 128:
            await self._sessions.remove(hash_token(token))

    # -- API keys ---------------------------------------------------------------------------------
    async def create_api_key(
        self, account_id: str, name: str, *, expires_at: datetime | None = None
    ) -> tuple[ApiKey, str]:
        """A new key and its plaintext, which is shown once and never stored."""
        name = name.strip()
        if not name or len(name) > 100:
            raise ValidationError("name: 1 to 100 characters")
        now = self._clock()
        if expires_at is not None:
            # A time without an offset is refused, not guessed: read as UTC it could end a key
            # hours before (or after) its owner meant, and an expiry is a security setting.
            if expires_at.tzinfo is None or expires_at.utcoffset() is None:
                raise ValidationError("expires_at needs a time zone (e.g. 2027-01-01T00:00:00Z)")
            if expires_at <= now:
                raise ValidationError("expires_at: must be in the future")
        active = [k for k in self._repos.api_keys.of_account(account_id) if k.revoked_at is None]
        if len(active) >= self.max_api_keys:
            raise QuotaExceededError(f"at most {self.max_api_keys} active API keys per account")
        plaintext = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            id=new_id("key"),
            account_id=account_id,
            name=name,
            prefix=plaintext[:10],
            key_hash=hash_token(plaintext),
            created_at=now,
            expires_at=expires_at,
        )
        await self._repos.api_keys.save(key)
        return key, plaintext

    def list_api_keys(self, account_id: str) -> list[ApiKey]:
        return self._repos.api_keys.of_account(account_id)

    async def revoke_api_key(self, account_id: str, key_id: str) -> ApiKey:
        key = self._repos.api_keys.get(key_id) if is_key(key_id) else None
        if key is None or key.account_id != account_id:
            raise NotFoundError("API key not found")
        if key.revoked_at is None:
            key.revoked_at = self._clock()
            await self._repos.api_keys.save(key)
        return key

    async def authenticate_api_key(self, plaintext: str) -> ApiKey:
        """The key's record if it is live; AuthenticationError saying why otherwise."""
        if not plaintext.startswith(API_KEY_PREFIX) or len(plaintext) > 128:
            raise AuthenticationError("API key is not valid")
        key = self._repos.api_keys.by_hash(hash_token(plaintext))
        if key is None:
            raise AuthenticationError("API key is not valid")
        now = self._clock()
        if key.revoked_at is not None:
            raise AuthenticationError("API key has been revoked")
        if key.expires_at is not None and key.expires_at <= now:
            raise AuthenticationError("API key has expired")
        if key.last_used_at is None or now - key.last_used_at >= self.key_touch_interval:
            key.last_used_at = now
            await self._repos.api_keys.save(key)
        return key

    # -- linking identities -----------------------------------------------------------------------
    async def sweep_expired(self, limit: int = 1000) -> int:
        """Delete expired sessions and link codes (a scheduled job): presented ones are refused anyway,
        this keeps the tables from growing with abandoned logins."""
        now = self._clock()
        removed = 0
        for session in self._sessions.expired(now, limit):
            await self._sessions.remove(session.id)
            removed += 1
        for code in self._links.expired(now, limit):
            await self._links.remove(code.code)
            removed += 1
        return removed

    async def create_link_code(self, account_id: str) -> LinkCode:
        """A fresh one-time code; earlier unused codes of the account stop working."""
        now = self._clock()
        batch = WriteBatch()
        for old in self._links.of_account(account_id):
            self._links.delete(old.code, batch=batch)
        while True:
            code = "".join(secrets.choice(LINK_ALPHABET) for _ in range(LINK_CODE_LENGTH))
            if self._links.get(code) is None:
                break
        link = LinkCode(code=code, account_id=account_id, created_at=now, expires_at=now + self.link_code_ttl)
        self._links.put(link, batch)
        await self._repos.store.commit(batch)
        return link

    async def redeem_link_code(
        self, code: str, kind: IdentityKind, external_id: str, username: str | None = None
    ) -> Account:
        """Join the chat identity to the code's account and bring along what it owned.

        The identity's former account hands over its subscriptions, destinations, address book,
        notification history and dead letters (the matcher follows the store's write), so the person sees one
        account everywhere. The former account itself stays, empty, and is not deleted.
        """
        cleaned = re.sub(r"[\s-]", "", code).upper()
        link = self._links.get(cleaned) if is_key(cleaned) and len(cleaned) <= 32 else None
        if link is None or link.expires_at <= self._clock():
            if link is not None:
                await self._links.remove(link.code)
            raise ValidationError("this link code is not valid or has expired; make a new one")
        target = self._repos.accounts.get(link.account_id)
        if target is None:
            await self._links.remove(link.code)
            raise ValidationError("this link code is not valid or has expired; make a new one")
        if not is_key(external_id):
            raise ValidationError("external_id: not a valid identity")
        now = self._clock()
        identity = self._repos.identities.find(kind, external_id)
        former = identity.account_id if identity is not None else None
        batch = WriteBatch()
        self._links.delete(link.code, batch=batch)
        if identity is None:
            identity = Identity(kind=kind, external_id=external_id, account_id=target.id, created_at=now)
        identity.account_id = target.id
        if username is not None:
            identity.username = username
        self._repos.identities.put(identity, batch)
        if former is not None and former != target.id:
            for sub in self._repos.subscriptions.of_owner(former):
                sub.owner_id = target.id
                sub.updated_at = now
                self._repos.subscriptions.put(sub, batch)
            for dst in self._repos.destinations.of_owner(former):
                dst.owner_id = target.id
                self._repos.destinations.put(dst, batch)
            self._move_labels(former, target.id, batch)
        await self._repos.store.commit(batch)
        if former is not None and former != target.id:
            await self._move_history(former, target.id)
        return target

    async def move_identity(self, kind: IdentityKind, old_external_id: str, new_external_id: str) -> Account | None:
        """The chat behind an identity got a new id (a Telegram group became a supergroup).

        The account keeps its subscriptions and history and is now found under the new id, so
        commands typed in the new chat act on it. Returns the account, or None when the old id
        had none. If the new id already has an account of its own (someone used a command there
        before the move was seen), that one is left alone and the old identity stays as it was.
        """
        if not is_key(old_external_id) or not is_key(new_external_id):
            raise ValidationError("external_id: not a valid identity")
        identity = self._repos.identities.find(kind, old_external_id)
        if identity is None:
            return None
        account = self._repos.accounts.get(identity.account_id)
        if self._repos.identities.find(kind, new_external_id) is not None:
            return account
        batch = WriteBatch()
        self._repos.identities.delete(kind, old_external_id, batch=batch)
        self._repos.identities.put(msgspec.structs.replace(identity, external_id=new_external_id), batch)
        await self._repos.store.commit(batch)
        return account

    def _move_labels(self, former: str, target: str, batch: WriteBatch) -> None:
        """The address book comes along; where both books name an address, the target's name stays."""
        labels = self._repos.address_labels
        for entry in labels.of_owner(former):
            labels.delete(former, entry.address, batch=batch)
            if labels.get(target, entry.address) is None:
                labels.put(msgspec.structs.replace(entry, owner_id=target), batch)

    async def _move_history(self, former: str, target: str) -> None:
        """Notifications and dead letters follow their subscriptions, a thousand per batch."""
        await self._move_owned(self._repos.notifications, former, target)
        await self._move_owned(self._repos.dead_letters, former, target)

    async def _move_owned(self, repo: Collection[_Owned], former: str, target: str) -> None:
        while True:
            chunk = [record for _, record in repo.scan_index("owner", former, limit=_MOVE_BATCH)]
            if not chunk:
                break
            batch = WriteBatch()
            for record in chunk:
                record.owner_id = target
                repo.put(record, batch)
            await self._repos.store.commit(batch)
