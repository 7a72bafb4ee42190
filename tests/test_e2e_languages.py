"""Issue 17 end to end over HTTP: a command typed in German, French or Spanish (with the user's
Teams locale on the activity, as Teams sends it) makes the meeting at the wall-clock time its
words say, as the Graph simulator records it; a typo makes no meeting and offers the corrected
command in the language it was typed in."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.hosting import LOCAL_GRAPH
from tests.helpers import User, card_of, card_text, message, of_type, reply_to, texts

BERLIN = ZoneInfo("Europe/Berlin")
GERMAN_MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
                 "September", "Oktober", "November", "Dezember")


def _in(locale: str, activity: dict) -> dict:
    """The activity as a client set to `locale` sends it (activity.locale and clientInfo)."""
    activity["locale"] = activity["entities"][0]["locale"] = locale
    return activity


def _start_and_length(meeting: dict) -> tuple[datetime, timedelta]:
    start = datetime.fromisoformat(meeting["startDateTime"]).astimezone(UTC)
    return start.astimezone(BERLIN), datetime.fromisoformat(meeting["endDateTime"]) - start


async def test_a_german_command_makes_the_meeting_it_says(demo_bot, connector):
    user = User()
    day = datetime.now(BERLIN).date() + timedelta(days=10)
    typed = f"treffen am {day.day}. {GERMAN_MONTHS[day.month - 1]} um 10 Uhr für 45 Minuten über Roadmap"
    act = _in("de-DE", message(typed, service_url=connector.url, user=user))
    assert (await demo_bot.post(act)).status in (200, 201)
    await reply_to(connector, act["id"])
    [meeting] = demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id)
    start, length = _start_and_length(meeting)
    assert meeting["subject"] == "Roadmap"
    assert (start.date(), start.hour, start.minute) == (day, 10, 0)
    assert length == timedelta(minutes=45)


async def test_a_spanish_user_may_type_english_and_the_other_way_round(demo_bot, connector):
    user = User()
    tomorrow = datetime.now(BERLIN).date() + timedelta(days=1)
    for typed, locale in (("meet tomorrow at 11am about roadmap", "es-ES"),
                          ("reunión mañana a las 3 de la tarde sobre el presupuesto", "en-US")):
        act = _in(locale, message(typed, service_url=connector.url, user=user))
        assert (await demo_bot.post(act)).status in (200, 201)
        await reply_to(connector, act["id"])
    meetings = demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id)
    got = sorted((m["subject"], _start_and_length(m)[0].date(), _start_and_length(m)[0].hour)
                 for m in meetings)
    assert got == [("el presupuesto", tomorrow, 15), ("roadmap", tomorrow, 11)]


async def test_a_french_typo_makes_no_meeting_and_offers_the_french_command(demo_bot, connector):
    user = User()
    act = _in("fr-FR", message("réunion demian à 10h sur le budget", service_url=connector.url,
                               user=user))
    assert (await demo_bot.post(act)).status in (200, 201)
    card = card_of(await reply_to(connector, act["id"]))
    await asyncio.sleep(0.2)  # nothing else may follow, and nothing may reach Graph
    graph = demo_bot.app[LOCAL_GRAPH]
    assert graph.meetings_of(user.tenant_id, user.aad_object_id) == []
    assert graph.count("POST") == 0
    assert "Je n’ai pas compris «\u00a0demian\u00a0»." in texts(card)  # the grammar's catalogue
    [button] = of_type(card, "Action.Execute")
    assert button["data"] == {"verb": "command.run", "text": "réunion demain à 10h sur le budget"}


async def test_what_the_grammar_says_besides_refusals_is_in_the_users_language(demo_bot,
                                                                               connector):
    """The help card's reason, and how an ambiguous numeric date was read on the meeting card."""
    user = User()
    act = _in("de-DE", message("hallo", service_url=connector.url, user=user))
    await demo_bot.post(act)
    assert texts(card_of(await reply_to(connector, act["id"])))[0] == "Ich habe „hallo“ nicht erkannt"

    # A day whose number is a month too, so "d/m" could be read either way.
    day = next(d for d in (datetime.now(BERLIN).date() + timedelta(days=k) for k in range(2, 400))
               if d.day <= 12 and d.day != d.month)
    act = _in("de-DE", message(f"treffen {day.day}/{day.month} um 10 Uhr", service_url=connector.url,
                               user=user))
    await demo_bot.post(act)
    card = card_of(await reply_to(connector, act["id"]))
    [meeting] = demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id)
    assert _start_and_length(meeting)[0].date() == day
    reading = f"„{day.day}/{day.month}“ gelesen als {day.day}. {GERMAN_MONTHS[day.month - 1]}"
    assert f"{reading} (Tag/Monat, wie in de-DE üblich)" in card_text(card)
