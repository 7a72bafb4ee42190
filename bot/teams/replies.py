"""Teams' reply shapes for MeetBot's plain answers: a card message, an invoke's card, a toast,
a compose-box answer, the sign-in card, and `reply_error`, the one place that turns any error
into what the user sees on this kind of turn."""
from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

from botbuilder.core import InvokeResponse
from botbuilder.schema import Activity, ActivityTypes, Attachment, CardAction, OAuthCard
from botframework.connector.token_api.models import TokenExchangeResource

import cards
from bot.errors import (
    ConsentRequired,
    MeetBotError,
    NotOrganizer,
    NotRequester,
    ParseError,
    SignInRequired,
    describe,
)
from bot.i18n import ENGLISH, Translator

log = logging.getLogger(__name__)

ADAPTIVE = "application/vnd.microsoft.card.adaptive"
OAUTH = "application/vnd.microsoft.card.oauth"
TOAST = "application/vnd.microsoft.activity.message"
# Errors shown as a toast on a card click: the card (and its join button) stays as it was.
TOAST_ERRORS = (NotOrganizer, NotRequester)


class _BuiltCard(dict[str, Any]):
    """A card as the builders made it. Cards are never changed after they are built, so the
    deep copy botbuilder makes of every outgoing activity can share this instead of copying
    a few hundred nodes per reply."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _BuiltCard:
        return self


def card_activity(msg: cards.CardMessage) -> Activity:
    """A message with one Adaptive Card; `summary` is what card-less clients show."""
    return Activity(type=ActivityTypes.message, summary=msg.summary, text=None,
                    attachments=[Attachment(content_type=ADAPTIVE, content=_BuiltCard(msg.card))])


def invoke_card(msg: cards.CardMessage) -> InvokeResponse:
    """Universal Actions answer: the card that replaces the clicked one in place."""
    return InvokeResponse(status=200, body={"statusCode": 200, "type": ADAPTIVE,
                                            "value": msg.card})


def invoke_toast(text: str) -> InvokeResponse:
    return InvokeResponse(status=200, body={"statusCode": 200, "type": TOAST, "value": text})


def compose_text(title: str, text: str) -> InvokeResponse:
    """A message-extension answer that shows text instead of inserting a card."""
    return InvokeResponse(status=200, body={"composeExtension": {
        "type": "message", "text": f"{title}: {text}"}})


def compose_card(msg: cards.CardMessage, title: str) -> InvokeResponse:
    """The card the compose-box action inserts into the user's message."""
    return InvokeResponse(status=200, body={"composeExtension": {
        "type": "result", "attachmentLayout": "list",
        "attachments": [{"contentType": ADAPTIVE, "content": msg.card,
                         "preview": {"contentType": "application/vnd.microsoft.card.thumbnail",
                                     "content": {"title": title, "text": msg.summary}}}]}})


def compose_form(msg: cards.CardMessage, title: str) -> InvokeResponse:
    return InvokeResponse(status=200, body={"task": {"type": "continue", "value": {
        "title": title, "width": "medium", "height": "small",
        "card": {"contentType": ADAPTIVE, "content": msg.card}}}})


def not_implemented() -> InvokeResponse:
    # A 5xx would make the Bot Connector retry; the adapter answers it as a 400.
    return InvokeResponse(status=HTTPStatus.NOT_IMPLEMENTED)


def signin_card(*, connection_name: str, signin_url: str, sso_resource: str,
                tr: Translator = ENGLISH) -> Activity:
    """OAuthCard with a tokenExchangeResource: Teams answers silently with a
    signin/tokenExchange invoke carrying the user's SSO token; the button opens our consent
    page when it cannot."""
    _ = tr.gettext
    card = OAuthCard(text=_("Sign in so I can create Teams meetings as you."),
                     connection_name=connection_name,
                     buttons=[CardAction(type="signin", title=_("Sign in"), value=signin_url)],
                     token_exchange_resource=TokenExchangeResource(
                         id=str(uuid.uuid4()), uri=sso_resource, provider_id=None))
    return Activity(type=ActivityTypes.message, summary=_("Sign in to create meetings"),
                    attachments=[Attachment(content_type=OAUTH, content=card)])


def log_refusal(err: BaseException, activity_id: str | None, conversation_id: str | None) -> None:
    """What operators see when a user got an error: the cause, never a token."""
    if isinstance(err, MeetBotError):
        level = logging.INFO if isinstance(err, (ParseError, SignInRequired)) else logging.WARNING
        log.log(level, "%s: %s", type(err).__name__, err.detail or "-", extra={
            "activity_id": activity_id, "conversation_id": conversation_id,
            "graph_request_id": getattr(err, "request_id", None)})
    else:
        log.exception("unexpected error in turn", exc_info=err, extra={
            "activity_id": activity_id, "conversation_id": conversation_id})


def error_reply(err: BaseException, invoke_name: str | None, *,
                retry: dict[str, Any] | None = None,
                tr: Translator = ENGLISH) -> Activity | InvokeResponse:
    """The one place that picks how an error reaches the user: a card message for a typed
    command, a toast or a card in place for a card click, text in the compose box; in the
    language of the person it answers (`tr`)."""
    msg = describe(err, tr)
    if invoke_name == "adaptiveCard/action" and isinstance(err, TOAST_ERRORS):
        return invoke_toast(msg.text)
    if invoke_name is not None and invoke_name.startswith("composeExtension/"):
        return compose_text(msg.title, msg.text)
    if isinstance(err, ConsentRequired):
        card = cards.consent_card(msg, admin_consent_url=err.admin_consent_url, tr=tr)
    else:
        card = cards.error_card(msg, retry=retry, tr=tr)
    return card_activity(card) if invoke_name is None else invoke_card(card)
