"""The project's errors, and the one place that turns each into words for a Teams user.

Everything the bot can fail at is a `MeetBotError`. Code raises the specific subclass with the
facts (status, Graph request-id, what the user typed); `describe()` at the bottom is the only
place that decides what a person reads, in their language: the sentences here are English
msgids, translated by the locales/ catalogues (bot/i18n.py). Nothing here imports botbuilder.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .i18n import DOMAIN, ENGLISH, N_, Translator

EXAMPLE = N_("meet now 30m about budget review")
RETRY = N_("Try again")
# What attendees read in Outlook, in the asker's language: the event's body (Outlook adds the
# Teams join details below it) and the message that comes with End's cancellation.
CALENDAR_EVENT_BODY = N_("Scheduled in Microsoft Teams with MeetBot.")
CALENDAR_CANCEL_COMMENT = N_("The organizer ended this meeting in Microsoft Teams.")


class MeetBotError(Exception):
    """Base class. `detail` is for logs (never a token); users see `describe(err)`."""

    def __init__(self, detail: str = "", **facts: object) -> None:
        super().__init__(detail or self.__class__.__name__)
        self.detail = detail
        self.facts = facts


# --- the command ---------------------------------------------------------------------------
class ParseError(MeetBotError):
    """The text is a `meet` command we cannot honour. `reason` is a short user-facing phrase
    saying what was wrong (e.g. "“25:00” is not a time of day"); `example` a correct command.
    `suggestion`, when set, is the user's own command with a close correction applied ("tomorow"
    -> "tomorrow"), checked to parse: the error card offers it as a button that runs it.

    `template` is the reason's English msgid in the gettext domain "grammar" (placeholders in
    braces) and `params` its values, so `reason == template.format(**params)`; a translated
    reason is `gettext(template).format(**params)`. Values are the user's own words or names
    (days, months) already in the user's language; `example`/`suggestion` are commands in the
    language the user typed. None when the reason has no msgid."""

    def __init__(self, reason: str, example: str = EXAMPLE, suggestion: str | None = None, *,
                 template: str | None = None, params: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.example = example
        self.suggestion = suggestion
        self.template = template
        self.params: dict[str, str] = dict(params or {})


class OptionProblem(ParseError):
    """A meeting option asked for wrongly (bot/options.py): two values for one option, or a
    `lobby:` / `presenters:` that is not a choice. The reason is `template`, an English msgid
    of MeetBot's own domain ("meetbot", not the grammar's), filled with `params`."""

    domain = DOMAIN

    def __init__(self, template: str, **params: str) -> None:
        super().__init__(template.format(**params))
        self.template = template
        self.params = params


# --- Graph ---------------------------------------------------------------------------------
class GraphError(MeetBotError):
    status: int | None = None

    def __init__(self, detail: str = "", *, status: int | None = None, code: str | None = None,
                 request_id: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(detail)
        if status is not None:
            self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after


class GraphBadRequest(GraphError):
    status = 400


class GraphUnauthorized(GraphError):
    status = 401


class GraphForbidden(GraphError):
    status = 403


class AccessPolicyMissing(GraphForbidden):
    """App-only mode: the tenant has no application access policy granting this app."""


class CalendarPermissionMissing(GraphForbidden):
    """No `Calendars.ReadWrite` for this tenant: Graph answered 403 on `/events`, or Entra ID
    refused the scope (AADSTS65001). The meeting can still be made without a calendar."""


class GraphNotFound(GraphError):
    status = 404


class GraphConflict(GraphError):
    status = 409


class GraphThrottled(GraphError):
    status = 429


class GraphUnavailable(GraphError):
    """5xx after retries."""


class GraphTimeout(GraphError):
    """No answer within the overall deadline (retries included)."""


class GraphBadResponse(GraphError):
    """Graph answered with something that is not the JSON we expect."""


class OptionRefused(GraphError):
    """Graph refused meeting options (a policy or licence, e.g. no recording). `refused` names
    the onlineMeeting properties; `meeting` is the meeting with the accepted ones applied."""

    def __init__(self, detail: str = "", *, refused: tuple[str, ...] = (), meeting: object = None,
                 status: int | None = None, code: str | None = None,
                 request_id: str | None = None) -> None:
        super().__init__(detail, status=status, code=code, request_id=request_id)
        self.refused = refused
        self.meeting = meeting


# --- sign-in -------------------------------------------------------------------------------
class AuthError(MeetBotError):
    pass


class SignInRequired(AuthError):
    """No usable Graph token for this user: the router starts single sign-on."""


class ConsentRequired(AuthError):
    """Entra ID needs the user's (or an admin's) consent: AADSTS65001 / consent_required /
    interaction_required. `admin_consent_url` is filled when we can build it."""

    def __init__(self, detail: str = "", *, admin_consent_url: str | None = None,
                 claims: str | None = None) -> None:
        super().__init__(detail)
        self.admin_consent_url = admin_consent_url
        self.claims = claims


class TokenExchangeFailed(AuthError):
    """On-behalf-of failed for a reason other than consent (bad assertion, Entra down, …)."""


class SsoTokenMismatch(AuthError):
    """The Teams SSO token in a token exchange is not for this bot (`aud`) or not for the
    person and tenant of the activity (`oid`, `tid`): refused before any call to Entra ID."""


class TokenServiceUnavailable(AuthError):
    """Entra ID (or the broker's own worker threads) did not produce a token within the
    broker's timeout: a stalled request, a broken connection, a saturated pool."""


class PersonalAccountNotSupported(AuthError):
    pass


class TenantNotAllowed(AuthError):
    pass


class SignInLinkInvalid(AuthError):
    """The consent page's return (/auth/end) carried no `state` this bot issued, or a stale one."""

    def __init__(self, detail: str = "", *, expired: bool = False) -> None:
        super().__init__(detail)
        self.expired = expired


class OrganizerIdentityMissing(AuthError):
    """App-only mode needs the caller's aadObjectId, which the activity did not carry."""


class MembersUnavailable(MeetBotError):
    """Teams didn't tell us who is in the team or who was mentioned."""


class TooManyInvitees(MeetBotError):
    """More people to invite than a meeting holds (`bot.members.MAX_INVITEES`). `count` is how
    many were seen when reading stopped (for a team: more exist), `everyone` says whether the
    command was `with everyone`. The meeting itself can still be made without invites."""

    def __init__(self, detail: str = "", *, count: int, limit: int, everyone: bool) -> None:
        super().__init__(detail)
        self.count = count
        self.limit = limit
        self.everyone = everyone


# --- state ---------------------------------------------------------------------------------
class StorageUnavailable(MeetBotError):
    """The shared state store (Redis) could not be reached (connection refused/lost, timeout)."""


class LockBusy(MeetBotError):
    """A lock (`bot.state.store_lock`) was still held elsewhere after its bounded wait."""


# --- replies -------------------------------------------------------------------------------
class ConnectorError(MeetBotError):
    """The Bot Connector refused a call or gave no answer, after the retries that were safe.
    `status` is its last HTTP status (None when no answer came), `cause` what went wrong
    ("429", "ServerDisconnectedError", "deadline", …), `retry_after` its last Retry-After."""

    def __init__(self, status: int | None, method: str, path: str, *, cause: str | None = None,
                 retry_after: float | None = None) -> None:
        if status is not None and cause is None:
            detail = f"Bot Connector answered {status} to {method} {path}"
        else:
            last = f", last answer {status}" if status is not None else ""
            detail = f"Bot Connector: {method} {path} failed ({cause}{last})"
        super().__init__(detail)
        self.status = status
        self.method = method
        self.path = path
        self.cause = cause if cause is not None else str(status)
        self.retry_after = retry_after


# --- card actions --------------------------------------------------------------------------
class NotOrganizer(MeetBotError):
    """Someone other than the organizer clicked an organizer-only button."""


class MeetingGone(MeetBotError):
    """The meeting a card refers to was ended or no longer exists."""


class BadCardAction(MeetBotError):
    """A card action whose data we cannot read (forged, truncated, from another app)."""


class CardNoLongerValid(MeetBotError):
    """A card names a record MeetBot does not have for this conversation and tenant: expired,
    or copied from somewhere else."""


class NotRequester(MeetBotError):
    """Someone other than the person who asked clicked "Try again"."""


# Failures after which the same request may have reached Graph: the card offers "Try again",
# which repeats createOrGet with the first try's externalId (never a second meeting).
RETRYABLE = (GraphTimeout, GraphUnavailable, GraphBadResponse, GraphThrottled,
             StorageUnavailable)
# Failures after which the same command without its invitees would work.
RETRY_WITHOUT_INVITES = (TooManyInvitees,)


# --- the catalogue: the one place users' words live -----------------------------------------
@dataclass(frozen=True, slots=True)
class UserMessage:
    title: str
    text: str
    example: str | None = None
    request_id: str | None = None  # shown small, so an admin can find the call in Graph's logs
    retry_title: str = RETRY  # the button that repeats the command, where there is one
    suggestion: str | None = None  # a corrected command the card offers to run ("Did you mean")


# onlineMeeting properties (OptionRefused.refused) in the words a person uses.
_OPTION_WORDS = {"recordAutomatically": N_("automatic recording"),
                 "allowedPresenters": N_("the presenter choice"),
                 "lobbyBypassSettings": N_("the lobby choice"),
                 "allowMeetingChat": N_("the meeting chat choice")}


Describer = Callable[[Any, Translator], UserMessage]


def _message(tr: Translator, title: str, text: str, example: str | None = None, *,
             request_id: str | None = None) -> UserMessage:
    """The message in `tr`'s language: the msgids here are English, translated as shown."""
    _ = tr.gettext
    return UserMessage(_(title), _(text), _(example) if example else None,
                       request_id=request_id, retry_title=_(RETRY))


def _graph(title: str, text: str, example: str | None = None) -> Describer:
    """Graph's messages all carry Graph's request-id, so an admin can find the call."""
    return lambda err, tr: _message(tr, title, text, example,
                                    request_id=getattr(err, "request_id", None))


def _fixed(title: str, text: str, example: str | None = None) -> Describer:
    return lambda err, tr: _message(tr, title, text, example)


def _parse_error(err: ParseError, tr: Translator) -> UserMessage:
    """The grammar's reason in the user's language: its `template` (an English msgid of the
    "grammar" domain with {name} placeholders) filled with its `params`; a reason without
    one reads as the grammar wrote it. The stock example is translated; an example built from
    the user's own words is theirs already."""
    template: str | None = getattr(err, "template", None)
    params: dict[str, str] = getattr(err, "params", None) or {}
    _ = tr.gettext
    domain = getattr(err, "domain", "grammar")  # OptionProblem's msgids are MeetBot's own
    reason = _(template, domain=domain).format(**params) if template else err.reason
    example = _(EXAMPLE) if err.example == EXAMPLE else err.example
    return UserMessage(_("I couldn't read that"), f"{reason}.", example, retry_title=_(RETRY),
                       suggestion=err.suggestion)


def _consent(err: ConsentRequired, tr: Translator) -> UserMessage:
    msg = _message(tr, N_("Permission needed"), N_(
        "I need your permission to create Teams meetings for you. Select **Sign in** and "
        "accept the request."))
    if err.admin_consent_url:
        _ = tr.gettext
        msg = replace(msg, text=msg.text + " " + _(
            "If your organisation lets only admins approve apps, send your admin the "
            "approval link."))
    return msg


def names_and(names: list[str], tr: Translator) -> str:
    """"Ana", "Ana and Ben", "Ana, Ben and Cy" in `tr`'s words."""
    if len(names) < 2:
        return names[0] if names else ""
    _ = tr.gettext
    return _("{names} and {last}").format(names=", ".join(names[:-1]), last=names[-1])


def _option_refused(err: OptionRefused, tr: Translator) -> UserMessage:
    _ = tr.gettext
    words = [_(_OPTION_WORDS[name]) if name in _OPTION_WORDS else name
             for name in err.refused] or [_("a meeting option")]
    text = _("Teams didn't allow {options} for this meeting (your organisation's meeting policy "
             "or licence); the meeting works without it.").format(options=names_and(words, tr))
    return UserMessage(_("Some options weren't allowed"), text,
                       request_id=getattr(err, "request_id", None), retry_title=_(RETRY))


def _too_many(err: TooManyInvitees, tr: Translator) -> UserMessage:
    _ = tr.gettext
    if err.everyone:
        text = _(
            "This team has more than {limit} other members, and a Teams meeting has room for "
            "{room} people, you included. Start the meeting without invites and share its "
            "card: everyone who sees the card can join.")
    else:
        text = _(
            "You mentioned {count} people, and a Teams meeting has room for {room} people, you "
            "included. Start the meeting without invites and share its card: everyone who sees "
            "the card can join.")
    return UserMessage(
        _("That's too many people to invite"),
        text.format(limit=tr.number(err.limit), count=tr.number(err.count),
                    room=tr.number(err.limit + 1)),
        _("meet now about all hands"), retry_title=_("Meet without invites"))


def _sign_in_link(err: SignInLinkInvalid, tr: Translator) -> UserMessage:
    title = (N_("This sign-in link has expired") if err.expired
             else N_("I couldn't check this sign-in"))
    return _message(tr, title, N_("Go back to Teams and select Sign in again."))


# Looked up along the error's class hierarchy (its __mro__): the most specific entry wins, so a
# subclass with no entry of its own reads like its parent, whatever the order below.
CATALOGUE: dict[type[BaseException], Describer] = {
    ParseError: _parse_error,
    AccessPolicyMissing: _graph(
        N_("Your admin needs to allow this app"),
        N_("This bot creates meetings with an app permission, and your tenant has no Teams "
           "application access policy for it yet. A Teams admin can fix it in PowerShell: "
           "`New-CsApplicationAccessPolicy -Identity MeetBot-Policy -AppIds \"<bot app id>\"` "
           "then `Grant-CsApplicationAccessPolicy -PolicyName MeetBot-Policy -Global`. "
           "It takes up to 30 minutes to apply.")),
    GraphForbidden: _graph(
        N_("Teams didn't let me create that meeting"),
        N_("Your account isn't allowed to create online meetings (a Teams meeting policy or a "
           "missing licence). Ask your Teams admin to check your meeting policy.")),
    GraphUnauthorized: _graph(
        N_("Please sign in again"),
        N_("Microsoft Graph didn't accept your sign-in (it may have expired). Type `sign out`, "
           "then try again."), EXAMPLE),
    GraphThrottled: _graph(
        N_("Teams is busy right now"),
        N_("Microsoft Graph asked me to slow down. Please try again in a minute.")),
    GraphTimeout: _graph(
        N_("Teams is taking too long"),
        N_("Microsoft Graph didn't answer in time, so I stopped waiting. Select **Try again**: "
           "if the meeting was made after all, you'll get that same meeting, not a second "
           "one.")),
    GraphUnavailable: _graph(
        N_("Teams meetings are unavailable right now"),
        N_("Microsoft Graph is having trouble. Please try again in a few minutes.")),
    GraphNotFound: _graph(
        N_("I couldn't find that meeting"),
        N_("It may have been ended or deleted already.")),
    GraphConflict: _graph(
        N_("That meeting changed at the same time"),
        N_("Someone else changed it just now. Please try again.")),
    GraphBadRequest: _graph(
        N_("Teams didn't accept that meeting"),
        N_("Microsoft Graph rejected the request. Check the time and subject and try again."),
        EXAMPLE),
    GraphBadResponse: _graph(
        N_("Teams sent an answer I couldn't read"),
        N_("Please try again in a moment.")),
    GraphError: _graph(N_("Something went wrong with Teams"), N_("Please try again in a moment.")),
    ConsentRequired: _consent,
    PersonalAccountNotSupported: _fixed(
        N_("Personal accounts aren't supported"),
        N_("Microsoft Graph creates online meetings only for work or school accounts.")),
    TenantNotAllowed: _fixed(
        N_("Not available in your organisation"),
        N_("This bot hasn't been enabled for your organisation. Ask your Teams admin.")),
    OrganizerIdentityMissing: _fixed(
        N_("I couldn't tell who you are"),
        N_("Teams didn't send your work account with this message, so I can't make you the "
           "organizer. Try again from the Teams app with your work account.")),
    TokenExchangeFailed: _fixed(
        N_("Sign-in didn't work"),
        N_("I couldn't finish signing you in. Please try again; if it keeps failing, type "
           "`sign out` and then try once more.")),
    SsoTokenMismatch: _fixed(
        N_("I couldn't use that sign-in"),
        N_("Teams sent a sign-in that doesn't belong to your account in this chat, so I didn't "
           "use it. Please try again; if it keeps happening, type `sign out` and then try once "
           "more.")),
    TokenServiceUnavailable: _fixed(
        N_("Microsoft sign-in is slow right now"),
        N_("Microsoft's sign-in service didn't answer in time, so I stopped waiting. Please "
           "try again in a minute.")),
    SignInRequired: _fixed(N_("Please sign in"), N_("Sign in so I can create meetings as you.")),
    MembersUnavailable: _fixed(
        N_("I couldn't see who to invite"),
        N_("Teams didn't give me the member list. Try again, or start the meeting without "
           "`with …` and share the card."), EXAMPLE),
    StorageUnavailable: _fixed(
        N_("I'm having trouble right now"),
        N_("Part of my service is unavailable. Please try again in a minute.")),
    LockBusy: _fixed(
        N_("That meeting is busy"),
        N_("Someone is already changing this meeting; try again in a moment.")),
    ConnectorError: _fixed(
        N_("Teams didn't take my answer"),
        N_("I couldn't post my reply in Teams. Please try again in a moment.")),
    NotOrganizer: _fixed(
        N_("Only the organizer can do that"),
        N_("Only the person who created this meeting can extend or end it.")),
    MeetingGone: _fixed(N_("That meeting has ended"), N_("Start a new one with `meet`."),
                        EXAMPLE),
    CalendarPermissionMissing: _graph(
        N_("Invitations are off"), N_("Invitations are off: an admin can turn them on.")),
    OptionRefused: _option_refused,
    SignInLinkInvalid: _sign_in_link,
    TooManyInvitees: _too_many,
    CardNoLongerValid: _fixed(N_("This card is no longer valid"),
                              N_("Start a new meeting with `meet`."), EXAMPLE),
    # Shown as a toast on a click (bot/teams/replies.py), which has no title: the text says why.
    NotRequester: _fixed(N_("Only the person who asked can try again"),
                         N_("Only the person who asked for this meeting can try again. Start one "
                            "of your own with `meet`."), EXAMPLE),
    BadCardAction: _fixed(
        N_("I couldn't read that button"),
        N_("The card may be out of date. Start a new meeting with `meet`."), EXAMPLE),
}
_FALLBACK = _fixed(N_("Something went wrong"),
                   N_("I couldn't finish that. Please try again in a moment."))


def describe(err: BaseException, tr: Translator = ENGLISH) -> UserMessage:
    """What `err` tells the person, in `tr`'s language (English by default)."""
    for cls in type(err).__mro__:
        describer = CATALOGUE.get(cls)
        if describer is not None:
            return describer(err, tr)
    return _FALLBACK(err, tr)
