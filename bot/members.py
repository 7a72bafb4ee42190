"""Who to invite: mentioned people and whole teams, resolved through Teams' member APIs.

Mentions carry a Teams user id ("29:…") and a name, often without the Entra object id that
Graph needs, and member lists can lack it too; get-member-by-id has it. A team is read page by
page until the last page: a large team is never cut short silently. Nothing here imports
botbuilder; `conversations` is the Bot Connector client's conversations operations.
"""
from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, Protocol

from .errors import MembersUnavailable
from .models import AttendeeScope, MeetingRequest, Person

PAGE_SIZE = 500  # the largest page Teams documents for pagedmembers


class Members(Protocol):
    """The Bot Connector's member look-ups, as the Teams edge provides them."""

    async def get_member(self, conversation_id: str, member_id: str) -> dict[str, Any]: ...

    async def get_conversation_paged_members(self, conversation_id: str, page_size: int = 500,
                                             continuation_token: str | None = None
                                             ) -> dict[str, Any]: ...


def _person(member: dict) -> Person | None:
    oid = member.get("aadObjectId") or member.get("objectId")
    if not oid:
        return None
    return Person(name=member.get("name") or "", aad_object_id=oid,
                  upn=member.get("userPrincipalName") or member.get("email"),
                  teams_id=member.get("id"))


async def resolve_attendees(conversations, request: MeetingRequest, *, conversation_id: str,
                            team_id: str | None, organizer_id: str | None) -> MeetingRequest:
    """The request with attendees Graph can use (Entra object ids), the organizer left out."""
    try:
        if request.scope is AttendeeScope.EVERYONE:
            people = await _everyone(conversations, team_id or conversation_id)
        elif request.attendees:
            people = await asyncio.gather(*(_complete(conversations, conversation_id, p)
                                            for p in request.attendees))
        else:
            return request
    except MembersUnavailable:
        raise
    except Exception as err:  # the connector's own errors: one user-facing meaning
        raise MembersUnavailable(f"member lookup failed: {type(err).__name__}") from err
    seen: set[str] = set()
    attendees = []
    for p in people:
        if p is None or p.aad_object_id in seen or p.aad_object_id == organizer_id:
            continue
        seen.add(p.aad_object_id)
        attendees.append(p)
    return replace(request, attendees=tuple(attendees))


async def _complete(conversations, conversation_id: str, person: Person) -> Person | None:
    if person.aad_object_id or not person.teams_id:
        return person if person.aad_object_id else None
    member = await conversations.get_member(conversation_id, person.teams_id)
    found = _person(member or {})
    return replace(found, name=found.name or person.name) if found else None


async def _everyone(conversations, team_or_conversation: str) -> list[Person | None]:
    people: list[Person | None] = []
    token = None
    while True:
        page = await conversations.get_conversation_paged_members(
            team_or_conversation, PAGE_SIZE, token)
        if not isinstance(page, dict):
            raise MembersUnavailable("no member page")
        people.extend(_person(m) for m in page.get("members") or ())
        token = page.get("continuationToken")
        if not token:
            return people
