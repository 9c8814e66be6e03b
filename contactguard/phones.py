"""Telephone numbers: book numbers to E.164, evidence numbers to keys, WhatsApp variants, masking.

This is the only module that imports phonenumbers; everything else passes "+digits" strings.

Two kinds of numbers meet here and are treated differently on purpose:

- **Book numbers** (``normalize``) are whatever people typed into an address book. They become
  E.164 only when phonenumbers calls them valid; anything else is ``invalid-number``, never a
  guess.
- **Evidence numbers** (``evidence_key``) come from WhatsApp itself (+E.164 or a ``wa_id``). Some
  of WhatsApp's identities are invalid to phonenumbers (Mexico's ``521`` + 10 digits), so they
  are kept as long as they look like an international number at all.

``variants`` bridges the two: the set of "+digits" strings WhatsApp treats as one identity
(docs/architecture.md, "Phone numbers").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import phonenumbers

from . import fastpaths

__all__ = [
    "evidence_key",
    "fast_path_agrees",
    "known_region",
    "mask",
    "normalize",
    "normalizer",
    "plain_number",
    "variants",
    "wa_me",
]

# Sized for a 100,000-card book: distinct formats repeat, and an entry is a few hundred bytes.
_CACHE_SIZE = 1 << 16

# ITU-T E.164 §6.1: at most 15 digits including the country code. The shortest numbers in use
# are 7 digits in all (e.g. +683 4002, Niue); anything shorter is a placeholder or a typo.
_MIN_DIGITS = 7
_MAX_DIGITS = 15

# Calling codes are prefix-free (ITU-T E.164 §6.2.1), so at most one of the 1-, 2- and 3-digit
# prefixes of a number is a country code.
_COUNTRY_CODES = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
# three leading digits (no leading 0) → the length of the country code they start with, as
# _split_country_code finds it for a number of more than three digits
_CODE_LENGTH = {
    lead: next(n for n in (1, 2, 3) if int(lead[:n]) in _COUNTRY_CODES)
    for lead in map(str, range(100, 1000))
    if any(int(lead[:n]) in _COUNTRY_CODES for n in (1, 2, 3))
}

# What evidence sources write around the digits: "+52 1 55-4163-7145", "whatsapp:+49170…".
_EVIDENCE_SEPARATORS = re.compile(r"[\s\-./()\u00a0\u202f\u200e\u200f]")
_EVIDENCE_SCHEMES = ("tel:", "whatsapp:")

_MEXICO = 52
_BRAZIL = 55
_ARGENTINA = 54
_MX_AREA_START = "23456789"
_AR_AREA_START = "123"


@functools.lru_cache(maxsize=_CACHE_SIZE)
def known_region(region: str) -> bool:
    """Whether phonenumbers has numbering metadata for ``region`` (an upper-case ISO 3166 code):
    an unknown one ("XX", "Germany", "49") would make every national number invalid."""
    return region in phonenumbers.SUPPORTED_REGIONS


def normalize(raw: str, region: str | None) -> str | None:
    """A book number in E.164, or None when phonenumbers cannot make a valid number of it.

    ``region`` (ISO 3166 alpha-2, e.g. "DE") is needed for national numbers; without it they are
    None. Handles separators, ``(0)`` after the country code, ``00`` as international prefix,
    ``tel:`` URIs (RFC 3966, extensions dropped) and vanity letters.
    """
    text = raw.strip()
    if not text:
        return None
    region = region.upper() if region else None
    fast = _fast_normalize(text, region)
    if fast is not _UNSURE:
        return fast  # type: ignore[return-value]
    return _slow_normalize(text, region)


def normalizer(region: str | None) -> Callable[[str], str | None]:
    """``normalize(raw, region)`` as a function of ``raw`` alone, for a whole book.

    Every number of a large book is a new one, so a cache keyed by the number only costs time;
    this one caches only what phonenumbers itself has to read (the unusual spellings, which do
    repeat: placeholders, "n/a").
    """
    region = region.upper() if region else None

    fast_path = _fast_for(region)

    def normalize_one(raw: str) -> str | None:
        text = raw.strip()
        if not text:
            return None
        fast = fast_path(text)
        if fast is not _UNSURE:
            return fast  # type: ignore[return-value]
        return _slow_cached(text, region)

    return normalize_one


def _slow_normalize(text: str, region: str | None) -> str | None:
    """``normalize`` through phonenumbers itself (the reference the fast path must equal)."""
    number = _parse_valid(text, region)
    if number is None and text.startswith("00"):
        # "00" is the international prefix in most of the world, but phonenumbers only reads it
        # as such for a region that dials it (NANP dials 011) and not at all without a region.
        number = _parse_valid("+" + text[2:], None)
    if number is None:
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


_slow_cached = functools.lru_cache(maxsize=_CACHE_SIZE)(_slow_normalize)


def is_national(raw: str) -> bool:
    """Whether a book number is spelt nationally (no "+", "00" or "tel:+" in front): one that
    cannot be read without a default region."""
    return not raw.lstrip().startswith(("+", "00", "tel:+"))


def wa_me(raw: str, region: str | None = None) -> str | None:
    """A number in the form click-to-chat links use: international digits, no "+", no leading
    zeros (``0170 1234567`` with region DE → ``491701234567``); None when it is not valid."""
    e164 = normalize(raw, region)
    return e164[1:] if e164 is not None else None


# --------------------------------------------------------------------------- fast path
#
# phonenumbers.parse + is_valid_number cost about 35 µs per number, the better part of a
# second per 30,000 numbers. For the plain spellings that make up almost every address book
# (digits, spaces, "-", "/", ".", brackets, a leading "+") the result depends only on the digits,
# the "+" and the region, and the steps phonenumbers takes for them are few: find the country
# code (after "+" or the region's international prefix), strip the national prefix, check the
# length, and match the metadata's patterns. ``_fast_for(region)`` takes exactly those steps with
# phonenumbers' own metadata and patterns, compiled once, and answers ``_UNSURE`` for anything
# else (letters, extensions, tel: URIs, transform rules, shared or non-geographic country codes
# that need a region look-up, leading zeros); ``normalize`` then asks phonenumbers itself.
# tests/test_fastpath.py compares the two on every spelling shape it can think of, and
# ``fast_path_agrees`` compares them on a small sample in every process, before first use, with
# whatever phonenumbers is installed: a release that changed its steps makes the fast path step
# aside instead of drifting.

_UNSURE = object()
_TEL_URI = re.compile(r"tel:\+[0-9][0-9().-]*")  # no parameters, no letters, no phone-context
_MIN_FAST_DIGITS = 3  # fewer digits: phonenumbers' viability rules get special, ask it
_MAX_FAST_DIGITS = 17  # phonenumbers' _MAX_LENGTH_FOR_NSN
# The number types _number_type_helper tries. All that matters here is whether one matches, so
# the one pattern they are joined into tries first what address books hold most: mobile and
# fixed-line numbers (a mobile number matches in a third of the time it took at the end).
_TYPES = ("mobile", "fixed_line", "premium_rate", "toll_free", "shared_cost", "voip",
          "personal_number", "pager", "uan", "voicemail")


class _Country:
    """What the fast path needs of one region's metadata, with its patterns compiled."""

    def __init__(self, metadata: Any) -> None:
        self.code = int(metadata.country_code)
        self.code_text = str(self.code)
        idd = metadata.international_prefix
        self.idd = re.compile(idd) if idd else None
        prefix = metadata.national_prefix_for_parsing
        self.prefix = re.compile(prefix) if prefix else None
        # a transform rule rewrites the number (Argentina, Mexico, ...): left to phonenumbers
        self.simple = not metadata.national_prefix_transform_rule
        general = metadata.general_desc
        self.general = re.compile(general.national_number_pattern or "")
        self.lengths = tuple(general.possible_length)
        self.local_lengths = frozenset(general.possible_length_local_only)
        self.general_lengths = frozenset(self.lengths)
        # which region of a shared country code a number is of (_region_code_for_number_from_list)
        leading = metadata.leading_digits
        self.leading = re.compile(leading) if leading is not None else None
        self._metadata = metadata
        # the fast path's per-number steps, bound once: the general pattern, the national
        # prefix, which lengths length_accepts, and per length the types' pattern (or None)
        self.general_match = self.general.fullmatch
        self.prefix_match = self.prefix.match if self.prefix is not None else None
        self.accepts = frozenset(
            length for length in range(_MAX_FAST_DIGITS + 4) if self.length_accepts(length)
        )
        self.types: dict[int, Callable[[str], re.Match[str] | None] | None] = {}
        # the regions sharing its country code, when this is their main region (+1, +44, +7)
        self.shared: tuple[str, ...] | None = None

    def length_accepts(self, length: int) -> bool:
        """parse keeps a number of ``length`` digits without its national prefix unless
        _test_number_length says TOO_SHORT, IS_POSSIBLE_LOCAL_ONLY or INVALID_LENGTH (general
        description)."""
        lengths = self.lengths
        if length in self.local_lengths:
            return False
        if lengths[0] == length:
            return True
        if lengths[0] > length:
            return False
        if lengths[-1] < length:
            return True  # TOO_LONG is not among the three: parse keeps the stripped number
        return length in lengths[1:]

    def valid(self, nsn: str, general_matched: bool = False) -> bool:
        """_number_type_helper(nsn) != UNKNOWN, as one regex per length (``general_matched``:
        the caller saw the general pattern match ``nsn``)."""
        length = len(nsn)
        if self.general_lengths and length not in self.general_lengths:
            return False
        if not general_matched and not self.general_match(nsn):
            return False
        try:
            types = self.types[length]
        except KeyError:
            types = self.types_for(length)
        return types is not None and types(nsn) is not None

    def types_for(self, length: int) -> Callable[[str], re.Match[str] | None] | None:
        """The types' pattern of numbers of ``length`` (cached in ``types``)."""
        pattern = self._types_pattern(length)
        found = self.types[length] = pattern.fullmatch if pattern is not None else None
        return found

    def _types_pattern(self, length: int) -> re.Pattern[str] | None:
        metadata = self._metadata
        patterns = []
        for name in _TYPES:
            if name == "mobile" and metadata.same_mobile_and_fixed_line_pattern:
                continue  # _number_type_helper does not look at it then
            desc = getattr(metadata, name)
            if desc is None or not desc.national_number_pattern:
                continue  # None or an empty pattern never matches a non-empty number
            if desc.possible_length and length not in desc.possible_length:
                continue
            patterns.append(f"(?:{desc.national_number_pattern})")
        return re.compile("|".join(patterns)) if patterns else None


_COUNTRIES: dict[str, _Country | None] = {}
_CODE_REGIONS: dict[int, tuple[str, ...]] = phonenumbers.COUNTRY_CODE_TO_REGION_CODE


def _country(region: str) -> _Country | None:
    try:
        return _COUNTRIES[region]
    except KeyError:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
        country = _COUNTRIES[region] = _Country(metadata) if metadata is not None else None
        return country


def _fast_normalize(text: str, region: str | None) -> str | object | None:
    """``_slow_normalize(text, region)`` for plain spellings, else ``_UNSURE``."""
    return _fast_for(region)(text)


_FastPath = Callable[[str], "str | object | None"]
_FAST: dict[str | None, _FastPath] = {}


def _fast_for(region: str | None) -> _FastPath:
    """``_fast_normalize`` for one region, as a function of the text (cached per region); one
    that is always unsure (everything goes to phonenumbers) when the fast path does not agree
    with the installed phonenumbers (``fast_path_agrees``), and in reference mode
    (``fastpaths``)."""
    if not fastpaths.enabled():
        return _ask_phonenumbers
    try:
        return _FAST[region]
    except KeyError:
        pass
    if len(_FAST) > 64:  # regions come from callers: keep the cache small
        _FAST.clear()
    fast = _build_fast(region) if fast_path_agrees() else _ask_phonenumbers
    _FAST[region] = fast
    return fast


def _ask_phonenumbers(text: str) -> object:
    """The fast path stepping aside: every number goes to phonenumbers."""
    return _UNSURE


# Spellings the fast path decides itself (national and international, mobile and fixed-line,
# valid and not, shared country codes, national prefixes, international prefixes), per region.
# Made-up numbers in the shapes of real address books.
_SAMPLE: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    (None, ("+49 170 1234567", "+49 30 12345678", "+49 170 12", "0049 170 1234567",
            "+33 6 12 34 56 78", "+34 612 34 56 78", "+39 347 123 4567", "+7 912 345-67-89",
            "+7 7172 123456")),
    ("DE", ("0170 1234567", "030 12345678", "(0)30/1234567", "00 33 6 12 34 56 78", "0170 12",
            "089 1234567", "+49 (0)170 1234567", "0049 30 123")),
    ("FR", ("06 12 34 56 78", "01 23 45 67 89", "6 12 34 56 78")),
)
# (metadata of few countries: the check costs a few milliseconds once per process)


@functools.lru_cache(maxsize=1)
def fast_path_agrees() -> bool:
    """Whether the fast path gives what the installed phonenumbers gives on a small built-in
    sample (checked once per process, before the fast path's first use).

    The fast path reads phonenumbers' metadata and repeats its parsing steps: a phonenumbers
    release that changes those steps must not change a decision silently. When the two
    disagree on any number of the sample, the fast path steps aside and every number goes to
    phonenumbers itself (slower, never wrong)."""
    for region, texts in _SAMPLE:
        fast = _build_fast(region)
        for text in texts:
            found = fast(text)
            if found is not _UNSURE and found != _slow_normalize(text, region):
                return False
    return True


def _build_fast(region: str | None) -> _FastPath:
    """The fast path of one region: the region's metadata and every helper are bound once,
    since a book's numbers are read with one region, and the per-number work is a handful of
    string operations and at most four regex matches."""
    home = _country(region) if region is not None else None
    unsure = _UNSURE
    code_length = _CODE_LENGTH.get
    tel_uri = _TEL_URI.fullmatch
    low, high = _MIN_FAST_DIGITS, _MAX_FAST_DIGITS

    def finish(code: int, national: str, country: _Country, main: _Country) -> str | object | None:
        """The national number read with ``country``'s metadata: E.164, None or unsure."""
        if len(national) < 2:
            return None  # TOO_SHORT_NSN
        general = country.general_match
        general_matched = False  # the general pattern is known to match ``national``
        prefix = country.prefix_match
        if prefix is not None:
            found = prefix(national)
            if found is not None:
                stripped = national[found.end() :]
                # kept unless the number was viable with its prefix and is not without it
                if general(stripped) is not None:
                    if len(stripped) in country.accepts:
                        national, general_matched = stripped, True
                elif general(national) is None and len(stripped) in country.accepts:
                    national = stripped
        length = len(national)
        if not 2 <= length <= high:
            return None  # TOO_SHORT_NSN or TOO_LONG
        if national[0] == "0":
            return unsure  # Italian leading zeros: left to phonenumbers
        if main.shared is not None:
            valid = _valid_shared(national, main.shared)
        elif (country.general_lengths and length not in country.general_lengths) or (
            not general_matched and general(national) is None
        ):
            valid = False
        else:  # country.valid(national, general_matched), inline
            try:
                types = country.types[length]
            except KeyError:
                types = country.types_for(length)
            valid = types is not None and types(national) is not None
        return f"+{code}{national}" if valid else None

    def international(digits: str) -> str | object | None:
        """The digits after "+" or an international prefix."""
        lead = code_length(digits[:3]) if len(digits) > 2 else None  # no leading 0 in it
        if lead is None:
            return unsure
        code = int(digits[:lead])
        main = _main_country(code)
        if main is None:
            return unsure  # non-geographic, unknown or transformed: left to phonenumbers
        # parse reads the number with the metadata of the country code's main region
        return finish(code, digits[lead:], main, main)

    def national(digits: str) -> str | object | None:
        """Digits without "+": national, or international after the region's prefix."""
        if home is None:
            # no (known) region: parse raises INVALID_COUNTRY_CODE, unless the region is one
            # phonenumbers knows and we do not
            return None if region is None else unsure
        idd = home.idd.match(digits) if home.idd is not None else None
        if idd is not None:
            end = idd.end()
            if end >= len(digits) or digits[end] == "0":
                return unsure  # not read as an international prefix after all: rare
            return international(digits[end:])
        if digits.startswith(home.code_text):
            return unsure  # "4917…" without "+": parse tries both readings
        main = _main_country(home.code)
        if main is None or not home.simple:
            return unsure
        return finish(home.code, digits, home, main)

    def fast(text: str) -> str | object | None:
        if text[:4] == "tel:" and tel_uri(text):
            text = text[4:]  # RFC 3966 §5.1.4 global number: an international number follows
        if not text or len(text) > 64:
            return unsure
        # a plain spelling (digits, " ()./-", a "+" in front only) is ASCII digits once the
        # separators are gone; str.replace is several times faster here than a regex and a sub
        plus = text[0] == "+"
        digits = (text[1:] if plus else text).replace(" ", "").replace("-", "")
        if not digits.isdigit():
            digits = digits.replace("/", "").replace(".", "").replace("(", "").replace(")", "")
            if not digits.isdigit():
                return unsure
        if not digits.isascii():
            return unsure
        if not low <= len(digits) <= high + 3:
            return unsure
        found = international(digits) if plus else national(digits)
        if found is None and text.startswith("00"):
            # what parse makes of "+" and the rest, when the region does not dial 00
            rest = digits[2:]
            found = international(rest) if low <= len(rest) <= high + 3 else unsure
        return found

    return fast


# country code → the _Country parse reads "+code…" with (its main region's), when the fast path
# can: None for a non-geographic code ("001"), a transform rule, or no metadata
_MAIN: dict[int, _Country | None] = {}


def _main_country(code: int) -> _Country | None:
    """The _Country parse reads "+code…" with (cached in _MAIN)."""
    try:
        return _MAIN[code]
    except KeyError:
        pass
    regions = _CODE_REGIONS.get(code, ())
    country = None
    if regions and "001" not in regions:
        country = _country(regions[0])
        if country is not None and not country.simple:
            country = None
        if country is not None and len(regions) > 1:
            country.shared = regions
    _MAIN[code] = country
    return country


def _valid_shared(nsn: str, regions: tuple[str, ...]) -> bool:
    """is_valid_number for a shared country code (+1, +44, +7, ...): the number is valid for the
    first region whose leading digits match it, or else whose patterns it matches."""
    for region in regions:
        country = _country(region)
        if country is None:
            continue
        if country.leading is not None:
            if country.leading.match(nsn):
                return country.valid(nsn)
        elif country.valid(nsn):
            return True
    return False


def _parse_valid(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


@functools.lru_cache(maxsize=_CACHE_SIZE)
def evidence_key(phone: str) -> str | None:
    """An evidence number (+E.164 or a WhatsApp ``wa_id``) as canonical "+digits", or None.

    Validity is NOT required: WhatsApp identities such as ``5215541637145`` are invalid to
    phonenumbers yet real. Rejected: anything with letters (placeholders such as
    ``<WHATSAPP_USER_PHONE_NUMBER>``), national numbers (leading 0), an unknown country code,
    and fewer than 7 or more than 15 digits.
    """
    text = phone.strip()
    lowered = text.lower()
    for scheme in _EVIDENCE_SCHEMES:
        if lowered.startswith(scheme):
            text = text[len(scheme) :]
            break
    text = text.split(";", 1)[0]  # tel: URI parameters (";ext=…") are not part of the identity
    if "(0)" in text:
        # "+49 (0)170 …": the trunk prefix in brackets is not dialled from abroad
        text = text.replace("(0)", "", 1)
    compact = _EVIDENCE_SEPARATORS.sub("", text).removeprefix("+")
    if not compact.isascii() or not compact.isdigit():
        return None
    if not _MIN_DIGITS <= len(compact) <= _MAX_DIGITS:
        return None
    if _split_country_code(compact) is None:
        return None
    return "+" + compact


def _split_country_code(digits: str) -> tuple[int, str] | None:
    """(country code, national digits) of an international number given as digits."""
    if digits.startswith("0"):
        return None  # a national number: country codes never start with 0
    for length in (1, 2, 3):
        if len(digits) > length and int(digits[:length]) in _COUNTRY_CODES:
            return int(digits[:length]), digits[length:]
    return None


# The country codes as text: "+digits" is a canonical evidence key when its first 1 to 3
# digits are one (and it has 7 to 15 digits, the first not 0), as ``evidence_key`` decides.
_COUNTRY_PREFIXES = frozenset(str(code) for code in _COUNTRY_CODES)


def plain_number(text: str) -> bool:
    """True when ``text`` is "+digits" that ``evidence_key`` keeps as it is (told without
    it: the common spelling of machine-written ledgers, read at C speed)."""
    digits = text[1:]
    return (text[:1] == "+" and digits.isdigit() and digits.isascii()
            and _MIN_DIGITS <= len(digits) <= _MAX_DIGITS and digits[0] != "0"
            and (digits[:1] in _COUNTRY_PREFIXES or digits[:2] in _COUNTRY_PREFIXES
                 or digits[:3] in _COUNTRY_PREFIXES))


# only these countries' numbers have other WhatsApp spellings (country codes are prefix-free):
# a "+digits" number whose first three characters are none of these is its only variant
VARIANT_HEADS = frozenset({f"+{_MEXICO}", f"+{_BRAZIL}", f"+{_ARGENTINA}"})


def variants(number: str, *, ar_without_9: bool = False) -> frozenset[str]:
    """The "+digits" strings WhatsApp treats as the same identity as ``number`` (itself included).

    - Mexico: ``+521`` + 10 digits ↔ ``+52`` + 10 digits.
    - Brazil: ``+55 DD`` + 8-digit mobile (starting 6–9) ↔ ``+55 DD 9`` + those 8 digits;
      8-digit landlines (starting 2–5) have no variant.
    - Argentina: ``+549`` + 10 digits ↔ ``+54`` + 10 digits, only with ``ar_without_9`` (without
      the 9 it is a valid landline, possibly someone else's).

    ``number`` is "+digits" (E.164 or an ``evidence_key``); anything else is returned alone.
    """
    if number[:3] not in VARIANT_HEADS and fastpaths.enabled():
        return frozenset((number,))  # most numbers: no cache to fill with a million of them
    return _variants(number, ar_without_9)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _variants(number: str, ar_without_9: bool) -> frozenset[str]:
    digits = number[1:]
    split = _split_country_code(digits) if number.startswith("+") and digits.isdigit() else None
    if split is None:
        return frozenset({number})
    country, national = split
    found = {number}
    if country == _MEXICO:
        # Mexican area codes start with 2–9, so "1" + area code is WhatsApp's mobile marker
        if len(national) == 11 and national[0] == "1" and national[1] in _MX_AREA_START:
            found.add(f"+52{national[1:]}")
        elif len(national) == 10 and national[0] in _MX_AREA_START:
            found.add(f"+521{national}")
    elif country == _BRAZIL:
        area, subscriber = national[:2], national[2:]
        if "0" not in area:  # Brazilian area codes (DDD) are 11–99 without a zero digit
            if len(subscriber) == 8 and subscriber[0] in "6789":
                found.add(f"+55{area}9{subscriber}")
            elif len(subscriber) == 9 and subscriber[0] == "9" and subscriber[1] in "6789":
                found.add(f"+55{area}{subscriber[1:]}")
    elif country == _ARGENTINA and ar_without_9:
        # Argentine area codes start with 1–3; "9" in front marks a mobile
        if len(national) == 11 and national[0] == "9" and national[1] in _AR_AREA_START:
            found.add(f"+54{national[1:]}")
        elif len(national) == 10 and national[0] in _AR_AREA_START:
            found.add(f"+549{national}")
    return frozenset(found)


def mask(number: str) -> str:
    """A number as stripped entries show it in reports: ``+491701234567`` → ``+49170*****67``.

    For "+digits" with a known country code: the country code, the next three digits and the
    last two stay (for short numbers only the last two). Any other string keeps its layout but
    every digit except the last two becomes ``*``.
    """
    digits = number[1:]
    if number[:1] == "+" and len(digits) > 3 and digits.isascii() and digits.isdigit():
        # the common case, E.164: the length of the country code from its first three digits
        length = _CODE_LENGTH.get(digits[:3])
        if length is not None:
            hidden = len(digits) - length - 5  # the national number less 3 + 2 shown digits
            if hidden > 0:
                return number[: length + 4] + "*" * hidden + number[-2:]
            if hidden >= -3:  # a short national number (2 to 5 digits): its last two shown
                return number[: length + 1] + "*" * (hidden + 3) + number[-2:]
    split = _split_country_code(digits) if number.startswith("+") and digits.isdigit() else None
    if split is not None:
        country, national = split
        if len(national) > 5:
            stars = "*" * (len(national) - 5)
            return f"+{country}{national[:3]}{stars}{national[-2:]}"
        return f"+{country}{'*' * max(len(national) - 2, 0)}{national[-2:]}"
    if number.isascii():  # "030 1234567 ext. 12", "n/a": str.isdigit is 0-9 here
        # every digit before the second last becomes "*", at C speed
        shown, found = len(number), 0
        while found < 2 and shown:
            shown -= 1
            found += number[shown] in _ASCII_DIGITS
        return number[:shown].translate(_STARS) + number[shown:] if found == 2 else number
    return _mask_text(number)


_ASCII_DIGITS = frozenset("0123456789")
_STARS = str.maketrans("0123456789", "*" * 10)


def _mask_text(number: str) -> str:
    """``mask`` of any other string: every digit (str.isdigit) but the last two becomes "*"."""
    total = sum(ch.isdigit() for ch in number)
    out = []
    seen = 0
    for ch in number:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - 2 else "*")
        else:
            out.append(ch)
    return "".join(out)
