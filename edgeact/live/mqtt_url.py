"""``--mqtt`` URL and ``--mqtt-level`` parsing: the broker, topic prefix and credentials of
``mqtt[s]://[user[:pass]@]host[:port][/prefix]`` (:class:`MqttTarget`), and the superclass level
the events name (see :mod:`edgeact.live.mqtt`). No network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import unquote, urlsplit

from edgeact.errors import EdgeactError

SCHEMES = {"mqtt": 1883, "mqtts": 8883}
DEFAULT_PREFIX = "edgeact"


@dataclass(frozen=True)
class MqttTarget:
    """A broker and topic prefix from ``mqtt[s]://[user[:pass]@]host[:port][/prefix]``."""

    host: str
    port: int
    prefix: str = DEFAULT_PREFIX
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    tls: bool = False

    @property
    def display(self) -> str:
        """The URL without its password (for messages)."""
        user = f"{self.username}:***@" if self.password is not None else (f"{self.username}@" if self.username else "")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}/{self.prefix}"


def parse_mqtt_url(url: str) -> MqttTarget:
    """The :class:`MqttTarget` of ``url``; a malformed URL or an unknown scheme is an
    :class:`EdgeactError` (one line, the password masked)."""
    text = str(url).strip()
    shown = _mask(text)
    usage = "use mqtt://[user:pass@]host[:port][/prefix] or mqtts://..."
    if "://" not in text:
        raise EdgeactError(f"{shown}: not a broker URL; {usage}", param="url")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise EdgeactError(f"{shown}: unknown scheme {parts.scheme}://; {usage}", param="url")
    try:
        port = parts.port
    except ValueError:
        raise EdgeactError(f"{shown}: the port is not a number in 1-65535; {usage}", param="url") from None
    if not parts.hostname:
        raise EdgeactError(f"{shown}: no broker host; {usage}", param="url")
    if port == 0:
        raise EdgeactError(f"{shown}: port 0 is not a broker port; {usage}", param="url")
    if parts.query or parts.fragment:
        raise EdgeactError(f"{shown}: a broker URL takes no ?query or #fragment; {usage}", param="url")
    prefix = unquote(parts.path).strip("/") or DEFAULT_PREFIX
    levels = prefix.split("/")
    if any(not lv for lv in levels) or any(c in prefix for c in "+#\0"):
        raise EdgeactError(f"{shown}: topic prefix {prefix!r} must be levels without +, # or empty parts", param="url")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return MqttTarget(host=parts.hostname, port=port or SCHEMES[scheme], prefix=prefix, username=username or None,
                      password=password, tls=scheme == "mqtts")


def _mask(text: str) -> str:
    head, sep, rest = text.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return text
    cred, _, host = rest.partition("@")
    user = cred.split(":", 1)[0]
    return f"{head}://{user}{':***' if ':' in cred else ''}@{host}"


def parse_level(text: Optional[str]) -> Optional[int]:
    """The MQTT event level (``--mqtt-level``): ``fine`` (None) or a superclass level 1..L (coarse to fine, as in the view)."""
    if text is None or str(text).strip().lower() in ("", "fine"):
        return None
    try:
        level = int(str(text).strip())
    except ValueError:
        raise EdgeactError(f"{text}: give fine or a superclass level number (1 = coarsest)", param="text") from None
    if level < 1:
        raise EdgeactError(f"{text}: superclass levels count from 1 (the coarsest); or give fine", param="text")
    return level


def check_level(level: Optional[int], level_count: int) -> None:
    """A superclass level must be one the model has."""
    if level is not None and level > level_count:
        have = f"levels 1-{level_count}" if level_count else "no superclass levels"
        raise EdgeactError(f"{level}: the model has {have}; use fine" + (f" or 1-{level_count}" if level_count else ""),
                           param="level")

