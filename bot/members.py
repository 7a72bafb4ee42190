"""Who to invite: mentioned people and whole teams, resolved through Teams' member APIs.

Mentions carry a Teams user id ("29:…") and a name, often without the Entra object id that
Graph needs, and member lists can lack it too; get-member-by-id has it. A team is read page by
page, never cut short silently: either everyone is invited or the user is told why not.

Bounds (a team has up to 25,000 members, a message can carry a thousand mentions): at most
MAX_INVITEES people are invited; a team is read only until that many are exceeded, and at most
LOOKUP_CONCURRENCY member look-ups run at once for one command. Nothing here imports
botbuilder; `conversations` is the Bot Connector client's conversations operations.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Protocol

import aiohttp

from .errors import ConnectorError, MembersUnavailable, TooManyInvitees
from .models import AttendeeScope, MeetingRequest, Person

PAGE_SIZE = 500  # the largest page Teams documents for pagedmembers
# A Teams meeting holds 1,000 people who can chat and talk, the organizer included ("Limits and
# specifications for Microsoft Teams", Meetings and calls); Graph's "Create onlineMeeting" page
# adds that a contact list which would make the meeting chat exceed 1,000 people can't be added.
MAX_INVITEES = 999
# Look-ups for one command at a time: enough to resolve a few hundred mentions in well under a
# second, few enough that one message cannot open hundreds of connector requests at once.
LOOKUP_CONCURRENCY = 8


class Members(Protocol):
    """The Bot Connector's member look-ups, as the Teams edge provides them."""

    async def get_member(self, conversation_id: str, member_id: str) -> dict[str, Any]: ...

    async def get_conversation_paged_members(self, conversation_id: str, page_size: int = 500,
                                             continuation_token: str | None = None
                                             ) -> dict[str, Any] | None: ...


def _member_person(member: dict[str, Any]) -> Person | None:
    oid = member.get("aadObjectId") or member.get("objectId")
    if not oid:
        return None
    return Person(name=member.get("name") or "", aad_object_id=oid,
                  upn=member.get("userPrincipalName") or member.get("email"),
                  teams_id=member.get("id"))


class _Invitees:
    """Distinct people with an Entra object id, the organizer left out, at most MAX_INVITEES."""

    def __init__(self, organizer_id: str | None, *, everyone: bool) -> None:
        self._organizer_id = organizer_id
        self._everyone = everyone
        self._by_id: dict[str, Person] = {}

    def add(self, people: Iterable[Person | None]) -> None:
        for p in people:
            if p is None or not p.aad_object_id or p.aad_object_id == self._organizer_id:
                continue
            self._by_id.setdefault(p.aad_object_id, p)
        if len(self._by_id) > MAX_INVITEES:
            raise TooManyInvitees(f"more than {MAX_INVITEES} invitees",
                                  count=len(self._by_id), limit=MAX_INVITEES,
                                  everyone=self._everyone)

    def people(self) -> tuple[Person, ...]:
        return tuple(self._by_id.values())


async def resolve_attendees(conversations: Members, request: MeetingRequest, *, conversation_id: str,
                            team_id: str | None, organizer_id: str | None) -> MeetingRequest:
    """The request with attendees Graph can use (Entra object ids, and the addresses calendar
    invitations go to), as Teams' member API knows them; the organizer left out.

    Raises TooManyInvitees (before any look-up for mentions; after at most a few pages for a
    team) and MembersUnavailable when Teams does not answer."""
    everyone = request.scope is AttendeeScope.EVERYONE
    invitees = _Invitees(organizer_id, everyone=everyone)
    if not everyone:
        if not request.attendees:
            return request
        # Each mention may cost a look-up: refuse an oversized list before making any.
        mentioned = {p.teams_id for p in request.attendees} - {None}
        if len(mentioned) > MAX_INVITEES:
            raise TooManyInvitees(f"{len(mentioned)} people mentioned", count=len(mentioned),
                                  limit=MAX_INVITEES, everyone=False)
    try:
        if everyone:
            await _everyone(conversations, team_id or conversation_id, invitees)
        else:
            invitees.add(await _complete_all(conversations, conversation_id, request.attendees))
    except (ConnectorError, aiohttp.ClientError, ValueError) as err:
        # The connector's refusals and broken answers: one user-facing meaning.
        raise MembersUnavailable(f"member lookup failed: {type(err).__name__}") from err
    return replace(request, attendees=invitees.people())


async def _complete_all(conversations: Members, conversation_id: str,
                        people: Iterable[Person]) -> list[Person | None]:
    """Every mention completed, LOOKUP_CONCURRENCY look-ups at a time; the first failure
    cancels the look-ups still waiting or running (TaskGroup)."""
    gate = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def one(person: Person) -> Person | None:
        # A mention entity is what the sender's client wrote: its Entra id and name are not
        # believed. Who is invited is what Teams' member API says about that conversation
        # member; a mention it cannot look up invites nobody.
        if not person.teams_id:
            return None
        async with gate:
            member = await conversations.get_member(conversation_id, person.teams_id)
        found = _member_person(member or {})
        return replace(found, name=found.name or person.name) if found else None

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(p)) for p in people]
    except BaseExceptionGroup as failed:  # one user-facing failure: the first that happened
        raise failed.exceptions[0] from None
    return [t.result() for t in tasks]


async def _everyone(conversations: Members, team_or_conversation: str, invitees: _Invitees) -> None:
    """Reads pages until the last one, or until the invitees exceed the cap (a 25,000-member
    team costs three pages, not fifty)."""
    token = None
    while True:
        page = await conversations.get_conversation_paged_members(
            team_or_conversation, PAGE_SIZE, token)
        if not isinstance(page, dict):
            raise MembersUnavailable("no member page")
        invitees.add(_member_person(m) for m in page.get("members") or ())
        token = page.get("continuationToken")
        if not token:
            return
