"""The project's errors, and the one place that turns each into words for a Teams user.

Everything the bot can fail at is a `MeetBotError`. Code raises the specific subclass with the
facts (status, Graph request-id, what the user typed); `describe()` at the bottom is the only
place that decides what a person reads. Nothing here imports botbuilder.
"""
from __future__ import annotations

from dataclasses import dataclass

EXAMPLE = "meet now 30m about budget review"


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
    -> "tomorrow"), checked to parse: the error card offers it as a button that runs it."""

    def __init__(self, reason: str, example: str = EXAMPLE,
                 suggestion: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.example = example
        self.suggestion = suggestion


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


class PersonalAccountNotSupported(AuthError):
    pass


class TenantNotAllowed(AuthError):
    pass


class OrganizerIdentityMissing(AuthError):
    """App-only mode needs the caller's aadObjectId, which the activity did not carry."""


class MembersUnavailable(MeetBotError):
    """Teams didn't tell us who is in the team or who was mentioned."""


# --- state ---------------------------------------------------------------------------------
class StorageUnavailable(MeetBotError):
    """The shared state store (Redis) could not be reached (connection refused/lost, timeout)."""


# --- card actions --------------------------------------------------------------------------
class NotOrganizer(MeetBotError):
    """Someone other than the organizer clicked an organizer-only button."""


class MeetingGone(MeetBotError):
    """The meeting a card refers to was ended or no longer exists."""


class BadCardAction(MeetBotError):
    """A card action whose data we cannot read (forged, truncated, from another app)."""


# Failures after which the same request may have reached Graph: the card offers "Try again",
# which repeats createOrGet with the first try's externalId (never a second meeting).
RETRYABLE = (GraphTimeout, GraphUnavailable, GraphBadResponse, GraphThrottled,
             StorageUnavailable)


# --- the catalogue: the one place users' words live -----------------------------------------
@dataclass(frozen=True, slots=True)
class UserMessage:
    title: str
    text: str
    example: str | None = None
    request_id: str | None = None  # shown small, so an admin can find the call in Graph's logs
    suggestion: str | None = None  # a corrected command the card offers to run ("Did you mean")


def describe(err: BaseException) -> UserMessage:  # noqa: C901 - a flat catalogue reads best
    rid = getattr(err, "request_id", None)
    if isinstance(err, ParseError):
        return UserMessage("I couldn't read that", f"{err.reason}.", err.example,
                           suggestion=err.suggestion)
    if isinstance(err, AccessPolicyMissing):
        return UserMessage(
            "Your admin needs to allow this app",
            "This bot creates meetings with an app permission, and your tenant has no Teams "
            "application access policy for it yet. A Teams admin can fix it in PowerShell: "
            "`New-CsApplicationAccessPolicy -Identity MeetBot-Policy -AppIds \"<bot app id>\"` then "
            "`Grant-CsApplicationAccessPolicy -PolicyName MeetBot-Policy -Global`. "
            "It takes up to 30 minutes to apply.", request_id=rid)
    if isinstance(err, GraphForbidden):
        return UserMessage(
            "Teams didn't let me create that meeting",
            "Your account isn't allowed to create online meetings (a Teams meeting policy or a "
            "missing licence). Ask your Teams admin to check your meeting policy.", request_id=rid)
    if isinstance(err, GraphUnauthorized):
        return UserMessage(
            "Please sign in again",
            "Microsoft Graph didn't accept your sign-in (it may have expired). Type `sign out`, "
            "then try again.", EXAMPLE, request_id=rid)
    if isinstance(err, GraphThrottled):
        return UserMessage(
            "Teams is busy right now",
            "Microsoft Graph asked me to slow down. Please try again in a minute.", request_id=rid)
    if isinstance(err, GraphTimeout):
        return UserMessage(
            "Teams is taking too long",
            "Microsoft Graph didn't answer in time, so I stopped waiting. Select **Try again**: "
            "if the meeting was made after all, you'll get that same meeting, not a second one.",
            request_id=rid)
    if isinstance(err, GraphUnavailable):
        return UserMessage(
            "Teams meetings are unavailable right now",
            "Microsoft Graph is having trouble. Please try again in a few minutes.",
            request_id=rid)
    if isinstance(err, GraphNotFound):
        return UserMessage(
            "I couldn't find that meeting",
            "It may have been ended or deleted already.", request_id=rid)
    if isinstance(err, GraphConflict):
        return UserMessage(
            "That meeting changed at the same time",
            "Someone else changed it just now. Please try again.", request_id=rid)
    if isinstance(err, GraphBadRequest):
        return UserMessage(
            "Teams didn't accept that meeting",
            "Microsoft Graph rejected the request. Check the time and subject and try again.",
            EXAMPLE, request_id=rid)
    if isinstance(err, GraphBadResponse):
        return UserMessage(
            "Teams sent an answer I couldn't read",
            "Please try again in a moment.", request_id=rid)
    if isinstance(err, GraphError):
        return UserMessage("Something went wrong with Teams",
                           "Please try again in a moment.", request_id=rid)
    if isinstance(err, ConsentRequired):
        text = ("I need your permission to create Teams meetings for you. Select **Sign in** and "
                "accept the request.")
        if err.admin_consent_url:
            text += (" If your organisation lets only admins approve apps, send your admin the "
                     "approval link.")
        return UserMessage("Permission needed", text)
    if isinstance(err, PersonalAccountNotSupported):
        return UserMessage(
            "Personal accounts aren't supported",
            "Microsoft Graph creates online meetings only for work or school accounts.")
    if isinstance(err, TenantNotAllowed):
        return UserMessage(
            "Not available in your organisation",
            "This bot hasn't been enabled for your organisation. Ask your Teams admin.")
    if isinstance(err, OrganizerIdentityMissing):
        return UserMessage(
            "I couldn't tell who you are",
            "Teams didn't send your work account with this message, so I can't make you the "
            "organizer. Try again from the Teams app with your work account.")
    if isinstance(err, TokenExchangeFailed):
        return UserMessage(
            "Sign-in didn't work",
            "I couldn't finish signing you in. Please try again; if it keeps failing, type "
            "`sign out` and then try once more.")
    if isinstance(err, SignInRequired):
        return UserMessage("Please sign in", "Sign in so I can create meetings as you.")
    if isinstance(err, MembersUnavailable):
        return UserMessage("I couldn't see who to invite",
                           "Teams didn't give me the member list. Try again, or start the "
                           "meeting without `with …` and share the card.", EXAMPLE)
    if isinstance(err, StorageUnavailable):
        return UserMessage("I'm having trouble right now",
                           "Part of my service is unavailable. Please try again in a minute.")
    if isinstance(err, NotOrganizer):
        return UserMessage(
            "Only the organizer can do that",
            "Only the person who created this meeting can extend or end it.")
    if isinstance(err, MeetingGone):
        return UserMessage("That meeting has ended", "Start a new one with `meet`.", EXAMPLE)
    if isinstance(err, BadCardAction):
        return UserMessage("I couldn't read that button",
                           "The card may be out of date. Start a new meeting with `meet`.", EXAMPLE)
    return UserMessage("Something went wrong",
                       "I couldn't finish that. Please try again in a moment.")
