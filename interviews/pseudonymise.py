"""Finding identifiers in transcript text and replacing them with pseudonyms. Pure: no Django, no network.

Two sources of proposals:

1. the study's **replacement list** (original → pseudonym, with aliases): case-insensitive on whole words for
   Latin-script entries, exact string for entries with CJK characters, longest match first;
2. **detectors** (regular expressions and checksums, offline): e-mail addresses, URLs, phone numbers
   (international, Chinese mobile, local formats), Chinese resident ID numbers (checksum), long digit runs, postcodes
   (UK, US ZIP+4, labelled Chinese postcodes), dates of birth (a date near a birth keyword), and suggestions for
   name-like tokens (capitalised word sequences not in the list; Chinese surname + title such as 王先生).

Overlaps are settled by priority (list first, name suggestions last), then by length. Offsets are ``str`` indexes.
"""
from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002fa1f"
CJK_RE = re.compile(f"[{CJK_RANGES}]")
# A word for whole-word matching: letters and digits that are not CJK, so "Wang" in "我叫Wang。" is a word.
WORD_RE = re.compile(f"[^\\W{CJK_RANGES}]+")

# Detector name → (priority, default pseudonym). Lower priority number wins an overlap.
DETECTORS: dict[str, tuple[int, str]] = {
    "list": (0, ""),
    "email": (1, "[email]"),
    "url": (2, "[url]"),
    "id-number": (3, "[id-number]"),
    "phone": (4, "[phone]"),
    "date-of-birth": (5, "[date-of-birth]"),
    "postcode": (6, "[postcode]"),
    "digits": (7, "[number]"),
    "name": (8, "[name]"),
}
# Name suggestions are proposals for a person to confirm; everything else is applied unless rejected.
SUGGESTION_DETECTORS = frozenset({"name"})


@dataclass(frozen=True, slots=True)
class Entry:
    original: str
    pseudonym: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Proposal:
    start: int
    end: int
    original: str
    pseudonym: str
    detector: str

    @property
    def suggestion(self) -> bool:
        return self.detector in SUGGESTION_DETECTORS


def has_cjk(text: str) -> bool:
    return CJK_RE.search(text) is not None


class Matcher:
    """Finds replacement-list originals (and aliases) in text. Cost: one pass over the words of the text plus one
    ``str.find`` scan per CJK entry; independent of how many Latin entries the list holds."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.by_first_word: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.cjk: list[tuple[str, str]] = []
        self.pseudonym_of: dict[str, str] = {}
        for entry in entries:
            for original in (entry.original, *entry.aliases):
                original = " ".join(original.split())
                if not original:
                    continue
                self.pseudonym_of[original.casefold()] = entry.pseudonym
                if has_cjk(original):
                    self.cjk.append((original, entry.pseudonym))
                    continue
                first = WORD_RE.search(original)
                if first is None or first.start() != 0:
                    # Starts with punctuation or symbols: match it as an exact string.
                    self.cjk.append((original, entry.pseudonym))
                    continue
                self.by_first_word[first.group().casefold()].append((original.casefold(), entry.pseudonym))
        for candidates in self.by_first_word.values():
            candidates.sort(key=lambda c: -len(c[0]))

    def find(self, text: str) -> list[Proposal]:
        found: list[Proposal] = []
        for match in WORD_RE.finditer(text):
            candidates = self.by_first_word.get(match.group().casefold())
            if not candidates:
                continue
            start = match.start()
            for folded, pseudonym in candidates:
                end = start + len(folded)
                if text[start:end].casefold() != folded:
                    continue
                if end < len(text) and WORD_RE.match(text[end]) and WORD_RE.match(folded[-1]):
                    continue  # not a whole word
                found.append(Proposal(start, end, text[start:end], pseudonym, "list"))
                break
        for original, pseudonym in self.cjk:
            position = text.find(original)
            while position != -1:
                found.append(Proposal(position, position + len(original), original, pseudonym, "list"))
                position = text.find(original, position + 1)
        return found


# --- detectors ------------------------------------------------------------------------------------------------
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"'，。、）)]+", re.IGNORECASE)
CN_MOBILE_RE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)")
INTL_PHONE_RE = re.compile(r"(?<![\w+])(?:\+|00)\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}(?!\d)")
LOCAL_PHONE_RE = re.compile(r"(?<![\w-])(?:\(\d{2,5}\)\s?|\d{2,5}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?![\w-])")
CN_ID_RE = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dA-Za-z])")
DIGITS_RE = re.compile(r"(?<![\d.,])\d(?:[\s-]?\d){7,}(?![\d.,])")
UK_POSTCODE_RE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}\b")
US_ZIP4_RE = re.compile(r"\b\d{5}-\d{4}\b")
US_STATE_ZIP_RE = re.compile(r"\b[A-Z]{2}\s+(\d{5})(?:-\d{4})?\b")
CN_POSTCODE_RE = re.compile(r"(?:邮编|邮政编码|postcode|post code|zip code)[:：\s]*(\d{6})", re.IGNORECASE)
MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
          "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
DATE_PATTERNS = [
    r"\d{4}-\d{1,2}-\d{1,2}",
    r"\d{1,2}[./]\d{1,2}[./]\d{2,4}",
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{MONTHS})\.?,?\s+\d{{4}}",
    rf"(?:{MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}",
    r"\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*[日号])?",
]
DOB_RE = re.compile(
    r"(?:born(?:\s+on)?|date\s+of\s+birth|d\.?o\.?b\.?|birthday(?:\s+is)?|出生(?:日期|于|在)?|生于|生日(?:是)?)"
    r"[\s:：,]{0,3}(?:(?:on|in|是|为|:|：)\s*)?(" + "|".join(DATE_PATTERNS) + ")",
    re.IGNORECASE,
)
CN_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
               "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
CN_NAME_RE = re.compile(rf"[{CN_SURNAMES}][\u4e00-\u9fff]{{0,2}}?(?:先生|女士|小姐|老师|教授|博士|经理|总监|同学|阿姨|叔叔|师傅)")
NAME_RE = re.compile(r"(?<![\w\[])([A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?(?:\s+[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?){0,2})(?![\w\]])")
# Capitalised words that are not names on their own: pronouns, days, months, common sentence starters, roles.
NOT_NAMES = frozenset(
    """I I'm I've I'd I'll Interviewer Interviewee Respondent Participant Speaker Yes No Yeah Okay Ok Oh Well So And
    But Or Then The A An This That These Those There Here It Its We You He She They My Our Your His Her Their What When
    Where Why How Who Which Because If In On At For From To With Without After Before During About As By Of Also
    Maybe Perhaps Actually Honestly Of Not Now Just Only Even Still Yet Once Every Some Many Most All Both Each Other
    Another One Two Three Four Five Six Seven Eight Nine Ten First Second Third Last Next Thank Thanks Please Sorry
    Right Sure Mr Mrs Ms Dr Prof Professor Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February
    March April May June July August September October November December Spring Summer Autumn Winter Festival
    Chinese China English Mandarin Cantonese PhD MBA Master Masters Bachelor University College School Company
    Government Province City County District Town Village Street Road Hospital Internet Christmas New Year Do Did Is
    Are Was Were Have Has Had Can Could Would Should Will Shall Might Must Let Lets Let's Like Very Really Much More Less
    Good Great Fine Bad Lot Lots Everything Nothing Something Anything Everyone Someone Anyone Nobody Because Until
    Since While Although Though However Anyway Besides Otherwise Meanwhile Hmm Um Uh Ah Er Mm""".split()
)


def _id_checksum_ok(number: str) -> bool:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17].upper()


def _sentence_initial(text: str, position: int) -> bool:
    before = text[max(0, position - 3) : position].rstrip(" \t\"'“‘(")
    return not before or before[-1] in ".!?\n:：。！？"


def detect(text: str, *, known: Iterable[str] = ()) -> list[Proposal]:
    """Detector proposals (possibly overlapping each other). ``known`` originals are not suggested again."""
    found: list[Proposal] = []

    def add(start: int, end: int, detector: str) -> None:
        found.append(Proposal(start, end, text[start:end], DETECTORS[detector][1], detector))

    for m in EMAIL_RE.finditer(text):
        add(m.start(), m.end(), "email")
    for m in URL_RE.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in ".,;:!?)]}'\"":
            end -= 1
        add(m.start(), end, "url")
    for m in CN_ID_RE.finditer(text):
        if _id_checksum_ok(m.group()):
            add(m.start(), m.end(), "id-number")
    for regex in (CN_MOBILE_RE, INTL_PHONE_RE, LOCAL_PHONE_RE):
        for m in regex.finditer(text):
            if sum(ch.isdigit() for ch in m.group()) >= 7:
                add(m.start(), m.end(), "phone")
    for m in DOB_RE.finditer(text):
        add(m.start(1), m.end(1), "date-of-birth")
    for regex in (UK_POSTCODE_RE, US_ZIP4_RE):
        for m in regex.finditer(text):
            add(m.start(), m.end(), "postcode")
    for regex in (US_STATE_ZIP_RE, CN_POSTCODE_RE):
        for m in regex.finditer(text):
            add(m.start(1), m.end(1), "postcode")
    for m in DIGITS_RE.finditer(text):
        add(m.start(), m.end(), "digits")

    known_folded = {k.casefold() for k in known}
    for m in CN_NAME_RE.finditer(text):
        if m.group().casefold() not in known_folded:
            add(m.start(), m.end(), "name")
    for m in NAME_RE.finditer(text):
        words = m.group(1).split()
        # Drop leading words that are not names ("Then Wang Lei" -> "Wang Lei").
        start = m.start(1)
        while words and words[0] in NOT_NAMES:
            start = text.index(words[0], start) + len(words[0])
            start = len(text) - len(text[start:].lstrip())
            words = words[1:]
        if not words or all(w in NOT_NAMES for w in words):
            continue
        phrase_end = m.end(1)
        phrase = text[start:phrase_end]
        if phrase.casefold() in known_folded:
            continue
        if len(words) == 1 and _sentence_initial(text, start):
            continue  # a lone capitalised word opening a sentence is usually not a name
        if len(words) == 1 and len(words[0]) < 3:
            continue
        add(start, phrase_end, "name")
    return found


def resolve(proposals: Iterable[Proposal]) -> list[Proposal]:
    """Non-overlapping proposals: by detector priority, then longer first, then earlier; in text order."""
    ranked = sorted(proposals, key=lambda p: (DETECTORS[p.detector][0], -(p.end - p.start), p.start))
    starts: list[int] = []
    chosen: list[Proposal] = []
    for proposal in ranked:
        i = bisect.bisect_right(starts, proposal.start)
        if i > 0 and chosen[i - 1].end > proposal.start:
            continue
        if i < len(chosen) and chosen[i].start < proposal.end:
            continue
        starts.insert(i, proposal.start)
        chosen.insert(i, proposal)
    return chosen


def propose(text: str, matcher: Matcher) -> list[Proposal]:
    """Every proposed replacement in ``text``: the list's matches and the detectors', overlaps settled."""
    return resolve([*matcher.find(text), *detect(text, known=matcher.pseudonym_of)])


def apply(text: str, proposals: Sequence[Proposal]) -> str:
    """Replace each (non-overlapping) proposal by its pseudonym."""
    out: list[str] = []
    position = 0
    for proposal in sorted(proposals, key=lambda p: p.start):
        if proposal.start < position:
            raise ValueError(f"overlapping replacements at {proposal.start}")
        out.append(text[position : proposal.start])
        out.append(proposal.pseudonym)
        position = proposal.end
    out.append(text[position:])
    return "".join(out)


def leftovers(text: str, matcher: Matcher) -> list[Proposal]:
    """Replacement-list originals still present in ``text`` (the re-scan before anything is stored)."""
    return resolve(matcher.find(text))
