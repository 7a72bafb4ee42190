"""Where the bot keeps what must outlive one turn: token caches, commands waiting for sign-in,
ids of activities already handled, card-action state and locks.

One small seam, `KeyValueStore` (str keys, bytes values), with two homes: `MemoryStore` (one
process, the default) and `RedisStore` (`REDIS_URL`, shared by every instance). `EncryptedStore`
seals chosen key prefixes with Fernet so a leaked Redis dump shows no token. `KeyedLocks`
and `store_lock` are the few patterns built on top. Nothing here imports botbuilder.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Protocol, TypeVar, cast

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .errors import LockBusy, StorageUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# Keys under these prefixes are encrypted at rest (when STATE_ENCRYPTION_KEY is set): MSAL token
# caches (refresh tokens) and everything kept about a meeting or a command (join links,
# passcodes, dial-in numbers, invitees, what the user typed). Sealing is for integrity as much
# as secrecy: meeting records decide what a card may do, so they must only ever be bytes this
# bot wrote (Fernet is authenticated). A new kind of key that holds anything about a user or a
# meeting gets its prefix added here.
SEALED_PREFIXES: tuple[str, ...] = ("tokens:", "pending:", "record:", "retry:")


class KeyValueStore(Protocol):
    """Bytes in, bytes out. `ttl` is in seconds (> 0); None keeps the key until deleted."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None: ...

    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        """Atomic; True when this call stored the value. Pass a value unique to the caller
        (see `unique_token`): a retry after a lost reply relies on it to recognise its own write."""
        ...

    async def delete(self, key: str) -> None: ...

    async def compare_and_set(self, key: str, expected: bytes | None, value: bytes, *,
                              ttl: float | None = None) -> bool:
        """Atomic: store `value` only if the current value is `expected` (None = absent). As
        with set_if_absent, values unique per writer keep a retried call exact."""
        ...

    async def compare_and_delete(self, key: str, expected: bytes) -> bool:
        """Atomic: delete only if the current value is `expected` (releasing a lock we hold)."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


_INSTANCE = secrets.token_hex(8)
_SEQUENCE = itertools.count()


def unique_token() -> bytes:
    """A value no other call (in this or any other process) produces: instance id + counter."""
    return f"{_INSTANCE}:{next(_SEQUENCE)}".encode()


def _check_ttl(ttl: float | None) -> None:
    if ttl is not None and not ttl > 0:
        raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")


# --- in-process ------------------------------------------------------------------------------
class MemoryStore:
    """A dict with expiry for one process. Expired keys go lazily (on read) and through a heap
    of expiry times that each TTL write drains a little, so memory stays flat under a steady
    stream of expiring keys without any background task."""

    _SWEEP_PER_WRITE = 32  # > 1, so the expired backlog shrinks faster than writes add to it

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[bytes, float]] = {}  # key -> (value, expires_at | inf)
        self._expiries: list[tuple[float, str]] = []  # min-heap; entries may be outdated

    def __len__(self) -> int:
        return len(self._data)

    def _live(self, key: str, now: float) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= now:
            del self._data[key]
            return None
        return item[0]

    def _put(self, key: str, value: bytes, ttl: float | None, now: float) -> None:
        if ttl is None:
            self._data[key] = (value, math.inf)
            return
        expires = now + ttl
        self._data[key] = (value, expires)
        heapq.heappush(self._expiries, (expires, key))
        self._sweep(now, self._SWEEP_PER_WRITE)

    def _sweep(self, now: float, budget: float) -> None:
        heap, data = self._expiries, self._data
        while heap and budget > 0 and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            item = data.get(key)
            if item is not None and item[1] <= now:  # else rewritten since: a later entry exists
                del data[key]
            budget -= 1
        if len(heap) > 2 * len(data) + 1024:  # keys rewritten often leave outdated entries
            self._expiries = [(exp, k) for k, (_, exp) in data.items() if exp != math.inf]
            heapq.heapify(self._expiries)

    def sweep(self) -> None:
        """Drop every expired key now (writes already do this a little at a time)."""
        self._sweep(self._clock(), math.inf)

    async def get(self, key: str) -> bytes | None:
        return self._live(key, self._clock())

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        _check_ttl(ttl)
        self._put(key, value, ttl, self._clock())

    # No await between check and write: atomic within the event loop.
    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        _check_ttl(ttl)
        now = self._clock()
        if self._live(key, now) is not None:
            return False
        self._put(key, value, ttl, now)
        return True

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def compare_and_set(self, key: str, expected: bytes | None, value: bytes, *,
                              ttl: float | None = None) -> bool:
        _check_ttl(ttl)
        now = self._clock()
        if self._live(key, now) != expected:
            return False
        self._put(key, value, ttl, now)
        return True

    async def compare_and_delete(self, key: str, expected: bytes) -> bool:
        if self._live(key, self._clock()) != expected:
            return False
        del self._data[key]
        return True

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


# --- Redis -----------------------------------------------------------------------------------
# KEYS[1]; ARGV: mode ("a": expect absent, "v": expect ARGV[2]), expected, value, ttl ms ("0":
# none), retry ("1": the previous attempt's reply was lost, so finding our own value means it
# landed; callers pass unique values, so nobody else wrote exactly these bytes).
_CAS = """
local cur = redis.call('GET', KEYS[1])
if ARGV[5] == '1' and cur == ARGV[3] then return 1 end
if ARGV[1] == 'a' then
  if cur then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
if ARGV[4] == '0' then redis.call('SET', KEYS[1], ARGV[3])
else redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4]) end
return 1
"""
_CAD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
def _ms(ttl: float | None) -> int:
    _check_ttl(ttl)
    return 0 if ttl is None else max(1, round(ttl * 1000))


class RedisStore:
    """Redis through `redis.asyncio`, every key under `prefix`.

    Failure handling: the client's own retries are off (it would blindly re-send SET NX, and a
    write whose reply was lost would then look like someone else's). Instead each operation is
    retried once here on a connection error (a connection cut mid-command: Redis restarting,
    a failover, a proxy closing idle sockets). get/set/delete/ping are idempotent and simply
    re-sent; set_if_absent and compare_and_set are retried through a script that recognises
    their own value as "already applied" (values are unique per caller). Timeouts are not
    retried: a server that is slow to answer will not be faster the second time. Whatever still
    fails surfaces as `StorageUnavailable` within about `timeout` (x2 for connection errors).
    """

    def __init__(self, url: str, *, prefix: str = "meetbot:", timeout: float = 1.0,
                 credential_provider: Any = None) -> None:
        """`credential_provider`: redis-py's, for a password that changes (Entra ID tokens)."""
        # Imported here: the redis client costs ~6 MB of RSS that a single instance never uses.
        from redis import exceptions as redis_errors
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._lost = redis_errors.ConnectionError
        self._unreachable = (redis_errors.ConnectionError, redis_errors.TimeoutError)
        self._prefix = prefix
        self._redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                     retry=Retry(NoBackoff(), 0),
                                     credential_provider=credential_provider)
        self._cas = self._redis.register_script(_CAS)
        self._cad = self._redis.register_script(_CAD)

    async def _call(self, op: str, first: Callable[[], Awaitable[T]],
                    again: Callable[[], Awaitable[T]]) -> T:
        try:
            try:
                return await first()
            except self._lost:
                return await again()
        except self._unreachable as err:
            raise StorageUnavailable(f"redis {op}: {err}") from err

    async def get(self, key: str) -> bytes | None:
        # The client is made without decode_responses: GET answers bytes.
        call = cast(Callable[[], Awaitable[bytes | None]],
                    partial(self._redis.get, self._prefix + key))
        return await self._call("get", call, call)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        call = partial(self._redis.set, self._prefix + key, value, px=_ms(ttl) or None)
        await self._call("set", call, call)

    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        ms, k = _ms(ttl), self._prefix + key
        first = partial(self._redis.set, k, value, nx=True, px=ms or None)
        again = partial(self._cas, keys=[k], args=["a", b"", value, ms, "1"])
        return bool(await self._call("set_if_absent", first, again))

    async def delete(self, key: str) -> None:
        call = partial(self._redis.delete, self._prefix + key)
        await self._call("delete", call, call)

    async def compare_and_set(self, key: str, expected: bytes | None, value: bytes, *,
                              ttl: float | None = None) -> bool:
        ms, k = _ms(ttl), self._prefix + key
        mode, exp = ("a", b"") if expected is None else ("v", expected)
        first = partial(self._cas, keys=[k], args=[mode, exp, value, ms, "0"])
        again = partial(self._cas, keys=[k], args=[mode, exp, value, ms, "1"])
        return bool(await self._call("compare_and_set", first, again))

    async def compare_and_delete(self, key: str, expected: bytes) -> bool:
        call = partial(self._cad, keys=[self._prefix + key], args=[expected])
        return bool(await self._call("compare_and_delete", call, call))

    async def ping(self) -> bool:
        try:
            return bool(await self._call("ping", self._redis.ping, self._redis.ping))
        except StorageUnavailable:
            return False

    async def close(self) -> None:
        await self._redis.aclose()


# --- encryption at rest ----------------------------------------------------------------------
class SecretBox:
    """Fernet (AES-CBC + HMAC) with rotation: the first key seals, every key opens. To rotate,
    put the new key first and keep the old one until every sealed value was rewritten (token
    caches are rewritten on each refresh) or has expired."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ValueError("SecretBox needs at least one Fernet key")
        try:
            self._fernet = MultiFernet([Fernet(k.strip()) for k in keys])
        except ValueError:  # name the setting; `from None` keeps key material out of tracebacks
            raise ValueError("STATE_ENCRYPTION_KEY holds a value that is not a Fernet key "
                             "(32 url-safe base64-encoded bytes)") from None

    def seal(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def open(self, token: bytes) -> bytes:
        """Raises cryptography.fernet.InvalidToken when no key fits or the bytes were altered."""
        return self._fernet.decrypt(token)


class EncryptedStore:
    """Seals values whose key starts with one of `prefixes`; other keys pass straight through.
    A sealed value no key opens (key retired too early, tampering) reads as absent: for a token
    cache that means signing in again, which beats failing every turn."""

    def __init__(self, inner: KeyValueStore, box: SecretBox,
                 prefixes: tuple[str, ...] = SEALED_PREFIXES) -> None:
        self._inner = inner
        self._box = box
        self._prefixes = prefixes

    def _open(self, key: str, raw: bytes | None) -> bytes | None:
        if raw is None:
            return None
        try:
            return self._box.open(raw)
        except InvalidToken:
            log.warning("state: value under %r could not be decrypted; treating it as absent",
                        key.split(":", 1)[0])
            return None

    async def get(self, key: str) -> bytes | None:
        raw = await self._inner.get(key)
        return self._open(key, raw) if key.startswith(self._prefixes) else raw

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        if key.startswith(self._prefixes):
            value = self._box.seal(value)
        await self._inner.set(key, value, ttl=ttl)

    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        if key.startswith(self._prefixes):
            value = self._box.seal(value)
        return await self._inner.set_if_absent(key, value, ttl=ttl)

    async def delete(self, key: str) -> None:
        await self._inner.delete(key)

    # Fernet output is randomised, so comparisons happen on plaintext and the inner atomic
    # operation is then conditioned on the exact ciphertext that was read.
    async def compare_and_set(self, key: str, expected: bytes | None, value: bytes, *,
                              ttl: float | None = None) -> bool:
        if not key.startswith(self._prefixes):
            return await self._inner.compare_and_set(key, expected, value, ttl=ttl)
        raw = await self._inner.get(key)
        if self._open(key, raw) != expected:
            return False
        return await self._inner.compare_and_set(key, raw, self._box.seal(value), ttl=ttl)

    async def compare_and_delete(self, key: str, expected: bytes) -> bool:
        if not key.startswith(self._prefixes):
            return await self._inner.compare_and_delete(key, expected)
        raw = await self._inner.get(key)
        if raw is None or self._open(key, raw) != expected:
            return False
        return await self._inner.compare_and_delete(key, raw)

    async def ping(self) -> bool:
        return await self._inner.ping()

    async def close(self) -> None:
        await self._inner.close()


def entra_credentials(identity_client_id: str) -> Any:
    """Redis credentials from Microsoft Entra ID: the user-assigned managed identity's token
    for Azure Cache for Redis / Azure Managed Redis (resource https://redis.azure.com), its
    object id as the user name, renewed before it expires and re-sent on open connections
    (redis-entraid, "Use Microsoft Entra ID for cache authentication")."""
    from redis_entraid.cred_provider import create_from_managed_identity
    from redis_entraid.identity_provider import ManagedIdentityIdType, ManagedIdentityType

    return create_from_managed_identity(
        identity_type=ManagedIdentityType.USER_ASSIGNED, resource="https://redis.azure.com",
        id_type=ManagedIdentityIdType.CLIENT_ID, id_value=identity_client_id)


def open_store(redis_url: str | None, *, encryption_keys: Sequence[str] | None,
               prefix: str = "meetbot:", credential_provider: Any = None) -> KeyValueStore:
    """The store configuration asks for: Redis when `redis_url` is set, else this process's
    memory; sealed (`SEALED_PREFIXES`) whenever keys are given. Build once at startup."""
    store: KeyValueStore = (RedisStore(redis_url, prefix=prefix,
                                       credential_provider=credential_provider)
                            if redis_url else MemoryStore())
    if encryption_keys:
        store = EncryptedStore(store, SecretBox(encryption_keys))
    return store


# --- patterns on top -------------------------------------------------------------------------
class _Slot:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class KeyedLocks:
    """One asyncio lock per key, in this process, for as long as someone holds or awaits it."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    def __len__(self) -> int:
        return len(self._slots)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        slot.users += 1
        try:
            async with slot.lock:
                yield
        finally:
            slot.users -= 1
            if not slot.users:
                del self._slots[key]


@asynccontextmanager
async def store_lock(store: KeyValueStore, key: str, ttl: float, *, wait: float = 5.0,
                     poll: float = 0.05) -> AsyncIterator[None]:
    """A lock across instances: set-if-absent with a unique token, released only by its holder.
    `ttl` bounds how long a crashed holder blocks others, so it must exceed the guarded work
    (there is no renewal). Raises LockBusy after `wait` seconds."""
    token, name = unique_token(), "lock:" + key
    deadline = time.monotonic() + wait
    while not await store.set_if_absent(name, token, ttl=ttl):
        if time.monotonic() >= deadline:
            raise LockBusy(f"lock {key!r} still held after {wait}s")
        await asyncio.sleep(poll)
    try:
        yield
    finally:
        try:
            await store.compare_and_delete(name, token)
        except StorageUnavailable:  # the ttl frees it; do not mask the body's own outcome
            log.warning("state: could not release lock %r; it expires in %ss", key, ttl)
