"""Turn routing: the one place that speaks botbuilder's activity model.

It turns an activity into plain inputs (a Caller, the text, the user's time zone), hands them to
the grammar and the MeetingService, and turns the results into card messages. Card JSON is built
in cards/, user-facing words live in bot/errors.py.
"""
from __future__ import annotations

import asyncio
import html
import logging
import re
import uuid
from datetime import datetime, timezone
from http import HTTPStatus

from botbuilder.core import BotAdapter, InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import (Activity, ActivityTypes, Attachment, CardAction, OAuthCard,
                               TokenExchangeInvokeResponse)
from botframework.connector.token_api.models import TokenExchangeResource

import cards
from cards import actions

from .errors import (RETRYABLE, ConsentRequired, MeetBotError, NotOrganizer, ParseError,
                     SignInRequired, describe)
from .grammar import Mention, parse, user_time_from
from .connector import ConnectorError
from .members import resolve_attendees
from .models import HelpRequest, MeetingRequest, Person, SignOutRequest
from .service import DEMO_TENANT, Caller, MeetingService
from .turnstate import TurnState

log = logging.getLogger(__name__)

ADAPTIVE = "application/vnd.microsoft.card.adaptive"
OAUTH = "application/vnd.microsoft.card.oauth"


class _BuiltCard(dict):
    """A card as the builders made it. Cards are never changed after they are built, so the
    deep copy botbuilder makes of every outgoing activity can share this instead of copying
    a few hundred nodes per reply."""

    def __deepcopy__(self, memo: dict) -> "_BuiltCard":
        return self


def card_activity(msg: "cards.CardMessage") -> Activity:
    """A message with one Adaptive Card; `summary` is what card-less clients show."""
    return Activity(type=ActivityTypes.message, summary=msg.summary, text=None,
                    attachments=[Attachment(content_type=ADAPTIVE, content=_BuiltCard(msg.card))])


def invoke_card(msg: "cards.CardMessage") -> InvokeResponse:
    """Universal Actions answer: the card that replaces the clicked one in place."""
    return InvokeResponse(status=200, body={"statusCode": 200, "type": ADAPTIVE,
                                            "value": msg.card})


def compose_message(msg) -> InvokeResponse:
    """A message-extension answer that shows text instead of inserting a card."""
    return InvokeResponse(status=200, body={"composeExtension": {
        "type": "message", "text": f"{msg.title}: {msg.text}"}})


def _message_text(payload) -> str:
    """The plain text of the message a compose action started from (its subject default)."""
    if not isinstance(payload, dict):
        return ""
    body = payload.get("body") if isinstance(payload.get("body"), dict) else {}
    content = body.get("content") if isinstance(body.get("content"), str) else ""
    text = html.unescape(re.sub(r"<[^>]+>", " ", content))
    return " ".join(text.split())[:200]


def invoke_message(text: str, status: int = 200) -> InvokeResponse:
    return InvokeResponse(status=status, body={"statusCode": status,
                                               "type": "application/vnd.microsoft.activity.message",
                                               "value": text})


def connector(turn_context: TurnContext):
    return turn_context.turn_state[BotAdapter.BOT_CONNECTOR_CLIENT_KEY]


def team_id(activity: Activity) -> str | None:
    team = (activity.channel_data or {}).get("team") if isinstance(activity.channel_data,
                                                                   dict) else None
    return team.get("id") if isinstance(team, dict) else None


def log_refusal(err: MeetBotError, activity: Activity) -> None:
    """What operators see when a user got an error card: the cause, never a token."""
    level = logging.INFO if isinstance(err, (ParseError, SignInRequired)) else logging.WARNING
    log.log(level, "%s: %s", type(err).__name__, err.detail or "-", extra={
        "activity_id": activity.id,
        "conversation_id": activity.conversation.id if activity.conversation else None,
        "graph_request_id": getattr(err, "request_id", None)})


class MeetBot(TeamsActivityHandler):
    def __init__(self, service: MeetingService, state: TurnState, *, sso_resource: str = "",
                 signin_url: str = "", ack_after: float = 5.0,
                 connection_name: str = "", demo: bool = False) -> None:
        self.service = service
        self.state = state
        self.sso_resource = sso_resource
        self.signin_url = signin_url
        self.ack_after = ack_after
        self._background: set[asyncio.Future] = set()
        self.connection_name = connection_name
        self.demo = demo

    # --- activity -> plain inputs -----------------------------------------------------------
    def caller(self, activity: Activity) -> Caller:
        sender = activity.from_property
        tenant = ((activity.conversation.tenant_id if activity.conversation else None)
                  or ((activity.channel_data or {}).get("tenant") or {}).get("id")
                  or (DEMO_TENANT if self.demo else ""))
        oid = getattr(sender, "aad_object_id", None)
        if self.demo and not oid:  # the Playground may omit it; one stable demo identity
            oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo:{sender.id if sender else ''}"))
        return Caller(tenant_id=tenant, aad_object_id=oid, name=(sender.name or "") if sender else "",
                      teams_id=sender.id if sender else "")

    @staticmethod
    def timezone_name(activity: Activity) -> str | None:
        if activity.local_timezone:
            return activity.local_timezone
        for entity in activity.entities or ():
            if entity.type == "clientInfo":
                props = entity.additional_properties or {}
                if props.get("timezone"):
                    return props["timezone"]
        return None

    @staticmethod
    def mentions(activity: Activity) -> list[Mention]:
        bot_id = activity.recipient.id if activity.recipient else None
        found = []
        for entity in activity.entities or ():
            if entity.type != "mention":
                continue
            props = entity.additional_properties or {}
            who = props.get("mentioned") or {}
            found.append(Mention(
                text=props.get("text") or "",
                person=Person(name=who.get("name") or "", teams_id=who.get("id"),
                              aad_object_id=who.get("aadObjectId")),
                is_bot=bool(bot_id) and who.get("id") == bot_id))
        return found

    # --- messages -------------------------------------------------------------------------
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.value and not (activity.text or "").strip():
            await self._on_submit(turn_context)  # Action.Submit from an older client
            return
        user_time = user_time_from(self.timezone_name(activity))
        try:
            command = parse(activity.text or "", now=datetime.now(timezone.utc),
                            user_time=user_time, mentions=self.mentions(activity))
        except ParseError as err:
            await turn_context.send_activity(card_activity(cards.error_card(describe(err))))
            return
        if isinstance(command, HelpRequest):
            await turn_context.send_activity(card_activity(cards.help_card(command.reason)))
        elif isinstance(command, SignOutRequest):
            await self._sign_out(turn_context)
        elif isinstance(command, MeetingRequest):
            await self._meet(turn_context, command, user_time)

    async def _meet(self, turn_context: TurnContext, request: MeetingRequest, user_time) -> None:
        activity = turn_context.activity
        conversation_type = activity.conversation.conversation_type or "personal"
        if request.bare and conversation_type == "channel":
            # In a channel a bare "meet" offers the form: length, subject, one click.
            await turn_context.send_activity(card_activity(cards.new_meeting_card()))
            return
        # Teams redelivers a slow turn; the second copy must not make a second card.
        if not await self.state.first_delivery(activity):
            log.info("duplicate delivery ignored", extra={"activity_id": activity.id})
            return
        if conversation_type != "channel":  # Teams shows typing only in chats, not channels
            await turn_context.send_activity(Activity(type=ActivityTypes.typing))
        # Teams gives up on a turn after ~15 s and redelivers it. When Graph is slow, answer
        # Teams after `ack_after` seconds and let the card follow as soon as the meeting exists
        # (the reply goes out on the same conversation; the work is never done twice).
        work = asyncio.ensure_future(self._create_and_answer(turn_context, request, user_time))
        self._background.add(work)
        work.add_done_callback(self._background.discard)
        try:
            await asyncio.wait_for(asyncio.shield(work), self.ack_after)
        except asyncio.TimeoutError:
            log.info("Graph is slow: acknowledged, the card follows",
                     extra={"activity_id": activity.id})

    async def _create_and_answer(self, turn_context: TurnContext, request: MeetingRequest,
                                 user_time) -> None:
        activity = turn_context.activity
        conversation_type = activity.conversation.conversation_type or "personal"
        caller = self.caller(activity)
        try:
            request = await resolve_attendees(
                connector(turn_context).conversations, request,
                conversation_id=activity.conversation.id, team_id=team_id(activity),
                organizer_id=caller.aad_object_id)
            meeting = await self.service.create(
                caller, request, conversation_id=activity.conversation.id,
                activity_id=activity.id or "")
        except SignInRequired:
            await self.state.save_pending(caller, activity)
            await self._send_signin(turn_context)
            return
        except MeetBotError as err:
            log_refusal(err, activity)
            await self.state.forget_delivery(activity)  # let the user (or Teams) try again
            retry = actions.retry_data(activity.id, request) \
                if isinstance(err, RETRYABLE) and activity.id else None
            await turn_context.send_activity(card_activity(cards.error_card(describe(err),
                                                                            retry=retry)))
            return
        # Everyone in the conversation sees the join view; the organizer's client refreshes
        # the card into the organizer view (Extend / End) through refresh.userIds.
        msg = cards.meeting_card(meeting, user_time,
                                 organizer_view=conversation_type == "personal",
                                 refresh_user_ids=[caller.teams_id])
        await turn_context.send_activity(card_activity(msg))

    async def drain(self, timeout: float) -> None:
        """On shutdown: let meetings still being created reach their cards."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout)

    async def _sign_out(self, turn_context: TurnContext) -> None:
        caller = self.caller(turn_context.activity)
        try:
            await self.service.broker.sign_out(caller.key())
        except MeetBotError as err:
            await turn_context.send_activity(card_activity(cards.error_card(describe(err))))
            return
        await turn_context.send_activity("You're signed out. I'll ask you to sign in next time.")

    async def _send_signin(self, turn_context: TurnContext) -> None:
        """OAuthCard with a tokenExchangeResource: Teams answers silently with a
        signin/tokenExchange invoke carrying the user's SSO token."""
        card = OAuthCard(
            text="Sign in so I can create Teams meetings as you.",
            connection_name=self.connection_name,
            buttons=[CardAction(type="signin", title="Sign in", value=(
                f"{self.signin_url}?tenant={self.caller(turn_context.activity).tenant_id}"))],
            token_exchange_resource=TokenExchangeResource(
                id=str(uuid.uuid4()), uri=self.sso_resource, provider_id=None))
        await turn_context.send_activity(Activity(
            type=ActivityTypes.message, summary="Sign in to create meetings",
            attachments=[Attachment(content_type=OAUTH, content=card)]))

    # --- invokes ----------------------------------------------------------------------------
    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        name = turn_context.activity.name
        try:
            if name == "adaptiveCard/action":
                return await self._on_card_action(turn_context)
            if name == "signin/tokenExchange":
                return await self._on_token_exchange(turn_context)
            if name in ("signin/verifyState", "signin/failure"):
                return await self._on_signin_fallback(turn_context)
            if name == "composeExtension/fetchTask":
                return self._on_compose_fetch(turn_context)
            if name == "composeExtension/submitAction":
                return await self._on_compose_submit(turn_context)
        except NotOrganizer as err:
            # A toast; the card (and its join button) stays as it was for this person.
            log_refusal(err, turn_context.activity)
            return invoke_message(describe(err).text)
        except MeetBotError as err:
            log_refusal(err, turn_context.activity)
            if name and name.startswith("composeExtension/"):
                return compose_message(describe(err))
            return invoke_card(cards.error_card(describe(err)))
        if name == "healthCheck":
            return await super().on_invoke_activity(turn_context)
        # Invokes MeetBot doesn't offer (file consent, search, …): botbuilder's default handlers
        # crash on odd values; "not implemented" becomes a clean 4xx at the adapter.
        return InvokeResponse(status=HTTPStatus.NOT_IMPLEMENTED)

    async def _on_token_exchange(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        value = activity.value if isinstance(activity.value, dict) else {}
        exchange_id, token = value.get("id"), value.get("token")
        failed = TokenExchangeInvokeResponse(id=exchange_id, connection_name=self.connection_name,
                                             failure_detail="The bot couldn't exchange the token.")
        if not token or not isinstance(token, str):
            return InvokeResponse(status=HTTPStatus.BAD_REQUEST, body=failed.serialize())
        # Each signed-in Teams client sends one invoke with the same id: exchange once.
        if not await self.state.first_exchange(activity, exchange_id):
            return InvokeResponse(status=200, body=TokenExchangeInvokeResponse(
                id=exchange_id, connection_name=self.connection_name).serialize())
        caller = self.caller(activity)
        try:
            await self.service.broker.exchange(caller.key(), token)
        except ConsentRequired as err:
            log_refusal(err, activity)
            # 412 makes Teams fall back to the card's sign-in (consent) button.
            await turn_context.send_activity(card_activity(cards.consent_card(
                describe(err), admin_consent_url=err.admin_consent_url)))
            return InvokeResponse(status=HTTPStatus.PRECONDITION_FAILED, body=failed.serialize())
        except MeetBotError as err:
            log_refusal(err, activity)
            await turn_context.send_activity(card_activity(cards.error_card(describe(err))))
            return InvokeResponse(status=HTTPStatus.PRECONDITION_FAILED, body=failed.serialize())
        await self._resume_pending(turn_context, caller)
        return InvokeResponse(status=200, body=TokenExchangeInvokeResponse(
            id=exchange_id, connection_name=self.connection_name).serialize())

    async def _resume_pending(self, turn_context: TurnContext, caller: Caller) -> None:
        """Finish the command that waited for sign-in, without the user typing it again."""
        pending = await self.state.take_pending(caller)
        if pending is None:
            await turn_context.send_activity("You're signed in. Type `meet` to start a meeting.")
            return
        original = turn_context.activity
        turn_context.activity.text = pending.get("text")
        turn_context.activity.id = pending.get("activityId") or original.id
        turn_context.activity.local_timezone = pending.get("timezone")
        turn_context.activity.entities = None
        user_time = user_time_from(pending.get("timezone"))
        try:
            command = parse(pending.get("text") or "", now=datetime.now(timezone.utc),
                            user_time=user_time, mentions=[])
        except ParseError as err:
            await turn_context.send_activity(card_activity(cards.error_card(describe(err))))
            return
        if isinstance(command, MeetingRequest):
            await self.state.forget_delivery(turn_context.activity)
            await self._meet(turn_context, command, user_time)

    async def _on_signin_fallback(self, turn_context: TurnContext) -> InvokeResponse:
        # The magic-code fallback and client-side SSO failures (e.g. resourcematchfailed):
        # tell the user plainly instead of ignoring them.
        reason = (turn_context.activity.value or {}).get("code") if isinstance(
            turn_context.activity.value, dict) else None
        log.warning("sign-in fallback invoke %s (%s)", turn_context.activity.name, reason)
        await turn_context.send_activity(
            "Sign-in didn't finish in Teams. Please try again; if it keeps failing, ask your "
            "admin to check the app's single sign-on set-up.")
        return InvokeResponse(status=200, body={})

    async def _on_card_action(self, turn_context: TurnContext) -> InvokeResponse:
        action = actions.read_action(turn_context.activity.value)
        msg, shared = await self.handle_card_action(turn_context, action)
        await self._update_copies(turn_context, shared)
        return invoke_card(msg)

    async def _on_submit(self, turn_context: TurnContext) -> None:
        """Action.Submit (clients without Universal Actions): same handlers, and the card
        message itself is updated when Teams tells us which one it was."""
        try:
            action = actions.read_action(turn_context.activity.value)
            msg, shared = await self.handle_card_action(turn_context, action)
        except MeetBotError as err:
            log_refusal(err, turn_context.activity)
            await turn_context.send_activity(card_activity(cards.error_card(describe(err))))
            return
        if turn_context.activity.reply_to_id:
            await self._update_copies(turn_context, shared or msg)
        else:
            await turn_context.send_activity(card_activity(msg))

    async def _update_copies(self, turn_context: TurnContext, shared) -> None:
        """After Extend / End / Meet now every copy of the card must show the new state: the
        message itself is replaced with the everyone-view (the clicker got theirs in the
        invoke answer)."""
        card_id = turn_context.activity.reply_to_id
        if shared is None or not card_id:
            return
        update = card_activity(shared)
        update.id = card_id
        try:
            await turn_context.update_activity(update)
        except ConnectorError as err:  # the meeting changed; a stale copy is not worth a failure
            log.warning("could not update the card message: %s", err)

    async def handle_card_action(self, turn_context: TurnContext, action: actions.CardAction):
        """One handler per card verb, shared by Action.Execute and Action.Submit. Returns the
        card for the person who clicked and, when the state changed, the card for everyone."""
        activity = turn_context.activity
        caller = self.caller(activity)
        user_time = action.user_time or user_time_from(self.timezone_name(activity))
        own_view = [caller.teams_id]  # refresh.userIds: the organizer gets their own view
        if action.verb in (actions.VERB_CREATE, actions.VERB_RETRY):
            if action.retry is not None:
                # The first try's activity id -> its externalId: if that try reached Graph,
                # this returns the same meeting.
                request, key = action.retry.request, action.retry.activity_id
            else:
                data = action.data
                request = actions.request_from_form(data, now=datetime.now(timezone.utc),
                                                    user_time=user_time)
                # The card's own message id + the form: a double click, the same meeting.
                key = actions.form_key(activity.reply_to_id or activity.id or "", data)
            meeting = await self.service.create(
                caller, request, conversation_id=activity.conversation.id, activity_id=key)
            await self.state.remember(meeting)
            return (cards.meeting_card(meeting, user_time, organizer_view=True,
                                       refresh_user_ids=own_view),
                    cards.meeting_card(meeting, user_time, refresh_user_ids=own_view))
        drawn = action.meeting
        is_organizer = bool(caller.aad_object_id) and caller.aad_object_id == drawn.organizer_id
        if action.verb == actions.VERB_REFRESH:
            meeting = await self.state.latest(drawn)
            return cards.meeting_card(meeting, user_time, organizer_view=is_organizer,
                                      refresh_user_ids=own_view if is_organizer else ()), None
        self.service.require_organizer(caller, drawn)
        async with self.state.meeting_lock(drawn.id):
            latest = await self.state.latest(drawn)
            # Acting on the card as it was drawn: a double click (or the same click delivered
            # twice) finds the meeting already changed and just shows the new state.
            if latest.ended or latest.end != drawn.end:
                meeting = latest
            elif action.verb == actions.VERB_EXTEND:
                meeting = await self.service.extend(caller, latest, actions.EXTEND_MINUTES)
            else:
                meeting = await self.service.end(caller, latest)
            await self.state.remember(meeting)
        refresh = () if meeting.ended else own_view
        return (cards.meeting_card(meeting, user_time, organizer_view=True,
                                   refresh_user_ids=refresh),
                cards.meeting_card(meeting, user_time, refresh_user_ids=refresh))

    # --- compose-box action (message extension "createMeeting") -------------------------------
    def _on_compose_fetch(self, turn_context: TurnContext) -> InvokeResponse:
        value = turn_context.activity.value if isinstance(turn_context.activity.value, dict) else {}
        subject = _message_text(value.get("messagePayload"))
        form = cards.new_meeting_card(subject=subject)
        return InvokeResponse(status=200, body={"task": {"type": "continue", "value": {
            "title": "Create meeting", "width": "medium", "height": "small",
            "card": {"contentType": ADAPTIVE, "content": form.card}}}})

    async def _on_compose_submit(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        value = activity.value if isinstance(activity.value, dict) else {}
        data = value.get("data") if isinstance(value.get("data"), dict) else {}
        caller = self.caller(activity)
        user_time = user_time_from(self.timezone_name(activity))
        request = actions.request_from_form(data, now=datetime.now(timezone.utc),
                                            user_time=user_time)
        meeting = await self.service.create(
            caller, request, conversation_id=activity.conversation.id,
            activity_id=actions.form_key(activity.id or "", data))
        await self.state.remember(meeting)
        msg = cards.meeting_card(meeting, user_time)
        # Inserted into the compose box; the user sends it to the conversation.
        return InvokeResponse(status=200, body={"composeExtension": {
            "type": "result", "attachmentLayout": "list",
            "attachments": [{"contentType": ADAPTIVE, "content": msg.card,
                             "preview": {"contentType": "application/vnd.microsoft.card.thumbnail",
                                         "content": {"title": meeting.subject,
                                                     "text": msg.summary}}}]}})

    # --- conversation updates -----------------------------------------------------------
    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        # Clients may report one installation more than once: greet a conversation once.
        if await self.state.first_welcome(turn_context.activity):
            await turn_context.send_activity(card_activity(cards.new_meeting_card()))

    async def on_teams_members_added(self, members_added, team_info, turn_context: TurnContext):
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(m.id == bot_id for m in members_added or ()):
            return  # the installation update already said hello
        return None
