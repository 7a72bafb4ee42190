"""bot.graph's calendar-backed meetings and meeting options against the Graph simulator over
loopback HTTP. Expected values are read from the simulator's state, never typed in here."""
from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import (
    AccessPolicyMissing,
    CalendarPermissionMissing,
    GraphBadResponse,
    GraphForbidden,
    GraphNotFound,
    OptionRefused,
    describe,
)
from bot.graph import external_id_for, parse_event, transaction_id_for
from bot.models import AttendeeScope, Lobby, MeetingOptions, MeetingRequest, Person, Presenters
from localcloud.graph_sim import Fault
from tests.graph_fixtures import GraphEnv

pytestmark = pytest.mark.asyncio
BERLIN = ZoneInfo("Europe/Berlin")
SCP = "OnlineMeetings.ReadWrite Calendars.ReadWrite"
ANA = Person("Ana", aad_object_id=str(uuid.uuid4()), upn="ana@contoso.test")
BEN = Person("Ben", aad_object_id=str(uuid.uuid4()), upn="ben@contoso.test")


def _request(**kwargs) -> MeetingRequest:
    start = (datetime.now(BERLIN) + timedelta(days=1)).replace(hour=9, minute=30, second=0, microsecond=0)
    return MeetingRequest(subject="planning", start=start, end=start + timedelta(hours=1), starts_now=False,
                          attendees=(ANA,), **kwargs)


def _ext() -> str:
    return external_id_for(f"19:{uuid.uuid4()}@thread.v2", str(uuid.uuid4()))


def _txn() -> str:
    return transaction_id_for(f"19:{uuid.uuid4()}@thread.v2", str(uuid.uuid4()))


async def _schedule(env: GraphEnv, token: str | None = None, *, txn: str | None = None,
                    zone: str = "Europe/Berlin", attendees=(ANA, BEN, Person("no address")), **kwargs):
    return await env.client(**kwargs.pop("client", {})).create_calendar_meeting(
        token or env.delegated_token(scp=SCP), _request(), transaction_id=txn or _txn(), time_zone=zone,
        attendees=attendees, body_html="<p>Join from the link below.</p>", **kwargs)


async def test_calendar_meeting_is_the_same_meeting_the_card_knows(graph_env: GraphEnv) -> None:
    graph_env.sim.set_user(ANA.aad_object_id, upn=ANA.upn, display_name="Ana")
    meeting = await _schedule(graph_env)
    [event] = graph_env.sim.events_of(graph_env.tenant, graph_env.user)
    [stored] = graph_env.sim.meetings_of(graph_env.tenant, graph_env.user)
    assert meeting.on_calendar and meeting.event_id == event.id and meeting.invitations == 2
    assert meeting.id == stored["id"] and meeting.join_url == stored["joinWebUrl"]
    assert meeting.meeting_code == stored["joinMeetingIdSettings"]["joinMeetingId"]
    assert meeting.passcode == stored["joinMeetingIdSettings"]["passcode"]
    assert meeting.audio.toll_numbers == tuple(stored["audioConferencing"]["tollNumbers"])
    assert meeting.audio.conference_id == stored["audioConferencing"]["conferenceId"]
    req = _request()
    assert (meeting.start, meeting.end) == (req.start, req.end) and meeting.subject == "planning"
    assert (event.start, event.end) == (req.start, req.end)
    assert event.data["originalStartTimeZone"] == "Europe/Berlin"  # the invitation shows the user's zone
    assert event.data["transactionId"].startswith("meetbot-evt-")
    assert "Join from the link below." in event.data["body"]["content"]
    [mail] = graph_env.sim.mail
    assert (mail.kind, mail.to) == ("request", (ANA.upn, BEN.upn))
    assert [c.path for c in graph_env.sim.calls] == ["/v1.0/me/events", "/v1.0/me/onlineMeetings"]
    assert graph_env.sim.events_of(graph_env.tenant, ANA.aad_object_id)  # on Ana's calendar too


async def test_a_redelivered_or_doubled_command_makes_one_event(graph_env: GraphEnv) -> None:
    txn = _txn()
    first = await _schedule(graph_env, txn=txn)
    again, parallel = await asyncio.gather(_schedule(graph_env, txn=txn), _schedule(graph_env, txn=txn))
    assert first.event_id == again.event_id == parallel.event_id and first.id == again.id
    assert len(graph_env.sim.events_of(graph_env.tenant, graph_env.user)) == 1
    assert len(graph_env.sim.meetings_of(graph_env.tenant, graph_env.user)) == 1
    assert len(graph_env.sim.mail) == 1


async def test_a_lost_answer_is_retried_into_the_same_event(graph_env: GraphEnv) -> None:
    graph_env.sim.faults.push(Fault(drop=True, after_commit=True, path="/events"))
    meeting = await _schedule(graph_env, client={"deadline": 5, "attempt_timeout": 1})
    [event] = graph_env.sim.events_of(graph_env.tenant, graph_env.user)
    assert meeting.event_id == event.id and graph_env.sim.count("POST", "/events") == 2


async def test_a_zone_graph_does_not_list_goes_as_utc(graph_env: GraphEnv) -> None:
    await _schedule(graph_env, zone="America/Vancouver")
    [event] = graph_env.sim.events_of(graph_env.tenant, graph_env.user)
    assert event.data["originalStartTimeZone"] == "UTC" and event.start == _request().start


async def test_extend_moves_the_event_and_its_meeting(graph_env: GraphEnv) -> None:
    client, token = graph_env.client(), graph_env.delegated_token(scp=SCP)
    meeting = await _schedule(graph_env, token)
    later = meeting.end + timedelta(minutes=15)
    moved = await client.update_event_times(token, meeting.event_id, meeting.start, later,
                                            time_zone="Europe/Berlin")
    assert moved.id == meeting.event_id and moved.end == later and moved.start == meeting.start
    assert moved.join_url == meeting.join_url and moved.invitations == 2
    assert (await client.find_meeting_by_join_url(token, meeting.join_url)).end == later
    assert graph_env.sim.mail[-1].kind == "update"


async def test_end_cancels_with_a_message_and_the_meeting_goes(graph_env: GraphEnv) -> None:
    client, token = graph_env.client(), graph_env.delegated_token(scp=SCP)
    meeting = await _schedule(graph_env, token)
    assert await client.cancel_event(token, meeting.event_id, "Ended from Teams by the organizer.")
    mail = graph_env.sim.mail[-1]
    assert (mail.kind, mail.comment, mail.to) == ("cancel", "Ended from Teams by the organizer.",
                                                  (ANA.upn, BEN.upn))
    assert graph_env.sim.events_of(graph_env.tenant, graph_env.user) == []
    assert not await client.cancel_event(token, meeting.event_id, "again")  # already gone
    with pytest.raises(GraphNotFound):
        await client.find_meeting_by_join_url(token, meeting.join_url)


async def test_without_calendar_permission_the_error_says_invitations_are_off(graph_env: GraphEnv) -> None:
    meetings_only = graph_env.delegated_token()
    with pytest.raises(CalendarPermissionMissing) as err:
        await _schedule(graph_env, meetings_only)
    assert err.value.status == 403 and err.value.request_id == graph_env.sim.calls[-1].request_id
    assert describe(err.value).text == "Invitations are off: an admin can turn them on."
    assert graph_env.sim.events == {} and graph_env.sim.meetings_of(graph_env.tenant, graph_env.user) == []
    meeting = await _schedule(graph_env)
    client = graph_env.client()
    with pytest.raises(CalendarPermissionMissing):
        await client.update_event_times(meetings_only, meeting.event_id, meeting.start, meeting.end,
                                        time_zone="UTC")
    with pytest.raises(CalendarPermissionMissing):
        await client.cancel_event(meetings_only, meeting.event_id, "x")
    # The meetings API itself is unaffected: the standalone path still works with that token.
    standalone = await client.create_or_get(meetings_only, _request(), external_id=external_id_for("c", "a"))
    assert not standalone.on_calendar and standalone.invitations == 0


async def test_app_only_needs_the_calendar_role_and_the_policy(graph_env: GraphEnv) -> None:
    token = graph_env.app_token(roles=("OnlineMeetings.ReadWrite.All", "Calendars.ReadWrite"))
    with pytest.raises(AccessPolicyMissing):  # the event was made; its meeting can't be read yet
        await _schedule(graph_env, token, user_id=graph_env.user)
    graph_env.sim.grant_policy(graph_env.tenant, graph_env.app_id)
    meeting = await _schedule(graph_env, token, user_id=graph_env.user)
    assert meeting.organizer_id == graph_env.user and meeting.event_id
    with pytest.raises(CalendarPermissionMissing):
        await _schedule(graph_env, graph_env.app_token(), user_id=graph_env.user)


async def test_find_by_join_url_of_an_unknown_link_is_not_found(graph_env: GraphEnv) -> None:
    unknown = "https://teams.microsoft.com/l/meetup-join/19%3anone%40thread.v2/0?x='y'"
    with pytest.raises(GraphNotFound):
        await graph_env.client().find_meeting_by_join_url(graph_env.delegated_token(), unknown)


# --- meeting options -----------------------------------------------------------------------------
ALL = MeetingOptions(presenters=Presenters.ORGANIZER, lobby=Lobby.EVERYONE_WAITS, record=True, chat=False)


async def test_options_are_set_in_one_patch_and_read_back(graph_env: GraphEnv) -> None:
    client, token = graph_env.client(), graph_env.delegated_token()
    meeting = await client.create_or_get(token, _request(), external_id=_ext())
    assert meeting.options == MeetingOptions(presenters=Presenters.EVERYONE, lobby=Lobby.ORGANIZATION_SKIPS,
                                             record=False, chat=True)  # Graph's defaults
    calls = len(graph_env.sim.calls)
    updated = await client.set_options(token, meeting.id, ALL)
    assert updated.options == ALL and updated.lobby_scope == "organizer"
    assert len(graph_env.sim.calls) == calls + 1
    [stored] = graph_env.sim.meetings_of(graph_env.tenant, graph_env.user)
    assert (stored["allowedPresenters"], stored["lobbyBypassSettings"]["scope"],
            stored["recordAutomatically"], stored["allowMeetingChat"]) == ("organizer", "organizer", True,
                                                                           "disabled")
    assert (await client.get(token, meeting.id)).options == ALL
    with pytest.raises(ValueError):
        await client.set_options(token, meeting.id, MeetingOptions())


async def test_options_on_a_calendar_meeting(graph_env: GraphEnv) -> None:
    token = graph_env.delegated_token(scp=SCP)
    meeting = await _schedule(graph_env, token)
    updated = await graph_env.client().set_options(token, meeting.id,
                                                   MeetingOptions(lobby=Lobby.EVERYONE_SKIPS))
    assert updated.options.lobby is Lobby.EVERYONE_SKIPS


async def test_a_refused_option_is_named_and_the_others_still_apply(graph_env: GraphEnv) -> None:
    client, token = graph_env.client(), graph_env.delegated_token()
    graph_env.sim.refuse_option(graph_env.user, "recordAutomatically")
    meeting = await client.create_or_get(token, _request(), external_id=_ext())
    with pytest.raises(OptionRefused) as err:
        await client.set_options(token, meeting.id, ALL)
    assert err.value.refused == ("recordAutomatically",) and err.value.status == 403
    applied = err.value.meeting
    assert applied.options == MeetingOptions(presenters=Presenters.ORGANIZER, lobby=Lobby.EVERYONE_WAITS,
                                             record=False, chat=False)
    message = describe(err.value)
    assert "automatic recording" in message.text and message.request_id
    with pytest.raises(OptionRefused) as alone:
        await client.set_options(token, meeting.id, MeetingOptions(record=True))
    assert alone.value.refused == ("recordAutomatically",) and alone.value.meeting is None


async def test_the_access_policy_refusal_is_not_an_option_refusal(graph_env: GraphEnv) -> None:
    token = graph_env.app_token()
    graph_env.sim.grant_policy(graph_env.tenant, graph_env.app_id, graph_env.user)
    meeting = await graph_env.client().create_or_get(token, _request(), external_id=external_id_for("c", "1"),
                                                     user_id=graph_env.user)
    graph_env.sim.policies.clear()
    with pytest.raises(AccessPolicyMissing):
        await graph_env.client().set_options(token, meeting.id, ALL, user_id=graph_env.user)


# --- pure functions ------------------------------------------------------------------------------
async def test_transaction_id_is_stable_short_and_distinct() -> None:
    a = transaction_id_for("19:abc@thread.tacv2", "1700000000000")
    assert a == transaction_id_for("19:abc@thread.tacv2", "1700000000000") and len(a) <= 48
    assert a != transaction_id_for("19:abc@thread.tacv2", "1700000000001")
    assert a != transaction_id_for("19:abd@thread.tacv2", "1700000000000")
    assert a != external_id_for("19:abc@thread.tacv2", "1700000000000")


async def test_broken_event_bodies_are_bad_responses() -> None:
    base = {"id": "AAMk=", "start": {"dateTime": "2030-01-01T10:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2030-01-01T11:00:00.0000000", "timeZone": "UTC"}}
    event = parse_event(base, request_id="r")
    assert event.start == datetime(2030, 1, 1, 10, tzinfo=UTC) and event.join_url is None
    berlin_end = {"dateTime": "2030-01-01T12:00:00.0000000", "timeZone": "Europe/Berlin"}
    zoned = parse_event({**base, "end": berlin_end}, request_id=None)
    assert zoned.end == datetime(2030, 1, 1, 11, tzinfo=UTC)
    for broken in ({**base, "id": None}, {**base, "start": None},
                   {**base, "end": {"dateTime": "x", "timeZone": "UTC"}},
                   {**base, "end": {"dateTime": "2030-01-01T11:00:00", "timeZone": "Pacific Standard Time"}},
                   {**base, "onlineMeeting": "x"}):
        with pytest.raises(GraphBadResponse):
            parse_event(broken, request_id="r")


# --- settings after creation: the invitees' lobby and the options, in one PATCH ---------------------
async def test_the_invitees_lobby_and_the_options_go_in_one_patch_once(graph_env: GraphEnv) -> None:
    client, token, ext = graph_env.client(), graph_env.delegated_token(), _ext()
    request = _request(scope=AttendeeScope.MENTIONED, options=MeetingOptions(record=True))
    meeting = await client.create_or_get(token, request, external_id=ext)
    [stored] = graph_env.sim.meetings_of(graph_env.tenant, graph_env.user)
    assert (stored["lobbyBypassSettings"]["scope"], stored["recordAutomatically"]) == ("invited", True)
    assert meeting.created and meeting.lobby_scope == "invited" and meeting.options.record
    assert [c.method for c in graph_env.sim.calls] == ["POST", "PATCH"]
    again = await client.create_or_get(token, request, external_id=ext)  # a redelivery
    assert not again.created and [c.method for c in graph_env.sim.calls] == ["POST", "PATCH", "POST"]
    asked = _request(scope=AttendeeScope.MENTIONED, options=MeetingOptions(lobby=Lobby.EVERYONE_WAITS))
    waits = await client.create_or_get(token, asked, external_id=_ext())
    assert waits.lobby_scope == "organizer"  # asked for, it wins over the invitees' lobby


async def test_a_refusal_at_creation_carries_the_meeting(graph_env: GraphEnv) -> None:
    graph_env.sim.refuse_option(graph_env.user, "recordAutomatically")
    with pytest.raises(OptionRefused) as err:
        await graph_env.client().create_or_get(graph_env.delegated_token(), _request(
            options=MeetingOptions(record=True)), external_id=_ext())
    [stored] = graph_env.sim.meetings_of(graph_env.tenant, graph_env.user)
    assert err.value.meeting.id == stored["id"] and err.value.meeting.created


async def test_one_scope_per_token_the_event_and_its_meeting(graph_env: GraphEnv) -> None:
    """Delegated: the calendar token makes the event, the meetings token reads its meeting."""
    calendar = graph_env.delegated_token(scp="Calendars.ReadWrite")
    with pytest.raises(GraphForbidden):  # a calendar-only token cannot read onlineMeetings
        await _schedule(graph_env, calendar)
    meeting = await _schedule(graph_env, calendar, meetings_token=graph_env.delegated_token())
    assert meeting.on_calendar and meeting.join_url
