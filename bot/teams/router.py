"""Where a Teams activity becomes a call into MeetBot (bot/handlers.py): the activity is read
once into a plain `Inbound`, answered through a `TeamsTurn`, and invokes are dispatched by the
`INVOKES` table. The tenant allow-list is checked here, before anything else, for every
activity and invoke type."""
from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity, ActivityTypes, TokenExchangeInvokeResponse
from msrest.exceptions import DeserializationError

import cards
from bot.errors import ConnectorError, MeetBotError, TenantNotAllowed
from bot.grammar import Mention
from bot.handlers import DEMO_TENANT, ExchangeResult, Inbound, MeetBot, demo_identity, tr_of
from bot.i18n import locale_tag, translator
from bot.members import Members
from bot.models import Caller, Person

from . import replies
from .connector import PooledConnectorFactory

log = logging.getLogger(__name__)

_INBOUND = "meetbot.inbound"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _tenant(activity: Activity) -> str:
    tenant = _dict(_dict(activity.channel_data).get("tenant"))
    return str((activity.conversation.tenant_id if activity.conversation else None)
               or tenant.get("id") or "")


def _time_zone(activity: Activity) -> str | None:
    if activity.local_timezone:
        return str(activity.local_timezone)
    for entity in activity.entities or ():
        if entity.type == "clientInfo":
            zone = (entity.additional_properties or {}).get("timezone")
            if isinstance(zone, str) and zone:
                return zone
    return None


def _mentions(activity: Activity) -> tuple[Mention, ...]:
    bot_id = activity.recipient.id if activity.recipient else None
    found = []
    # Every mention is read (the body limit bounds them): the grammar must see each <at> tag's
    # entity, and bot/members.py refuses more invitees than a meeting holds.
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
    return tuple(found)


def read_inbound(activity: Activity, *, demo: bool) -> Inbound:
    """The plain facts of one activity. Read once; the activity itself is never rewritten."""
    sender = activity.from_property
    teams_id = (sender.id or "") if sender else ""
    oid = getattr(sender, "aad_object_id", None)
    if demo and not oid:  # the Agents Playground may omit it
        oid = demo_identity(teams_id)
    tenant = _tenant(activity) or (DEMO_TENANT if demo else "")
    team = _dict(_dict(activity.channel_data).get("team"))
    conversation = activity.conversation
    return Inbound(
        channel_id=activity.channel_id or "", activity_id=activity.id or "",
        conversation_id=conversation.id if conversation else "",
        conversation_type=(conversation.conversation_type if conversation else None)
        or "personal",
        caller=Caller(tenant_id=tenant, aad_object_id=oid,
                      name=(sender.name or "") if sender else "", teams_id=teams_id),
        team_id=team.get("id"), text=activity.text or "", time_zone=_time_zone(activity),
        locale=locale_tag(activity.locale), mentions=_mentions(activity) if activity.text else (),
        value=activity.value, reply_to_id=activity.reply_to_id,
        via_invoke=activity.type == ActivityTypes.invoke)


class TeamsTurn:
    """A `Turn` (bot/handlers.py) on the Bot Connector."""

    def __init__(self, context: TurnContext, inbound: Inbound, router: TeamsRouter) -> None:
        self._context = context
        self._router = router
        self.inbound = inbound
        # Member look-ups go to the Bot Connector of the activity's serviceUrl (the channel
        # token validated it), on the process's pooled client.
        self.members: Members = router.connectors.get(context.activity.service_url).conversations

    async def send(self, msg: cards.CardMessage) -> str | None:
        sent = await self._context.send_activity(replies.card_activity(msg))
        return sent.id if sent is not None else None

    async def say(self, text: str) -> None:
        await self._context.send_activity(text)

    async def typing(self) -> None:
        await self._context.send_activity(Activity(type=ActivityTypes.typing))

    async def update(self, activity_id: str, msg: cards.CardMessage) -> None:
        update = replies.card_activity(msg)
        update.id = activity_id
        await self._context.update_activity(update)

    async def ask_to_sign_in(self) -> None:
        router = self._router
        await self._context.send_activity(replies.signin_card(
            connection_name=router.connection_name,
            signin_url=f"{router.signin_url}?tenant={self.inbound.caller.tenant_id}",
            sso_resource=router.sso_resource, tr=tr_of(self.inbound)))

    async def reply_error(self, err: MeetBotError, *, retry_ref: str | None = None) -> str | None:
        replies.log_refusal(err, self.inbound.activity_id, self.inbound.conversation_id)
        retry = cards.actions.retry_data(retry_ref) if retry_ref else None
        reply = replies.error_reply(err, None, retry=retry, tr=tr_of(self.inbound))
        assert isinstance(reply, Activity)
        sent = await self._context.send_activity(reply)
        return sent.id if sent is not None else None


InvokeHandler = Callable[["TeamsRouter", TeamsTurn], Awaitable[InvokeResponse]]
INVOKES: dict[str, InvokeHandler] = {}


def invoke(*names: str) -> Callable[[InvokeHandler], InvokeHandler]:
    """Registers the handler for the invoke names it serves."""
    def register(handler: InvokeHandler) -> InvokeHandler:
        for name in names:
            INVOKES[name] = handler
        return handler
    return register


def _message_text(payload: Any) -> str:
    """The plain text of the message a compose action started from (its subject default)."""
    content = _dict(_dict(payload).get("body")).get("content")
    if not isinstance(content, str):
        return ""
    text = html.unescape(re.sub(r"<[^>]+>", " ", content[:20_000]))
    return " ".join(text.split())[:200]


class TeamsRouter(TeamsActivityHandler):
    def __init__(self, bot: MeetBot, connectors: PooledConnectorFactory, *,
                 sso_resource: str = "", signin_url: str = "", connection_name: str = "",
                 demo: bool = False) -> None:
        self.bot = bot
        self.connectors = connectors
        self.sso_resource = sso_resource
        self.signin_url = signin_url
        self.connection_name = connection_name
        self.demo = demo

    def _turn(self, context: TurnContext) -> TeamsTurn:
        inbound = context.turn_state.get(_INBOUND) or read_inbound(context.activity,
                                                                   demo=self.demo)
        return TeamsTurn(context, inbound, self)

    async def on_turn(self, turn_context: TurnContext) -> None:
        inbound = turn_context.turn_state[_INBOUND] = read_inbound(turn_context.activity,
                                                                   demo=self.demo)
        if not self.bot.service.tenant_allowed(inbound.caller.tenant_id):
            # Every activity and invoke type: nothing is stored, no token is exchanged.
            await self._refuse_tenant(turn_context, inbound)
            return
        await super().on_turn(turn_context)

    async def _refuse_tenant(self, context: TurnContext, inbound: Inbound) -> None:
        err = TenantNotAllowed(f"tenant {inbound.caller.tenant_id} not in ALLOWED_TENANTS")
        replies.log_refusal(err, inbound.activity_id, inbound.conversation_id)
        activity = context.activity
        tr = tr_of(inbound)
        if activity.type == ActivityTypes.invoke:
            reply = replies.error_reply(err, activity.name or "", tr=tr)
            await context.send_activity(Activity(type=ActivityTypes.invoke_response, value=reply))
        elif activity.type == ActivityTypes.message:
            await context.send_activity(replies.error_reply(err, None, tr=tr))

    # --- messages -------------------------------------------------------------------------
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        turn = self._turn(turn_context)
        try:
            await self.bot.on_message(turn)
        except ConnectorError as err:
            # The answer itself was refused after the retries: an error card would go the
            # same way (and hold Teams' request as long again).
            self.bot.reply_lost(turn.inbound, err)
        except MeetBotError as err:
            try:
                await turn.reply_error(err)
            except ConnectorError as lost:
                self.bot.reply_lost(turn.inbound, lost)

    # --- invokes ----------------------------------------------------------------------------
    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        name = turn_context.activity.name or ""
        handler = INVOKES.get(name)
        if handler is None:
            if name == "healthCheck":
                return await super().on_invoke_activity(turn_context)
            # Invokes MeetBot doesn't offer (file consent, search, …): botbuilder's default
            # handlers crash on odd values.
            return replies.not_implemented()
        turn = self._turn(turn_context)
        try:
            return await handler(self, turn)
        except MeetBotError as err:
            replies.log_refusal(err, turn.inbound.activity_id, turn.inbound.conversation_id)
            reply = replies.error_reply(err, name, tr=tr_of(turn.inbound))
            assert isinstance(reply, InvokeResponse)
            return reply

    @invoke("adaptiveCard/action")
    async def _card_action(self, turn: TeamsTurn) -> InvokeResponse:
        return replies.invoke_card(await self.bot.on_card_action(turn))

    @invoke("signin/tokenExchange")
    async def _token_exchange(self, turn: TeamsTurn) -> InvokeResponse:
        value = turn.inbound.value if isinstance(turn.inbound.value, dict) else {}
        exchange_id = value.get("id") if isinstance(value.get("id"), str) else None
        result = await self.bot.on_token_exchange(turn, exchange_id, value.get("token"))
        if result in (ExchangeResult.DONE, ExchangeResult.DUPLICATE):
            return InvokeResponse(status=200, body=TokenExchangeInvokeResponse(
                id=exchange_id, connection_name=self.connection_name).serialize())
        failed = TokenExchangeInvokeResponse(
            id=exchange_id, connection_name=self.connection_name,
            failure_detail="The bot couldn't exchange the token.").serialize()
        # 412 makes Teams fall back to the card's sign-in (consent) button.
        return InvokeResponse(status=400 if result is ExchangeResult.INVALID else 412,
                              body=failed)

    @invoke("signin/verifyState", "signin/failure")
    async def _signin_fallback(self, turn: TeamsTurn) -> InvokeResponse:
        value = turn.inbound.value if isinstance(turn.inbound.value, dict) else {}
        await self.bot.on_signin_failure(turn, value.get("code"))
        return InvokeResponse(status=200, body={})

    @invoke("composeExtension/fetchTask")
    async def _compose_fetch(self, turn: TeamsTurn) -> InvokeResponse:
        value = turn.inbound.value if isinstance(turn.inbound.value, dict) else {}
        form = self.bot.compose_form(_message_text(value.get("messagePayload")),
                                     turn.inbound.locale)
        _ = tr_of(turn.inbound).gettext
        return replies.compose_form(form, _("Create meeting"))

    @invoke("composeExtension/submitAction")
    async def _compose_submit(self, turn: TeamsTurn) -> InvokeResponse:
        value = turn.inbound.value if isinstance(turn.inbound.value, dict) else {}
        msg, subject = await self.bot.on_compose_submit(turn, value.get("data"))
        return replies.compose_card(msg, subject)

    async def on_turn_error(self, turn_context: TurnContext, error: Exception) -> None:
        """Last resort for anything the handlers did not answer: the operator gets the cause,
        the user a plain sentence; an invoke still gets a 200 with the error card, so Teams
        shows words instead of a failure banner."""
        activity = turn_context.activity
        if isinstance(error, DeserializationError):
            # botbuilder could not read a Teams payload (an invoke value, channelData): the
            # sender's mistake, not ours, so a 400 and no traceback.
            log.warning("unreadable %s payload: %s", activity.type, error)
            if activity.type == ActivityTypes.invoke:
                await turn_context.send_activity(Activity(
                    type=ActivityTypes.invoke_response, value=InvokeResponse(status=400)))
            return
        replies.log_refusal(error, activity.id,
                            activity.conversation.id if activity.conversation else None)
        is_invoke = activity.type == ActivityTypes.invoke
        reply = replies.error_reply(error, (activity.name or "") if is_invoke else None,
                                    tr=translator(activity.locale))
        try:
            if isinstance(reply, InvokeResponse):
                await turn_context.send_activity(Activity(type=ActivityTypes.invoke_response,
                                                          value=reply))
            else:
                await turn_context.send_activity(reply)
        except Exception:  # noqa: BLE001 - the connector itself may be what failed
            log.warning("could not tell the user about the error")

    # --- conversation updates -----------------------------------------------------------
    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self.bot.on_installed(self._turn(turn_context))

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        # The installation update says hello, once per conversation; botbuilder's own
        # members-added dispatch would look each new member up in the roster for nothing.
        return None
