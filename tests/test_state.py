"""The state seam: one contract suite run against every store (memory, a real redis-server,
and both behind encryption), then what only Redis or only memory can show, then the delivery
leases MeetBot's records build on it."""
from __future__ import annotations

import asyncio
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio
import redis
from cryptography.fernet import Fernet

from bot.errors import MeetBotError, describe
from bot.records import Records
from bot.state import (
    SEALED_PREFIXES,
    EncryptedStore,
    KeyedLocks,
    KeyValueStore,
    LockBusy,
    MemoryStore,
    RedisStore,
    SecretBox,
    StorageUnavailable,
    open_store,
    store_lock,
    unique_token,
)
from tests.redis_server import RedisServer

pytestmark = pytest.mark.asyncio

SECRET = b'{"RefreshToken": {"secret": "RT-0.AXoA-very-secret-refresh-token"}}'


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    store: KeyValueStore
    advance: Callable[[float], Awaitable[None]]  # let `seconds` of store time pass


def _prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}:"


@pytest_asyncio.fixture(params=["memory", "redis", "sealed-memory", "sealed-redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param.endswith("redis"):
        store: KeyValueStore = RedisStore(request.getfixturevalue("redis_url"), prefix=_prefix())

        async def advance(seconds: float) -> None:
            await asyncio.sleep(seconds)
    else:
        clock = FakeClock()
        store = MemoryStore(clock=clock)

        async def advance(seconds: float) -> None:
            clock.now += seconds
    if request.param.startswith("sealed"):
        # Seal everything so the whole contract runs through the encrypting paths.
        store = EncryptedStore(store, SecretBox([Fernet.generate_key()]), prefixes=("",))
    yield Backend(store, advance)
    await store.close()


# --- the contract ----------------------------------------------------------------------------
async def test_get_set_overwrite_delete(backend: Backend) -> None:
    store = backend.store
    assert await store.get("a") is None
    await store.set("a", b"1")
    assert await store.get("a") == b"1"
    await store.set("a", b"\x00binary\xff")
    assert await store.get("a") == b"\x00binary\xff"
    await store.delete("a")
    await store.delete("a")  # deleting what is gone is fine
    assert await store.get("a") is None
    assert await store.ping()


async def test_ttl_expiry(backend: Backend) -> None:
    store = backend.store
    await store.set("short", b"x", ttl=0.2)
    await store.set("forever", b"y")
    assert await store.set_if_absent("claimed", b"z", ttl=0.2)
    assert await store.compare_and_set("swapped", None, b"w", ttl=0.2)
    await backend.advance(0.4)
    for key in ("short", "claimed", "swapped"):
        assert await store.get(key) is None, key
    assert await store.get("forever") == b"y"
    assert await store.set_if_absent("claimed", b"again", ttl=10)


async def test_ttl_must_be_positive(backend: Backend) -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError):
            await backend.store.set("k", b"v", ttl=bad)


async def test_set_if_absent_has_exactly_one_winner(backend: Backend) -> None:
    store = backend.store
    tokens = [unique_token() for _ in range(100)]
    results = await asyncio.gather(*(store.set_if_absent("race", t, ttl=30) for t in tokens))
    assert results.count(True) == 1
    assert await store.get("race") == tokens[results.index(True)]
    assert not await store.set_if_absent("race", b"late", ttl=30)


async def test_compare_and_set(backend: Backend) -> None:
    store = backend.store
    assert await store.compare_and_set("k", None, b"v1")  # None: only if absent
    assert not await store.compare_and_set("k", None, b"v2")
    assert not await store.compare_and_set("k", b"wrong", b"v2")
    assert await store.get("k") == b"v1"
    assert await store.compare_and_set("k", b"v1", b"v2")
    assert await store.get("k") == b"v2"
    assert not await store.compare_and_set("missing", b"v1", b"v2")
    assert await store.get("missing") is None


async def test_compare_and_set_loses_no_update_under_contention(backend: Backend) -> None:
    store = backend.store
    await store.set("counter", b"0")

    async def increment() -> None:
        while True:
            current = await store.get("counter")
            assert current is not None
            await asyncio.sleep(0)  # let the others read the same value
            if await store.compare_and_set("counter", current, str(int(current) + 1).encode()):
                return

    await asyncio.gather(*(increment() for _ in range(50)))
    assert await store.get("counter") == b"50"


async def test_compare_and_delete(backend: Backend) -> None:
    store = backend.store
    await store.set("lock", b"mine")
    assert not await store.compare_and_delete("lock", b"theirs")
    assert await store.get("lock") == b"mine"
    assert await store.compare_and_delete("lock", b"mine")
    assert await store.get("lock") is None
    assert not await store.compare_and_delete("lock", b"mine")


async def test_delivery_claimed_once_then_done(backend: Backend) -> None:
    records = Records(backend.store, lease_ttl=0.3)
    first = await records.claim("msteams", "19:abc@thread.v2;messageid=1", "1712345678901")
    assert first is not None
    other = await records.claim("msteams", "other", "1712345678901")
    assert other is not None  # activity ids are unique per conversation only
    await first.finish()
    assert await records.claim("msteams", "19:abc@thread.v2;messageid=1", "1712345678901") is None
    await other.release()  # a failed command: the next delivery does the work again
    again = await records.claim("msteams", "other", "1712345678901")
    assert again is not None
    await again.finish()


async def test_store_lock_excludes_and_gives_up(backend: Backend) -> None:
    store, shared = backend.store, {"n": 0}

    async def bump() -> None:
        async with store_lock(store, "meeting-42", ttl=30, poll=0.001):
            seen = shared["n"]
            await asyncio.sleep(0)  # a lost update would show if two were inside at once
            shared["n"] = seen + 1

    await asyncio.gather(*(bump() for _ in range(20)))
    assert shared["n"] == 20
    async with store_lock(store, "meeting-42", ttl=30):
        with pytest.raises(LockBusy) as busy:
            async with store_lock(store, "meeting-42", ttl=30, wait=0.05, poll=0.01):
                pass
    # One of the project's errors, so a turn that meets it gets its own sentence.
    assert isinstance(busy.value, MeetBotError) and not isinstance(busy.value, TimeoutError)
    assert describe(busy.value).text == \
        "Someone is already changing this meeting; try again in a moment."
    async with store_lock(store, "meeting-42", ttl=30, wait=0):  # released: free again
        pass


# --- Redis only ------------------------------------------------------------------------------
async def test_prefixes_isolate_stores_sharing_one_redis(redis_url: str) -> None:
    first, second = _prefix(), _prefix()
    a, b = RedisStore(redis_url, prefix=first), RedisStore(redis_url, prefix=second)
    try:
        await a.set("k", b"from-a")
        assert await b.get("k") is None
        assert await b.set_if_absent("k", b"from-b")
        await b.delete("k")
        assert await a.get("k") == b"from-a"
        with redis.Redis.from_url(redis_url) as raw:
            assert raw.get(first + "k") == b"from-a"
    finally:
        await a.close()
        await b.close()


async def test_sealed_values_hold_no_plaintext_at_rest(redis_url: str) -> None:
    prefix = _prefix()
    store = open_store(redis_url, encryption_keys=[Fernet.generate_key().decode()], prefix=prefix)
    try:
        await store.set("tokens:tenant:user", SECRET, ttl=60)
        await store.set("record:ref", b'{"subject": "budget review"}')
        await store.set("seen:activity", b"plain-by-design")
        assert await store.get("tokens:tenant:user") == SECRET
        with redis.Redis.from_url(redis_url) as raw:
            token_cache = raw.get(prefix + "tokens:tenant:user")
            state = raw.get(prefix + "record:ref")
            assert token_cache and b"RT-0" not in token_cache and b"secret" not in token_cache
            assert state and b"budget" not in state
            assert raw.get(prefix + "seen:activity") == b"plain-by-design"
            assert 0 < raw.pttl(prefix + "tokens:tenant:user") <= 60_000
    finally:
        await store.close()


async def test_meeting_and_command_keys_are_sealed_at_rest(redis_url: str) -> None:
    """Meeting records, commands waiting for sign-in and the card records hold join links,
    passcodes and what people typed: sealed like the token caches."""
    prefix = _prefix()
    store = open_store(redis_url, encryption_keys=[Fernet.generate_key().decode()], prefix=prefix)
    join = b"https://teams.microsoft.com/l/meetup-join/19%3ameeting_secret"
    values = {"record:ref": b'{"joinUrl": "%s", "passcode": "Xy7Pq2"}' % join,
              "pending:tenant:user": b'{"text": "meet now about the layoffs plan"}',
              "retry:ref": b'{"subject": "the layoffs plan", "joinUrl": "%s"}' % join}
    assert all(key.startswith(SEALED_PREFIXES) for key in values)
    try:
        for key, value in values.items():
            await store.set(key, value, ttl=60)
        with redis.Redis.from_url(redis_url) as raw:
            for key, value in values.items():
                stored = raw.get(prefix + key)
                assert stored and stored != value
                for secret in (b"meetup-join", b"Xy7Pq2", b"layoffs"):
                    assert secret not in stored
        for key, value in values.items():
            assert await store.get(key) == value
    finally:
        await store.close()


async def test_key_rotation(redis_url: str) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    prefix = _prefix()
    before = EncryptedStore(RedisStore(redis_url, prefix=prefix), SecretBox([old]))
    during = EncryptedStore(RedisStore(redis_url, prefix=prefix), SecretBox([new, old]))
    after = EncryptedStore(RedisStore(redis_url, prefix=prefix), SecretBox([new]))
    try:
        await before.set("tokens:u1", b"cache-1")
        assert await during.get("tokens:u1") == b"cache-1"  # old values still open
        await during.set("tokens:u2", b"cache-2")  # new values use the new key
        assert await after.get("tokens:u2") == b"cache-2"
        assert await after.get("tokens:u1") is None  # old key retired: reads as absent
        assert await after.compare_and_set("tokens:u1", None, b"fresh")  # and can be replaced
        assert await during.get("tokens:u1") == b"fresh"
    finally:
        for store in (before, during, after):
            await store.close()


async def test_delivery_across_two_instances(redis_url: str) -> None:
    prefix = _prefix()
    one, two = RedisStore(redis_url, prefix=prefix), RedisStore(redis_url, prefix=prefix)
    try:
        async def deliver(store: RedisStore, i: int) -> int:
            claim = await Records(store, lease_ttl=2).claim("msteams", "conv", f"act-{i}")
            if claim is None:
                return 0
            await claim.finish()
            return 1
        results = await asyncio.gather(*(deliver(s, i) for i in range(50) for s in (one, two)))
        assert [results[i] + results[i + 1] for i in range(0, 100, 2)] == [1] * 50
    finally:
        await one.close()
        await two.close()


async def test_a_dead_instances_lease_runs_out_and_the_work_is_done_again(redis_url: str) -> None:
    """Instance A claimed the activity and died (its lease is never renewed nor finished): the
    redelivery to B waits for the lease to run out and then does the work itself."""
    prefix = _prefix()
    one, two = RedisStore(redis_url, prefix=prefix), RedisStore(redis_url, prefix=prefix)
    try:
        dead = await Records(one, lease_ttl=0.5).claim("msteams", "conv", "act")
        assert dead is not None
        dead._stop()  # noqa: SLF001 - what SIGKILL does to its renewal
        taken = await Records(two, lease_ttl=0.5).claim("msteams", "conv", "act")
        assert taken is not None
        await taken.finish()
    finally:
        await one.close()
        await two.close()


async def test_survives_redis_restart(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, prefix=_prefix(), timeout=0.5)
    try:
        await store.set("k", b"v")
        assert await store.get("k") == b"v"
        redis_server.stop()
        assert not await asyncio.wait_for(store.ping(), 5)
        failing = [store.get("k"), store.set("k", b"w"), store.delete("k"),
                   store.set_if_absent("n", b"x", ttl=5), store.compare_and_set("k", b"v", b"w"),
                   store.compare_and_delete("k", b"v")]
        for op in failing:
            with pytest.raises(StorageUnavailable):
                await asyncio.wait_for(op, 5)  # bounded: an error, never a hang
        redis_server.start()  # same port, empty (no persistence)
        assert await store.get("k") is None
        assert await store.set_if_absent("n", b"x", ttl=5)
        assert await store.compare_and_set("k", None, b"back")
        assert await store.get("k") == b"back"
        assert await store.ping()
    finally:
        await store.close()


class ReplyDropper:
    """A loopback TCP proxy in front of Redis. Armed, it lets the next command reach Redis and
    then cuts the client's connection instead of relaying the reply: "applied, answer lost"."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self.armed = False
        self.port = 0

    async def __aenter__(self) -> ReplyDropper:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()

    async def _pipe(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self._target)

        async def upstream() -> None:
            while data := await client_r.read(65536):
                server_w.write(data)
            server_w.close()

        async def downstream() -> None:
            while data := await server_r.read(65536):
                if self.armed:
                    self.armed = False
                    break
                client_w.write(data)
            client_w.transport.abort()
            server_w.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)


async def test_lost_replies_are_not_mistaken_for_losing(redis_url: str) -> None:
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    async with ReplyDropper(port) as proxy:
        store = RedisStore(f"redis://127.0.0.1:{proxy.port}/0", prefix=_prefix())
        try:
            assert await store.ping()  # connection and handshake in place before arming
            proxy.armed = True
            assert await store.set_if_absent("activity", b"token-1", ttl=30)
            assert not proxy.armed  # the reply really was dropped
            assert not await store.set_if_absent("activity", b"token-2", ttl=30)

            proxy.armed = True
            assert await store.compare_and_set("activity", b"token-1", b"token-3", ttl=30)
            assert not proxy.armed
            assert await store.get("activity") == b"token-3"
        finally:
            await store.close()


# --- memory only -----------------------------------------------------------------------------
async def test_memory_store_stays_bounded_under_expiring_keys() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    peak = 0
    for i in range(200_000):
        await store.set(f"seen:{i}", b"1", ttl=10)
        if i % 1000 == 999:
            clock.now += 1  # 1000 writes a second, 10 s ttl: about 10k live keys
            peak = max(peak, len(store))
    assert peak <= 12_000
    clock.now += 11
    store.sweep()
    assert len(store) == 0


async def test_memory_store_rewrites_do_not_grow_memory() -> None:
    store = MemoryStore(clock=FakeClock())
    await store.set("warm-up", b"x", ttl=3600)
    tracemalloc.start()
    try:
        for _ in range(200_000):  # one key rewritten with a long ttl, e.g. a token cache
            await store.set("tokens:u", b"cache", ttl=3600)
        grown, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(store) == 2
    assert grown < 1_000_000  # 200k outdated expiry entries would take ~20 MB


async def test_keyed_locks_serialise_per_key_and_clean_up() -> None:
    locks, inside, most = KeyedLocks(), {"a": 0, "b": 0}, {"a": 0, "b": 0}

    async def work(key: str) -> None:
        async with locks.hold(key):
            inside[key] += 1
            most[key] = max(most[key], inside[key])
            await asyncio.sleep(0)
            inside[key] -= 1

    async def enter(key: str) -> None:
        async with locks.hold(key):
            pass

    await asyncio.gather(*(work(k) for k in "ab" * 20))
    assert most == {"a": 1, "b": 1}
    async with locks.hold("a"):
        await asyncio.wait_for(enter("b"), 5)  # another key is not blocked
        assert len(locks) == 1
    assert len(locks) == 0


async def test_open_store_without_redis_is_memory() -> None:
    store = open_store(None, encryption_keys=None)
    assert isinstance(store, MemoryStore)
    with pytest.raises(ValueError, match="not a Fernet key"):
        SecretBox(["not-a-key"])
