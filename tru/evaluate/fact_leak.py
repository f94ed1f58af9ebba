"""Fact leakage that does not depend on the answer's language or written form.

A forget item's *keys* are what an answer must not say. ``fact_leak(text, keys)`` says whether a text
(the final answer, or separately the reasoning trace) says one of them, which key and how it was
written. Pure string rules, no model.

Keys
----
- Key values (``keys_from_values``): where the data gives them, a mapping language -> values, e.g.
  ``{"en": ["Krakow"], "es": ["Cracovia"], "ru": ["Краков"]}``. Every value is a key on its own; a
  value that reads as one full date ("14 March 1987", "14 de marzo de 1987", ``Date(14, 3, 1987)``)
  becomes a date key. A multi-word value must appear whole: give a part ("Arles" of "Silver Quill of
  Arles") as its own value if it alone should count.
- Key terms (``key_terms``), for TOFU and custom QA without key values: the gold answer's facts by the
  rule of ``tru.targets.hygiene.forget_facts`` (with the question as the allowed text), so that
  evaluation and target generation agree on what "the facts" are. The rule reads the answer with its
  accents removed (derived keys are written without them) and, like hygiene, reads words in the
  letters a-z, so it suits answers in Latin script:
  - dates: full dates written in the answer (any format below) and not in the question (both readings
    of an ambiguous numeric date);
  - numbers: digit runs of the answer not in the question, except the day and month digits of a date
    (the date key covers them; the year stays a number key);
  - names: named spans of two or more words ("Kuwait City", "Silver Quill of Arles") with a word not in
    the question, kept whole;
  - words: content words of the answer (three letters or more, not in hygiene's STOP_WORDS) whose
    crude stem is not among the question's, month names of a date excluded; a single capitalised word
    ("Krakow") is a word.
  Dates, numbers and names count alone; words need company, as in hygiene: a text leaks through words
  when it says at least ``LeakRule().word_threshold(n)`` of the ``n`` key words (1 of 1-2, 2 of 3-4, ...,
  at most 4 plus one per 100 words of text).

Matching (``normalise`` shows the form both sides are compared in)
--------
Both the text and each key are cut into words (letter runs and digit runs) and every word is
normalised; a key matches where its words appear consecutively in the text's words, so matching is
always whole-word ("1987" does not match "19870"; a key "Au" does not match "Aurora").

1. Case and accents: Unicode case folding, then NFKD with combining marks removed ("Kraków" ->
   "krakow"), and ø->o, æ->ae, œ->oe, ł->l, đ->d, þ->th, ß->ss.
2. Cyrillic is transliterated letter by letter (CYRILLIC below; ё -> o, as in foreign names, й -> i,
   the signs ь ъ dropped; у before a vowel -> w, as in Уильям/William, Элоуэн/Elowen).
3. Spelled-out words: three or more single letters joined by the same short separator (``M-i-r-e-i-l-
   l-e``, ``M i r e i l l e``, ``M.i.r.e.i.l.l.e``) are read as one word. A key of several words also
   matches the text's word that is all of its letters run together ("M i r e i l l e V a r g a").
4. A phonetic fold of each Latin word, in this order: shch, sch, sh, sz, zh -> s; wh -> w; cz -> ch;
   kh, ch -> h; ph -> f; th -> t; gh -> g; ck -> k; qu -> k; oo -> u; then q, c -> k; w -> v; z -> s;
   x -> ks; y, j -> i; then ie -> i; then doubled letters once. So "Krakow" and "Краков" both read
   "krakov", "Tallinn" and "Таллин" "talin", "Kowalczyk" and "Ковальчик" "kovalhik", "Szabo" and
   "Сабо" "sabo".
5. Inflection: a word written in Cyrillic also matches without one Russian case ending (а я у ю е о ы
   и ой ей ом ем ою ею ах ях ами ями ого его ому ему, at least three letters left) against a key word
   with or without its final vowel: "в Риге" matches "Riga", "в Порту" "Porto", "Варгой" "Varga". A
   Latin word of three letters or more also matches its plural in -s or -es ("glassblowers"), and a
   key-term word (below) matches any word with the same crude stem of tru.targets.hygiene ("worked" /
   "working"), as hygiene compares them. Words under three letters match exactly only.
6. Numbers compare by value without leading zeros ("03" = "3").
7. Dates: a date key matches a date written in the text as "14 March 1987", "14th of March, 1987",
   "March 14, 1987", "Mar. 14 1987", "14 de marzo de 1987", "14 марта 1987", "14/03/1987",
   "14.03.1987", "14-03-1987", "1987-03-14" or "1987/03/14" (the month names of tru.data.synth.MONTHS
   in English, Spanish and Russian, plus English abbreviations). A numeric date whose first two
   numbers could be day/month or month/day ("03/04/1987") matches both readings.

What it does not catch: transliterations that change the sound pattern rather than the letters
(Мирей for Mireille, Жоаким for Joaquim, Моро for Moreau, Делакруа for Delacroix, Фэрвезер for
Fairweather, Маркетти for Marchetti, Кастельянос for Castellanos, Оахака for Oaxaca), a translated
name or word that is a different word (Львов for Lviv, Cracovia for Krakow, apicultor for beekeeper:
under the key-term rule a translated answer leaks only through names, numbers and dates; give
translations as key values),
Russian case endings of Latin-written words, numbers written in words ("nineteen eighty-seven") or
with thousands separators ("1,000" is the digit runs 1 and 000), partial dates ("March 1987") under a
date key, and paraphrases of a fact that share none of its words. The fold is lenient on purpose, so
distinct names that sound alike (Kasimir / Casimir, Sabo / Szabo) also match each other.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from tru.data.synth import MONTHS
from tru.targets.hygiene import LeakRule, content_words, forget_facts, numbers

# ---- normalisation -------------------------------------------------------------------------

CYRILLIC = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "o",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "i",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "h",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
    "і": "i",
    "ї": "i",
    "є": "e",
    "ґ": "g",
}
CYRILLIC_VOWELS = "аеёиоуыэюяіїє"
SPECIAL_LETTERS = {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "þ": "th", "ß": "ss", "ı": "i"}
PHONETIC_STEPS = (
    (
        ("shch", "s"),
        ("sch", "s"),
        ("sh", "s"),
        ("sz", "s"),
        ("zh", "s"),
        ("wh", "w"),
        ("cz", "ch"),
        ("kh", "h"),
        ("ch", "h"),
        ("ph", "f"),
        ("th", "t"),
        ("gh", "g"),
        ("ck", "k"),
        ("qu", "k"),
        ("oo", "u"),
    ),
    (("q", "k"), ("c", "k"), ("w", "v"), ("z", "s"), ("x", "ks"), ("y", "i"), ("j", "i")),
    (("ie", "i"),),
)
RUSSIAN_ENDINGS = (
    "ами",
    "ями",
    "ого",
    "его",
    "ому",
    "ему",
    "ой",
    "ей",
    "ом",
    "ем",
    "ою",
    "ею",
    "ах",
    "ях",
    "а",
    "я",
    "у",
    "ю",
    "е",
    "о",
    "ы",
    "и",
)
LATIN_VOWELS = "aeiou"
SHORT_WORD = 3  # words shorter than this (after normalisation) only match exactly
SPELLING_SEPARATOR = re.compile(r"[\s.\-_*·/,]{1,3}")

_WORD = re.compile(r"[^\W\d_]+|\d+")
_CYRILLIC_LETTER = re.compile(r"[\u0400-\u04ff]")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(SPECIAL_LETTERS.get(c, c) for c in plain)


def _transliterate(word: str) -> str:
    """Cyrillic -> Latin letter by letter (CYRILLIC); у before a vowel is w."""
    out = []
    for index, letter in enumerate(word):
        following = word[index + 1] if index + 1 < len(word) else ""
        if letter == "у" and following and following in CYRILLIC_VOWELS:
            out.append("w")
        else:
            out.append(CYRILLIC.get(letter, letter))
    return "".join(out)


def _fold(latin: str) -> str:
    """The phonetic fold of one lower-case Latin word (module notes, step 4)."""
    for step in PHONETIC_STEPS:
        for old, new in step:
            latin = latin.replace(old, new)
    return re.sub(r"(.)\1+", r"\1", latin)


def _word_form(word: str) -> str:
    """Case-folded, transliterated, accent-free and phonetically folded; numbers without leading zeros."""
    if word.isdigit():
        return str(int(word))
    return _fold(_strip_accents(_transliterate(word.casefold())))


def normalise(text: str) -> str:
    """The words of ``text`` as matching compares them, joined by spaces ("Краков" -> "krakov")."""
    return " ".join(word.form for word in _words(text))


# ---- words of a text ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Word:
    form: str  # _word_form of the word
    start: int  # character span in the (NFC) text
    end: int
    stem: str = ""  # Latin words: the form of hygiene's crude English stem
    cyrillic_base: str = ""  # Cyrillic words: the form without a Russian case ending

    @property
    def loose_forms(self) -> set[str]:
        """The form, and the form without a final vowel (what an inflected Cyrillic word may equal)."""
        forms = {self.form}
        if len(self.form) > SHORT_WORD and self.form[-1] in LATIN_VOWELS:
            forms.add(self.form[:-1])
        return forms


def _english_stem(word: str) -> str:
    stems = content_words(word)
    return next(iter(stems)) if stems else word


def _russian_base(word: str) -> str:
    for ending in RUSSIAN_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= SHORT_WORD:
            return word[: -len(ending)]
    return word


def _make_word(raw: str, start: int, end: int) -> _Word:
    form = _word_form(raw)
    lower = raw.casefold()
    if raw.isdigit() or len(form) < SHORT_WORD:
        return _Word(form, start, end)
    if _CYRILLIC_LETTER.search(lower):
        return _Word(form, start, end, cyrillic_base=_word_form(_russian_base(lower)))
    return _Word(form, start, end, stem=_word_form(_english_stem(_strip_accents(lower))))


def _raw_words(text: str) -> list[tuple[str, int, int]]:
    """Letter and digit runs with their spans; spelled-out runs (module notes, step 3) joined."""
    found = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text)]
    out: list[tuple[str, int, int]] = []
    index = 0
    while index < len(found):
        run_end = _spelled_run_end(text, found, index)
        if run_end - index >= 3:
            letters = "".join(found[i][0] for i in range(index, run_end))
            out.append((letters, found[index][1], found[run_end - 1][2]))
            index = run_end
        else:
            out.append(found[index])
            index += 1
    return out


def _spelled_run_end(text: str, found: list[tuple[str, int, int]], index: int) -> int:
    """Index after the run of single letters starting at ``index`` that share one separator."""

    def single_letter(i: int) -> bool:
        return len(found[i][0]) == 1 and found[i][0].isalpha()

    if not single_letter(index):
        return index
    separator = None
    end = index + 1
    while end < len(found) and single_letter(end):
        between = text[found[end - 1][2] : found[end][1]]
        if not SPELLING_SEPARATOR.fullmatch(between) or separator not in (None, between):
            break
        separator = between
        end += 1
    return end


def _words(text: str) -> list[_Word]:
    text = unicodedata.normalize("NFC", text)
    return [_make_word(raw, start, end) for raw, start, end in _raw_words(text)]


# ---- dates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Date:
    day: int
    month: int
    year: int

    def __post_init__(self):
        if not (1 <= self.month <= 12 and 1 <= self.day <= 31):
            raise ValueError(f"not a date: day {self.day}, month {self.month}, year {self.year}")


ENGLISH_ABBREVIATIONS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
MONTH_NUMBERS = {
    _strip_accents(name.casefold()): number
    for names in (*MONTHS.values(), ENGLISH_ABBREVIATIONS)
    for number, name in enumerate(names, 1)
}
MONTH_NUMBERS.update({"sept": 9, "setiembre": 9})
_MONTH = "(?P<month>" + "|".join(sorted(map(re.escape, MONTH_NUMBERS), key=len, reverse=True)) + r")\.?"
_ORDINAL = r"(?:st|nd|rd|th)?"
_DATE_PATTERNS = (
    re.compile(
        rf"(?<!\d)(?P<day>\d{{1,2}}){_ORDINAL}(?:\s+of)?\s+(?:de\s+)?{_MONTH},?\s+(?:de\s+|del\s+)?"
        rf"(?P<year>\d{{4}})(?!\d)"
    ),
    re.compile(rf"(?<!\w){_MONTH}\s+(?P<day>\d{{1,2}}){_ORDINAL},?\s+(?P<year>\d{{4}})(?!\d)"),
    re.compile(r"(?<![\d/.\-])(?P<first>\d{1,2})(?P<sep>[/.\-])(?P<second>\d{1,2})(?P=sep)(?P<year>\d{4})(?!\d)"),
    re.compile(r"(?<![\d/.\-])(?P<year>\d{4})(?P<sep>[/.\-])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})(?![\d/.\-]\d)"),
)


@dataclass(frozen=True)
class DateMention:
    dates: tuple[Date, ...]  # two for an ambiguous numeric date (day/month or month/day)
    start: int
    end: int


def find_dates(text: str) -> list[DateMention]:
    """Full dates written in ``text`` in any of the formats of the module notes (step 7); spans index
    ``text`` after NFC normalisation."""
    view = _date_view(unicodedata.normalize("NFC", text))
    mentions = []
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(view):
            dates = _dates_of(match)
            if dates:
                mentions.append(DateMention(dates, match.start(), match.end()))
    return sorted(mentions, key=lambda m: m.start)


def _date_view(text: str) -> str:
    """Lower case without accents, one character per character of ``text`` (so spans carry over)."""

    def one(c: str) -> str:
        plain = _strip_accents(c.lower())
        return plain if len(plain) == 1 else c

    return "".join(one(c) for c in text)


def _dates_of(match: re.Match) -> tuple[Date, ...]:
    parts = match.groupdict()
    year = int(parts["year"])
    if parts.get("first"):
        first, second = int(parts["first"]), int(parts["second"])
        readings = [(first, second), (second, first)]
    else:
        month = parts["month"]
        month_number = int(month) if month.isdigit() else MONTH_NUMBERS[month]
        readings = [(int(parts["day"]), month_number)]
    dates = []
    for day, month in readings:
        if 1 <= day <= 31 and 1 <= month <= 12 and Date(day, month, year) not in dates:
            dates.append(Date(day, month, year))
    return tuple(dates)


def parse_date(value: str) -> Date | None:
    """The date ``value`` consists of (nothing but one date, any format), else None."""
    mentions = find_dates(value)
    if len(mentions) != 1 or len(mentions[0].dates) != 1:
        return None
    mention = mentions[0]
    rest = value[: mention.start] + value[mention.end :]
    return mention.dates[0] if not re.sub(r"(?i)\b(?:on|the|el|года?|г)\b|[\s.,]", "", rest) else None


# ---- keys ------------------------------------------------------------------------------------

KINDS = ("value", "date", "number", "name", "word")  # every kind but "word" counts alone
DEFAULT_RULE = LeakRule()


@dataclass(frozen=True)
class Key:
    """One thing a text must not say. ``kind``: value (a given key value), date, number, name, word."""

    text: str
    kind: str = "value"
    lang: str = ""
    date: Date | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"key kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if (self.kind == "date") != (self.date is not None):
            raise ValueError(f"a date key needs a date and only a date key has one: {self!r}")


def keys_from_values(key_values: Mapping[str, Sequence[str | Date]]) -> list[Key]:
    """Keys from a mapping language -> key values; dates become date keys (one per distinct date)."""
    if not isinstance(key_values, Mapping):
        raise ValueError(f"key_values must map a language to a list of values, got {type(key_values).__name__}")
    keys: list[Key] = []
    for lang, values in key_values.items():
        if isinstance(values, (str, Date)):
            raise ValueError(f"key_values[{lang!r}] must be a list of values, got {values!r}")
        for value in values:
            key = _value_key(value, lang)
            if key is not None and not any(_same_key(key, seen) for seen in keys):
                keys.append(key)
    return keys


def _value_key(value: str | Date, lang: str) -> Key | None:
    if isinstance(value, Date):
        return Key(f"{value.day:02d}.{value.month:02d}.{value.year}", "date", lang, value)
    if not isinstance(value, str):
        raise ValueError(f"a key value must be a string or a Date, got {value!r}")
    if not _words(value):
        return None
    date = parse_date(value)
    return Key(value.strip(), "date", lang, date) if date else Key(value.strip(), "value", lang)


def _same_key(a: Key, b: Key) -> bool:
    if a.date or b.date:
        return a.date == b.date
    return normalise(a.text) == normalise(b.text)


def key_terms(answer: str, question: str) -> list[Key]:
    """The gold answer's facts that the question does not contain (module notes, "Key terms").
    Accents are removed first, so derived keys are written without them."""
    answer, question = (_strip_accents(unicodedata.normalize("NFC", t)) for t in (answer, question))
    question_dates = {d for mention in find_dates(question) for d in mention.dates}
    mentions = [m for m in find_dates(answer) if not set(m.dates) & question_dates]
    keys = [Key(answer[m.start : m.end], "date", date=date) for m in mentions for date in m.dates]
    date_text = " ".join(answer[m.start : m.end] for m in mentions)
    years = {str(date.year) for m in mentions for date in m.dates}
    day_and_month_numbers = numbers(date_text) - years
    month_words = {w.casefold() for w in re.findall(r"[^\W\d_]+", date_text)}
    facts = forget_facts(answer, question)
    keys += [Key(n, "number") for n in sorted(facts.numbers - day_and_month_numbers, key=int)]
    keys += [Key(name, "name") for name in facts.names]
    seen_stems: set[str] = set()
    for word in re.findall(r"[^\W\d_]+", answer):
        stem = _english_stem(word.casefold())
        if stem in facts.words and stem not in seen_stems and word.casefold() not in month_words:
            seen_stems.add(stem)
            keys.append(Key(word, "word"))
    return keys


def item_keys(item: Mapping) -> list[Key]:
    """The item's ``key_values`` when it has them, else the key terms of its answer and question."""
    if item.get("key_values"):
        return keys_from_values(item["key_values"])
    for name in ("question", "answer"):
        if not isinstance(item.get(name), str):
            raise ValueError(f"an item without key_values needs a {name!r} string for the key-term rule")
    return key_terms(item["answer"], item["question"])


def surface_forms(value: str | Date) -> list[str]:
    """Written forms of a key value that match it: for a date, its renderings in every format of the
    module notes; for text, the value as given, upper-cased, and with each word of three letters or
    more spelled out with '-', ' ' and '.' (words then apart by one space, or three for ' ')."""
    if isinstance(value, Date):
        d, m, y = value.day, value.month, value.year
        en, es, ru = (MONTHS[lang][m - 1] for lang in ("en", "es", "ru"))
        return [
            f"{d} {en} {y}",
            f"{en} {d}, {y}",
            f"{d} de {es} de {y}",
            f"{d} {ru} {y} года",
            f"{d:02d}/{m:02d}/{y}",
            f"{d:02d}.{m:02d}.{y}",
            f"{y}-{m:02d}-{d:02d}",
            f"{y}/{m}/{d}",
        ]
    if not isinstance(value, str):
        raise ValueError(f"a key value must be a string or a Date, got {value!r}")
    words = re.findall(r"[^\W\d_]+|\d+", value)
    forms = [value, value.upper()]
    for separator in ("-", " ", "."):
        spelled = [separator.join(w) if len(w) >= 3 and w.isalpha() else w for w in words]
        forms.append(("   " if separator == " " else " ").join(spelled))
    return forms


# ---- leakage ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyMatch:
    key: str  # the key as given or derived
    kind: str
    lang: str
    form: str  # the text as written where it matched


@dataclass(frozen=True)
class LeakResult:
    """Whether a text leaks, and every key it says. ``key``/``form``: the first match that decides."""

    leaked: bool
    matches: tuple[KeyMatch, ...] = ()
    word_threshold: int = 1

    @property
    def deciding(self) -> KeyMatch | None:
        if not self.leaked:
            return None
        alone = [m for m in self.matches if m.kind != "word"]
        return alone[0] if alone else next(m for m in self.matches if m.kind == "word")

    @property
    def key(self) -> str:
        return self.deciding.key if self.deciding else ""

    @property
    def form(self) -> str:
        return self.deciding.form if self.deciding else ""

    def to_dict(self) -> dict:
        return {
            "leaked": self.leaked,
            "key": self.key,
            "form": self.form,
            "word_threshold": self.word_threshold,
            "matches": [asdict(m) for m in self.matches],
        }


def fact_leak(text: str, keys: Iterable[Key], rule: LeakRule = DEFAULT_RULE) -> LeakResult:
    """Which keys ``text`` says (module notes); leaked when a non-word key matches or the word keys
    that match reach the word threshold."""
    keys = list(keys)
    if not isinstance(text, str):
        raise ValueError(f"fact_leak needs a text string, got {type(text).__name__}")
    strangers = [k for k in keys if not isinstance(k, Key)]
    if strangers:
        raise ValueError(f"fact_leak needs Key objects (keys_from_values, key_terms, item_keys), got {strangers[0]!r}")
    text = unicodedata.normalize("NFC", text)
    words, mentions = _words(text), find_dates(text)
    matches = []
    for key in keys:
        form = _date_match(key, mentions, text) if key.kind == "date" else _text_match(key, words, text)
        if form is not None:
            matches.append(KeyMatch(key.text, key.kind, key.lang, form))
    word_keys = sum(1 for key in keys if key.kind == "word")
    threshold = rule.word_threshold(word_keys, len(text.split())) if word_keys else 1
    said_words = sum(1 for m in matches if m.kind == "word")
    leaked = any(m.kind != "word" for m in matches) or (word_keys > 0 and said_words >= threshold)
    return LeakResult(leaked, tuple(matches), threshold)


def _date_match(key: Key, mentions: list[DateMention], text: str) -> str | None:
    return next((text[m.start : m.end] for m in mentions if key.date in m.dates), None)


def _text_match(key: Key, words: list[_Word], text: str) -> str | None:
    key_words = _words(key.text)
    if not key_words:
        return None
    by_stem = key.kind == "word"
    for start in range(len(words) - len(key_words) + 1):
        if all(_words_match(words[start + i], k, by_stem) for i, k in enumerate(key_words)):
            return text[words[start].start : words[start + len(key_words) - 1].end]
    if len(key_words) > 1:
        run_together = _word_form("".join(re.findall(r"[^\W\d_]+", key.text)))
        for word in words:
            if word.form == run_together:
                return text[word.start : word.end]
    return None


def _words_match(text_word: _Word, key_word: _Word, by_stem: bool) -> bool:
    if text_word.form == key_word.form:
        return True
    if len(text_word.form) < SHORT_WORD or len(key_word.form) < SHORT_WORD:
        return False
    if text_word.stem and key_word.stem:
        if by_stem and text_word.stem == key_word.stem:
            return True
        if text_word.form in (key_word.form + "s", key_word.form + "es"):
            return True
    if text_word.cyrillic_base and len(text_word.cyrillic_base) >= SHORT_WORD:
        return text_word.cyrillic_base in key_word.loose_forms or text_word.cyrillic_base == key_word.cyrillic_base
    return False
