"""The Graph simulator over real HTTP: its contract (docs-derived) as a client sees it.

Every meeting body it returns must match the copied graph-onlineMeeting schema and every error
body the graph-error schema.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from localcloud.graph_sim import POLICY_MISSING, Fault
from tests.graph_fixtures import GraphEnv, assert_error_schema, assert_meeting_schema

pytestmark = pytest.mark.asyncio
ME = "/v1.0/me/onlineMeetings"
GRAPH_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


def _at(hours: float) -> str:
    return (datetime.now(timezone(timedelta(hours=-7))) + timedelta(hours=hours)).isoformat()


async def _call(env: GraphEnv, method: str, path: str, token: str | None, body: dict | None = None,
                **headers: str) -> tuple[int, dict | None, aiohttp.typedefs.CIMultiDictProxy]:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with env.session.request(method, env.url(path), json=body, headers=headers) as resp:
        data = await resp.json() if resp.content_type == "application/json" else None
        if data is not None and "error" in data:
            assert_error_schema(data)
        elif data is not None and "value" not in data and "joinUrl" not in data:
            assert_meeting_schema(data)
        return resp.status, data, resp.headers


def _ext() -> str:
    return f"ext-{uuid.uuid4()}"


async def test_create_or_get_creates_once_and_returns_the_stored_meeting(graph_env: GraphEnv) -> None:
    token, ext = graph_env.delegated_token(), _ext()
    status, first, headers = await _call(graph_env, "POST", ME + "/createOrGet", token, {
        "externalId": ext, "subject": "Budget", "startDateTime": _at(1), "endDateTime": _at(1.5)},
        **{"client-request-id": "abc-123"})
    assert status == 201
    assert headers["client-request-id"] == "abc-123" and uuid.UUID(headers["request-id"])
    stored = graph_env.sim.meetings[(graph_env.tenant, graph_env.user)][first["id"]]
    assert first["joinWebUrl"] == stored["joinWebUrl"] and first["externalId"] == ext
    assert first["@odata.context"].endswith(f"users('{graph_env.user}')/onlineMeetings/$entity")
    assert GRAPH_TIME.match(first["startDateTime"]) and GRAPH_TIME.match(first["endDateTime"])
    ids = first["joinMeetingIdSettings"]
    assert re.fullmatch(r"\d{12,14}", ids["joinMeetingId"]) and ids["isPasscodeRequired"] and ids["passcode"]
    audio = first["audioConferencing"]
    assert audio["conferenceId"] and audio["tollNumbers"] and audio["tollNumber"] in audio["tollNumbers"]
    organizer = first["participants"]["organizer"]
    assert organizer["identity"]["user"] == {"id": graph_env.user, "tenantId": graph_env.tenant,
                                             "displayName": "Org Anizer"}
    assert organizer["upn"] == "organizer@contoso.test"

    status, again, _ = await _call(graph_env, "POST", ME + "/createOrGet", token, {
        "externalId": ext, "subject": "Other", "startDateTime": _at(5), "endDateTime": _at(6)})
    assert status == 200
    assert again == first  # request values ignored for an existing one
    assert len(graph_env.sim.meetings_of(graph_env.tenant, graph_env.user)) == 1


async def test_external_id_is_scoped_per_user(graph_env: GraphEnv) -> None:
    other = str(uuid.uuid4())
    body = {"externalId": _ext(), "subject": "x"}
    a = await _call(graph_env, "POST", ME + "/createOrGet", graph_env.delegated_token(), body)
    b = await _call(graph_env, "POST", ME + "/createOrGet", graph_env.delegated_token(user=other), body)
    assert a[0] == b[0] == 201 and a[1]["id"] != b[1]["id"]


@pytest.mark.parametrize("times, length", [({}, 3600), ({"startDateTime": "2020-01-01T10:00:00Z"}, 3600),
                                           ({"startDateTime": _at(-3), "endDateTime": _at(-2.5)}, 1800)])
async def test_create_or_get_time_defaults_and_past_start(graph_env: GraphEnv, times, length) -> None:
    status, body, _ = await _call(graph_env, "POST", ME + "/createOrGet", graph_env.delegated_token(),
                                  {"externalId": _ext(), **times})
    assert status == 201
    start, end = (datetime.fromisoformat(body[k]) for k in ("startDateTime", "endDateTime"))
    assert round((end - start).total_seconds()) == length


@pytest.mark.parametrize("times", [{"endDateTime": _at(1)}, {"startDateTime": _at(2), "endDateTime": _at(1)}])
async def test_create_or_get_rejects_bad_times(graph_env: GraphEnv, times) -> None:
    for env_body in ({"externalId": _ext(), **times},):
        status, body, _ = await _call(graph_env, "POST", ME + "/createOrGet", graph_env.delegated_token(),
                                      env_body)
        assert status == 400 and body["error"]["code"] == "BadRequest"
    assert graph_env.sim.meetings_of(graph_env.tenant, graph_env.user) == []


async def test_bad_times_are_rejected_without_schema_checks_too(graph_env_fast: GraphEnv) -> None:
    status, _, _ = await _call(graph_env_fast, "POST", ME + "/createOrGet", graph_env_fast.delegated_token(),
                               {"externalId": _ext(), "startDateTime": _at(2), "endDateTime": _at(1)})
    assert status == 400


async def test_plain_create_rejects_external_id_and_legacy_names(graph_env: GraphEnv) -> None:
    token = graph_env.delegated_token()
    status, body, _ = await _call(graph_env, "POST", ME, token, {"externalId": "x", "subject": "s"})
    assert status == 400 and "createOrGet" in body["error"]["message"]
    status, body, _ = await _call(graph_env, "POST", ME, token, {"subject": "s", "accessLevel": "everyone"})
    assert status == 400 and "accessLevel" in body["error"]["message"]
    status, body, _ = await _call(graph_env, "POST", ME, token, {"subject": "s", "joinUrl": "x"})
    assert status == 400
    status, body, _ = await _call(graph_env, "POST", ME, token, {
        "subject": "s", "startDateTime": _at(1), "endDateTime": _at(2),
        "joinMeetingIdSettings": {"isPasscodeRequired": False}})
    assert status == 201 and body["joinMeetingIdSettings"]["passcode"] is None
    assert "externalId" in body and body["externalId"] is None


async def test_missing_expired_forged_and_foreign_tokens_get_401(graph_env: GraphEnv) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tokens = {
        "missing": None,
        "expired": graph_env.delegated_token(exp=int(datetime.now().timestamp()) - 3600),
        "forged": graph_env.issuer.issue({"aud": "https://graph.microsoft.com", "tid": graph_env.tenant,
                                          "oid": graph_env.user, "scp": "OnlineMeetings.ReadWrite"},
                                         signing_key=stranger),
        "wrong audience": graph_env.delegated_token(aud="api://someone-else"),
        "garbage": "not-a-jwt",
    }
    for name, token in tokens.items():
        status, body, headers = await _call(graph_env, "POST", ME + "/createOrGet", token, {"externalId": "x"})
        assert status == 401, name
        assert body["error"]["code"] == "InvalidAuthenticationToken", name
        assert body["error"]["innerError"]["request-id"] == headers["request-id"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", body["error"]["innerError"]["date"])
    assert graph_env.sim.meetings_of(graph_env.tenant, graph_env.user) == []


async def test_delegated_scope_and_user_checks(graph_env: GraphEnv) -> None:
    body = {"externalId": _ext()}
    read_only = graph_env.delegated_token(scp="OnlineMeetings.Read")
    assert (await _call(graph_env, "POST", ME + "/createOrGet", read_only, body))[0] == 403
    token = graph_env.delegated_token()
    other = f"/v1.0/users/{uuid.uuid4()}/onlineMeetings/createOrGet"
    assert (await _call(graph_env, "POST", other, token, body))[0] == 403
    mine = f"/v1.0/users/{graph_env.user}/onlineMeetings/createOrGet"
    assert (await _call(graph_env, "POST", mine, token, body))[0] == 201


async def test_app_tokens_need_users_path_role_and_access_policy(graph_env: GraphEnv) -> None:
    token, body = graph_env.app_token(), {"externalId": _ext(), "subject": "App"}
    status, err, _ = await _call(graph_env, "POST", ME + "/createOrGet", token, body)
    assert status == 400 and "delegated" in err["error"]["message"]
    path = f"/v1.0/users/{graph_env.user}/onlineMeetings/createOrGet"
    status, err, _ = await _call(graph_env, "POST", path, token, body)
    assert status == 403 and err["error"] == {**err["error"], "code": "Forbidden", "message": POLICY_MISSING}

    graph_env.sim.grant_policy(graph_env.tenant, graph_env.app_id, graph_env.user)
    graph_env.sim.set_user(graph_env.user, upn="ben@contoso.test", display_name="Ben")
    status, meeting, _ = await _call(graph_env, "POST", path, token, body)
    organizer = meeting["participants"]["organizer"]
    assert status == 201 and organizer["upn"] == "ben@contoso.test"
    assert organizer["identity"]["user"] == {"id": graph_env.user, "tenantId": graph_env.tenant,
                                             "displayName": "Ben"}
    someone_else = f"/v1.0/users/{uuid.uuid4()}/onlineMeetings/createOrGet"
    assert (await _call(graph_env, "POST", someone_else, token, body))[0] == 403
    graph_env.sim.grant_policy(graph_env.tenant, graph_env.app_id)  # -Global
    assert (await _call(graph_env, "POST", someone_else, token, body))[0] == 201
    no_role = graph_env.app_token(roles=("User.Read.All",))
    assert (await _call(graph_env, "POST", path, no_role, body))[0] == 403
    upn_path = "/v1.0/users/someone@contoso.test/onlineMeetings/createOrGet"
    assert (await _call(graph_env, "POST", upn_path, token, body))[0] == 404


async def test_patch_get_delete_lifecycle(graph_env: GraphEnv) -> None:
    token = graph_env.delegated_token()
    _, meeting, _ = await _call(graph_env, "POST", ME + "/createOrGet", token, {"externalId": _ext()})
    path = f"{ME}/{meeting['id']}"
    status, err, _ = await _call(graph_env, "PATCH", path, token, {"startDateTime": _at(3)})
    assert status == 400
    status, patched, _ = await _call(graph_env, "PATCH", path, token,
                                     {"startDateTime": _at(3), "endDateTime": _at(4), "subject": "Moved"})
    assert status == 200 and patched["subject"] == "Moved" and patched["id"] == meeting["id"]
    assert patched["joinMeetingIdSettings"] == meeting["joinMeetingIdSettings"]
    status, got, _ = await _call(graph_env, "GET", path, token)
    assert status == 200 and got == patched

    async with graph_env.session.delete(graph_env.url(path), headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 204 and await r.read() == b"" and r.headers["request-id"]
    assert (await _call(graph_env, "GET", path, token))[0] == 404
    assert (await _call(graph_env, "PATCH", path, token, {"subject": "x"}))[0] == 404
    assert graph_env.sim.deleted[meeting["id"]]["joinWebUrl"] == meeting["joinWebUrl"]  # link kept
    assert (await _call(graph_env, "GET", f"{ME}/not%20an%20id", token))[0] == 400


async def test_attendee_may_read_but_not_change(graph_env: GraphEnv) -> None:
    attendee = str(uuid.uuid4())
    _, meeting, _ = await _call(graph_env, "POST", ME + "/createOrGet", graph_env.delegated_token(), {
        "externalId": _ext(), "participants": {"attendees": [
            {"identity": {"user": {"id": attendee}}, "upn": "ana@contoso.test", "role": "attendee"}]}})
    assert meeting["participants"]["attendees"][0]["identity"]["user"]["id"] == attendee
    theirs = graph_env.delegated_token(user=attendee)
    assert (await _call(graph_env, "GET", f"{ME}/{meeting['id']}", theirs))[0] == 200
    assert (await _call(graph_env, "PATCH", f"{ME}/{meeting['id']}", theirs, {"subject": "x"}))[0] == 404


async def test_get_by_join_url_filter_returns_a_collection(graph_env: GraphEnv) -> None:
    token = graph_env.delegated_token()
    _, meeting, _ = await _call(graph_env, "POST", ME + "/createOrGet", token, {"externalId": _ext()})
    await _call(graph_env, "POST", ME + "/createOrGet", token, {"externalId": _ext()})
    async with graph_env.session.get(graph_env.url(ME), headers={"Authorization": f"Bearer {token}"},
                                     params={"$filter": f"JoinWebUrl eq '{meeting['joinWebUrl']}'"}) as r:
        found = await r.json()
    assert r.status == 200 and [m["id"] for m in found["value"]] == [meeting["id"]]
    assert (await _call(graph_env, "GET", ME, token))[0] == 400


async def test_unlicensed_organizer_has_no_audio_conferencing(graph_env: GraphEnv) -> None:
    graph_env.sim.set_unlicensed(graph_env.user)
    _, meeting, _ = await _call(graph_env, "POST", ME + "/createOrGet", graph_env.delegated_token(),
                                {"externalId": _ext()})
    assert meeting["audioConferencing"] is None


@pytest.mark.parametrize("path", ["/v1.0/communications/onlineMeetings", "/v1.0/app/onlineMeetings"])
async def test_old_seed_paths_answer_in_the_old_shape(graph_env: GraphEnv, path: str) -> None:
    body = {"isBroadcast": False, "startDateTime": "2019-09-09T14:33:30.8546353-07:00",
            "endDateTime": "2019-09-09T15:03:30.8566356-07:00", "subject": "Application Token Meeting",
            "participants": {"organizer": {"identity": {"user": {"id": graph_env.user}}}}}
    status, old, _ = await _call(graph_env, "POST", path, graph_env.app_token(), body)
    assert status == 201 and old["joinUrl"] and "joinWebUrl" not in old
    assert old["audioConferencing"]["ConferenceId"] and "conferenceId" not in old["audioConferencing"]
    assert old["id"].startswith(f"{graph_env.user}_19:meeting_")
    stored = graph_env.sim.meetings_of(graph_env.tenant, graph_env.user)
    assert [m["joinWebUrl"] for m in stored] == [old["joinUrl"]]
    assert (await _call(graph_env, "POST", path, graph_env.delegated_token(), body))[0] == 403


async def test_scripted_faults(graph_env: GraphEnv) -> None:
    token, sim = graph_env.delegated_token(), graph_env.sim
    sim.faults.push(Fault(status=429, retry_after=1.5), Fault(status=503),
                    Fault(body="<html>not json</html>", status=200))
    status, body, headers = await _call(graph_env, "POST", ME + "/createOrGet", token, {"externalId": "a"})
    assert status == 429 and headers["Retry-After"] == "1.5" and body["error"]["code"] == "TooManyRequests"
    status, body, _ = await _call(graph_env, "POST", ME + "/createOrGet", token, {"externalId": "a"})
    assert status == 503 and body["error"]["innerError"]["request-id"]
    async with graph_env.session.post(graph_env.url(ME + "/createOrGet"), json={"externalId": "a"},
                                      headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200 and await r.text() == "<html>not json</html>" and r.headers["request-id"]
    assert sim.meetings_of(graph_env.tenant, graph_env.user) == []

    sim.faults.push(Fault(drop=True, method="POST"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await _call(graph_env, "POST", ME + "/createOrGet", token, {"externalId": "a"})
    assert sim.meetings_of(graph_env.tenant, graph_env.user) == []

    sim.faults.push(Fault(drop=True, after_commit=True, path="createOrGet"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await _call(graph_env, "POST", ME + "/createOrGet", token, {"externalId": "a"})
    assert len(sim.meetings_of(graph_env.tenant, graph_env.user)) == 1  # committed, answer lost
    assert [c.status for c in sim.calls] == [429, 503, 200, None, None]


async def test_faults_match_method_and_path(graph_env: GraphEnv) -> None:
    token, sim = graph_env.delegated_token(), graph_env.sim
    sim.faults.push(Fault(status=503, method="PATCH"))
    status, meeting, _ = await _call(graph_env, "POST", ME + "/createOrGet", token, {"externalId": _ext()})
    assert status == 201 and len(sim.faults) == 1
    status, _, _ = await _call(graph_env, "PATCH", f"{ME}/{meeting['id']}", token, {"subject": "x"})
    assert status == 503 and len(sim.faults) == 0


async def test_random_faults_are_reproducible_by_seed(graph_env: GraphEnv) -> None:
    token, sim = graph_env.delegated_token(), graph_env.sim

    async def statuses() -> list[int]:
        out = []
        for _ in range(30):
            out.append((await _call(graph_env, "GET", f"{ME}?$filter=JoinWebUrl eq 'x'", token))[0])
        return out

    sim.faults.randomize(7, {429: 0.2, 503: 0.2})
    first = await statuses()
    sim.faults.randomize(7, {429: 0.2, 503: 0.2})
    assert await statuses() == first and {200, 429, 503} <= set(first)
    sim.faults.clear()
    assert set(await statuses()) == {200}
