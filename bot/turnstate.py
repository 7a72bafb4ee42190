"""What the bot remembers between turns, on the state store (memory, or Redis when scaled out).

- delivery keys: an activity handled once, even when Teams redelivers it to another instance;
- sign-in: the command that waits while the user signs in, and token exchanges already done;
- meetings: the latest state of a meeting a card shows (after Extend / End), so every copy of
  the card refreshes to the same truth.

Activities are read duck-typed (channel_id, conversation.id, id): nothing here imports botbuilder.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import replace

from cards.actions import meeting_from_ref, meeting_ref

from .errors import StorageUnavailable
from .models import Meeting
from .state import store_lock, unique_token

log = logging.getLogger(__name__)

# Teams redelivers an activity it got no answer to after ~15 s; we answer within ACK_AFTER
# (5 s) even when Graph is slow, so a redelivery comes within a minute or two. Kept short on
# purpose: these keys are the bot's only per-command state, so memory is rate x TTL.
DELIVERY_TTL = 120
PENDING_TTL = 15 * 60
EXCHANGE_TTL = 10 * 60
MEETING_TTL = 24 * 3600
WELCOME_TTL = 24 * 3600


def _delivery_key(activity) -> str:
    """A short digest: Teams ids run to ~100 characters and every command stores one key."""
    conversation = activity.conversation.id if activity.conversation else ""
    raw = f"{activity.channel_id}\x1f{conversation}\x1f{activity.id}".encode()
    return "seen:" + base64.b64encode(hashlib.blake2b(raw, digest_size=12).digest()).decode()


class TurnState:
    def __init__(self, store) -> None:
        self.store = store

    # --- redelivery -----------------------------------------------------------------------
    async def first_delivery(self, activity) -> bool:
        """With the store unreachable the activity is handled anyway: createOrGet is keyed on
        the activity, so even a redelivery during the outage gets the same meeting (at worst
        a second card for it), where refusing would fail every command until Redis is back."""
        if not activity.id:
            return True  # nothing to de-duplicate on
        try:
            return await self.store.set_if_absent(_delivery_key(activity), unique_token(),
                                                  ttl=DELIVERY_TTL)
        except StorageUnavailable as err:
            log.warning("state store unreachable, handling the activity without the "
                        "redelivery check: %s", err)
            return True

    async def forget_delivery(self, activity) -> None:
        """Lets a failed command be retried. Best effort: the user's error card matters more,
        and the key expires after DELIVERY_TTL anyway."""
        if not activity.id:
            return
        try:
            await self.store.delete(_delivery_key(activity))
        except StorageUnavailable as err:
            log.warning("state store unreachable, delivery key kept until it expires: %s", err)

    async def first_welcome(self, activity) -> bool:
        conversation = activity.conversation.id if activity.conversation else ""
        try:
            return await self.store.set_if_absent(f"welcome:{conversation}", unique_token(),
                                                  ttl=WELCOME_TTL)
        except StorageUnavailable:
            return True  # a second hello beats none

    async def first_exchange(self, activity, exchange_id: str | None) -> bool:
        user = activity.from_property.id if activity.from_property else ""
        return await self.store.set_if_absent(f"exchange:{user}:{exchange_id}", unique_token(),
                                              ttl=EXCHANGE_TTL)

    # --- the command waiting for sign-in -------------------------------------------------
    async def save_pending(self, caller, activity) -> None:
        tz = getattr(activity, "local_timezone", None)
        for entity in activity.entities or ():
            if not tz and entity.type == "clientInfo":
                tz = (entity.additional_properties or {}).get("timezone")
        body = {"text": activity.text, "activityId": activity.id, "timezone": tz}
        await self.store.set(f"pending:{caller.tenant_id}:{caller.aad_object_id}",
                             json.dumps(body).encode(), ttl=PENDING_TTL)

    async def take_pending(self, caller) -> dict | None:
        key = f"pending:{caller.tenant_id}:{caller.aad_object_id}"
        raw = await self.store.get(key)
        if raw is None:
            return None
        await self.store.delete(key)
        return json.loads(raw)

    # --- meetings behind cards -------------------------------------------------------------
    async def remember(self, meeting: Meeting) -> None:
        body = {"ref": meeting_ref(meeting), "ended": meeting.ended}
        await self.store.set(f"meeting:{meeting.id}", json.dumps(body).encode(), ttl=MEETING_TTL)

    def meeting_lock(self, meeting_id: str):
        """One Extend/End at a time per meeting, across instances."""
        return store_lock(self.store, f"meeting:{meeting_id}", ttl=30, wait=15)

    async def latest(self, meeting: Meeting) -> Meeting:
        """The newest known state (a card's own data may predate an Extend or End)."""
        raw = await self.store.get(f"meeting:{meeting.id}")
        if raw is None:
            return meeting
        body = json.loads(raw)
        return replace(meeting_from_ref(body["ref"]), ended=bool(body.get("ended")))
