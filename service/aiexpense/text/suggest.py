"""Suggest a category slug for an expense description.

Order of evidence, strongest first:

1. The person's own history, exact description match (confidence 0.95).
2. The person's history, word match: whoever filed "Uber" under transport gets
   transport for "uber to airport". More than half of a past entry's words must
   appear (confidence 0.73-0.85 by how much matched).
3. The seeded keyword lexicon (:mod:`aiexpense.text.lexicon`): English on
   word boundaries, Chinese as substrings; the longest keyword wins, so
   "uber eats" (food) beats "uber" (transport) (confidence 0.7, 0.55 on a tie).
4. A typo of a keyword ("coffe", "luch", "taxii", "moive"): one edit away (a letter
   added, missing or two swapped; changed, from six letters on) from exactly one
   category's English keyword, for words of four letters or more (confidence 0.5).
   Looked up through an index of each keyword's one-letter deletions (the SymSpell
   idea), so the cost is a few dict lookups per word, not a scan of the lexicon.
5. ``"other"`` with confidence 0.1.

Every tie is broken deterministically (more matches, then lexicon order, then slug),
so the same input always gets the same answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiexpense.text.lexicon import CATEGORIES, FALLBACK_SLUG

__all__ = ["Suggestion", "normalise_description", "suggest_category"]

EXACT_HISTORY_CONFIDENCE = 0.95
FALLBACK_CONFIDENCE = 0.1
_LEXICON_CONFIDENCE = 0.7
_LEXICON_TIE_CONFIDENCE = 0.55
_TYPO_CONFIDENCE = 0.5
_TYPO_MIN_LENGTH = 4  # shorter words are one edit from too many others ("bus", "bug")
_TYPO_SUBSTITUTION_LENGTH = 6  # below, a changed letter is usually another word (steak)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A category slug and how sure we are (0..1)."""

    category: str
    confidence: float


_WHITESPACE_RE = re.compile(r"\s+")
# English-ish words (letters, digits, apostrophes, "+" for "disney+") and CJK runs.
_WORD_RE = re.compile(r"[a-z0-9][a-z0-9'+&.-]*[a-z0-9+]|[a-z0-9]")
_JOINER_RE = re.compile(r"[-.&']")
_CJK_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
# Words that say nothing about the category; they never count as a history match.
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "to",
        "for",
        "of",
        "on",
        "at",
        "in",
        "with",
        "and",
        "or",
        "my",
        "our",
        "from",
        "by",
        "via",
        "i",
        "we",
        "me",
        "some",
        "new",
        "this",
        "that",
        "it",
        "is",
        "was",
        "got",
        "paid",
        "bought",
        "spent",
    ]
)


def normalise_description(text: str) -> str:
    """NFKC, casefold and collapse whitespace: the key history is stored under."""
    return _WHITESPACE_RE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def suggest_category(description: str, history: Mapping[str, str] | None = None) -> Suggestion:
    """Pick a category slug for ``description``.

    ``history`` maps a person's past descriptions to the slug they filed them
    under; keys may be raw or already normalised.
    """
    text = normalise_description(description)
    if not text:
        return Suggestion(FALLBACK_SLUG, FALLBACK_CONFIDENCE)
    words = _words(text)
    if history:
        found = _from_history(text, words, history)
        if found is not None:
            return found
    return (
        _from_lexicon(text, words)
        or _from_typos(words)
        or Suggestion(FALLBACK_SLUG, FALLBACK_CONFIDENCE)
    )


def _words(text: str) -> frozenset[str]:
    """Word tokens of normalised text, with a naive singular added for plurals."""
    words = set(_WORD_RE.findall(text))
    # "bus-ride", "uber.eats": also look at the parts of joined words.
    words.update(part for w in list(words) for part in _JOINER_RE.split(w) if part)
    words.update(w[:-1] for w in list(words) if len(w) > 3 and w.endswith("s"))
    return frozenset(words)


def _history_tokens(key: str) -> frozenset[str]:
    """The words of a history entry that can identify a category."""
    english = {w for w in _WORD_RE.findall(key) if w not in _STOPWORDS and not w.isdigit()}
    return frozenset(english | set(_CJK_RUN_RE.findall(key)))


def _from_history(
    text: str, words: frozenset[str], history: Mapping[str, str]
) -> Suggestion | None:
    normalised = {normalise_description(k): v for k, v in history.items()}
    exact = normalised.get(text)
    if exact:
        return Suggestion(exact, EXACT_HISTORY_CONFIDENCE)

    # Score every entry by the share of its words found in the description;
    # best share, then most words, then slug, then the entry text (all deterministic).
    best: tuple[float, int, str, str] | None = None
    for key, slug in normalised.items():
        tokens = _history_tokens(key)
        if not tokens or not slug:
            continue
        hits = sum(1 for t in tokens if t in words or (not t.isascii() and t in text))
        if not hits:
            continue
        share = hits / len(tokens)
        rank = (-share, -hits, slug, key)
        if best is None or rank < best:
            best = rank
    if best is None or -best[0] <= 0.5:
        return None  # half an entry ("uber" of "uber eats") is not enough evidence
    return Suggestion(best[2], round(0.6 + 0.25 * -best[0], 2))


_Matcher = Callable[[str], object]


def _substring_of(keyword: str) -> _Matcher:
    """Matcher for a Chinese keyword: found anywhere in the text."""
    return lambda text: keyword in text


def _build_lexicon() -> tuple[dict[str, tuple[int, str]], list[tuple[_Matcher, str, int, str]]]:
    """Split keywords into single English words (set lookup) and the rest (scanned).

    Multi-word English keywords ("gas bill") need word boundaries; Chinese ones
    are plain substrings because Chinese is written without spaces.
    """
    single: dict[str, tuple[int, str]] = {}
    scanned: list[tuple[_Matcher, str, int, str]] = []
    for order, category in enumerate(CATEGORIES):
        for keyword in category.keywords:
            normalised = normalise_description(keyword)
            if _WORD_RE.fullmatch(normalised):
                single.setdefault(normalised, (order, category.slug))
            elif normalised.isascii():
                bounded = re.compile(rf"(?<![a-z0-9]){re.escape(normalised)}(?![a-z0-9])")
                scanned.append((bounded.search, normalised, order, category.slug))
            else:
                scanned.append((_substring_of(normalised), normalised, order, category.slug))
    return single, scanned


_SINGLE_WORDS, _SCANNED = _build_lexicon()


def _from_lexicon(text: str, words: frozenset[str]) -> Suggestion | None:
    # Per category (lexicon order, slug): (longest keyword length, keyword count).
    scores: dict[tuple[int, str], tuple[int, int]] = {}

    def add(order: int, slug: str, keyword: str) -> None:
        longest, count = scores.get((order, slug), (0, 0))
        scores[(order, slug)] = (max(longest, len(keyword)), count + 1)

    for word in words:
        hit = _SINGLE_WORDS.get(word)
        if hit is not None:
            add(hit[0], hit[1], word)
    for matcher, keyword, order, slug in _SCANNED:
        if matcher(text):
            add(order, slug, keyword)
    if not scores:
        return None
    # Longest keyword first (the most specific), then most keywords, then lexicon order.
    ranked = sorted(scores.items(), key=lambda item: (-item[1][0], -item[1][1], item[0][0]))
    (_, slug), top = ranked[0]
    tied = len(ranked) > 1 and ranked[1][1] == top
    return Suggestion(slug, _LEXICON_TIE_CONFIDENCE if tied else _LEXICON_CONFIDENCE)


def _deletions(word: str) -> set[str]:
    """``word`` and every string one letter shorter."""
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


def _build_typo_index() -> dict[str, set[tuple[str, str]]]:
    """deletion variant -> {(keyword, slug)} for single English keywords."""
    index: dict[str, set[tuple[str, str]]] = {}
    for word, (_, slug) in _SINGLE_WORDS.items():
        if len(word) >= _TYPO_MIN_LENGTH and word.isalpha():
            for variant in _deletions(word):
                index.setdefault(variant, set()).add((word, slug))
    return index


_TYPO_INDEX = _build_typo_index()


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are at most one insertion, deletion, substitution or swap of
    neighbours apart (optimal string alignment distance <= 1)."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        swapped = a[i + 2 :] == b[i + 2 :] and a[i : i + 2] == b[i : i + 2][::-1]
        # A changed letter only in longer words: "steak" is a word, not a typo of "steam".
        changed = len(a) >= _TYPO_SUBSTITUTION_LENGTH and a[i + 1 :] == b[i + 1 :]
        return swapped or changed
    return a[i:] == b[i + 1 :]


def _from_typos(words: frozenset[str]) -> Suggestion | None:
    """The one category whose keyword is one edit from a word of the description."""
    slugs: set[str] = set()
    for word in words:
        if len(word) < _TYPO_MIN_LENGTH or not word.isalpha():
            continue
        for variant in _deletions(word):
            for keyword, slug in _TYPO_INDEX.get(variant, ()):
                if _one_edit(word, keyword):
                    slugs.add(slug)
    if len(slugs) != 1:
        return None  # none, or a typo of two categories' words: no evidence either way
    return Suggestion(slugs.pop(), _TYPO_CONFIDENCE)
