"""Calendar events for the local Graph simulator: time zones, the stored event and its JSON.

From the Microsoft Graph v1.0 pages *event resource type*, *Create event*, *Update event*,
*event: cancel*, *dateTimeTimeZone resource type* and *onlineMeetingInfo resource type*. The
HTTP side (routes, permissions, bodies) lives in `graph_sim.py` next to the onlineMeetings one.
"""
from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = UTC
ACCESS_DENIED = "Access is denied. Check credentials and try again."  # Exchange-backed 403s
ITEM_NOT_FOUND = "The specified object was not found in the store."
NOT_ORGANIZER = "Your request can't be completed. You need to be an organizer to cancel a meeting."

# *dateTimeTimeZone resource type*: "any of the time zones supported by Windows, as well as the
# following time zone names" (the page's IANA list; its "(Kiev)"-style aliases included).
DOCUMENTED_IANA_ZONES = frozenset("""
Etc/GMT+12 Etc/GMT+11 Pacific/Honolulu America/Anchorage America/Santa_Isabel America/Los_Angeles
America/Phoenix America/Chihuahua America/Denver America/Guatemala America/Chicago
America/Mexico_City America/Regina America/Bogota America/New_York America/Indiana/Indianapolis
America/Caracas America/Asuncion America/Halifax America/Cuiaba America/La_Paz America/Santiago
America/St_Johns America/Sao_Paulo America/Argentina/Buenos_Aires America/Cayenne America/Godthab
America/Montevideo America/Bahia Etc/GMT+2 Atlantic/Azores Atlantic/Cape_Verde Africa/Casablanca
Etc/GMT Europe/London Atlantic/Reykjavik Europe/Berlin Europe/Budapest Europe/Paris Europe/Warsaw
Africa/Lagos Africa/Windhoek Europe/Bucharest Asia/Beirut Africa/Cairo Asia/Damascus
Africa/Johannesburg Europe/Kyiv Europe/Kiev Europe/Istanbul Asia/Jerusalem Asia/Amman Asia/Baghdad
Europe/Kaliningrad Asia/Riyadh Africa/Nairobi Asia/Tehran Asia/Dubai Asia/Baku Europe/Moscow
Indian/Mauritius Asia/Tbilisi Asia/Yerevan Asia/Kabul Asia/Karachi Asia/Toshkent Asia/Tashkent
Asia/Kolkata Asia/Colombo Asia/Kathmandu Asia/Astana Asia/Almaty Asia/Dhaka Asia/Yekaterinburg
Asia/Yangon Asia/Rangoon Asia/Bangkok Asia/Novosibirsk Asia/Shanghai Asia/Krasnoyarsk
Asia/Singapore Australia/Perth Asia/Taipei Asia/Ulaanbaatar Asia/Irkutsk Asia/Tokyo Asia/Seoul
Australia/Adelaide Australia/Darwin Australia/Brisbane Australia/Sydney Pacific/Port_Moresby
Australia/Hobart Asia/Yakutsk Pacific/Guadalcanal Asia/Vladivostok Pacific/Auckland Etc/GMT-12
Pacific/Fiji Asia/Magadan Pacific/Tongatapu Pacific/Apia Pacific/Kiritimati
""".split())
# A few Windows names (the docs' own examples use "Pacific Standard Time"); not the full set.
WINDOWS_ZONES = {"UTC": "UTC", "Pacific Standard Time": "America/Los_Angeles",
                 "Mountain Standard Time": "America/Denver", "Central Standard Time": "America/Chicago",
                 "Eastern Standard Time": "America/New_York", "GMT Standard Time": "Europe/London",
                 "W. Europe Standard Time": "Europe/Berlin", "Romance Standard Time": "Europe/Paris",
                 "Central Europe Standard Time": "Europe/Budapest", "India Standard Time": "Asia/Kolkata",
                 "China Standard Time": "Asia/Shanghai", "Tokyo Standard Time": "Asia/Tokyo",
                 "AUS Eastern Standard Time": "Australia/Sydney"}
_ZONE_ALIASES = {"Asia/Toshkent": "Asia/Tashkent", "Asia/Astana": "Asia/Almaty"}


def zone(name: str) -> tzinfo | None:
    """The tzinfo of a time zone name Graph accepts, else None."""
    key = WINDOWS_ZONES.get(name) or (name if name in DOCUMENTED_IANA_ZONES else None)
    if key is None:
        return None
    try:
        return ZoneInfo(_ZONE_ALIASES.get(key, key))
    except ZoneInfoNotFoundError:  # an alias this machine's tz database lacks
        return None


def event_time(dt: datetime, zone_name: str, tz: tzinfo) -> dict[str, str]:
    """dateTimeTimeZone as Graph answers: wall clock with 7 fraction digits, no offset."""
    return {"dateTime": dt.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0", "timeZone": zone_name}


def event_id() -> str:
    """Exchange item ids: long URL-safe base64 starting AAMk, ending '='."""
    return "AAMkA" + base64.urlsafe_b64encode(secrets.token_bytes(96)).decode().rstrip("=") + "AAA="


def ical_uid() -> str:
    return "040000008200E00074C5B7101A82E008" + secrets.token_hex(40).upper()


@dataclass
class MeetingMail:
    """A meeting message Outlook sent on the organizer's behalf."""

    kind: str  # "request" (invitation), "update", "cancel"
    sender: str | None  # organizer's address
    to: tuple[str, ...]
    event_id: str
    subject: str | None
    comment: str | None = None


@dataclass
class CalEvent:
    """One event in one calendar. Attendees known to the simulator's directory get their own
    copy (`parent` = the organizer's event), as Exchange delivers the invitation to them."""

    id: str
    tenant_id: str
    owner: str  # the calendar's user (object id)
    organizer: str
    start: datetime  # aware
    end: datetime
    data: dict[str, Any]  # the rest of the event as Graph shows it
    meeting_id: str | None = None  # the onlineMeeting behind it (organizer's event only)
    parent: str | None = None
    copies: list[str] = field(default_factory=list)

    @property
    def attendee_addresses(self) -> tuple[str, ...]:
        return tuple(a["emailAddress"]["address"] for a in self.data["attendees"])


def attendees_json(attendees: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Request attendees as Graph stores them: lower-case type, a response status."""
    return [{"type": str(a.get("type") or "required").lower(),
             "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
             "emailAddress": {"name": a["emailAddress"].get("name") or a["emailAddress"]["address"],
                              "address": a["emailAddress"]["address"]}}
            for a in attendees or ()]


def online_meeting_info(meeting: dict[str, Any] | None) -> dict[str, Any] | None:
    """The event's summary of its Teams meeting (*onlineMeetingInfo*): join link, conference id
    and one toll number; no meeting ID or passcode, and only one toll number (the full list is
    on the onlineMeeting)."""
    if meeting is None:
        return None
    audio = meeting.get("audioConferencing") or {}
    return {"joinUrl": meeting["joinWebUrl"], "conferenceId": audio.get("conferenceId"),
            "tollNumber": audio.get("tollNumber"), "tollFreeNumbers": audio.get("tollFreeNumbers") or [],
            "phones": None, "quickDial": None}


def body_with_meeting_blob(body: dict[str, Any] | None, meeting: dict[str, Any] | None) -> dict[str, str]:
    """Exchange stores HTML and appends the Teams meeting block to an online meeting's body."""
    content = (body or {}).get("content") or ""
    if str((body or {}).get("contentType") or "text").lower() == "text":
        content = content.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if meeting is not None:
        ids = meeting["joinMeetingIdSettings"]
        block = [f'<a href="{meeting["joinWebUrl"]}">Join the meeting now</a>',
                 f"Meeting ID: {ids['joinMeetingId']}"]
        if ids.get("passcode"):
            block.append(f"Passcode: {ids['passcode']}")
        content += "<div>Microsoft Teams meeting<br>" + "<br>".join(block) + "</div>"
    return {"contentType": "html", "content": f"<html><head></head><body>{content}</body></html>"}


def web_link(eid: str) -> str:
    return f"https://outlook.office365.com/owa/?itemid={quote(eid, safe='')}&exvsurl=1&path=/calendar/item"
