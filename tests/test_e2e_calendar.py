"""Meetings people can find later (issue #16), end to end over HTTP: scheduled commands become
calendar events with Outlook's invitations, the card is the same card, Extend and End act on the
event, a tenant without Calendars.ReadWrite still gets its meeting, and the meeting options
people type (or pick on the form) reach the onlineMeeting and the card. Graph and Entra ID are
the local simulators; the bot is the real app."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from bot.errors import CALENDAR_CANCEL_COMMENT
from bot.graph import transaction_id_for
from bot.hosting import BROKER, LOCAL_GRAPH
from localcloud.graph_sim import Fault
from tests.helpers import (
    APP_ID,
    CHANNEL,
    GRAPH_AUDIENCE,
    TEAM,
    User,
    actions_of,
    card_of,
    card_text,
    execute,
    invoke,
    member,
    mention,
    message,
    next_activity,
    posted_id,
    reply_to,
    sign_in,
    start_bot,
    stop_bot,
    texts,
)

GROUP = "19:group@thread.v2"
BERLIN = ZoneInfo("Europe/Berlin")
NO_PERMISSION = "Invitations are off: an admin can turn them on."


async def ask(bot, connector, text: str, user: User, *, kind: str = "personal",
              mentions: tuple[User, ...] = (), conversation_id: str | None = None,
              token: str | None = None) -> tuple[dict, dict]:
    """Posts a command; (its activity, the card that answered it)."""
    act = message(text, service_url=connector.url, user=user, kind=kind,
                  conversation_id=conversation_id, mentions=[mention(u) for u in mentions])
    assert (await bot.post(act, token=token)).status in (200, 201)
    return act, card_of(await reply_to(connector, act["id"]))


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(datetime.now(BERLIN).date() + timedelta(days=1),
                            datetime.min.time().replace(hour=hour, minute=minute), BERLIN)


def with_ana(bot, connector, organizer: User) -> User:
    """Ana is in the group chat and in the directory (so her calendar gets her copy)."""
    ana = User(name="Ana")
    connector.add_members(GROUP, [member(u) for u in (organizer, ana)])
    bot.app[LOCAL_GRAPH].set_user(ana.aad_object_id, upn="ana@contoso.com", display_name="Ana")
    return ana


def dial_in_shown(meeting: dict, card: dict) -> None:
    """The join link, meeting ID, passcode and every dial-in number of the onlineMeeting."""
    text = card_text(card)
    assert actions_of(card)["Join meeting"]["url"] == meeting["joinWebUrl"]
    code = meeting["joinMeetingIdSettings"]["joinMeetingId"]
    assert " ".join(code[i:i + 3] for i in range(0, len(code), 3)) in text
    assert meeting["joinMeetingIdSettings"]["passcode"] in text
    audio = meeting["audioConferencing"]
    for number in audio["tollNumbers"] + audio["tollFreeNumbers"]:
        digits = "".join(ch for ch in number if ch.isdigit() or ch == "+")
        assert f"tel:{digits},,{audio['conferenceId']}#" in text


# --- a scheduled command with invitees ---------------------------------------------------------
async def test_a_scheduled_command_puts_one_event_on_both_calendars_and_the_card_stays(
        demo_bot, connector):
    organizer = User(name="Olga")
    ana = with_ana(demo_bot, connector, organizer)
    graph = demo_bot.app[LOCAL_GRAPH]
    act, card = await ask(demo_bot, connector, "meet tomorrow 9:30 for 1h about planning with "
                          "<at>Ana</at>", organizer, kind="groupChat", mentions=(ana,))
    (event,) = graph.events_of(organizer.tenant_id, organizer.aad_object_id)
    assert event.data["transactionId"] == transaction_id_for(GROUP, act["id"])
    assert [a["emailAddress"]["address"] for a in event.data["attendees"]] == ["ana@contoso.com"]
    # In the user's zone: the event was sent as Berlin wall-clock time.
    assert event.data["originalStartTimeZone"] == event.data["originalEndTimeZone"] == "Europe/Berlin"
    assert event.start == tomorrow_at(9, 30) and event.end - event.start == timedelta(hours=1)
    assert event.data["subject"] == "planning" and event.data["isOnlineMeeting"]
    # Ana's invitation and her copy; nobody else's.
    assert [(m.kind, m.to) for m in graph.mail] == [("request", ("ana@contoso.com",))]
    (copy,) = graph.events_of(ana.tenant_id, ana.aad_object_id)
    assert copy.parent == event.id and copy.start == event.start
    # The same card, from the onlineMeeting behind the event.
    meeting = graph.meeting_of(event)
    dial_in_shown(meeting, card)
    shown = texts(card)
    assert "On your calendar · invitations sent to 1 person" in shown
    assert any(t.startswith("Invited: Ana") for t in shown)
    assert meeting["lobbyBypassSettings"]["scope"] == "invited"  # invitees skip the lobby
    assert not graph.meetings_of(organizer.tenant_id, organizer.aad_object_id)[0]["externalId"]
    assert graph.count("POST", "createOrGet") == 0


async def test_add_to_my_calendar_opens_outlook_with_subject_times_and_join_link(
        demo_bot, connector):
    organizer = User()
    _, card = await ask(demo_bot, connector, "meet tomorrow at 14:00 for 45 min about roadmap",
                        organizer, kind="channel", conversation_id=CHANNEL)
    meeting = demo_bot.app[LOCAL_GRAPH].meetings_of(organizer.tenant_id,
                                                     organizer.aad_object_id)[0]
    button = actions_of(card)["Add to my calendar"]
    assert button["type"] == "Action.OpenUrl"
    url = urlsplit(button["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "outlook.office.com",
                                                  "/calendar/0/deeplink/compose")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    start = tomorrow_at(14).astimezone(ZoneInfo("UTC"))
    assert query["subject"] == "roadmap"
    assert query["startdt"] == f"{start:%Y-%m-%dT%H:%M:%SZ}"
    assert query["enddt"] == f"{start + timedelta(minutes=45):%Y-%m-%dT%H:%M:%SZ}"
    assert meeting["joinWebUrl"] in query["body"]


async def test_a_redelivered_command_makes_one_event_and_one_invitation(demo_bot, connector):
    organizer = User(name="Olga")
    ana = with_ana(demo_bot, connector, organizer)
    graph = demo_bot.app[LOCAL_GRAPH]
    # The first answer is lost after Exchange stored the event: the client's retry repeats
    # the POST with the same transactionId.
    graph.faults.push(Fault(drop=True, after_commit=True, method="POST", path="/events"))
    act = message("meet tomorrow 9:30 about planning with <at>Ana</at>",
                  service_url=connector.url, user=organizer, kind="groupChat",
                  mentions=[mention(ana)])
    first, second = await asyncio.gather(demo_bot.post(act), demo_bot.post(act))
    assert {first.status, second.status} <= {200, 201}
    await reply_to(connector, act["id"])
    assert (await demo_bot.post(act)).status in (200, 201)  # Teams again, later
    await asyncio.sleep(0.2)
    assert graph.count("POST", "/events") == 2  # the dropped answer and its retry
    assert len(graph.events_of(organizer.tenant_id, organizer.aad_object_id)) == 1
    assert len(graph.mail) == 1
    assert len([c for c in connector.calls if c.op in ("reply", "send") and card_of(c.body)]) == 1


async def test_try_again_makes_that_same_event_with_its_options(demo_bot, connector):
    """Graph gave up on the event (503s): "Try again" repeats the first try's transactionId,
    with the options the command had (kept in the retry record)."""
    user = User()
    graph = demo_bot.app[LOCAL_GRAPH]
    graph.faults.push(*(Fault(status=503, path="/events") for _ in range(4)))
    act, card = await ask(demo_bot, connector, "meet tomorrow 10am about planning, no chat", user)
    assert "unavailable" in card_text(card) and graph.events == {}
    retry = invoke("adaptiveCard/action", execute(actions_of(card)["Try again"]),
                   service_url=connector.url, user=user)
    answer = (await demo_bot.post(retry)).body_json["value"]
    (event,) = graph.events_of(user.tenant_id, user.aad_object_id)
    assert event.data["transactionId"] == transaction_id_for(act["conversation"]["id"], act["id"])
    assert graph.meeting_of(event)["allowMeetingChat"] == "disabled"
    assert "Options: no meeting chat" in texts(answer) and "On your calendar" in texts(answer)


async def organizer_view(bot, connector, organizer: User, card: dict, kind: str) -> dict:
    value = {"action": card["refresh"]["action"], "trigger": "automatic"}
    resp = await bot.post(invoke("adaptiveCard/action", value, service_url=connector.url,
                                 user=organizer, kind=kind))
    return resp.body_json["value"]


async def test_extend_moves_the_event_and_end_cancels_it_with_a_message(demo_bot, connector):
    organizer = User(name="Olga")
    ana = with_ana(demo_bot, connector, organizer)
    graph = demo_bot.app[LOCAL_GRAPH]
    _, shared = await ask(demo_bot, connector, "meet tomorrow 9:30 for 1h about planning with "
                          "<at>Ana</at> record", organizer, kind="groupChat", mentions=(ana,))
    card_id = posted_id(connector, lambda a: card_of(a) == shared)
    mine = await organizer_view(demo_bot, connector, organizer, shared, "groupChat")
    # The redraw (a record, not Graph) shows the same lines; the organizer has it already.
    assert "On your calendar · invitations sent to 1 person" in texts(mine)
    assert "Options: recorded automatically" in texts(mine)
    assert "Add to my calendar" not in actions_of(mine)
    assert "Add to my calendar" in actions_of(shared)
    (event,) = graph.events_of(organizer.tenant_id, organizer.aad_object_id)

    extend = invoke("adaptiveCard/action", execute(actions_of(mine)["Extend 15 min"]),
                    service_url=connector.url, user=organizer, kind="groupChat",
                    reply_to_id=card_id)
    extended = (await demo_bot.post(extend)).body_json["value"]
    assert event.end == tomorrow_at(10, 45)
    assert graph.meeting_of(event)["endDateTime"].startswith(
        f"{tomorrow_at(10, 45).astimezone(ZoneInfo('UTC')):%Y-%m-%dT%H:%M}")
    assert [m.kind for m in graph.mail] == ["request", "update"]
    assert "9:30\u2009–\u200910:45\u202fAM" in card_text(extended)  # en-US: 12-hour (CLDR)
    assert "On your calendar · invitations sent to 1 person" in texts(extended)
    assert graph.count("PATCH", "/onlineMeetings/") == 1  # the option at creation; Extend: the event

    end = invoke("adaptiveCard/action", execute(actions_of(extended)["End meeting"]),
                 service_url=connector.url, user=organizer, kind="groupChat",
                 reply_to_id=card_id)
    ended = (await demo_bot.post(end)).body_json["value"]
    assert "This meeting has ended" in texts(ended)
    assert event.id in graph.cancelled and graph.events_of(organizer.tenant_id,
                                                           organizer.aad_object_id) == []
    assert graph.meeting_of(event) is None and event.meeting_id in graph.deleted
    cancel = graph.mail[-1]
    assert (cancel.kind, cancel.to, cancel.comment) == ("cancel", ("ana@contoso.com",),
                                                        CALENDAR_CANCEL_COMMENT)
    (copy,) = graph.events_of(ana.tenant_id, ana.aad_object_id)
    assert copy.data["isCancelled"]


async def test_everyone_beyond_the_cap_gets_the_meeting_without_invitations(demo_bot, connector):
    organizer = User(name="Olga")
    team = [organizer] + [User(name=f"Member {i}") for i in range(260)]
    connector.add_members(TEAM, [member(u) for u in team])
    act = message("meet tomorrow 10am with everyone about all hands", service_url=connector.url,
                  user=organizer, kind="channel", conversation_id=CHANNEL)
    act["channelData"]["team"] = {"id": TEAM}
    await demo_bot.post(act)
    card = card_of(await reply_to(connector, act["id"]))
    graph = demo_bot.app[LOCAL_GRAPH]
    (event,) = graph.events_of(organizer.tenant_id, organizer.aad_object_id)
    assert event.data["attendees"] == [] and graph.mail == []
    assert graph.meeting_of(event)["lobbyBypassSettings"]["scope"] == "organization"
    assert ("On your calendar · 260 people are too many to invite by email: share this card, "
            "everyone who sees it can join") in texts(card)


# --- a tenant without Calendars.ReadWrite ------------------------------------------------------
async def test_demo_tenant_without_the_permission_gets_a_standalone_meeting_and_a_note(
        demo_bot, connector):
    organizer = User()
    demo_bot.app[BROKER].withhold_calendar(organizer.tenant_id)
    graph = demo_bot.app[LOCAL_GRAPH]
    for subject in ("planning", "retro"):
        _, card = await ask(demo_bot, connector, f"meet tomorrow 10am about {subject}", organizer)
        assert f"This meeting isn't on anyone's calendar. {NO_PERMISSION}" in texts(card)
        assert actions_of(card)["Join meeting"]["url"]
    assert graph.count("POST", "/events") == 0 and graph.count("POST", "createOrGet") == 2
    assert len(graph.meetings_of(organizer.tenant_id, organizer.aad_object_id)) == 2


async def test_delegated_without_consent_costs_one_entra_round_trip_per_tenant(cloud):
    """Entra ID refuses Calendars.ReadWrite (AADSTS65001): the meeting is made anyway, nobody
    is asked to consent, and the next command does not ask Entra ID again."""
    bot = await start_bot(cloud.bot_env())
    try:
        user = User()
        cloud.entra.withhold_consent(user.tenant_id, "Calendars.ReadWrite")
        assert (await sign_in(bot, cloud, user))[0].status == 200  # `meet now`: no calendar
        await next_activity(cloud.connector, lambda b: card_of(b) is not None)
        before = cloud.entra.requests
        _, card = await ask(bot, cloud.connector, "meet tomorrow 10am about planning", user,
                            token=cloud.channel_token())
        assert NO_PERMISSION in card_text(card) and "Sign in" not in card_text(card)
        assert cloud.entra.requests == before + 1  # the refused calendar token
        _, again = await ask(bot, cloud.connector, "meet tomorrow 11am about retro", user,
                             token=cloud.channel_token())
        assert NO_PERMISSION in card_text(again)
        assert cloud.entra.requests == before + 1  # remembered for the tenant
        assert cloud.graph.count("POST", "/events") == 0
        assert len(cloud.graph.meetings_of(user.tenant_id, user.aad_object_id)) == 3
        assert not [c for c in cloud.connector.calls if c.body and any(
            a.get("contentType") == "application/vnd.microsoft.card.oauth"
            for a in c.body.get("attachments") or ())][1:]  # only the first sign-in card
    finally:
        await stop_bot(bot)


async def test_delegated_with_consent_the_calendar_token_makes_the_event(cloud):
    bot = await start_bot(cloud.bot_env())
    try:
        user = User()
        await sign_in(bot, cloud, user)
        await next_activity(cloud.connector, lambda b: card_of(b) is not None)
        _, card = await ask(bot, cloud.connector, "meet tomorrow 10am about planning", user,
                            token=cloud.channel_token())
        (event,) = cloud.graph.events_of(user.tenant_id, user.aad_object_id)
        dial_in_shown(cloud.graph.meeting_of(event), card)
        assert "On your calendar" in texts(card)
        assert cloud.entra.calls["on_behalf_of"] == 1  # the calendar came from its refresh token
    finally:
        await stop_bot(bot)


async def test_app_only_without_the_calendar_role_is_remembered_per_user(cloud):
    """App-only: the token simply lacks the role and Graph answers 403 on /events. Exchange
    can limit the role to some mailboxes, so the 403 is remembered for that user only."""
    bot = await start_bot(cloud.bot_env(GRAPH_AUTH_MODE="app"))
    try:
        user, colleague = User(), User(name="Ben")
        cloud.graph.grant_policy(user.tenant_id, APP_ID)
        for who, hour in ((user, 10), (user, 11), (colleague, 10)):
            _, card = await ask(bot, cloud.connector, f"meet tomorrow {hour}am about planning",
                                who, token=cloud.channel_token())
            assert NO_PERMISSION in card_text(card)
        assert cloud.graph.count("POST", "/events") == 2  # one 403 each, then remembered
        assert len(cloud.graph.meetings_of(user.tenant_id, user.aad_object_id)) == 2
    finally:
        await stop_bot(bot)


async def test_app_only_with_the_calendar_role_puts_it_on_the_askers_calendar(cloud):
    cloud.entra.app_roles[GRAPH_AUDIENCE] += ("Calendars.ReadWrite",)
    bot = await start_bot(cloud.bot_env(GRAPH_AUTH_MODE="app"))
    try:
        user = User()
        cloud.graph.grant_policy(user.tenant_id, APP_ID)
        _, card = await ask(bot, cloud.connector, "meet tomorrow 10am about planning", user,
                            token=cloud.channel_token())
        (event,) = cloud.graph.events_of(user.tenant_id, user.aad_object_id)
        assert cloud.graph.count("POST", f"/users/{user.aad_object_id}/events") == 1
        dial_in_shown(cloud.graph.meeting_of(event), card)
        assert "On your calendar" in texts(card)
    finally:
        await stop_bot(bot)


# --- `meet now` is unchanged -------------------------------------------------------------------
async def test_meet_now_is_still_one_create_or_get(demo_bot, connector):
    user = User()
    _, card = await ask(demo_bot, connector, "meet now 30m about budget review", user)
    graph = demo_bot.app[LOCAL_GRAPH]
    assert [(c.method, c.path) for c in graph.calls] == [("POST", "/v1.0/me/onlineMeetings/createOrGet")]
    assert "This meeting isn't on anyone's calendar." in texts(card)
    assert "Add to my calendar" not in actions_of(card)


async def test_always_puts_meet_now_on_the_calendar_too(connector):
    bot = await start_bot({"MEETINGS_ON_CALENDAR": "always"})
    try:
        user = User()
        _, card = await ask(bot, connector, "meet now 30m about budget review", user)
        graph = bot.app[LOCAL_GRAPH]
        assert len(graph.events_of(user.tenant_id, user.aad_object_id)) == 1
        assert graph.count("POST", "createOrGet") == 0
        assert "On your calendar" in texts(card)
    finally:
        await stop_bot(bot)


async def test_never_keeps_even_scheduled_meetings_standalone(standalone_bot, connector):
    organizer = User(name="Olga")
    ana = with_ana(standalone_bot, connector, organizer)
    await ask(standalone_bot, connector, "meet tomorrow 9:30 about planning with <at>Ana</at>",
              organizer, kind="groupChat", mentions=(ana,))
    graph = standalone_bot.app[LOCAL_GRAPH]
    assert graph.events == {} and graph.count("POST", "createOrGet") == 1


# --- meeting options ---------------------------------------------------------------------------
@pytest.mark.parametrize("words, prop, value, shown", [
    ("record", "recordAutomatically", True, "recorded automatically"),
    ("record automatically", "recordAutomatically", True, "recorded automatically"),
    ("no chat", "allowMeetingChat", "disabled", "no meeting chat"),
    ("presenters: organizer", "allowedPresenters", "organizer", "only the organizer presents"),
    ("only I present", "allowedPresenters", "organizer", "only the organizer presents"),
    ("presenters: organization", "allowedPresenters", "organization",
     "people in your organisation present"),
    ("presenters: everyone", "allowedPresenters", "everyone", "everyone can present"),
    ("lobby: everyone waits", "lobbyBypassSettings", "organizer", "everyone waits in the lobby"),
    ("lobby: organization skips", "lobbyBypassSettings", "organization",
     "your organisation skips the lobby"),
    ("lobby: everyone skips", "lobbyBypassSettings", "everyone", "no lobby"),
])
async def test_every_option_word_sets_its_property_and_shows_on_the_card(
        demo_bot, connector, words, prop, value, shown):
    user = User()
    _, card = await ask(demo_bot, connector, f"meet now {words} about options", user)
    meeting = demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id)[0]
    stored = meeting[prop]["scope"] if prop == "lobbyBypassSettings" else meeting[prop]
    assert stored == value and meeting["subject"] == "options"
    assert f"Options: {shown}" in texts(card)


async def test_options_after_the_subject_on_a_calendar_meeting(demo_bot, connector):
    user = User()
    _, card = await ask(demo_bot, connector, "meet tomorrow 10am about record sales, record, "
                        "no chat, presenters: organizer", user)
    graph = demo_bot.app[LOCAL_GRAPH]
    (event,) = graph.events_of(user.tenant_id, user.aad_object_id)
    meeting = graph.meeting_of(event)
    assert event.data["subject"] == meeting["subject"] == "record sales"
    assert (meeting["recordAutomatically"], meeting["allowMeetingChat"],
            meeting["allowedPresenters"]) == (True, "disabled", "organizer")
    assert ("Options: only the organizer presents · recorded automatically · no meeting chat"
            in texts(card))
    assert graph.count("PATCH") == 1  # every option in one call


async def test_a_refused_option_is_said_and_the_meeting_works_without_it(demo_bot, connector):
    user = User()
    graph = demo_bot.app[LOCAL_GRAPH]
    graph.refuse_option(user.aad_object_id, "recordAutomatically")
    _, card = await ask(demo_bot, connector, "meet now record no chat about town hall", user)
    meeting = graph.meetings_of(user.tenant_id, user.aad_object_id)[0]
    assert (meeting["recordAutomatically"], meeting["allowMeetingChat"]) == (False, "disabled")
    shown = texts(card)
    assert "Options: no meeting chat" in shown
    assert any(t.startswith("Teams didn't allow automatic recording") for t in shown)
    assert actions_of(card)["Join meeting"]["url"] == meeting["joinWebUrl"]


@pytest.mark.parametrize("words, says", [
    ("presenters: bob", "is not a presenter choice"),
    ("lobby: maybe", "is not a lobby choice"),
    ("presenters: organizer presenters: everyone", "two different presenter choices"),
])
async def test_option_mistakes_are_said_and_make_no_meeting(demo_bot, connector, words, says):
    user = User()
    _, card = await ask(demo_bot, connector, f"meet now {words} about x", user)
    assert says in card_text(card)
    assert demo_bot.app[LOCAL_GRAPH].calls == []


async def test_the_channel_form_sets_the_options_it_offers(demo_bot, connector):
    user = User()
    act = message("<at>MeetBot</at> meet", service_url=connector.url, user=user, kind="channel",
                  mentions=[{"type": "mention", "text": "<at>MeetBot</at>",
                             "mentioned": {"id": "28:meetbot", "name": "MeetBot"}}])
    await demo_bot.post(act)
    form = card_of(await reply_to(connector, act["id"]))
    inputs = {i["id"]: i for i in form["body"][2:] for i in (i.get("columns") and [
        c["items"][0] for c in i["columns"]] or [i])}
    assert {c["value"] for c in inputs["presenters"]["choices"]} == {"default", "organizer",
                                                                    "organization", "everyone"}
    value = execute(actions_of(form)["Meet now"])
    value["action"]["data"].update(minutes="30", subject="Form", presenters="organization",
                                   lobby="organizer", record="true", chat="false")
    click = invoke("adaptiveCard/action", value, service_url=connector.url, user=user,
                   kind="channel", reply_to_id=posted_id(connector, lambda a: card_of(a) == form))
    answer = (await demo_bot.post(click)).body_json
    meeting = demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id)[0]
    assert (meeting["allowedPresenters"], meeting["lobbyBypassSettings"]["scope"],
            meeting["recordAutomatically"], meeting["allowMeetingChat"]) == (
        "organization", "organizer", True, "disabled")
    assert ("Options: people in your organisation present · everyone waits in the lobby · "
            "recorded automatically · no meeting chat") in texts(answer["value"])
    forged = execute(actions_of(form)["Meet now"])
    forged["action"]["data"].update(minutes="30", record="yes please")
    resp = await demo_bot.post(invoke("adaptiveCard/action", forged, service_url=connector.url,
                                      user=user, kind="channel"))
    assert resp.status < 500 and "couldn't read that button" in card_text(resp.body_json)
