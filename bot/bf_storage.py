"""botbuilder's `Storage` on top of our `KeyValueStore`, so ConversationState/UserState live
wherever the rest of the state lives (memory, or Redis shared by every instance).

Semantics follow botbuilder's own storages (MemoryStorage, and botbuilder-azure's BlobStorage
and CosmosDbPartitionedStorage): items are flattened with jsonpickle (so dicts holding
StoreItems or msrest models come back as the same types), every write gets a fresh eTag that
`read` hands back as `e_tag`, and a write carrying an eTag succeeds only if the stored item
still has it ("*" or no eTag: last writer wins). A mismatch raises `ETagConflict`, a KeyError
like MemoryStorage's. One addition: a successful write puts the new eTag on the written item
unless it said "*" (as Cosmos returns the new `_etag`), so a turn can save the same state twice.

Stored bytes are `<etag>\\n<json>`: the eTag check reads one line instead of parsing JSON.
jsonpickle's restore can build arbitrary objects, so keep these keys under a sealed (Fernet,
authenticated) prefix when the store is shared: see `bot.state.SEALED_PREFIXES` ("bf:").
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping

from botbuilder.core import Storage
from jsonpickle.pickler import Pickler
from jsonpickle.unpickler import Unpickler

from bot.state import KeyValueStore

_pickler = Pickler()  # flatten()/restore() reset their memo per call: safe to share
_unpickler = Unpickler()


class ETagConflict(KeyError):
    """The item changed (or vanished) since it was read: reload and try again."""


def _etag_of(item: object) -> str | None:
    if isinstance(item, dict):
        return item.get("e_tag")
    return getattr(item, "e_tag", None)


def _put_etag(item: object, e_tag: str) -> None:
    if isinstance(item, dict):
        item["e_tag"] = e_tag
    elif hasattr(item, "__dict__"):
        item.e_tag = e_tag  # type: ignore[attr-defined]


def _encode(item: object, e_tag: str) -> bytes:
    flat = _pickler.flatten(item)
    if isinstance(flat, dict):
        flat.pop("e_tag", None)  # the stored eTag is the line in front, never a stale copy
    return e_tag.encode() + b"\n" + json.dumps(flat, separators=(",", ":")).encode()


def _stored_etag(raw: bytes) -> str:
    return raw[:raw.index(b"\n")].decode()


def _decode(raw: bytes) -> object:
    head, body = raw.split(b"\n", 1)
    flat = json.loads(body)
    if isinstance(flat, dict):  # as BlobStorage does: the eTag rides on the restored item
        flat["e_tag"] = head.decode()
    return _unpickler.restore(flat)


class KeyValueStorage(Storage):
    """`Storage` over a KeyValueStore, keys under `prefix`, each kept for `ttl` seconds after
    its last write (None: until deleted)."""

    def __init__(self, store: KeyValueStore, *, prefix: str = "bf:",
                 ttl: float | None = None) -> None:
        self._store = store
        self._prefix = prefix
        self._ttl = ttl

    async def read(self, keys: Iterable[str]) -> dict[str, object]:
        items: dict[str, object] = {}
        for key in keys or ():
            raw = await self._store.get(self._prefix + key)
            if raw is not None:
                items[key] = _decode(raw)
        return items

    async def write(self, changes: Mapping[str, object]) -> None:
        if changes is None:
            raise ValueError("Changes are required when writing")
        for key, item in changes.items():
            await self._write_one(key, item)

    async def _write_one(self, key: str, item: object) -> None:
        expected = _etag_of(item)
        if expected == "":
            raise ValueError("KeyValueStorage.write(): etag missing")
        new_tag = uuid.uuid4().hex
        raw, name = _encode(item, new_tag), self._prefix + key
        if expected is None or expected == "*":
            await self._store.set(name, raw, ttl=self._ttl)
        else:
            current = await self._store.get(name)
            if (current is None or _stored_etag(current) != expected
                    or not await self._store.compare_and_set(name, current, raw, ttl=self._ttl)):
                raise ETagConflict(f"eTag conflict on {key!r}: the item changed since it was read")
        if expected != "*":  # "*" asks to overwrite every time: keep it
            _put_etag(item, new_tag)

    async def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            await self._store.delete(self._prefix + key)
