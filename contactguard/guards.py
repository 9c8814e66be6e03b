"""Guards against the mistakes that empty a phone: checked before anything is changed.

A sync run deletes what the evidence does not allow, so a mistake in what it is given (an
unmounted evidence share, the company book named as the target) would delete everyone. Like
careful sync tools (rsync's ``--max-delete``, unison's "deleting everything" confirmation,
vdirsyncer's refusal to sync against an emptied storage) the run refuses, changes nothing and
says why, when:

- its evidence yields no identity at all (``no_evidence``);
- the target would lose more than ``max_delete_share`` of its cards (default half) and more than
  ``HANDFUL`` of them (``too_many_deletions``);
- source and target are the same collection, or one lies inside the other
  (``same_collection``).

``--force`` (or ``force = true`` in the config) lets an admin proceed on purpose. Option values
that would silently change every decision are checked too: ``region`` against the regions
phonenumbers knows (``phones.known_region``) and ``keep_fields`` against vCard property names.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from .errors import ConfigError, SyncError

__all__ = [
    "DEFAULT_MAX_DELETE_SHARE",
    "HANDFUL",
    "GuardRefused",
    "check_keep_fields",
    "check_region",
    "nested_collections",
    "no_evidence",
    "too_many_deletions",
]

DEFAULT_MAX_DELETE_SHARE = 0.5
HANDFUL = 5  # this many deletions never trip the share guard: a small book may lose a few

# vCard properties (IANA registry: RFC 6350, 6474, 6715, 8605, 9554; RFC 2426 for vCard 3)
_PROPERTIES = frozenset(
    {
        "ADR", "ANNIVERSARY", "BDAY", "BIRTHPLACE", "CALADRURI", "CALURI", "CATEGORIES",
        "CLASS", "CONTACT-URI", "CREATED", "DEATHDATE", "DEATHPLACE", "EMAIL", "EXPERTISE",
        "FBURL", "FN", "GENDER", "GEO", "GRAMGENDER", "HOBBY", "IMPP", "INTEREST", "KIND",
        "LABEL", "LANG", "LANGUAGE", "MAILER", "MEMBER", "N", "NAME", "NICKNAME", "NOTE", "ORG",
        "ORG-DIRECTORY", "PRONOUNS", "RELATED", "ROLE", "SOCIALPROFILE", "SORT-STRING",
        "SOURCE", "TEL", "TITLE", "TZ", "UID", "URL", "XML",
    }
)  # fmt: skip
# vCard properties that are never carried to the clean book, whatever --keep-field says
_NEVER_KEPT = frozenset(
    {"PHOTO", "LOGO", "SOUND", "KEY", "AGENT", "VERSION", "PRODID", "REV", "PROFILE",
     "CLIENTPIDMAP", "JSPROP", "BEGIN", "END"}
)  # fmt: skip


class GuardRefused(SyncError):
    """A guard stopped the run before anything was changed; ``--force`` overrides it."""

    def __init__(self, message: str, *, plan: str = "") -> None:
        super().__init__(message)
        self.plan = plan  # the plan the run would have carried out, for the operator to read


def no_evidence(identities: int) -> str | None:
    """Why a run whose evidence yields ``identities`` identities must stop, or None."""
    if identities > 0:
        return None
    return (
        "the evidence yielded no identity at all (an unmounted share, an empty folder, a wrong "
        "path?); every card would be deleted from the phone"
    )


def too_many_deletions(deletes: int, cards: int, share: float) -> str | None:
    """Why deleting ``deletes`` of a target's ``cards`` must stop, or None."""
    if deletes <= HANDFUL or cards <= 0 or deletes <= share * cards:
        return None
    return (
        f"the run would delete {deletes} of the {cards} cards on the phone, more than "
        f"{share:.0%} (max_delete_share)"
    )


def nested_collections(source: str, target: str) -> str | None:
    """Why a source and target URL must not be synced (the same collection, or one inside the
    other, trailing slash or not), or None."""
    a, b = _collection_key(source), _collection_key(target)
    if a[:3] != b[:3]:
        return None
    short, long = sorted((a[3], b[3]), key=len)
    if long[: len(short)] != short:
        return None
    if len(short) == len(long):
        return "the source and the target are the same address book"
    return "the source and the target address books lie one inside the other"


def _collection_key(url: str) -> tuple[str, str, int, tuple[str, ...]]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    segments = tuple(unquote(s) for s in parts.path.split("/") if s and s != ".")
    return scheme, (parts.hostname or "").lower().rstrip("."), port, segments


def check_region(region: str | None, *, where: str = "--region") -> str | None:
    """``region`` upper-cased when phonenumbers knows it; ConfigError otherwise."""
    if region is None:
        return None
    from .phones import known_region

    code = region.strip().upper()
    if not known_region(code):
        raise ConfigError(
            f"{where}: {region!r} is not a region phonenumbers knows; give a two-letter "
            "ISO 3166 code such as DE, US or GB"
        )
    return code


def check_keep_fields(names: Iterable[str], *, where: str = "--keep-field") -> frozenset[str]:
    """The field names upper-cased when each is a vCard property the clean book can carry."""
    out = set()
    for name in names:
        upper = name.strip().upper()
        if upper in _NEVER_KEPT or upper.startswith("X-"):
            raise ConfigError(
                f"{where}: {name!r} is never kept (binary, metadata or X- properties are "
                "dropped from the clean book)"
            )
        if upper not in _PROPERTIES:
            raise ConfigError(
                f"{where}: {name!r} is not a vCard property name; use names such as ORG, "
                "EMAIL, TITLE, NOTE, ADR or URL"
            )
        out.add(upper)
    return frozenset(out)
