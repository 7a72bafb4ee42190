"""bot.graph.GraphClient against the Graph simulator over loopback HTTP.

Expected values are read from the simulator's state (what it issued), never typed in here.
"""
from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.errors import (
    AccessPolicyMissing,
    GraphBadRequest,
    GraphBadResponse,
    GraphConflict,
    GraphForbidden,
    GraphNotFound,
    GraphThrottled,
    GraphTimeout,
    GraphUnauthorized,
    GraphUnavailable,
)
from bot.graph import external_id_for, parse_meeting
from bot.models import MeetingRequest, Person
from localcloud.graph_sim import Fault
from tests.graph_fixtures import DATA, GraphEnv

pytestmark = pytest.mark.asyncio
BERLIN = timezone(timedelta(hours=2))


def _request(minutes: int = 30, **kwargs) -> MeetingRequest:
    start = datetime.now(BERLIN).replace(microsecond=0) + timedelta(minutes=5)
    return MeetingRequest(subject=kwargs.pop("subject", "budget review"), start=start,
                          end=start + timedelta(minutes=minutes), **kwargs)


def _ext() -> str:
    return external_id_for(f"19:{uuid.uuid4()}@thread.tacv2", str(uuid.uuid4()))


def _stored(env: GraphEnv, user: str | None = None) -> list[dict]:
    return env.sim.meetings_of(env.tenant, user or env.user)


async def test_create_or_get_returns_what_graph_issued(graph_env: GraphEnv) -> None:
    req = _request()
    meeting = await graph_env.client().create_or_get(graph_env.delegated_token(), req, external_id=_ext())
    [stored] = _stored(graph_env)
    audio = stored["audioConferencing"]
    assert meeting.created and meeting.id == stored["id"] and meeting.join_url == stored["joinWebUrl"]
    assert meeting.meeting_code == stored["joinMeetingIdSettings"]["joinMeetingId"]
    assert meeting.passcode == stored["joinMeetingIdSettings"]["passcode"]
    assert meeting.audio.conference_id == audio["conferenceId"]
    assert meeting.audio.toll_numbers == tuple(audio["tollNumbers"])
    assert meeting.audio.toll_free_numbers == tuple(audio["tollFreeNumbers"])
    assert meeting.audio.dialin_url == audio["dialinUrl"]
    tel = meeting.audio.one_tap(audio["tollNumbers"][0])
    assert tel.startswith("tel:+") and tel.endswith(f",,{audio['conferenceId']}#") and " " not in tel
    assert (meeting.start, meeting.end) == (req.start, req.end) and meeting.start.tzinfo == UTC
    assert meeting.subject == req.subject and meeting.organizer_id == graph_env.user
    assert meeting.request_id == graph_env.sim.calls[-1].request_id


async def test_same_external_id_gives_the_same_meeting(graph_env: GraphEnv) -> None:
    client, token, ext = graph_env.client(), graph_env.delegated_token(), _ext()
    first = await client.create_or_get(token, _request(), external_id=ext)
    again = await client.create_or_get(token, _request(90, subject="changed"), external_id=ext)
    assert again.id == first.id and not again.created and again.subject == first.subject
    assert len(_stored(graph_env)) == 1


async def test_double_click_in_parallel_makes_one_meeting(graph_env: GraphEnv) -> None:
    client, token, ext = graph_env.client(), graph_env.delegated_token(), _ext()
    a, b = await asyncio.gather(*(client.create_or_get(token, _request(), external_id=ext) for _ in "ab"))
    assert a.id == b.id and {a.created, b.created} == {True, False} and len(_stored(graph_env)) == 1


async def test_attendees_are_invited(graph_env: GraphEnv) -> None:
    ana = Person("Ana", aad_object_id=str(uuid.uuid4()), upn="ana@contoso.test")
    req = _request(attendees=(ana, Person("nobody-known")))
    meeting = await graph_env.client().create_or_get(graph_env.delegated_token(), req, external_id=_ext())
    [stored] = _stored(graph_env)
    assert [(a["identity"]["user"]["id"], a["upn"], a["role"]) for a in stored["participants"]["attendees"]] \
        == [(ana.aad_object_id, ana.upn, "attendee")]
    assert [(p.aad_object_id, p.upn) for p in meeting.attendees] == [(ana.aad_object_id, ana.upn)]


async def test_default_path_is_one_request(graph_env: GraphEnv) -> None:
    await graph_env.client().create_or_get(graph_env.delegated_token(), _request(), external_id=_ext())
    assert [(c.method, c.path, c.status) for c in graph_env.sim.calls] == \
        [("POST", "/v1.0/me/onlineMeetings/createOrGet", 201)]


async def test_unlicensed_organizer_has_no_dial_in(graph_env: GraphEnv) -> None:
    graph_env.sim.set_unlicensed(graph_env.user)
    meeting = await graph_env.client().create_or_get(graph_env.delegated_token(), _request(), external_id=_ext())
    assert meeting.audio is None and meeting.join_url


async def test_update_get_delete(graph_env: GraphEnv) -> None:
    client, token = graph_env.client(), graph_env.delegated_token()
    meeting = await client.create_or_get(token, _request(), external_id=_ext())
    later = meeting.end + timedelta(minutes=15)
    moved = await client.update_times(token, meeting.id, meeting.start.astimezone(BERLIN), later)
    assert moved.end == later and moved.id == meeting.id and not moved.created
    assert (await client.get(token, meeting.id)).end == later
    with pytest.raises(GraphBadRequest) as bad:
        await client.update_times(token, meeting.id, later, meeting.start)
    assert bad.value.request_id == graph_env.sim.calls[-1].request_id
    await client.delete(token, meeting.id)
    assert _stored(graph_env) == []
    with pytest.raises(GraphNotFound):
        await client.get(token, meeting.id)
    with pytest.raises(GraphNotFound):
        await client.delete(token, meeting.id)


async def test_app_only_path_needs_the_access_policy(graph_env: GraphEnv) -> None:
    client, token = graph_env.client(), graph_env.app_token()
    with pytest.raises(AccessPolicyMissing) as missing:
        await client.create_or_get(token, _request(), external_id=_ext(), user_id=graph_env.user)
    assert missing.value.status == 403 and missing.value.request_id == graph_env.sim.calls[-1].request_id
    graph_env.sim.grant_policy(graph_env.tenant, graph_env.app_id)
    meeting = await client.create_or_get(token, _request(), external_id=_ext(), user_id=graph_env.user)
    assert meeting.organizer_id == graph_env.user and [m["id"] for m in _stored(graph_env)] == [meeting.id]
    assert (await client.get(token, meeting.id, user_id=graph_env.user)).id == meeting.id


async def test_ids_with_reserved_characters_are_encoded(graph_env: GraphEnv) -> None:
    """Seed-era ids carry `_`, `:` and `@`; current ones `=` (and may carry `/`, `+`)."""
    graph_env.sim.grant_policy(graph_env.tenant, graph_env.app_id)
    async with graph_env.session.post(
            graph_env.url("/v1.0/communications/onlineMeetings"),
            headers={"Authorization": f"Bearer {graph_env.app_token()}"},
            json={"subject": "s", "participants": {"organizer": {"identity": {"user": {"id": graph_env.user}}}}},
    ) as resp:
        old_id = (await resp.json())["id"]
    got = await graph_env.client().get(graph_env.app_token(), old_id, user_id=graph_env.user)
    assert got.id == old_id and ":" in old_id and "@" in old_id


async def test_expired_token_is_unauthorized(graph_env: GraphEnv) -> None:
    token = graph_env.delegated_token(exp=int(datetime.now().timestamp()) - 3600)
    with pytest.raises(GraphUnauthorized) as err:
        await graph_env.client().create_or_get(token, _request(), external_id=_ext())
    assert err.value.request_id == graph_env.sim.calls[-1].request_id and err.value.code == "InvalidAuthenticationToken"


# --- retries and faults ------------------------------------------------------------------------
async def test_retry_after_is_honoured(graph_env: GraphEnv) -> None:
    graph_env.sim.faults.push(Fault(status=429, retry_after=0.3), Fault(status=503, retry_after=0.2))
    meeting = await graph_env.client().create_or_get(graph_env.delegated_token(), _request(), external_id=_ext())
    calls = graph_env.sim.calls
    assert [c.status for c in calls] == [429, 503, 201] and meeting.created
    # asyncio may wake a timer up to a clock tick early; waits are lower bounds only
    assert calls[1].received - calls[0].received >= 0.3 - 0.02
    assert calls[2].received - calls[1].received >= 0.2 - 0.02


async def test_throttled_after_all_attempts(graph_env: GraphEnv) -> None:
    graph_env.sim.faults.push(*(Fault(status=429, retry_after=0.01) for _ in range(3)))
    with pytest.raises(GraphThrottled) as err:
        await graph_env.client(attempts=3).create_or_get(graph_env.delegated_token(), _request(), external_id=_ext())
    assert err.value.retry_after == 0.01 and err.value.request_id == graph_env.sim.calls[-1].request_id
    assert graph_env.sim.count("POST") == 3 and _stored(graph_env) == []


async def test_retry_after_beyond_the_cap_fails_fast(graph_env: GraphEnv) -> None:
    graph_env.sim.faults.push(Fault(status=429, retry_after=30))
    with pytest.raises(GraphThrottled) as err:
        await graph_env.client(max_retry_after=5).create_or_get(graph_env.delegated_token(), _request(),
                                                                 external_id=_ext())
    assert err.value.retry_after == 30 and graph_env.sim.count() == 1


@pytest.mark.parametrize("status", [503, 504])
async def test_transient_5xx_is_retried(graph_env: GraphEnv, status: int) -> None:
    graph_env.sim.faults.push(Fault(status=status))
    meeting = await graph_env.client().create_or_get(graph_env.delegated_token(), _request(), external_id=_ext())
    assert meeting.created and [c.status for c in graph_env.sim.calls] == [status, 201]


async def test_5xx_after_retries_is_unavailable(graph_env: GraphEnv) -> None:
    graph_env.sim.faults.push(*(Fault(status=503) for _ in range(2)))
    with pytest.raises(GraphUnavailable) as err:
        await graph_env.client(attempts=2).create_or_get(graph_env.delegated_token(), _request(), external_id=_ext())
    assert err.value.status == 503 and err.value.request_id == graph_env.sim.calls[-1].request_id


async def test_500_is_not_retried(graph_env: GraphEnv) -> None:
    graph_env.sim.faults.push(Fault(status=500))
    with pytest.raises(GraphUnavailable):
        await graph_env.client().create_or_get(graph_env.delegated_token(), _request(), external_id=_ext())
    assert graph_env.sim.count() == 1


async def test_conflict_is_typed(graph_env: GraphEnv) -> None:
    graph_env.sim.faults.push(Fault(status=409))
    with pytest.raises(GraphConflict):
        await graph_env.client().create_or_get(graph_env.delegated_token(), _request(), external_id=_ext())


async def test_dropped_connection_before_commit_is_retried(graph_env: GraphEnv) -> None:
    graph_env.sim.faults.push(Fault(drop=True))
    meeting = await graph_env.client().create_or_get(graph_env.delegated_token(), _request(), external_id=_ext())
    assert meeting.created and len(_stored(graph_env)) == 1


@pytest.mark.parametrize("fault", [Fault(drop=True, after_commit=True), Fault(status=504, after_commit=True),
                                   Fault(delay=1.0, after_commit=True)], ids=["drop", "504", "slow"])
async def test_lost_answer_after_commit_gives_no_duplicate(graph_env: GraphEnv, fault: Fault) -> None:
    graph_env.sim.faults.push(fault)
    client = graph_env.client(deadline=5, attempt_timeout=0.3)
    meeting = await client.create_or_get(graph_env.delegated_token(), _request(), external_id=_ext())
    [stored] = _stored(graph_env)
    assert meeting.id == stored["id"] and not meeting.created  # the retry found the committed one
    assert graph_env.sim.count("POST") == 2


async def test_deadline_gives_graph_timeout(graph_env: GraphEnv) -> None:
    graph_env.sim.faults.push(*(Fault(delay=2.0) for _ in range(4)))
    with pytest.raises(GraphTimeout):
        await graph_env.client(deadline=0.4).create_or_get(graph_env.delegated_token(), _request(),
                                                            external_id=_ext())


async def test_non_json_answer_is_a_bad_response(graph_env: GraphEnv) -> None:
    graph_env.sim.faults.push(Fault(body="<html>not json</html>", status=200))
    with pytest.raises(GraphBadResponse) as err:
        await graph_env.client().create_or_get(graph_env.delegated_token(), _request(), external_id=_ext())
    assert err.value.request_id == graph_env.sim.calls[-1].request_id


@pytest.mark.parametrize("code, message, expected", [
    ("General", "No application access policy found for this app.", AccessPolicyMissing),
    ("Forbidden", "", GraphForbidden),
    ("Forbidden", "Missing role permissions on the request.", GraphForbidden),
])
async def test_policy_error_is_recognised_by_message_not_code(graph_env: GraphEnv, code, message, expected) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "innererror": {"request-id": "x"}}})
    graph_env.sim.faults.push(Fault(status=403, body=body, content_type="application/json"))
    with pytest.raises(GraphForbidden) as err:
        await graph_env.client().create_or_get(graph_env.app_token(), _request(), external_id=_ext(),
                                               user_id=graph_env.user)
    assert type(err.value) is expected and err.value.code == code


async def test_every_attempt_is_reported(graph_env: GraphEnv) -> None:
    events: list[tuple[str, dict]] = []
    graph_env.sim.faults.push(Fault(status=429, retry_after=0.01), Fault(drop=True))
    client = graph_env.client(on_event=lambda name, **fields: events.append((name, fields)))
    await client.create_or_get(graph_env.delegated_token(), _request(), external_id=_ext())
    assert [(n, f["status"], f["attempt"], f["retry"], f["op"]) for n, f in events] == [
        ("graph_attempt", 429, 1, False, "createOrGet"), ("graph_attempt", None, 2, True, "createOrGet"),
        ("graph_attempt", 201, 3, True, "createOrGet")]
    assert all(f["latency"] >= 0 for _, f in events)


async def test_random_faults_never_duplicate(graph_env_fast: GraphEnv) -> None:
    env = graph_env_fast
    env.sim.faults.randomize(11, {429: 0.15, 503: 0.1, "drop": 0.05, "drop_after_commit": 0.1},
                             retry_after=0.01)
    client, token = env.client(attempts=8, deadline=10), env.delegated_token()
    exts = [_ext() for _ in range(15)]
    for ext in exts:
        await client.create_or_get(token, _request(), external_id=ext)
    assert sorted(m["externalId"] for m in _stored(env)) == sorted(exts)


# --- reading bodies ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["seed-app-token-response.json", "seed-user-token-response.json"])
async def test_seed_shape_is_parsed(name: str) -> None:
    body = json.loads((DATA / name).read_text())
    meeting = parse_meeting(body, created=True, request_id="rid")
    assert meeting.join_url == body["joinUrl"] and meeting.id == body["id"]
    assert meeting.audio.conference_id == body["audioConferencing"]["ConferenceId"]
    assert meeting.audio.toll_numbers == (body["audioConferencing"]["tollNumber"],)
    assert meeting.audio.toll_free_numbers == (body["audioConferencing"]["tollFreeNumber"],)
    assert meeting.organizer_id == body["participants"]["organizer"]["identity"]["user"]["id"]
    assert meeting.start == datetime.fromisoformat(body["startDateTime"]) and meeting.start.tzinfo == UTC
    assert meeting.passcode is None and meeting.meeting_code is None and meeting.request_id == "rid"


async def test_missing_audio_and_broken_bodies() -> None:
    base = {"id": "i", "joinWebUrl": "https://j", "startDateTime": "2024-01-01T10:00:00.1234567Z",
            "endDateTime": "2024-01-01T11:00:00Z"}
    assert parse_meeting(base, created=False, request_id=None).audio is None
    assert parse_meeting({**base, "audioConferencing": None}, created=False, request_id=None).audio is None
    for broken in ({**base, "joinWebUrl": None}, {**base, "startDateTime": "soon"}, {"id": "i"},
                   {**base, "participants": "x"}, {**base, "audioConferencing": [1]}):
        with pytest.raises(GraphBadResponse):
            parse_meeting(broken, created=False, request_id="r")


async def test_external_id_is_stable_short_and_distinct() -> None:
    a = external_id_for("19:abc@thread.tacv2", "1700000000000")
    assert a == external_id_for("19:abc@thread.tacv2", "1700000000000") and len(a) <= 40
    assert a != external_id_for("19:abc@thread.tacv2", "1700000000001")
    assert a != external_id_for("19:abd@thread.tacv2", "1700000000000")
