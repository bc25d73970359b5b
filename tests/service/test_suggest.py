"""Tests for aiexpense.text.suggest and the seeded lexicon it reads."""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest

from aiexpense.text.lexicon import CATEGORIES, CATEGORIES_BY_SLUG, FALLBACK_SLUG, Category
from aiexpense.text.suggest import (
    EXACT_HISTORY_CONFIDENCE,
    Suggestion,
    normalise_description,
    suggest_category,
)

# --------------------------------------------------------------------------- lexicon


def test_lexicon_shape() -> None:
    slugs = [c.slug for c in CATEGORIES]
    assert len(slugs) == len(set(slugs))
    assert {
        "food",
        "transport",
        "shopping",
        "entertainment",
        "bills",
        "health",
        "housing",
        "education",
        "travel",
        "groceries",
        "other",
    } <= set(slugs)
    assert slugs[-1] == FALLBACK_SLUG == "other"
    assert set(CATEGORIES_BY_SLUG) == set(slugs)
    for category in CATEGORIES:
        assert isinstance(category, Category)
        assert category.slug.isascii() and category.slug == category.slug.lower()
        assert category.name
        assert isinstance(category.keywords, tuple)


def test_category_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        CATEGORIES[0].slug = "x"  # type: ignore[misc]


def test_keywords_are_normalised_and_unique_across_categories() -> None:
    seen: dict[str, str] = {}
    for category in CATEGORIES:
        for keyword in category.keywords:
            assert keyword == normalise_description(keyword), keyword
            assert keyword not in seen, f"{keyword!r} in {seen.get(keyword)} and {category.slug}"
            seen[keyword] = category.slug


def test_lexicon_has_traditional_and_simplified_forms() -> None:
    keywords = {k for c in CATEGORIES for k in c.keywords}
    for pair in [("計程車", "出租车"), ("捷運", "捷运"), ("公車", "公车"), ("飲料", "饮料")]:
        assert set(pair) <= keywords
    assert {"午餐", "早餐", "晚餐", "咖啡"} <= keywords


# --------------------------------------------------------------------------- normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Lunch", "lunch"),
        ("  Uber   to\tAirport \n", "uber to airport"),
        ("ＣＯＦＦＥＥ", "coffee"),  # full width
        ("Straße", "strasse"),  # casefold, not lower
        ("午餐\u3000便當", "午餐 便當"),  # ideographic space
        ("", ""),
    ],
)
def test_normalise_description(raw: str, expected: str) -> None:
    assert normalise_description(raw) == expected


def test_normalise_description_is_idempotent() -> None:
    for raw in ["  Ｕｂｅｒ  EATS ", "計程車 250", "Café Crème"]:
        once = normalise_description(raw)
        assert normalise_description(once) == once
        assert once == unicodedata.normalize("NFKC", once)


# --------------------------------------------------------------------------- lexicon matches


@pytest.mark.parametrize(
    ("description", "slug"),
    [
        ("lunch", "food"),
        ("Coffee at Starbucks", "food"),
        ("2 coffees", "food"),  # naive plural
        ("uber eats", "food"),  # longer keyword beats "uber"
        ("taxi home", "transport"),
        ("uber to airport", "transport"),
        ("bus-ride", "transport"),
        ("gas bill", "bills"),  # beats "gas" (transport)
        ("Netflix", "entertainment"),
        ("new shoes", "shopping"),
        ("rent", "housing"),
        ("tuition", "education"),
        ("hotel in Osaka", "travel"),
        ("weekly groceries", "groceries"),
        ("dentist", "health"),
    ],
)
def test_english_lexicon(description: str, slug: str) -> None:
    assert suggest_category(description).category == slug


@pytest.mark.parametrize(
    ("description", "slug"),
    [
        ("午餐", "food"),
        ("早餐 蛋餅", "food"),
        ("咖啡", "food"),
        ("計程車", "transport"),
        ("出租车去机场", "transport"),  # simplified, substring
        ("搭捷運", "transport"),
        ("電費", "bills"),
        ("全聯 買菜", "groceries"),
        ("咖啡豆", "groceries"),  # longer keyword beats 咖啡
        ("看電影", "entertainment"),
        ("房租", "housing"),
        ("藥局", "health"),
        ("機票", "travel"),
        ("買衣服", "shopping"),
    ],
)
def test_chinese_lexicon(description: str, slug: str) -> None:
    assert suggest_category(description).category == slug


@pytest.mark.parametrize(
    ("description", "slug"),
    [
        ("電車", "transport"),
        ("タクシー", "transport"),
        ("新幹線", "transport"),
        ("ランチ", "food"),
        ("コーヒー", "food"),
        ("居酒屋", "food"),
        ("スーパー", "groceries"),
        ("電気代", "bills"),
        ("家賃", "housing"),
        ("ホテル", "travel"),
        ("カラオケ", "entertainment"),
        ("病院", "health"),
        ("ドライブ", "other"),  # holds ライブ (live show), which is therefore not a keyword
    ],
)
def test_japanese_lexicon(description: str, slug: str) -> None:
    assert suggest_category(description).category == slug


@pytest.mark.parametrize(
    ("description", "slug"),
    [
        ("coffe", "food"),
        ("luch", "food"),
        ("lnuch", "food"),
        ("dinnr", "food"),
        ("brekfast", "food"),
        ("resturant", "food"),
        ("snakc", "food"),
        ("taxii", "transport"),
        ("parkng", "transport"),
        ("uberr", "transport"),
        ("groceris", "groceries"),
        ("moive tickets", "entertainment"),
        ("hotle", "travel"),
        ("medicin", "health"),
        ("insurence", "bills"),
        ("rnet", "housing"),
        ("Coffe with Amy", "food"),
    ],
)
def test_a_typo_of_one_keyword_finds_its_category(description: str, slug: str) -> None:
    assert suggest_category(description) == Suggestion(slug, 0.5)


@pytest.mark.parametrize(
    "description",
    [
        "steak",  # a word of its own, one letter from "steam": no changed letters under six
        "bug",  # too short to be anyone's typo
        "taxi",  # not a typo: the lexicon answers, with its own confidence
        "zorblax",
        "qwertyuiop",
    ],
)
def test_words_that_are_not_typos_are_left_alone(description: str) -> None:
    assert suggest_category(description).confidence != 0.5


def test_the_typo_fallback_is_cheap() -> None:
    # One-letter deletions of the word are looked up; the lexicon is never scanned.
    from aiexpense.text import suggest

    assert len(suggest._TYPO_INDEX) < 20 * len(suggest._SINGLE_WORDS)
    assert suggest._one_edit("coffe", "coffee") and suggest._one_edit("moive", "movie")
    assert not suggest._one_edit("steak", "steam") and not suggest._one_edit("cofe", "coffee")


def test_english_keywords_match_whole_words_only() -> None:
    # "bus" must not fire inside "business", "tea" not inside "steak", "rent" not in "parent".
    assert suggest_category("business cards").category == "other"
    assert suggest_category("steak").category == "other"
    assert suggest_category("parent").category == "other"


def test_lexicon_confidence() -> None:
    suggestion = suggest_category("lunch")
    assert isinstance(suggestion, Suggestion)
    assert 0.5 < suggestion.confidence < EXACT_HISTORY_CONFIDENCE


# --------------------------------------------------------------------------- fallback


@pytest.mark.parametrize("description", ["", "   ", "thingamajig", "xyz 123", "🙂"])
def test_unknown_is_other_with_low_confidence(description: str) -> None:
    suggestion = suggest_category(description)
    assert suggestion.category == "other"
    assert suggestion.confidence <= 0.2


# --------------------------------------------------------------------------- history


def test_exact_history_beats_lexicon() -> None:
    history = {"lunch": "entertainment"}
    assert suggest_category("Lunch", history) == Suggestion("entertainment", 0.95)


def test_history_keys_are_normalised() -> None:
    history = {"  Costco   RUN ": "groceries"}
    assert suggest_category("costco run", history) == Suggestion("groceries", 0.95)


def test_token_history_match() -> None:
    history = {"Uber": "transport"}
    suggestion = suggest_category("uber to airport", history)
    assert suggestion.category == "transport"
    assert 0.7 <= suggestion.confidence < EXACT_HISTORY_CONFIDENCE


def test_token_history_beats_lexicon() -> None:
    # The lexicon says "coffee" is food; this person files coffee beans under shopping.
    history = {"coffee beans": "shopping"}
    assert suggest_category("coffee beans from Kenya", history).category == "shopping"
    assert suggest_category("coffee", {}).category == "food"


def test_token_history_prefers_the_best_covered_entry() -> None:
    history = {"uber": "transport", "uber eats": "food"}
    assert suggest_category("uber to the office", history).category == "transport"
    assert suggest_category("uber eats sushi", history).category == "food"


def test_chinese_history_substring_match() -> None:
    history = {"星巴克": "food", "阿姨家": "housing"}
    assert suggest_category("星巴克拿鐵", history).category == "food"
    assert suggest_category("給阿姨家的紅包", history).category == "housing"


def test_stopwords_and_numbers_do_not_match_history() -> None:
    history = {"the 101 tower": "entertainment"}
    # Shares only "the" and "101" with the entry: no history match, the lexicon decides.
    assert suggest_category("the bus", history).category == "transport"


def test_weak_history_overlap_falls_back_to_lexicon() -> None:
    # Half of an entry ("dinner" of "dinner at grandma", "at" being a stopword) is not enough.
    history = {"dinner at grandma": "other"}
    assert suggest_category("dinner", history).category == "food"


def test_empty_history_is_like_none() -> None:
    assert suggest_category("taxi", {}) == suggest_category("taxi", None)


def test_custom_slugs_from_history_are_returned_as_is() -> None:
    assert suggest_category("dog food", {"dog food": "pets"}).category == "pets"


def test_deterministic_tie_breaking() -> None:
    # Two entries cover the description equally well: the slug order decides, every time.
    history = {"market": "shopping", "night": "food"}
    results = {suggest_category("night market", history) for _ in range(5)}
    assert results == {Suggestion("food", 0.85)}
    # Insertion order of the history does not matter.
    flipped = {"night": "food", "market": "shopping"}
    assert suggest_category("night market", flipped) == Suggestion("food", 0.85)
    # Lexicon ties are broken by lexicon order too.
    assert suggest_category("taxi and hotel") == suggest_category("hotel and taxi")
