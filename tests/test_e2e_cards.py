"""Buttons, channel-wide meetings and the compose-box action, end to end: invokes go in over
HTTP, Graph changes in the simulator, card updates arrive at the connector simulator."""
from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.hosting import LOCAL_GRAPH
from bot.members import MAX_INVITEES
from tests.helpers import (
    CHANNEL,
    TEAM,
    User,
    actions_of,
    card_of,
    card_text,
    execute,
    graph_time,
    invoke,
    member,
    mention,
    message,
    posted_id,
    reply_to,
)


async def meeting_via_text(bot, connector, user, text="meet now 30m about cards",
                           kind="personal"):
    act = message(text, service_url=connector.url, user=user, kind=kind)
    await bot.post(act)
    reply = await reply_to(connector, act["id"])
    return act, card_of(reply)


async def test_welcome_offers_the_new_meeting_card(demo_bot, connector):
    user = User()
    act = message("", service_url=connector.url, user=user)
    act.update(type="installationUpdate", action="add")
    act.pop("text")
    assert (await demo_bot.post(act)).status in (200, 201)
    call = await connector.wait_for(lambda c: c.body and card_of(c.body) is not None)
    assert "Meet now" in actions_of(card_of(call.body))
    # The Playground reports one installation twice; the conversation is greeted once.
    act["id"] = "1799999999999"
    assert (await demo_bot.post(act)).status in (200, 201)
    assert len([c for c in connector.calls if c.body and card_of(c.body)]) == 1


async def test_bare_meet_in_channel_offers_form_and_meet_now_turns_it_into_the_meeting(
        demo_bot, connector):
    user = User()
    act = message("<at>MeetBot</at> meet", service_url=connector.url, user=user, kind="channel",
                  mentions=[{"type": "mention", "text": "<at>MeetBot</at>",
                             "mentioned": {"id": "28:meetbot", "name": "MeetBot"}}])
    await demo_bot.post(act)
    form = card_of(await reply_to(connector, act["id"]))
    meet_now = actions_of(form)["Meet now"]
    graph = demo_bot.app[LOCAL_GRAPH]
    card_message_id = posted_id(connector, lambda a: card_of(a) == form)
    value = execute(meet_now)
    value["action"]["data"].update(minutes="15", subject="Incident 42")
    click = invoke("adaptiveCard/action", value, service_url=connector.url, user=user,
                   kind="channel", reply_to_id=card_message_id)
    # A double click: the same form clicked twice at once.
    first, second = await asyncio.gather(demo_bot.post(click), demo_bot.post(
        invoke("adaptiveCard/action", value, service_url=connector.url, user=user,
               kind="channel", reply_to_id=card_message_id)))
    assert first.status == second.status == 200
    answer = first.body_json
    assert answer["statusCode"] == 200 and answer["type"] == "application/vnd.microsoft.card.adaptive"
    meetings = graph.meetings_of(user.tenant_id, user.aad_object_id)
    assert len(meetings) == 1
    m = meetings[0]
    assert m["subject"] == "Incident 42"
    assert graph_time(m["endDateTime"]) - graph_time(m["startDateTime"]) == timedelta(minutes=15)
    assert m["joinWebUrl"] in card_text(answer["value"])
    # Every copy: the card message itself was updated for the channel.
    update = await connector.wait_for(lambda c: c.op == "update"
                                      and c.activity_id == card_message_id)
    assert m["joinWebUrl"] in card_text(card_of(update.body))


async def test_refresh_gives_organizer_and_attendees_their_own_views(demo_bot, connector):
    organizer, other = User(name="Ana"), User(name="Ben")
    _, card = await meeting_via_text(demo_bot, connector, organizer, kind="groupChat",
                                     text="meet now about views")
    assert "Extend 15 min" not in actions_of(card)  # the shared message is everyone's view
    refresh = card["refresh"]
    assert refresh["userIds"] == [organizer.teams_id]
    value = {"action": refresh["action"], "trigger": "automatic"}
    mine = await demo_bot.post(invoke("adaptiveCard/action", value, service_url=connector.url,
                                      user=organizer, kind="groupChat"))
    theirs = await demo_bot.post(invoke("adaptiveCard/action", value, service_url=connector.url,
                                        user=other, kind="groupChat"))
    assert {"Extend 15 min", "End meeting", "Join meeting"} <= set(actions_of(mine.body_json["value"]))
    their_actions = actions_of(theirs.body_json["value"])
    assert "Join meeting" in their_actions and "Extend 15 min" not in their_actions


async def organizer_card(bot, connector, organizer, kind="groupChat"):
    """The organizer's view (via refresh) and the id of the card message in the chat."""
    _, card = await meeting_via_text(bot, connector, organizer, kind=kind)
    value = {"action": card["refresh"]["action"], "trigger": "automatic"}
    resp = await bot.post(invoke("adaptiveCard/action", value, service_url=connector.url,
                                 user=organizer, kind=kind))
    return resp.body_json["value"], posted_id(connector, lambda a: card_of(a) == card)


async def test_extend_once_even_when_clicked_twice_and_every_copy_updates(demo_bot, connector):
    organizer = User()
    card, card_id = await organizer_card(demo_bot, connector, organizer)
    graph = demo_bot.app[LOCAL_GRAPH]
    before = graph_time(graph.meetings_of(organizer.tenant_id,
                                          organizer.aad_object_id)[0]["endDateTime"])
    extend = execute(actions_of(card)["Extend 15 min"])
    clicks = [invoke("adaptiveCard/action", extend, service_url=connector.url, user=organizer,
                     kind="groupChat", reply_to_id=card_id) for _ in range(2)]
    results = await asyncio.gather(*(demo_bot.post(c) for c in clicks))
    assert all(r.status == 200 for r in results)
    after = graph.meetings_of(organizer.tenant_id, organizer.aad_object_id)[0]
    assert graph_time(after["endDateTime"]) - before == timedelta(minutes=15)
    assert graph.count("PATCH") == 1
    update = await connector.wait_for(lambda c: c.op == "update" and c.activity_id == card_id)
    shared = card_of(update.body)
    assert "Extend 15 min" not in actions_of(shared)  # everyone's view
    data = shared["refresh"]["action"]["data"]
    assert set(data) == {"verb", "ref", "v"} and data["v"] == 1  # drawn from the new version
    end = graph_time(after["endDateTime"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert f"{end:%-I:%M}\u202f{end:%p}" in card_text(shared)  # en-US: a 12-hour clock


async def test_someone_else_cannot_extend_or_end(demo_bot, connector):
    organizer, stranger = User(name="Ana"), User(name="Mallory")
    card, card_id = await organizer_card(demo_bot, connector, organizer)
    graph = demo_bot.app[LOCAL_GRAPH]
    for title in ("Extend 15 min", "End meeting"):
        resp = await demo_bot.post(invoke("adaptiveCard/action", execute(actions_of(card)[title]),
                                          service_url=connector.url, user=stranger,
                                          kind="groupChat", reply_to_id=card_id))
        assert resp.status == 200
        assert resp.body_json["type"] == "application/vnd.microsoft.activity.message"
        assert "Only the person who created" in resp.body_json["value"]
    assert graph.count("PATCH") == 0 and graph.count("DELETE") == 0
    assert [c for c in connector.calls if c.op == "update"] == []


async def test_end_meeting_deletes_it_and_the_card_says_ended(demo_bot, connector):
    organizer = User()
    card, card_id = await organizer_card(demo_bot, connector, organizer)
    graph = demo_bot.app[LOCAL_GRAPH]
    end = execute(actions_of(card)["End meeting"])
    resp = await demo_bot.post(invoke("adaptiveCard/action", end, service_url=connector.url,
                                      user=organizer, kind="groupChat",
                                      reply_to_id=card_id))
    ended = resp.body_json["value"]
    assert "ended" in card_text(ended).lower()
    assert "Join meeting" not in actions_of(ended)
    assert graph.meetings_of(organizer.tenant_id, organizer.aad_object_id) == []
    # Ending again (an old copy of the card) is harmless.
    again = await demo_bot.post(invoke("adaptiveCard/action", end, service_url=connector.url,
                                       user=organizer, kind="groupChat"))
    assert again.status == 200 and "Join meeting" not in actions_of(again.body_json["value"])


async def test_action_submit_from_older_clients_reaches_the_same_handler(demo_bot, connector):
    organizer = User()
    card, card_id = await organizer_card(demo_bot, connector, organizer)
    graph = demo_bot.app[LOCAL_GRAPH]
    data = actions_of(card)["Extend 15 min"]["data"]
    submit = message("", service_url=connector.url, user=organizer, kind="groupChat",
                     value=dict(data))
    submit["replyToId"] = card_id
    assert (await demo_bot.post(submit)).status in (200, 201)
    await connector.wait_for(lambda c: c.op == "update" and c.activity_id == card_id)
    assert graph.count("PATCH") == 1


@pytest.mark.parametrize("garbage", [
    None, "x", {}, {"action": "nope"}, {"action": {"verb": "meeting.extend", "data": "x"}},
    {"action": {"type": "Action.Execute", "verb": "meeting.explode", "data": {}}},
    {"action": {"type": "Action.Execute", "verb": "meeting.extend",
                "data": {"meetingId": "x", "start": "yesterday"}}},
])
async def test_malformed_card_actions_get_a_clear_answer_not_500(demo_bot, connector, garbage):
    resp = await demo_bot.post(invoke("adaptiveCard/action", garbage, service_url=connector.url))
    assert resp.status < 500
    assert demo_bot.app[LOCAL_GRAPH].count("PATCH") == 0


async def test_channel_meeting_with_mentions_invites_them(standalone_bot, connector):
    """A standalone meeting (MEETINGS_ON_CALENDAR=never) names them as participants;
    tests/test_e2e_calendar.py has the calendar invitation."""
    demo_bot = standalone_bot
    organizer, ana, ben = User(name="Olga"), User(name="Ana"), User(name="Ben")
    connector.add_members(CHANNEL, [member(u) for u in (organizer, ana, ben)])
    bot_mention = {"type": "mention", "text": "<at>MeetBot</at>",
                   "mentioned": {"id": "28:meetbot", "name": "MeetBot"}}
    act = message("<at>MeetBot</at> meet now about incident 42 with <at>Ana</at> <at>Ben</at>",
                  service_url=connector.url, user=organizer, kind="channel",
                  conversation_id=CHANNEL, mentions=[bot_mention, mention(ana), mention(ben)])
    await demo_bot.post(act)
    card = card_of(await reply_to(connector, act["id"]))
    m = demo_bot.app[LOCAL_GRAPH].meetings_of(organizer.tenant_id, organizer.aad_object_id)[0]
    invited = {a["identity"]["user"]["id"] for a in m["participants"]["attendees"]}
    assert invited == {ana.aad_object_id, ben.aad_object_id}
    assert m["lobbyBypassSettings"]["scope"] == "invited"
    assert m["subject"] == "incident 42"
    # Teams shows "typing…" only in chats; in a channel it would break the thread.
    assert not [c for c in connector.calls if c.body and c.body.get("type") == "typing"]
    text = card_text(card)
    assert "Ana" in text and "Ben" in text and "lobby" in text


async def test_with_everyone_pages_through_a_large_team(standalone_bot, connector):
    demo_bot = standalone_bot
    organizer = User(name="Olga")
    # As many as a meeting holds (the organizer plus MAX_INVITEES): 2 pages of 500.
    team = [organizer] + [User(name=f"Member {i}") for i in range(MAX_INVITEES)]
    connector.add_members(TEAM, [member(u) for u in team])
    act = message("meet now with everyone about all hands", service_url=connector.url,
                  user=organizer, kind="channel", conversation_id=CHANNEL)
    act["channelData"]["team"] = {"id": TEAM}
    await demo_bot.post(act)
    card = card_of(await reply_to(connector, act["id"]))
    m = demo_bot.app[LOCAL_GRAPH].meetings_of(organizer.tenant_id, organizer.aad_object_id)[0]
    assert len(m["participants"]["attendees"]) == MAX_INVITEES == 999
    assert m["lobbyBypassSettings"]["scope"] == "organization"
    assert sum(1 for c in connector.calls if c.op == "paged_members") == 2
    assert "lobby" in card_text(card)


async def test_compose_box_action_inserts_a_meeting_card(demo_bot, connector):
    user = User()
    fetch = invoke("composeExtension/fetchTask",
                   {"commandId": "createMeeting", "commandContext": "message",
                    "messagePayload": {"body": {"contentType": "html",
                                                "content": "<p>Quarterly &amp; budget</p>"}}},
                   service_url=connector.url, user=user, kind="groupChat")
    resp = await demo_bot.post(fetch)
    task = resp.body_json["task"]
    assert task["type"] == "continue"
    form = task["value"]["card"]["content"]
    assert "Quarterly & budget" in card_text(form)
    submit = invoke("composeExtension/submitAction",
                    {"commandId": "createMeeting", "commandContext": "message",
                     "data": {"verb": "meeting.create", "minutes": "30",
                              "subject": "Quarterly & budget"}},
                    service_url=connector.url, user=user, kind="groupChat")
    resp = await demo_bot.post(submit)
    result = resp.body_json["composeExtension"]
    assert result["type"] == "result"
    m = demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id)[0]
    assert m["subject"] == "Quarterly & budget"
    assert m["joinWebUrl"] in card_text(result["attachments"][0]["content"])
    _ = uuid


async def test_a_submit_naming_a_message_meetbot_did_not_record_gets_a_message_of_its_own(
        demo_bot, connector):
    """Action.Submit carries a replyToId of the client's choosing: MeetBot updates only the
    messages it recorded, so the meeting is posted as a new card and nothing is overwritten."""
    user = User()
    submit = message("", service_url=connector.url, user=user, kind="groupChat",
                     value={"verb": "meeting.create", "minutes": "15", "subject": "Standup"})
    submit["replyToId"] = "1700000000123"  # someone else's message
    assert (await demo_bot.post(submit)).status in (200, 201)
    posted = await connector.wait_for(lambda c: c.op in ("reply", "send") and c.body
                                      and card_of(c.body) is not None)
    [meeting] = demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id)
    assert meeting["joinWebUrl"] in card_text(card_of(posted.body))
    assert "Extend 15 min" not in actions_of(card_of(posted.body))  # the chat's view
    assert [c for c in connector.calls if c.op == "update"] == []
