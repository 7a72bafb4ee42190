"""Issue 17 over HTTP: the language comes from each activity's locale. A card posted to a chat
speaks the asker's language, also when a click redraws it for everyone; one person's own view
(a refresh, a toast, a card in place) speaks theirs. English commands work in every locale."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from bot.hosting import LOCAL_GRAPH
from tests.helpers import (
    TENANT,
    User,
    actions_of,
    ask_to_sign_in,
    card_of,
    execute,
    invoke,
    member,
    mention,
    message,
    of_type,
    posted_id,
    reply_to,
    start_bot,
    stop_bot,
    texts,
)


def facts(card: dict) -> dict[str, str]:
    return {f["title"]: f["value"] for s in of_type(card, "FactSet") for f in s["facts"]}


async def typed(bot, connector, user: User, text: str, kind: str = "personal") -> dict:
    act = message(text, service_url=connector.url, user=user, kind=kind)
    assert (await bot.post(act)).status in (200, 201)
    return await reply_to(connector, act["id"])


async def clicked(bot, connector, user: User, action: dict, *, kind: str = "groupChat",
                  reply_to_id: str | None = None, trigger: str = "manual") -> dict:
    resp = await bot.post(invoke("adaptiveCard/action", execute(action, trigger=trigger),
                                 service_url=connector.url, user=user, kind=kind,
                                 reply_to_id=reply_to_id))
    assert resp.status == 200
    return resp.body_json


async def test_a_group_chat_gets_the_askers_language_and_each_person_their_own_view(
        demo_bot, connector):
    ana, ben = User(name="Ana", locale="de-DE"), User(name="Ben", locale="fr-FR")
    reply = await typed(demo_bot, connector, ana, "meet now 30m about Budget", "groupChat")
    shared = card_of(reply)
    # Everyone's card, in Ana's German.
    assert set(actions_of(shared)) >= {"Besprechung beitreten"}
    assert set(facts(shared)) == {"Besprechungs-ID", "Kenncode"}
    assert "Einwahl (nur Audio)" in texts(shared)
    assert reply["summary"].startswith("Budget · Heute, ") and " · Teilnehmen: https://" in \
        reply["summary"]
    card_id = posted_id(connector, lambda a: card_of(a) == shared)

    # Ben's own view (Universal Actions refresh) is French, without the organizer's buttons.
    refresh = {"type": "Action.Execute", **shared["refresh"]["action"]}
    french = (await clicked(demo_bot, connector, ben, refresh, trigger="automatic"))["value"]
    assert "Rejoindre la réunion" in actions_of(french)
    assert "Prolonger de 15 min" not in actions_of(french)
    assert set(facts(french)) == {"ID de réunion", "Code secret"}
    assert any(t.startswith("Aujourd’hui, ") for t in texts(french))
    # Ana's own view is German, with Extend and End.
    german = (await clicked(demo_bot, connector, ana, refresh, trigger="automatic"))["value"]
    assert {"Besprechung beitreten", "Um 15 Min. verlängern", "Beenden"} <= \
        set(actions_of(german))

    # Ben cannot extend it: he is told so in French, as a toast.
    extend = actions_of(german)["Um 15 Min. verlängern"]
    toast = await clicked(demo_bot, connector, ben, extend, reply_to_id=card_id)
    assert toast == {"statusCode": 200, "type": "application/vnd.microsoft.activity.message",
                     "value": "Seule la personne qui a créé cette réunion peut la prolonger ou y "
                              "mettre fin."}
    # Ana extends it: everyone's copy is redrawn in German, her own view too.
    mine = (await clicked(demo_bot, connector, ana, extend, reply_to_id=card_id))["value"]
    assert "Um 15 Min. verlängern" in actions_of(mine)
    update = await connector.wait_for(lambda c: c.op == "update" and c.activity_id == card_id)
    redrawn = card_of(update.body)
    assert "Besprechung beitreten" in actions_of(redrawn) and "Rejoindre la réunion" not in \
        actions_of(redrawn)
    assert redrawn["refresh"]["action"]["data"]["v"] == 1


async def test_help_from_a_spanish_user_is_spanish(demo_bot, connector):
    reply = await typed(demo_bot, connector, User(locale="es-ES"), "help")
    card = card_of(reply)
    assert texts(card)[0] == "Esto es lo que puedo hacer"
    assert "**reunión ahora 30 min sobre el presupuesto** — empieza ahora y dura 30 minutos" in \
        texts(card)
    assert any("Los comandos en inglés también funcionan siempre" in t for t in texts(card))
    assert reply["summary"] == ("Escribe «reunión ahora 30 min sobre el presupuesto», o «ayuda» "
                                "para ver más ejemplos.")


async def test_an_en_us_user_reads_english_on_a_12_hour_clock(demo_bot, connector):
    user = User(locale="en-US")
    card = card_of(await typed(demo_bot, connector, user, "meet now 30m about budget review"))
    assert texts(card)[0] == "budget review"
    assert set(facts(card)) == {"Meeting ID", "Passcode"}
    assert "Join meeting" in actions_of(card)
    assert "This meeting isn't on anyone's calendar." in texts(card)
    assert re.fullmatch(r"Today \d{1,2}:\d\d\u2009–\u2009\d{1,2}:\d\d\u202f[AP]M "
                        r"\(Europe/Berlin\)|Today \d{1,2}:\d\d\u202f[AP]M\u2009–\u2009"
                        r"\d{1,2}:\d\d\u202f[AP]M \(Europe/Berlin\)", texts(card)[1])


async def test_a_meeting_without_a_subject_is_named_in_the_askers_language(demo_bot, connector):
    user = User(locale="de-DE")
    card = card_of(await typed(demo_bot, connector, user, "meet now 15m"))
    [meeting] = demo_bot.app[LOCAL_GRAPH].meetings_of(user.tenant_id, user.aad_object_id)
    assert meeting["subject"] == "Kurze Besprechung" == texts(card)[0]


async def test_a_refusal_and_a_sign_out_in_the_users_language(demo_bot, connector):
    card = card_of(await typed(demo_bot, connector, User(locale="de-AT"), "meet at 25:00"))
    assert texts(card)[0] == "Das habe ich nicht verstanden"
    assert demo_bot.app[LOCAL_GRAPH].count("POST") == 0
    said = await typed(demo_bot, connector, User(locale="fr-CA"), "sign out")
    assert said["text"] == ("Vous êtes déconnecté. Je vous demanderai de vous connecter la "
                            "prochaine fois.")


async def test_the_compose_box_form_and_its_card_in_the_users_language(demo_bot, connector):
    user = User(locale="es-MX")
    fetch = invoke("composeExtension/fetchTask", {"commandId": "createMeeting",
                                                  "commandContext": "compose"},
                   service_url=connector.url, user=user, kind="groupChat")
    task = (await demo_bot.post(fetch)).body_json["task"]["value"]
    assert task["title"] == "Crear reunión"
    form = task["card"]["content"]
    assert texts(form)[0] == "Iniciar una reunión de Teams" and "Reunirse ahora" in \
        actions_of(form)
    choices = {c["id"]: c for c in of_type(form, "Input.ChoiceSet")}
    assert [c["title"] for c in choices["minutes"]["choices"]] == ["15 min", "30 min", "1 hora"]
    # The meeting options: labels and choices in Spanish, values as the form reads them back.
    assert choices["presenters"]["label"] == "¿Quién puede presentar?"
    assert [(c["title"], c["value"]) for c in choices["lobby"]["choices"]] == [
        ("Predeterminado de Teams", "default"), ("Todos esperan", "organizer"),
        ("Mi organización no espera", "organization"), ("Nadie espera", "everyone")]
    assert [t["title"] for t in of_type(form, "Input.Toggle")] == ["Grabar automáticamente",
                                                                   "Chat de la reunión"]
    submit = invoke("composeExtension/submitAction",
                    {"commandId": "createMeeting", "commandContext": "compose",
                     "data": {"verb": "meeting.create", "minutes": "30"}},
                    service_url=connector.url, user=user, kind="groupChat")
    result = (await demo_bot.post(submit)).body_json["composeExtension"]
    inserted = result["attachments"][0]["content"]
    assert texts(inserted)[0] == "Reunión rápida" and "Unirse a la reunión" in actions_of(inserted)
    assert re.search(r"\d:\d\d\u202fa\.m\.|\d:\d\d\u202fp\.m\.", texts(inserted)[1])  # es-MX


async def test_a_locale_that_is_no_language_tag_gets_english_not_an_error(demo_bot, connector):
    for junk in ("x" * 300, "<script>", "zz-ZZ"):
        card = card_of(await typed(demo_bot, connector, User(locale=junk), "help"))
        assert texts(card)[0] == "Here's what I can do"


async def test_the_sign_in_card_and_the_consent_page_speak_the_users_language(cloud):
    bot = await start_bot(cloud.bot_env())
    try:
        card, _, _ = await ask_to_sign_in(bot, cloud, User(locale="fr-FR"))
        assert card["text"] == ("Connectez-vous pour que je puisse créer des réunions Teams en "
                                "votre nom.")
        assert [b["title"] for b in card["buttons"]] == ["Se connecter"]
        # The consent page opens in the browser: its language is the browser's first one that
        # MeetBot speaks (Accept-Language), else English.
        async with bot.session.get(f"{bot.srv.url}/auth/start", params={"tenant": TENANT},
                                   allow_redirects=False) as resp:
            state = parse_qs(urlsplit(resp.headers["Location"]).query)["state"][0]
        pages = {}
        for header in ("de-CH,de;q=0.9,en;q=0.8", "ja;q=1, es;q=0.5", "ja, ko", ""):
            async with bot.session.get(f"{bot.srv.url}/auth/end", params={"code": "x",
                                                                          "state": state},
                                       headers={"Accept-Language": header}) as resp:
                assert resp.status == 200
                pages[header] = await resp.text()
        assert "<h1>Alles erledigt</h1>" in pages["de-CH,de;q=0.9,en;q=0.8"]
        assert "<b>treffen</b>" in pages["de-CH,de;q=0.9,en;q=0.8"]
        assert "<h1>Todo listo</h1>" in pages["ja;q=1, es;q=0.5"]
        assert "<h1>You're all set</h1>" in pages["ja, ko"] == pages[""]
        async with bot.session.get(f"{bot.srv.url}/auth/end", params={"state": "forged"},
                                   headers={"Accept-Language": "fr"}) as resp:
            assert resp.status == 400
            assert "Je n’ai pas pu vérifier cette connexion" in await resp.text()
    finally:
        await stop_bot(bot)


async def test_a_calendar_meeting_speaks_the_askers_language_on_the_card_and_in_outlook(
        demo_bot, connector):
    """Issue 16's lines and button in German, and what Outlook shows the invitees: the event's
    body and End's cancellation message are in the asker's language too."""
    olga, ana = User(name="Olga", locale="de-DE"), User(name="Ana", locale="fr-FR")
    connector.add_members("19:group@thread.v2", [member(u) for u in (olga, ana)])
    graph = demo_bot.app[LOCAL_GRAPH]
    graph.set_user(ana.aad_object_id, upn="ana@contoso.com", display_name="Ana")
    act = message("meet tomorrow 9:30 for 1h about Planung with <at>Ana</at>, record, no chat",
                  service_url=connector.url, user=olga, kind="groupChat",
                  mentions=[mention(ana)])
    assert (await demo_bot.post(act)).status in (200, 201)
    shared = card_of(await reply_to(connector, act["id"]))
    assert texts(shared)[-3:] == [
        "Eingeladen: Ana · sie umgehen den Wartebereich",
        "Optionen: automatische Aufzeichnung · kein Besprechungschat",
        "In Ihrem Kalender · Einladung an 1 Person gesendet"]
    # Ana reads the shared card in Olga's German: "Add to my calendar" opens Outlook's form
    # with a German line above the join link.
    link = parse_qs(urlsplit(actions_of(shared)["Zum Kalender hinzufügen"]["url"]).query)
    assert link["body"][0].startswith("An der Teams-Besprechung teilnehmen: https://")
    (event,) = graph.events_of(olga.tenant_id, olga.aad_object_id)
    assert event.data["bodyPreview"].startswith("Mit MeetBot in Microsoft Teams geplant.")

    # Olga ends it from her own view: the cancellation the invitees get is German too.
    card_id = posted_id(connector, lambda a: card_of(a) == shared)
    refresh = {"type": "Action.Execute", **shared["refresh"]["action"]}
    mine = (await clicked(demo_bot, connector, olga, refresh, trigger="automatic"))["value"]
    ended = (await clicked(demo_bot, connector, olga, actions_of(mine)["Beenden"],
                           reply_to_id=card_id))["value"]
    assert "Diese Besprechung ist beendet" in texts(ended)
    cancel = graph.mail[-1]
    assert (cancel.kind, cancel.comment) == (
        "cancel", "Der Organisator hat diese Besprechung in Microsoft Teams beendet.")


async def test_a_mistaken_meeting_option_is_explained_in_the_users_language(demo_bot, connector):
    card = card_of(await typed(demo_bot, connector, User(locale="fr-FR"),
                               "meet now lobby: maybe"))
    assert texts(card)[:2] == [
        "Je n’ai pas compris",
        "«\u00a0lobby: maybe\u00a0» n’est pas un choix de salle d’attente\u00a0: écrivez "
        "lobby: everyone waits, lobby: organization skips ou lobby: everyone skips."]
    assert demo_bot.app[LOCAL_GRAPH].count("POST") == 0
