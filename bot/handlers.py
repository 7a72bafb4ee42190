"""MeetBot's turns, in plain types: what happens for a typed command, a card click, a sign-in
and the compose-box action. The Teams edge (bot/teams/) turns an activity into an `Inbound`
and a `Turn` to answer on, and turns what these return into Teams' reply shapes.

Card buttons act only on MeetBot's own records: a click names a record by an opaque reference,
and the record says which meeting, whose, and where (bot/records.py). Each card verb's handler
is registered under the verb constant its button uses (cards/actions.py).
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

import cards
from cards import actions

from .card_input import (
    CardInput,
    CreateFromForm,
    OnMeeting,
    RetryCreate,
    RunCommand,
    click_key,
    read_action,
    request_from_form,
)
from .errors import (
    RETRY_WITHOUT_INVITES,
    RETRYABLE,
    CardNoLongerValid,
    ConsentRequired,
    LockBusy,
    MeetBotError,
    MembersUnavailable,
    NotOrganizer,
    NotRequester,
    ParseError,
    SignInRequired,
    StorageUnavailable,
)
from .grammar import Mention, parse, user_time_from
from .i18n import Translator, translator
from .members import Members, resolve_attendees
from .models import (
    DEFAULT_SUBJECT,
    AttendeeScope,
    Caller,
    Command,
    HelpRequest,
    Meeting,
    MeetingRequest,
    Person,
    SignOutRequest,
    UserTime,
)
from .options import extract as extract_options
from .options import restore as restore_options
from .records import (
    Delivery,
    MeetingRecord,
    PendingCommand,
    Records,
    RetryRecord,
    mention_tuples,
    new_ref,
)
from .service import MeetingService, user_key

log = logging.getLogger(__name__)

UTC = UTC
DEMO_TENANT = "00000000-0000-0000-0000-0000000000d0"
MAX_EXCHANGE_ID = 256
# How long a ready answer waits for its "typing…" still on its way (throttled, retried): the
# indicator only says an answer is coming, so once the answer is there it is not worth more.
TYPING_GRACE = 1.0


@dataclass(frozen=True, slots=True)
class Inbound:
    """What MeetBot reads of one activity, taken from a channel-token-validated request."""

    channel_id: str
    activity_id: str
    conversation_id: str
    conversation_type: str  # personal | groupChat | channel
    caller: Caller
    team_id: str | None = None
    text: str = ""
    time_zone: str | None = None
    locale: str | None = None
    mentions: tuple[Mention, ...] = ()
    value: Any = None
    reply_to_id: str | None = None
    via_invoke: bool = False  # an invoke (answered in place) rather than a message


class Turn(Protocol):
    """Answering one activity; the edge implements it on the Bot Connector."""

    inbound: Inbound
    members: Members

    async def send(self, msg: cards.CardMessage) -> str | None:
        """Posts a card message; returns the new message's activity id when the channel says."""

    async def say(self, text: str) -> None: ...

    async def typing(self) -> None: ...

    async def update(self, activity_id: str, msg: cards.CardMessage) -> None: ...

    async def ask_to_sign_in(self) -> None: ...

    async def reply_error(self, err: MeetBotError, *, retry_ref: str | None = None) -> str | None:
        """The error as the user should see it on this kind of turn; the posted message's id."""


class ExchangeResult(Enum):
    DONE = "done"
    DUPLICATE = "duplicate"  # another client of the same user already exchanged this one
    REFUSED = "refused"  # the user was told why (consent, error)
    INVALID = "invalid"  # no token in the invoke


VerbHandler = Callable[["MeetBot", Turn, Any], Awaitable[cards.CardMessage]]
VERB_HANDLERS: dict[str, VerbHandler] = {}


def on_verb(verb: str) -> Callable[[VerbHandler], VerbHandler]:
    """Registers the handler for one card verb (a constant of cards/actions.py)."""
    def register(handler: VerbHandler) -> VerbHandler:
        VERB_HANDLERS[verb] = handler
        return handler
    return register


def user_time_of(inbound: Inbound, fallback: str | None = None) -> UserTime:
    return user_time_from(inbound.time_zone or fallback)


def tr_of(inbound: Inbound) -> Translator:
    """The language and formats of the person behind this activity."""
    return translator(inbound.locale)


def _in_language(request: MeetingRequest, tr: Translator) -> MeetingRequest:
    """A meeting without a subject is named in the asker's language ("Kurze Besprechung")."""
    if request.subject_given:
        return request
    return replace(request, subject=tr.gettext(DEFAULT_SUBJECT))


def _grammar_says(text: str | None, template: str | None, params: dict[str, str],
                  tr: Translator) -> str | None:
    """A sentence of the grammar (a help reason, how a date was read) in `tr`'s language: its
    msgid in the "grammar" domain, filled; as the grammar wrote it when it has none."""
    return tr.gettext(template, domain="grammar").format(**params) if template else text


class MeetBot:
    def __init__(self, service: MeetingService, records: Records, *, ack_after: float = 5.0,
                 on_reply_lost: Callable[[], None] | None = None) -> None:
        self.service = service
        self.records = records
        self.ack_after = ack_after
        self._on_reply_lost = on_reply_lost or (lambda: None)
        self._background: set[asyncio.Future[None]] = set()

    # --- typed messages ------------------------------------------------------------------
    @staticmethod
    def read_command(text: str, *, time_zone: str | None, locale: str | None,
                     mentions: tuple[Mention, ...] | list[Mention]) -> Command:
        """What the words ask for: the one reading of typed text, also for a resumed command.
        Meeting options come out first (bot/options.py); text that is no meeting command is
        read as typed."""
        now, user_time = datetime.now(UTC), user_time_from(time_zone)
        found = extract_options(text)
        try:
            command = parse(found.text, now=now, user_time=user_time, mentions=list(mentions),
                            locale=locale)
        except ParseError as err:
            if err.suggestion and found.phrases:  # "Did you mean" keeps the options
                # The same error (its reason may carry a template to translate), options back.
                err.suggestion = restore_options(err.suggestion, found)
            raise
        if not isinstance(command, MeetingRequest):
            return command if found.text == text else parse(
                text, now=now, user_time=user_time, mentions=list(mentions), locale=locale)
        if found.problem:
            raise found.problem
        return replace(command, options=found.options, bare=False) if found.options else command

    async def on_message(self, turn: Turn) -> None:
        inbound = turn.inbound
        if inbound.value is not None and not inbound.text.strip():
            await self.on_submit(turn)  # Action.Submit from a client without Universal Actions
            return
        try:
            command = self.read_command(inbound.text, time_zone=inbound.time_zone,
                                        locale=inbound.locale, mentions=inbound.mentions)
        except ParseError as err:
            posted = await turn.reply_error(err)
            if err.suggestion and posted:  # its "Did you mean" button may become the meeting
                await self.records.remember_form(inbound.conversation_id, posted)
            return
        _ = tr_of(inbound).gettext
        if isinstance(command, HelpRequest):
            tr = tr_of(inbound)
            reason = _grammar_says(command.reason, command.template, command.params, tr)
            await turn.send(cards.help_card(reason, tr=tr))
        elif isinstance(command, SignOutRequest):
            await self.service.broker.sign_out(user_key(inbound.caller))
            await turn.say(_("You're signed out. I'll ask you to sign in next time."))
        elif isinstance(command, MeetingRequest):
            if command.bare and inbound.conversation_type == "channel":
                # In a channel a bare "meet" offers the form: length, subject, one click.
                await self.send_form(turn)
                return
            await self.meet(turn, command)

    async def send_form(self, turn: Turn, msg: cards.CardMessage | None = None) -> None:
        posted = await turn.send(msg or cards.new_meeting_card(tr=tr_of(turn.inbound)))
        if posted:
            await self.records.remember_form(turn.inbound.conversation_id, posted)

    async def meet(self, turn: Turn, request: MeetingRequest, *,
                   key: str | None = None) -> None:
        """Creates the meeting and posts its card, once per activity however often Teams
        delivers it. Teams gives up on a turn after ~15 s and redelivers it: when Graph is slow
        the turn returns after `ack_after` and the card follows from a supervised task."""
        inbound = turn.inbound
        request = _in_language(request, tr_of(inbound))
        delivery = await self.records.claim(inbound.channel_id, inbound.conversation_id,
                                            key or inbound.activity_id)
        if delivery is None:
            log.info("duplicate delivery ignored", extra={"activity_id": inbound.activity_id})
            return
        typing = None
        if inbound.conversation_type != "channel":  # Teams shows typing only in chats
            # Alongside the work, not before it: a throttled or unreachable Bot Connector must
            # neither delay the meeting nor end the command before its card was tried.
            typing = asyncio.ensure_future(self._typing(turn))
        work = asyncio.ensure_future(self._create_and_answer(turn, request, delivery, key,
                                                             typing))
        self._background.add(work)
        work.add_done_callback(self._background.discard)
        try:
            await asyncio.wait_for(asyncio.shield(work), self.ack_after)
        except TimeoutError:
            log.info("Graph is slow: acknowledged, the card follows",
                     extra={"activity_id": inbound.activity_id})

    @staticmethod
    async def _typing(turn: Turn) -> None:
        try:
            await turn.typing()
        except MeetBotError as err:  # a courtesy: the card that follows is what matters
            log.warning("typing indicator not sent: %s", err.detail or "-",
                        extra={"activity_id": turn.inbound.activity_id})

    @staticmethod
    async def _after_typing(typing: asyncio.Future[None] | None) -> None:
        """The answer follows its "typing…", waiting for it at most TYPING_GRACE."""
        if typing is not None and not typing.done():
            done, _ = await asyncio.wait({typing}, timeout=TYPING_GRACE)
            if not done:
                typing.cancel()

    async def _create_and_answer(self, turn: Turn, request: MeetingRequest, delivery: Delivery,
                                 key: str | None, typing: asyncio.Future[None] | None = None
                                 ) -> None:
        inbound = turn.inbound
        caller = inbound.caller
        try:
            try:
                try:
                    request = await resolve_attendees(
                        turn.members, request, conversation_id=inbound.conversation_id,
                        team_id=inbound.team_id, organizer_id=caller.aad_object_id)
                    meeting = await self.service.create(
                        caller, request, conversation_id=inbound.conversation_id,
                        activity_id=key or inbound.activity_id, time_zone=inbound.time_zone,
                        tr=tr_of(inbound))
                finally:
                    await self._after_typing(typing)
            except SignInRequired:
                await self.records.save_pending(caller, PendingCommand(
                    inbound.text, key or inbound.activity_id, inbound.conversation_id,
                    inbound.time_zone, inbound.locale, mention_tuples(inbound.mentions)))
                await turn.ask_to_sign_in()
                await delivery.release()
                return
            except MeetBotError as err:
                retry_ref = None
                if isinstance(err, RETRY_WITHOUT_INVITES):
                    # The same meeting without invites: everyone who sees the card can join.
                    request = replace(request, attendees=(), scope=AttendeeScope.NONE)
                if isinstance(err, RETRYABLE + RETRY_WITHOUT_INVITES) and \
                        (key or inbound.activity_id):
                    retry_ref = await self._save_retry(RetryRecord(
                        caller.aad_object_id, caller.tenant_id, inbound.conversation_id,
                        key or inbound.activity_id, request))
                await turn.reply_error(err, retry_ref=retry_ref)
                await delivery.release()  # let the user (or Teams) try again
                return
            everyone = inbound.conversation_type != "personal"
            # The record is written once, after the card is posted, with that message's id:
            # one store write on the `meet now` path instead of a write and a locked rewrite.
            # A click can only come once a client has shown the card, by which time it is kept.
            record = self._new_record(meeting, inbound, user_time_of(inbound), request=request)
            posted = await turn.send(self._card(record, caller, everyone=everyone))
            try:
                await self.records.save(replace(record, card_ids=(posted,) if posted else ()))
            except StorageUnavailable as err:
                log.warning("state store unreachable, the card's buttons will not work: %s", err)
            await delivery.finish()
        except MeetBotError as err:  # the answer itself could not be posted (Bot Connector)
            await delivery.release()  # a redelivery does the work again: the same meeting
            self.reply_lost(inbound, err)
        except BaseException:
            await delivery.release()
            raise

    def reply_lost(self, inbound: Inbound, err: MeetBotError) -> None:
        """An answer the Bot Connector still refused after the retries that were safe: one
        ERROR line naming the activity (no traceback: the cause is known) and the metric."""
        self._on_reply_lost()
        log.error("reply lost: %s: %s", type(err).__name__, err.detail or "-", extra={
            "activity_id": inbound.activity_id, "conversation_id": inbound.conversation_id})

    async def drain(self, timeout: float) -> None:
        """On shutdown: let meetings still being created reach their cards."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout)

    # --- records and the cards drawn from them ---------------------------------------------
    async def _record(self, meeting: Meeting, inbound: Inbound, user_time: UserTime,
                      card_ids: tuple[str, ...] = (), *,
                      request: MeetingRequest | None = None) -> MeetingRecord:
        record = self._new_record(meeting, inbound, user_time, card_ids, request=request)
        await self.records.save(record)
        return record

    @staticmethod
    def _new_record(meeting: Meeting, inbound: Inbound, user_time: UserTime,
                    card_ids: tuple[str, ...] = (), *,
                    request: MeetingRequest | None = None) -> MeetingRecord:
        return MeetingRecord(
            ref=new_ref(), meeting=meeting, tenant_id=inbound.caller.tenant_id,
            conversation_id=inbound.conversation_id, organizer_id=meeting.organizer_id
            or inbound.caller.aad_object_id,
            time_zone=user_time.name if user_time.known else None, card_ids=card_ids,
            date_reading=None if request is None else _grammar_says(
                request.date_reading, request.date_reading_template,
                request.date_reading_params, tr_of(inbound)),
            locale=inbound.locale)

    async def _save_retry(self, retry: RetryRecord) -> str | None:
        try:
            return await self.records.save_retry(retry)
        except StorageUnavailable as err:  # the error card then comes without "Try again"
            log.warning("could not keep the command for Try again: %s", err)
            return None

    async def _add_card(self, ref: str, activity_id: str) -> None:
        try:
            await self.records.add_card(ref, activity_id)
        except (StorageUnavailable, LockBusy) as err:  # only later updates of it are lost
            log.warning("could not record the card message: %s", err)

    @staticmethod
    def _card(record: MeetingRecord, viewer: Caller, *, everyone: bool,
              user_time: UserTime | None = None,
              tr: Translator | None = None) -> cards.CardMessage:
        """The organizer sees Extend / End; everyone else the join view. A card for a whole
        chat is the join view with a refresh, so the organizer's client redraws it as theirs.
        It speaks the language of the person who asked (the record's), or `tr`'s: one
        person's own view is in their language."""
        organizer = record.is_organizer(viewer) and not everyone
        user_time = user_time or user_time_from(record.time_zone)
        refresh = () if record.meeting.ended or not viewer.teams_id else (viewer.teams_id,)
        return cards.meeting_card(record.meeting, user_time, ref=record.ref,
                                  version=record.version, organizer_view=organizer,
                                  refresh_user_ids=refresh, date_reading=record.date_reading,
                                  tr=tr or translator(record.locale))

    async def _show_everywhere(self, turn: Turn, record: MeetingRecord) -> None:
        """Every message showing this meeting's card (and only those) gets the new state, in
        the language of the person who asked for the meeting."""
        # A personal chat holds only the organizer: their own view, in the language they use
        # now; elsewhere everyone's.
        personal = turn.inbound.conversation_type == "personal"
        shared = self._card(record, turn.inbound.caller, everyone=not personal,
                            tr=tr_of(turn.inbound) if personal else None)
        for activity_id in record.card_ids:
            try:
                await turn.update(activity_id, shared)
            except MeetBotError as err:  # the meeting changed; a stale copy is no failure
                log.warning("could not update a card message: %s", err)

    async def _authorised(self, inbound: Inbound, ref: str) -> MeetingRecord:
        record = await self.records.load(ref)
        if record is None or not record.is_seen_from(inbound.caller, inbound.conversation_id):
            raise CardNoLongerValid(f"no record {ref[:8]}… for this conversation")
        return record

    # --- card clicks -------------------------------------------------------------------
    async def on_card_action(self, turn: Turn) -> cards.CardMessage:
        """Action.Execute: the card that replaces the clicked one, for the person who clicked."""
        verb, action = read_action(turn.inbound.value)
        return await VERB_HANDLERS[verb](self, turn, action)

    async def on_submit(self, turn: Turn) -> None:
        """Action.Submit: the same handlers; the new state goes to the messages MeetBot
        recorded (a new meeting without one gets a message of its own)."""
        verb, action = read_action(turn.inbound.value)
        await VERB_HANDLERS[verb](self, turn, action)

    async def _created_by_click(self, turn: Turn, request: MeetingRequest,
                                key: str) -> cards.CardMessage:
        """A meeting made by a button on a card MeetBot posted (the form, "Try again", "Did
        you mean"): that message becomes the meeting's card for everyone, if it is a form
        MeetBot recorded in this conversation and no one else made a meeting with it yet."""
        inbound = turn.inbound
        request = _in_language(request, tr_of(inbound))
        meeting = await self.service.create(inbound.caller, request,
                                            conversation_id=inbound.conversation_id,
                                            activity_id=key, time_zone=inbound.time_zone,
                                            tr=tr_of(inbound))
        card_ids: tuple[str, ...] = ()
        if await self.records.claim_form(inbound.conversation_id, inbound.reply_to_id,
                                         _claimant(inbound.caller)):
            card_ids = (inbound.reply_to_id or "",)
        record = await self._record(meeting, inbound, user_time_of(inbound), card_ids,
                                    request=request)
        if card_ids:
            await self._show_everywhere(turn, record)
        elif not inbound.via_invoke:
            # Action.Submit on a card MeetBot did not record here: the meeting gets a message
            # of its own rather than overwriting the one the client named.
            posted = await turn.send(self._card(record, inbound.caller, everyone=True))
            if posted:
                await self._add_card(record.ref, posted)
        return self._card(record, inbound.caller, everyone=False, tr=tr_of(inbound))

    @on_verb(actions.VERB_CREATE)
    async def _create(self, turn: Turn, form: CreateFromForm) -> cards.CardMessage:
        inbound = turn.inbound
        request = request_from_form(form, now=datetime.now(UTC), user_time=user_time_of(inbound))
        key = click_key(inbound.reply_to_id or inbound.activity_id, form.minutes, form.subject,
                        form.options)
        return await self._created_by_click(turn, request, key)

    @on_verb(actions.VERB_RETRY)
    async def _retry(self, turn: Turn, retry: RetryCreate) -> cards.CardMessage:
        inbound = turn.inbound
        record = await self.records.load_retry(retry.ref)
        if record is None or record.conversation_id != inbound.conversation_id or \
                record.tenant_id.lower() != inbound.caller.tenant_id.lower():
            raise CardNoLongerValid("unknown retry")
        if record.requester_id != inbound.caller.aad_object_id:
            raise NotRequester("only the person who asked may try again")
        # The first try's key -> its externalId: if that try reached Graph, this returns the
        # same meeting.
        return await self._created_by_click(turn, record.request, record.activity_key)

    @on_verb(actions.VERB_RUN_COMMAND)
    async def _run_command(self, turn: Turn, run: RunCommand) -> cards.CardMessage:
        inbound = turn.inbound
        command = self.read_command(run.text, time_zone=inbound.time_zone,
                                    locale=inbound.locale, mentions=())
        if not isinstance(command, MeetingRequest):
            return cards.help_card(getattr(command, "reason", None), tr=tr_of(inbound))
        key = click_key(inbound.reply_to_id or inbound.activity_id, run.text)
        return await self._created_by_click(turn, command, key)

    @on_verb(actions.VERB_REFRESH)
    async def _refresh(self, turn: Turn, action: OnMeeting) -> cards.CardMessage:
        record = await self._authorised(turn.inbound, action.ref)
        return self._card(record, turn.inbound.caller, everyone=False,
                          user_time=user_time_of(turn.inbound, record.time_zone),
                          tr=tr_of(turn.inbound))

    @on_verb(actions.VERB_EXTEND)
    @on_verb(actions.VERB_END)
    async def _change(self, turn: Turn, action: OnMeeting) -> cards.CardMessage:
        inbound, caller = turn.inbound, turn.inbound.caller
        record = await self._authorised(inbound, action.ref)
        if not record.is_organizer(caller):
            raise NotOrganizer(f"{caller.aad_object_id} is not the organizer of {record.ref[:8]}…")
        async with self.records.meeting_lock(record.ref):
            latest = await self.records.load(record.ref) or record
            # Acting on the card as it was drawn: a double click (or the same click delivered
            # twice) finds the meeting already changed by the first and shows the new state.
            if not latest.meeting.ended and action.version == latest.version:
                if action.verb == actions.VERB_EXTEND:
                    meeting = await self.service.extend(caller, latest.meeting,
                                                        actions.EXTEND_MINUTES,
                                                        time_zone=latest.time_zone)
                else:
                    # The cancellation reaches the invitees in the invitation's language.
                    meeting = await self.service.end(caller, latest.meeting,
                                                     tr=translator(latest.locale))
                latest = replace(latest, meeting=_keep_names(meeting, latest.meeting),
                                 version=latest.version + 1)
                await self.records.save(latest)
        await self._show_everywhere(turn, latest)
        return self._card(latest, caller, everyone=False,
                          user_time=user_time_of(inbound, latest.time_zone), tr=tr_of(inbound))

    # --- sign-in -------------------------------------------------------------------------
    async def on_token_exchange(self, turn: Turn, exchange_id: Any, token: Any) -> ExchangeResult:
        inbound = turn.inbound
        if not isinstance(token, str) or not token or not isinstance(exchange_id, str) or \
                len(exchange_id) > MAX_EXCHANGE_ID:
            return ExchangeResult.INVALID
        # Each signed-in Teams client sends one invoke with the same id: exchange once.
        if not await self.records.first_exchange(inbound.caller.teams_id, exchange_id):
            return ExchangeResult.DUPLICATE
        try:
            await self.service.broker.exchange(user_key(inbound.caller), token)
        except ConsentRequired as err:
            await turn.reply_error(err)
            return ExchangeResult.REFUSED
        except MeetBotError as err:
            await turn.reply_error(err)
            return ExchangeResult.REFUSED
        await self._resume_pending(turn)
        return ExchangeResult.DONE

    async def _resume_pending(self, turn: Turn) -> None:
        """Finish the command that waited for sign-in, without the user typing it again."""
        inbound = turn.inbound
        pending = await self.records.take_pending(inbound.caller)
        if pending is None:
            _ = tr_of(inbound).gettext
            await turn.say(_("You're signed in. Type `meet` to start a meeting."))
            return
        mentions = tuple(Mention(text, Person(name=name, teams_id=teams_id,
                                              aad_object_id=aad), is_bot)
                         for text, name, teams_id, aad, is_bot in pending.mentions)
        resumed = replace(inbound, text=pending.text, activity_id=pending.activity_id,
                          time_zone=pending.time_zone, locale=pending.locale, mentions=mentions,
                          value=None)
        command = self.read_command(resumed.text, time_zone=resumed.time_zone,
                                    locale=resumed.locale, mentions=resumed.mentions)
        if isinstance(command, MeetingRequest):
            await self.meet(_Resumed(turn, resumed), command,
                            key=_resumed_key(pending.conversation_id, pending.activity_id,
                                             inbound.conversation_id))

    async def on_signin_failure(self, turn: Turn, reason: object) -> None:
        # The magic-code fallback and client-side SSO failures (e.g. resourcematchfailed):
        # tell the user plainly instead of ignoring them.
        log.warning("sign-in fallback invoke (%s)", str(reason)[:64])
        _ = tr_of(turn.inbound).gettext
        await turn.say(_("Sign-in didn't finish in Teams. Please try again; if it keeps "
                         "failing, ask your admin to check the app's single sign-on set-up."))

    # --- compose-box action (message extension "createMeeting") ---------------------------
    @staticmethod
    def compose_form(subject: str, locale: str | None) -> cards.CardMessage:
        return cards.new_meeting_card(subject=subject, tr=translator(locale))

    async def on_compose_submit(self, turn: Turn, data: Any) -> tuple[cards.CardMessage, str]:
        """The meeting card the user inserts into their message, and its subject."""
        inbound = turn.inbound
        _, form = read_action({"verb": actions.VERB_CREATE, **(data if isinstance(data, dict)
                                                               else {})})
        assert isinstance(form, CreateFromForm)
        request = _in_language(request_from_form(form, now=datetime.now(UTC),
                                                 user_time=user_time_of(inbound)),
                               tr_of(inbound))
        meeting = await self.service.create(
            inbound.caller, request, conversation_id=inbound.conversation_id,
            activity_id=click_key(inbound.activity_id, form.minutes, form.subject, form.options),
            time_zone=inbound.time_zone, tr=tr_of(inbound))
        record = await self._record(meeting, inbound, user_time_of(inbound))
        return self._card(record, inbound.caller, everyone=True), meeting.subject

    # --- installation --------------------------------------------------------------------
    async def on_installed(self, turn: Turn) -> None:
        # Clients may report one installation more than once: greet a conversation once.
        if await self.records.first_welcome(turn.inbound.conversation_id):
            await self.send_form(turn)


class _Resumed:
    """The invoke's turn, answering for the command that waited for sign-in."""

    def __init__(self, turn: Turn, inbound: Inbound) -> None:
        self._turn = turn
        self.inbound = inbound
        self.members = turn.members

    def __getattr__(self, name: str) -> Any:
        return getattr(self._turn, name)


def _claimant(caller: Caller) -> str:
    """Whose a form card becomes: the person, not the click (one person may click twice)."""
    return f"{caller.tenant_id.lower()}\x1f{caller.aad_object_id or caller.teams_id}"


def _resumed_key(conversation_id: str, activity_id: str, current_conversation: str) -> str:
    # The waiting command's own activity: createOrGet returns the same meeting if that first
    # try did reach Graph. Scoped to its conversation when the invoke came from another.
    if conversation_id == current_conversation:
        return activity_id
    return f"{conversation_id}:{activity_id}"


def _keep_names(changed: Meeting, before: Meeting) -> Meeting:
    """Graph's answer to PATCH may lack the attendees' names the record had from Teams."""
    if changed.attendees and not any(p.name for p in changed.attendees):
        return replace(changed, attendees=before.attendees)
    return changed if changed.attendees else replace(changed, attendees=before.attendees)


def demo_identity(teams_id: str) -> str:
    """The Agents Playground may omit from.aadObjectId: one stable demo identity per user."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo:{teams_id}"))


__all__ = ["DEMO_TENANT", "ExchangeResult", "Inbound", "MeetBot", "Turn", "VERB_HANDLERS",
           "demo_identity", "MembersUnavailable", "CardInput"]
