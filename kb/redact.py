"""Personal data → placeholders: e-mails, phones, cards, IBANs, street addresses and names. Pure.

Each kind is found by one compiled pattern and, where a checksum exists, confirmed by it
(Luhn for cards, mod-97 for IBANs), so order numbers, dates, prices, versions and serials
survive. Names are found where people write them — greetings, introductions and signatures —
and every other occurrence of a name found that way is replaced too.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

PLACEHOLDERS = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "card": "[CARD]",
    "iban": "[IBAN]",
    "address": "[ADDRESS]",
    "name": "[NAME]",
}


@dataclass(frozen=True)
class Redaction:
    """Text with personal data replaced, and how many of each kind were replaced."""

    text: str
    counts: Counter[str]


# --- e-mail, IBAN, card, phone -------------------------------------------------------------

_EMAIL = re.compile(r"(?<![\w.+'-])[\w.+'-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")

# Any case: people type "gb82west…" and "Gb82 West …"; the country's length and mod-97 decide.
_IBAN = re.compile(
    r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,3})?\b", re.IGNORECASE
)

# The length of an IBAN in each country that issues them (the SWIFT IBAN registry).
IBAN_LENGTHS = {
    **dict.fromkeys(("NO",), 15),
    **dict.fromkeys(("BE",), 16),
    **dict.fromkeys(("DK", "FI", "FO", "GL", "NL"), 18),
    **dict.fromkeys(("MK", "SI"), 19),
    **dict.fromkeys(("AT", "BA", "EE", "KZ", "LT", "LU", "XK"), 20),
    **dict.fromkeys(("CH", "HR", "LI", "LV"), 21),
    **dict.fromkeys(("BG", "BH", "CR", "DE", "GB", "GE", "IE", "ME", "RS", "VA"), 22),
    **dict.fromkeys(("AE", "GI", "IL", "IQ", "TL"), 23),
    **dict.fromkeys(("AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG"), 24),
    **dict.fromkeys(("PT", "ST"), 25),
    **dict.fromkeys(("IS", "TR"), 26),
    **dict.fromkeys(("FR", "GR", "IT", "MC", "MR", "SM"), 27),
    **dict.fromkeys(("AL", "AZ", "BY", "CY", "DO", "GT", "HU", "LB", "PL", "SV"), 28),
    **dict.fromkeys(("BR", "EG", "PS", "QA", "UA"), 29),
    **dict.fromkeys(("JO", "KW", "MU"), 30),
    **dict.fromkeys(("MT", "SC"), 31),
    **dict.fromkeys(("LC",), 32),
}

# 13–19 digits with single spaces or dashes; the Luhn check decides.
_CARD = re.compile(r"(?<![\w+.,/-])[1-9](?:[ -]?\d){12,18}(?![\w]|[.,/-]\d|[ -]\d)")

# Not inside a word, a number, a date, a price or a code such as LS-198342 or 1Z 999 AA1 0123.
_PHONE = re.compile(
    r"""(?<![\w+/.,-])(?<![A-Za-z]\d[ ])
    (?:
        \+\d{8,15}                                            # +4930901820
      | (?:\+|00)\d{1,5}                                      # +44, 0044, then a trunk 0 in
        (?:[ .-]?\(\d{1,4}\)[ ./-]?\d{1,8}|[ .-]\d{1,8})        # brackets: +44 (0)20 7946 0958,
        (?:[ ./-]\d{1,8}){0,5}                                # +44(0)20 …, +49 (0)30/901820
      | \(\+\d{1,3}\)[ .-]?\d{1,5}(?:[ ./-]\d{1,8}){1,5}          # (+44) 20 7946 0958
      | \(0?\d{2,5}\)[ .-]?\d{2,8}(?:[ .-]\d{2,8}){0,3}        # (555) 014-2387
      | 0\d{1,5}(?:[ ./-]\d{2,8}){1,4}                         # 0151 496 0123, 06.12.34.56.78
      | 0\d{9,11}                                              # 07700900461
      | (?:1[ .-])?[2-9]\d{2}([-.])\d{3}\1\d{4}                # 555-013-7788
      | (?:[2-9]\d{2}[ ]\d{3}[ ]\d{3}                          # Spain and Portugal have no
        | [6-9]\d{2}(?:[ ]\d{2}){3}                           # trunk 0: 612 345 678,
        | [89]\d[ ]\d{3}(?:[ ]\d{2}){2}                       # 612 34 56 78, 91 123 45 67,
        | 2\d[ ]\d{3}[ ]\d{4})                                # 21 234 5678
        (?![ ]?(?:€|EUR|\$|USD|£|GBP|%))                      # but 300 000 000 € is money
    )
    (?![\w]|[.,:/-]\d)""",
    re.VERBOSE,
)


def luhn_ok(digits: str) -> bool:
    """Return whether a string of digits passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    """Return whether ``candidate`` (spaces allowed, any case) is an IBAN: its country's length
    (``IBAN_LENGTHS``) and valid mod-97 check digits. A country not in the registry passes on
    the check digits alone when written in capitals, as IBANs are printed."""
    iban = candidate.replace(" ", "").replace("-", "")
    if not iban[:2].isalpha() or not iban[2:4].isdigit():
        return False
    length = IBAN_LENGTHS.get(iban[:2].upper())
    if length is None and not (iban.isupper() and 15 <= len(iban) <= 34):
        return False
    if length is not None and len(iban) != length:
        return False
    iban = iban.upper()
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _card(match: re.Match[str]) -> str | None:
    digits = re.sub(r"\D", "", match.group())
    if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_ok(digits):
        return PLACEHOLDERS["card"]
    return None


def _iban(match: re.Match[str]) -> str | None:
    # The pattern may run on into a following code word; drop trailing groups until it checks.
    candidate = match.group()
    while candidate:
        if iban_ok(candidate):
            return PLACEHOLDERS["iban"] + match.group()[len(candidate) :]
        cut = max(candidate.rfind(" "), candidate.rfind("-"))
        candidate = candidate[:cut] if cut > 0 else ""
    return None


def _phone(match: re.Match[str]) -> str | None:
    text = match.group()
    digits = sum(ch.isdigit() for ch in text)
    if text.startswith(("+", "(+")):
        ok = 8 <= digits <= 16  # a bracketed trunk 0 may come on top of 15
    elif text.startswith("00"):
        ok = 10 <= digits <= 18
    elif text.startswith("0") or text.startswith("("):
        ok = 9 <= digits <= 12
    else:
        ok = digits in (9, 10, 11)
    return PLACEHOLDERS["phone"] if ok else None


# --- street addresses ----------------------------------------------------------------------

_UP = "A-ZÀ-ÖØ-Þ"
_LO = "a-zß-öø-ÿā-ž"
_CAP = rf"[{_UP}][{_LO}]+(?:-[{_UP}]?[{_LO}]+)*"
_CITY = rf"{_CAP}(?:[ \t-]{_CAP}){{0,2}}"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}\b"
_EN_STREET = (
    r"(?:Road|Rd|Street|St|Avenue|Ave|Lane|Ln|Drive|Dr|Way|Close|Court|Ct|Place|Pl|Square|Sq"
    r"|Crescent|Terrace|Grove|Gardens|Row|Hill|Wharf|Boulevard|Blvd|Parkway|Highway|Mews|Walk"
    r"|Parade|Quay|Rise)\b\.?"
)
_DE_STREET = r"(?:straße|strasse|str\.|weg|allee|platz|gasse|damm|ufer|chaussee)"
_ROMANCE_PART = (
    rf"(?:{_CAP}|d['’]{_CAP}|(?:della|del|des|de|du|la|les|le|los|las|dos|das|da|do|di)\b)"
)
_ROMANCE_NAME = rf"{_ROMANCE_PART}(?:[ \t]+{_ROMANCE_PART}){{0,4}}"

_ADDRESS = re.compile(
    rf"""
    (?<![\w-])
    (?:
        # 42 Elm Road · Flat 3, 9 Harbour Street · Unit 4, Canal Wharf
        (?:(?:Flat|Apartment|Apt|Unit|Suite)\.?[ \t]+\w{{1,5}},?[ \t]+
             (?:\d{{1,5}}[A-Za-z]?,?[ \t]+)?
          | \d{{1,5}}[A-Za-z]?,?[ \t]+)
        (?:{_CAP}[ \t]+){{1,3}}{_EN_STREET}
      | # Hauptstraße 15 · Berliner Straße 5a
        (?:[{_UP}][{_LO}]+{_DE_STREET}
          | {_CAP}[ \t]+(?i:{_DE_STREET}))
        [ \t]+\d{{1,4}}[a-z]?\b
      | # 14 rue des Lilas
        \d{{1,5}}(?:[ \t]?(?:bis|ter))?,?[ \t]+
        (?i:rue|avenue|boulevard|bd|place|allée|chemin|impasse|quai|route|cours)
        [ \t]+{_ROMANCE_NAME}
      | # Calle Mayor 5 · Rua Augusta, 100 · Via Roma 12
        (?:Calle|Avenida|Avda\.|Plaza|Paseo|Camino|Carrer|Carretera|Rua|Travessa|Praça|Via|Viale
          |Piazza|Corso|Rue)
        [ \t]+{_ROMANCE_NAME},?[ \t]*(?:n[º°o]\.?[ \t]*)?\d{{1,5}}[a-zA-Z]?\b
    )
    (?:                                     # then, optionally, the town and postcode
        ,?[ \t]+(?:{_CITY},?[ \t]+)?{_UK_POSTCODE}
      | ,[ \t]*{_CITY},?[ \t]+[A-Z]{{2}}[ \t]+\d{{5}}(?:-\d{{4}})?\b
      | ,?[ \t]+\d{{4,5}}(?:-\d{{3}})?[ \t]+{_CITY}      # 10115 Berlin, 1200-195 Lisboa
      | ,[ \t]*{_CITY}(?=[ \t]*(?:[.;)\n]|\Z))
    )?
    """,
    re.VERBOSE,
)


# --- names ---------------------------------------------------------------------------------

_WORD = rf"(?:Mc|Mac|O['’])?[{_UP}][{_LO}]+(?:-[{_UP}][{_LO}]+)*"
_PARTICLE = r"(?:van|von|der|den|de|da|del|di|du|dos|das|le|la|bin|al)"
_NAME = rf"{_WORD}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_WORD}){{0,3}}"  # one to four words
_FULL_NAME = rf"{_WORD}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_WORD}){{1,2}}"  # two or three words

_CLOSINGS = (
    "thanks|thank you|thanks again|thanks in advance|many thanks|thank you very much|cheers"
    "|regards|kind regards|best regards|warm regards|warmest regards|best wishes|best|all the best"
    "|sincerely|yours sincerely|sincerely yours|yours faithfully|yours truly|respectfully|take care"
    "|mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|viele grüße|liebe grüße"
    "|beste grüße|schöne grüße|herzliche grüße|grüße|gruß|lg|mfg|danke|vielen dank|danke schön"
    "|saludos|un saludo|saludos cordiales|atentamente|cordialmente|gracias|muchas gracias"
    "|un abrazo|cordialement|bien cordialement|merci|merci d['’]avance|merci beaucoup"
    "|bien à vous|salutations|sincères salutations|bonne journée|atenciosamente|obrigado"
    "|obrigada|cumprimentos|abraços|distinti saluti|cordiali saluti|grazie|sincèrement"
    "|meilleures salutations|cordiales salutations"
)
_GREETINGS = (
    "hi|hello|hey|hiya|dear|good morning|good afternoon|good evening|hallo|guten tag"
    "|guten morgen|liebe|lieber|sehr geehrte|sehr geehrter|hola|buenos días|buenas tardes"
    "|buenas|estimado|estimada|querido|querida|bonjour|bonsoir|salut|cher|chère|olá|oi"
    "|prezado|prezada|caro|cara|gentile|ciao"
)
_INTRO_ONE = (
    "my name is|my name's|mein name ist|ich heiße|ich heisse|me llamo|mi nombre es"
    "|je m['’]appelle|mon nom est|meu nome é|me chamo|chamo-me|mi chiamo|il mio nome è"
    "|account holder|account name|kontoinhaber|kontoinhaberin|titular|titulaire"
)
_INTRO_FULL = "i['’]m|i am|this is|ich bin|hier ist|hier spricht|soy|je suis|sou|sono"
_HONORIFICS = r"Mr|Mrs|Ms|Miss|Mx|Dr|Herr|Frau|Señor|Señora|Sr|Sra|Srta|Monsieur|Madame|Mme|Mlle"

_NAME_PATTERNS = tuple(
    re.compile(p, re.MULTILINE)
    for p in (
        # Hi, I'm Sarah Connolly · my name is Priya · soy Javier Morales
        rf"(?<![\w'])(?i:{_INTRO_ONE})[ \t]*:?[ \t]+(?P<name>{_NAME})",
        rf"(?<![\w'])(?i:{_INTRO_FULL})[ \t]+(?P<name>{_FULL_NAME})",
        rf"\b(?:{_HONORIFICS})\.?[ \t]+(?P<name>{_NAME})",
        # Name: Jane Doe · - Customer name: Jane Doe (but not "Product name: MacBook Air")
        r"^[ \t]*(?:[-*•][ \t]*)?(?i:(?:full |customer |contact |requester |your |my )?name)"
        rf"[ \t]*:[ \t]*(?P<name>{_NAME})",
        # Hi Sarah, · Hi there, James Whitfield again.
        rf"^[ \t]*(?i:{_GREETINGS})(?:[ \t]+there)?[ \t]*,?[ \t]*(?P<name>{_NAME})"
        r"(?=[ \t]*(?:[,.!:;]|$)|[ \t]+(?:again|here)\b)",
        # Kind regards,\nPriya Raman · Thanks, Marcus Weber
        rf"(?:^|(?<=[.!?])[ \t]+)[ \t]*(?i:{_CLOSINGS})[ \t]*[,.!:–-]?[ \t]*(?:\n[ \t]*){{0,2}}"
        rf"(?P<name>{_NAME})(?=[ \t]*(?:$|[,(|–-]))",
        # a name alone on a line after a blank line, closing its paragraph or a short sign-off
        rf"\n[ \t]*\n[ \t]*(?P<name>{_FULL_NAME})[ \t]*"
        r"(?=(?:\n[ \t]*\S[^\n]*){0,2}(?:\n[ \t]*(?:\n|\Z)|\Z))",
        # a name alone on the last line of a paragraph
        rf"\n[ \t]*(?P<name>{_FULL_NAME})[ \t]*(?=\n[ \t]*\n|\n?[ \t]*\Z)",
        # ... June as well. Dorota Kowalski
        rf"(?<=[.!?])[ \t]+(?P<name>{_FULL_NAME})[ \t]*(?=\n[ \t]*\n|\n?[ \t]*\Z)",
    )
)

# Words that show a capitalised phrase is not a person: teams, firms, products, sign-offs.
_NOT_NAME_WORDS = """
    support team service services customer customers client clients help desk helpdesk sales
    billing accounts department office store shop online ltd inc gmbh llc plc corp company
    group hotel studio studios tech technical it kundenservice kundendienst servicio equipo
    équipe equipe soporte atención the a an my our your his her their this that these those
    ihr ihre unser unsere votre notre su nuestro el la los las le les thanks thank regards
    best cheers kind warm sincerely yours greetings grüße gruß saludos cordialement merci
    gracias danke hi hello hey dear there all everyone sir madam sirs friends colleagues
    please update note order account settings question problem issue urgent request invoice
    subject re fw fwd hub app home google apple amazon alexa siri android iphone ios windows
    monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december today tomorrow yesterday
    again here also and or but not very good great happy sorry
"""
_NOT_NAME = frozenset(_NOT_NAME_WORDS.split()) | frozenset(
    re.split(r"[|\s]+", f"{_GREETINGS}|{_CLOSINGS}|{_HONORIFICS}".lower())
)
# ... and parts of words that do the same: "Kundenserviceteam", "Supportabteilung".
_NOT_NAME_PARTS = re.compile(r"support|service|team|kund|dienst|abteilung|equipo|équipe")


def _is_name(candidate: str) -> bool:
    words = [w.lower() for w in re.split(r"[\s\-]+", candidate) if w[:1].isupper()]
    return not any(w in _NOT_NAME or _NOT_NAME_PARTS.search(w) for w in words)


def _find_names(text: str, known: Iterable[str]) -> list[tuple[int, int]]:
    """Return the spans of names in ``text``: found by context, then every repeat of one."""
    spans: list[tuple[int, int]] = []
    full_names = {n.strip() for n in known if n and n.strip()}
    for pattern in _NAME_PATTERNS:
        for m in pattern.finditer(text):
            name = m.group("name")
            if _is_name(name):
                spans.append(m.span("name"))
                if " " in name:
                    full_names.add(name)
    if full_names:
        alternatives = "|".join(re.escape(n) for n in sorted(full_names, key=len, reverse=True))
        spans.extend(m.span() for m in re.finditer(rf"(?<!\w)(?:{alternatives})(?!\w)", text))
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# --- putting it together -------------------------------------------------------------------

_Check = Callable[[re.Match[str]], str | None]

# Each step: the kind, a cheap test that the text may hold one, its pattern and its check.
_STEPS: tuple[tuple[str, re.Pattern[str], re.Pattern[str], _Check | None], ...] = (
    ("email", re.compile("@"), _EMAIL, None),
    ("iban", re.compile(r"[A-Z]{2}\d\d", re.IGNORECASE), _IBAN, _iban),
    ("card", re.compile(r"\d"), _CARD, _card),
    ("phone", re.compile(r"\d"), _PHONE, _phone),
    ("address", re.compile(r"\d"), _ADDRESS, None),
)


def _replace(
    text: str, kind: str, pattern: re.Pattern[str], check: _Check | None
) -> tuple[str, int]:
    count = 0

    def sub(match: re.Match[str]) -> str:
        nonlocal count
        replacement = PLACEHOLDERS[kind] if check is None else check(match)
        if replacement is None:
            return match.group()
        count += 1
        return replacement

    return pattern.sub(sub, text), count


def redact(text: str, names: Iterable[str] = ()) -> Redaction:
    """Return ``text`` with personal data, and any of ``names``, replaced by placeholders."""
    text = text.replace("\r\n", "\n")
    counts: Counter[str] = Counter()
    for kind, hint, pattern, check in _STEPS:
        if hint.search(text):
            text, n = _replace(text, kind, pattern, check)
            if n:
                counts[kind] += n
    spans = _find_names(text, names)
    if spans:
        parts: list[str] = []
        last = 0
        for start, end in spans:
            parts.append(text[last:start])
            parts.append(PLACEHOLDERS["name"])
            last = end
        parts.append(text[last:])
        text = "".join(parts)
        counts["name"] += len(spans)
    return Redaction(text=text, counts=counts)
