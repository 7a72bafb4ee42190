"""The Graph simulator's calendar events and meeting options over real HTTP, as a client sees
them (contract from the Graph v1.0 event and onlineMeeting pages).

Every event the simulator returns must match graph-event.schema.json, every meeting the
onlineMeeting schema and every error the error schema.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from localcloud.calendar import NOT_ORGANIZER
from localcloud.graph_sim import Fault
from tests.graph_fixtures import SCHEMAS, GraphEnv, assert_error_schema, assert_meeting_schema

pytestmark = pytest.mark.asyncio
ME_EVENTS, ME_MEETINGS = "/v1.0/me/events", "/v1.0/me/onlineMeetings"
BOTH = ("ana@contoso.test", "guest@fabrikam.test")  # the attendees of _event_body()
CALENDAR_SCP = "OnlineMeetings.ReadWrite Calendars.ReadWrite"
BERLIN = ZoneInfo("Europe/Berlin")
EVENT_SCHEMA = Draft202012Validator(json.loads((SCHEMAS / "graph-event.schema.json").read_text()))


def _local(hours: float) -> str:
    """Wall-clock time in Berlin, as a dateTimeTimeZone carries it."""
    at = datetime.now(BERLIN).replace(microsecond=0) + timedelta(hours=hours)
    return at.strftime("%Y-%m-%dT%H:%M:%S")


def _event_body(**extra) -> dict:
    body = {"subject": "Planning", "body": {"contentType": "HTML", "content": "<p>Agenda</p>"},
            "start": {"dateTime": _local(24), "timeZone": "Europe/Berlin"},
            "end": {"dateTime": _local(25), "timeZone": "Europe/Berlin"},
            "attendees": [
                {"emailAddress": {"address": "ana@contoso.test", "name": "Ana"}, "type": "required"},
                {"emailAddress": {"address": "guest@fabrikam.test"}, "type": "Optional"}],
            "isOnlineMeeting": True, "onlineMeetingProvider": "teamsForBusiness",
            "transactionId": f"meetbot-evt-{uuid.uuid4().hex}"}
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


async def _call(env: GraphEnv, method: str, path: str, token: str | None, body: dict | None = None,
                params: dict | None = None, **headers: str) -> tuple[int, dict | None]:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with env.session.request(method, env.url(path), json=body, params=params, headers=headers) as resp:
        raw = await resp.read()
        data = json.loads(raw) if raw else None
    if data is not None and "error" in data:
        assert_error_schema(data)
    elif data is not None and "/events/" in data.get("@odata.context", ""):
        errors = sorted(EVENT_SCHEMA.iter_errors(data), key=str)
        assert not errors, errors[0].message
    elif data is not None and "value" in data:
        for meeting in data["value"]:
            assert_meeting_schema(meeting)
    elif data is not None:
        assert_meeting_schema(data)
    return resp.status, data


def _token(env: GraphEnv, **kwargs) -> str:
    return env.delegated_token(scp=CALENDAR_SCP, **kwargs)


async def _by_join_url(env: GraphEnv, token: str, join_url: str) -> list[dict]:
    async with env.session.get(env.url(ME_MEETINGS), headers={"Authorization": f"Bearer {token}"},
                               params={"$filter": f"JoinWebUrl eq '{join_url}'"}) as resp:
        assert resp.status == 200
        found = (await resp.json())["value"]
    for meeting in found:
        assert_meeting_schema(meeting)
    return found


async def test_event_with_teams_meeting_invites_and_carries_the_meeting(graph_env: GraphEnv) -> None:
    ana = str(uuid.uuid4())
    graph_env.sim.set_user(ana, upn="ana@contoso.test", display_name="Ana")
    body = _event_body()
    status, event = await _call(graph_env, "POST", ME_EVENTS, _token(graph_env), body)
    assert status == 201 and event["transactionId"] == body["transactionId"]
    assert event["@odata.context"].endswith(f"users('{graph_env.user}')/events/$entity")
    start = datetime.fromisoformat(body["start"]["dateTime"]).replace(tzinfo=BERLIN)
    assert event["start"]["timeZone"] == "UTC" and event["originalStartTimeZone"] == "Europe/Berlin"
    assert datetime.fromisoformat(event["start"]["dateTime"]).replace(tzinfo=ZoneInfo("UTC")) == start
    assert event["isOnlineMeeting"] and event["onlineMeetingProvider"] == "teamsForBusiness"
    assert [a["emailAddress"]["address"] for a in event["attendees"]] == list(BOTH)
    assert [a["type"] for a in event["attendees"]] == ["required", "optional"]
    assert event["organizer"]["emailAddress"]["address"] == "organizer@contoso.test"

    [meeting] = graph_env.sim.meetings_of(graph_env.tenant, graph_env.user)
    info = event["onlineMeeting"]
    assert info["joinUrl"] == meeting["joinWebUrl"]
    assert info["conferenceId"] == meeting["audioConferencing"]["conferenceId"]
    assert info["tollNumber"] == meeting["audioConferencing"]["tollNumber"]
    assert meeting["joinWebUrl"] in event["body"]["content"] and "Agenda" in event["body"]["content"]
    assert meeting["subject"] == "Planning" and meeting["externalId"] is None

    [mail] = graph_env.sim.mail
    assert (mail.kind, mail.to, mail.event_id) == ("request", BOTH, event["id"])
    [copy] = graph_env.sim.events_of(graph_env.tenant, ana)  # Ana's calendar has it too
    assert not copy.data["isOrganizer"] and copy.data["onlineMeeting"]["joinUrl"] == meeting["joinWebUrl"]


async def test_transaction_id_makes_a_repeated_post_return_the_first_event(graph_env: GraphEnv) -> None:
    token, body = _token(graph_env), _event_body()
    first = await _call(graph_env, "POST", ME_EVENTS, token, body)
    again = await _call(graph_env, "POST", ME_EVENTS, token, {**body, "subject": "Changed"})
    assert first[0] == again[0] == 201 and again[1]["id"] == first[1]["id"]
    assert again[1]["subject"] == "Planning"  # the stored event, not the repeated body
    assert len(graph_env.sim.events_of(graph_env.tenant, graph_env.user)) == 1
    assert len(graph_env.sim.meetings_of(graph_env.tenant, graph_env.user)) == 1
    assert len(graph_env.sim.mail) == 1  # one invitation
    other = str(uuid.uuid4())  # the key belongs to one mailbox
    status, theirs = await _call(graph_env, "POST", ME_EVENTS, _token(graph_env, user=other), body)
    assert status == 201 and theirs["id"] != first[1]["id"]


async def test_the_events_meeting_is_found_by_its_join_url_with_all_details(graph_env: GraphEnv) -> None:
    ana = str(uuid.uuid4())
    graph_env.sim.set_user(ana, upn="ana@contoso.test", display_name="Ana")
    token = _token(graph_env)
    _, event = await _call(graph_env, "POST", ME_EVENTS, token, _event_body())
    await _call(graph_env, "POST", ME_EVENTS, token, _event_body())  # another one
    [meeting] = await _by_join_url(graph_env, token, event["onlineMeeting"]["joinUrl"])
    ids = meeting["joinMeetingIdSettings"]
    assert ids["joinMeetingId"] and ids["passcode"] and meeting["audioConferencing"]["tollNumbers"]
    assert meeting["participants"]["organizer"]["identity"]["user"]["id"] == graph_env.user
    assert [(a["upn"], a["identity"]["user"]["id"]) for a in meeting["participants"]["attendees"]] == [
        ("ana@contoso.test", ana), ("guest@fabrikam.test", None)]
    # An invited attendee may read the meeting too (*Get onlineMeeting*).
    theirs = await _by_join_url(graph_env, _token(graph_env, user=ana), event["onlineMeeting"]["joinUrl"])
    assert [m["id"] for m in theirs] == [meeting["id"]]


async def test_patch_moves_the_event_its_meeting_and_the_attendees_copies(graph_env: GraphEnv) -> None:
    ana = str(uuid.uuid4())
    graph_env.sim.set_user(ana, upn="ana@contoso.test")
    token = _token(graph_env)
    _, event = await _call(graph_env, "POST", ME_EVENTS, token, _event_body())
    path = f"{ME_EVENTS}/{event['id']}"
    later = _local(25.25)
    status, moved = await _call(graph_env, "PATCH", path, token,
                                {"end": {"dateTime": later, "timeZone": "Europe/Berlin"}},
                                Prefer='outlook.timezone="Europe/Berlin"')
    assert status == 200 and moved["id"] == event["id"] and moved["start"]["timeZone"] == "Europe/Berlin"
    assert moved["end"]["dateTime"] == later + ".0000000"
    assert moved["start"]["dateTime"].startswith(_local(24)[:16])
    end_utc = datetime.fromisoformat(later).replace(tzinfo=BERLIN)
    [meeting] = graph_env.sim.meetings_of(graph_env.tenant, graph_env.user)
    assert datetime.fromisoformat(meeting["endDateTime"]) == end_utc
    assert [(m.kind, m.to) for m in graph_env.sim.mail] == [("request", BOTH), ("update", BOTH)]
    [copy] = graph_env.sim.events_of(graph_env.tenant, ana)
    assert copy.end == end_utc
    status, got = await _call(graph_env, "GET", path, token)
    assert status == 200 and got["end"] == {"dateTime": end_utc.astimezone(ZoneInfo("UTC")).strftime(
        "%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}

    status, err = await _call(graph_env, "PATCH", path, token, {"transactionId": "x"})
    assert status == 400 and "transactionId" in err["error"]["message"]  # set once, at creation
    too_early = {"end": {"dateTime": _local(20), "timeZone": "Europe/Berlin"}}
    status, err = await _call(graph_env, "PATCH", path, token, too_early)
    assert status == 400
    assert (await _call(graph_env, "PATCH", f"{ME_EVENTS}/AAMkAnotthere=", token, {"subject": "x"}))[0] == 404


async def test_cancel_is_for_the_organizer_and_ends_the_meeting(graph_env: GraphEnv) -> None:
    ana = str(uuid.uuid4())
    graph_env.sim.set_user(ana, upn="ana@contoso.test")
    token = _token(graph_env)
    _, event = await _call(graph_env, "POST", ME_EVENTS, token, _event_body())
    join_url = event["onlineMeeting"]["joinUrl"]
    [copy] = graph_env.sim.events_of(graph_env.tenant, ana)
    status, err = await _call(graph_env, "POST", f"{ME_EVENTS}/{copy.id}/cancel", _token(graph_env, user=ana),
                              {"comment": "not mine"})
    assert status == 400 and err["error"]["message"] == NOT_ORGANIZER

    async with graph_env.session.post(graph_env.url(f"{ME_EVENTS}/{event['id']}/cancel"),
                                      json={"Comment": "Moved to next week"},
                                      headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 202 and await resp.read() == b"" and resp.headers["request-id"]
    mail = graph_env.sim.mail[-1]
    assert (mail.kind, mail.comment, mail.to) == ("cancel", "Moved to next week", BOTH)
    assert graph_env.sim.events[copy.id].data["isCancelled"]
    assert graph_env.sim.cancelled[event["id"]].data["isCancelled"]
    assert (await _call(graph_env, "GET", f"{ME_EVENTS}/{event['id']}", token))[0] == 404
    assert (await _call(graph_env, "POST", f"{ME_EVENTS}/{event['id']}/cancel", token, {}))[0] == 404
    assert graph_env.sim.meetings_of(graph_env.tenant, graph_env.user) == []
    assert await _by_join_url(graph_env, token, join_url) == []


async def test_calendar_permission_is_needed(graph_env: GraphEnv) -> None:
    body = _event_body()
    meetings_only = graph_env.delegated_token()
    status, err = await _call(graph_env, "POST", ME_EVENTS, meetings_only, body)
    assert status == 403 and err["error"]["code"] == "ErrorAccessDenied"
    read_only = graph_env.delegated_token(scp="Calendars.Read")
    assert (await _call(graph_env, "POST", ME_EVENTS, read_only, body))[0] == 403
    _, event = await _call(graph_env, "POST", ME_EVENTS, _token(graph_env), body)
    assert (await _call(graph_env, "GET", f"{ME_EVENTS}/{event['id']}", read_only))[0] == 200
    assert (await _call(graph_env, "POST", f"{ME_EVENTS}/{event['id']}/cancel", read_only, {}))[0] == 403
    someone = f"/v1.0/users/{uuid.uuid4()}/events"
    assert (await _call(graph_env, "POST", someone, _token(graph_env), _event_body()))[0] == 403
    assert graph_env.sim.events_of(graph_env.tenant, graph_env.user) == [graph_env.sim.events[event["id"]]]


async def test_app_tokens_need_the_calendar_role_not_the_teams_access_policy(graph_env: GraphEnv) -> None:
    graph_env.sim.set_user(graph_env.user, upn="ben@contoso.test", display_name="Ben")
    path, body = f"/v1.0/users/{graph_env.user}/events", _event_body()
    meetings_only = graph_env.app_token()
    status, err = await _call(graph_env, "POST", path, meetings_only, body)
    assert status == 403 and err["error"]["code"] == "ErrorAccessDenied"
    token = graph_env.app_token(roles=("OnlineMeetings.ReadWrite.All", "Calendars.ReadWrite"))
    assert (await _call(graph_env, "POST", ME_EVENTS, token, body))[0] == 400  # /me needs a user
    status, event = await _call(graph_env, "POST", path, token, body)
    assert status == 201
    assert event["organizer"]["emailAddress"] == {"name": "Ben", "address": "ben@contoso.test"}
    by_upn = await _call(graph_env, "GET", f"/v1.0/users/ben@contoso.test/events/{event['id']}", token)
    assert by_upn[0] == 200 and by_upn[1]["id"] == event["id"]
    nobody = f"/v1.0/users/nobody@contoso.test/events/{event['id']}"
    status, err = await _call(graph_env, "GET", nobody, token)
    assert status == 404 and err["error"]["code"] == "ErrorInvalidUser"
    # Reading the meeting behind it is an onlineMeetings call: that one needs the access policy.
    url = f"/v1.0/users/{graph_env.user}/onlineMeetings"
    by_url = {"$filter": f"JoinWebUrl eq '{event['onlineMeeting']['joinUrl']}'"}
    assert (await _call(graph_env, "GET", url, token, params=by_url))[0] == 403
    graph_env.sim.grant_policy(graph_env.tenant, graph_env.app_id)
    status, found = await _call(graph_env, "GET", url, token, params=by_url)
    assert status == 200 and found["value"][0]["joinWebUrl"] == event["onlineMeeting"]["joinUrl"]


@pytest.mark.parametrize("change, message", [
    ({"isOnlineMeting": True}, "isOnlineMeting"),
    ({"start": {"dateTime": "2030-01-01T10:00:00", "timeZone": "Mars/Olympus"}}, "Mars/Olympus"),
    ({"start": {"dateTime": "2030-01-01T10:00:00Z", "timeZone": "UTC"}}, "dateTime"),
    ({"end": None}, "end"),
    ({"end": {"dateTime": _local(-1), "timeZone": "Europe/Berlin"}}, "before"),
    ({"attendees": [{"emailAddress": {"name": "no address"}}]}, "address"),
    ({"transactionId": ""}, "transactionId"),
], ids=["typo", "zone", "offset", "no end", "end first", "attendee", "empty key"])
async def test_bad_event_bodies_are_refused(graph_env: GraphEnv, change: dict, message: str) -> None:
    status, err = await _call(graph_env, "POST", ME_EVENTS, _token(graph_env), _event_body(**change))
    assert status == 400 and message in err["error"]["message"]
    assert graph_env.sim.events == {} and graph_env.sim.meetings_of(graph_env.tenant, graph_env.user) == []


async def test_bad_times_are_refused_without_schema_checks_too(graph_env_fast: GraphEnv) -> None:
    for change in ({"end": None}, {"start": {"dateTime": "soon", "timeZone": "UTC"}},
                   {"end": {"dateTime": "2030-01-01T10:00:00", "timeZone": "Nowhere"}}):
        token = _token(graph_env_fast)
        status, _ = await _call(graph_env_fast, "POST", ME_EVENTS, token, _event_body(**change))
        assert status == 400
    async with graph_env_fast.session.post(graph_env_fast.url(ME_EVENTS), data=b"{not json",
                                           headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 400


async def test_an_event_without_an_online_provider_has_no_meeting(graph_env: GraphEnv) -> None:
    status, event = await _call(graph_env, "POST", ME_EVENTS, _token(graph_env),
                                _event_body(isOnlineMeeting=None, onlineMeetingProvider=None, attendees=None))
    assert status == 201 and not event["isOnlineMeeting"] and event["onlineMeeting"] is None
    assert event["attendees"] == [] and graph_env.sim.mail == []
    assert graph_env.sim.meetings_of(graph_env.tenant, graph_env.user) == []


# --- meeting options ---------------------------------------------------------------------------
OPTIONS = {"allowedPresenters": "organizer",
           "lobbyBypassSettings": {"scope": "everyone", "isDialInBypassEnabled": False},
           "recordAutomatically": True, "allowMeetingChat": "disabled"}
TIMES = {"startDateTime": "2030-01-01T10:00:00Z", "endDateTime": "2030-01-01T11:00:00Z"}


async def test_options_are_set_on_create_and_patch_and_read_back(graph_env: GraphEnv) -> None:
    token, ext = graph_env.delegated_token(), {"externalId": str(uuid.uuid4())}
    status, meeting = await _call(graph_env, "POST", ME_MEETINGS, token, {"subject": "s", **TIMES, **OPTIONS})
    assert status == 201 and {k: meeting[k] for k in OPTIONS} == OPTIONS
    _, plain = await _call(graph_env, "POST", ME_MEETINGS + "/createOrGet", token, ext)
    assert (plain["allowedPresenters"], plain["recordAutomatically"], plain["allowMeetingChat"]) == (
        "everyone", False, "enabled")
    status, patched = await _call(graph_env, "PATCH", f"{ME_MEETINGS}/{plain['id']}", token, OPTIONS)
    assert status == 200 and {k: patched[k] for k in OPTIONS} == OPTIONS
    assert (await _call(graph_env, "GET", f"{ME_MEETINGS}/{plain['id']}", token))[1] == patched
    status, _ = await _call(graph_env, "PATCH", f"{ME_MEETINGS}/{plain['id']}", token,
                            {"allowMeetingChat": "off"})
    assert status == 400


async def test_a_refused_option_is_a_403_and_changes_nothing(graph_env: GraphEnv) -> None:
    token = graph_env.delegated_token()
    graph_env.sim.refuse_option(graph_env.user, "recordAutomatically")
    _, meeting = await _call(graph_env, "POST", ME_MEETINGS + "/createOrGet", token,
                             {"externalId": str(uuid.uuid4())})
    path = f"{ME_MEETINGS}/{meeting['id']}"
    status, err = await _call(graph_env, "PATCH", path, token, {"allowedPresenters": "organizer",
                                                                 "recordAutomatically": True})
    assert status == 403 and "recordAutomatically" in err["error"]["message"]
    unchanged = (await _call(graph_env, "GET", path, token))[1]
    assert unchanged["allowedPresenters"] == "everyone"  # Graph refuses the PATCH as a whole
    status, patched = await _call(graph_env, "PATCH", path, token, {"allowedPresenters": "organizer",
                                                                     "recordAutomatically": False})
    assert status == 200 and patched["allowedPresenters"] == "organizer"  # the default is no change
    status, _ = await _call(graph_env, "POST", ME_MEETINGS, token, {"subject": "s", **OPTIONS})
    assert status == 403 and len(graph_env.sim.meetings_of(graph_env.tenant, graph_env.user)) == 1
    other = str(uuid.uuid4())  # the switch is per organizer
    status, _ = await _call(graph_env, "POST", ME_MEETINGS, graph_env.delegated_token(user=other),
                            {"subject": "s", **OPTIONS})
    assert status == 201


async def test_unexpected_connection_loss_does_not_duplicate_events(graph_env: GraphEnv) -> None:
    token, body = _token(graph_env), _event_body()
    graph_env.sim.faults.push(Fault(drop=True, after_commit=True, path="/events"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await _call(graph_env, "POST", ME_EVENTS, token, body)
    status, event = await _call(graph_env, "POST", ME_EVENTS, token, body)  # the client's retry
    assert status == 201
    assert [e.id for e in graph_env.sim.events_of(graph_env.tenant, graph_env.user)] == [event["id"]]
