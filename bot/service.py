"""What MeetBot does in Graph, without Bot Framework types: who may ask, which token, which
Graph call. bot/handlers.py decides when; this decides how.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from .errors import (
    GraphNotFound,
    MeetingGone,
    NotOrganizer,
    OrganizerIdentityMissing,
    TenantNotAllowed,
)
from .graph import GraphClient, external_id_for
from .models import Caller, Meeting, MeetingRequest
from .tokens import TokenBroker, UserKey


def user_key(caller: Caller) -> UserKey:
    """Whose tokens: Graph acts for an Entra user, which Teams names in from.aadObjectId."""
    if not caller.aad_object_id:
        raise OrganizerIdentityMissing("activity has no from.aadObjectId")
    return UserKey(caller.tenant_id, caller.aad_object_id)


class MeetingService:
    def __init__(self, graph: GraphClient, broker: TokenBroker, *,
                 allowed_tenants: frozenset[str] = frozenset(),
                 on_meeting: Callable[[bool], None] | None = None) -> None:
        self.graph = graph
        self.broker = broker
        self.allowed_tenants = allowed_tenants
        self._on_meeting = on_meeting or (lambda created: None)

    def tenant_allowed(self, tenant_id: str) -> bool:
        return not self.allowed_tenants or tenant_id.lower() in self.allowed_tenants

    def check_tenant(self, caller: Caller) -> None:
        if not self.tenant_allowed(caller.tenant_id):
            raise TenantNotAllowed(f"tenant {caller.tenant_id} not in ALLOWED_TENANTS")

    def _organizer_path(self, user: UserKey) -> str | None:
        # App-only tokens have no "me": the organizer is named in the path (/users/{oid}).
        return user.aad_object_id if self.broker.app_only else None

    async def create(self, caller: Caller, request: MeetingRequest, *,
                     conversation_id: str, activity_id: str) -> Meeting:
        """createOrGet with an externalId derived from the activity: a redelivered activity
        or a double click returns the same meeting instead of making a second one."""
        self.check_tenant(caller)
        user = user_key(caller)
        token = await self.broker.graph_token(user)
        meeting = await self.graph.create_or_get(
            token, request, external_id=external_id_for(conversation_id, activity_id),
            user_id=self._organizer_path(user))
        self._on_meeting(meeting.created)
        return _with_names(meeting, request)

    async def extend(self, caller: Caller, meeting: Meeting, minutes: int = 15) -> Meeting:
        self.require_organizer(caller, meeting)
        user = user_key(caller)
        token = await self.broker.graph_token(user)
        try:
            return await self.graph.update_times(
                token, meeting.id, meeting.start, meeting.end + timedelta(minutes=minutes),
                user_id=self._organizer_path(user))
        except GraphNotFound as err:
            raise MeetingGone("meeting no longer exists") from err

    async def end(self, caller: Caller, meeting: Meeting) -> Meeting:
        self.require_organizer(caller, meeting)
        user = user_key(caller)
        token = await self.broker.graph_token(user)
        try:
            await self.graph.delete(token, meeting.id, user_id=self._organizer_path(user))
        except GraphNotFound:
            pass  # already gone: ending it again is not an error
        return replace(meeting, ended=True)

    def require_organizer(self, caller: Caller, meeting: Meeting) -> None:
        """Organizer-only actions: checked against the meeting's organizer before any Graph call
        (a forwarded or old card clicked by someone else changes nothing)."""
        self.check_tenant(caller)
        if not caller.aad_object_id or caller.aad_object_id != meeting.organizer_id:
            raise NotOrganizer(f"{caller.aad_object_id} is not {meeting.organizer_id}")


def _with_names(meeting: Meeting, request: MeetingRequest) -> Meeting:
    """Graph often returns attendees without displayName; Teams told us their names."""
    if not meeting.attendees or not request.attendees:
        return meeting
    names = {p.aad_object_id: p.name for p in request.attendees}
    return replace(meeting, attendees=tuple(
        p if p.name else replace(p, name=names.get(p.aad_object_id, "")) for p in meeting.attendees))
