"""Items and their words: a message is split into pieces on separators (",", "、", "and",
newline ...), pieces without an amount are glued back onto a neighbour ("fish and chips
200" stays one item), and in each piece the amounts are paired with their words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiexpense.text.amounts import Candidate, candidates
from aiexpense.text.descriptions import clean_description

# Item separators. A comma between digits followed by exactly three digits is a
# thousands separator ("1,200.50") and does not split. Pieces that end up without
# an amount are glued back, so splitting "和牛" or "fish and chips" is harmless.
_SPLIT_RE = re.compile(
    r"""
    (\s*(?:
        [\n;、。+&|]
      | (?<!\d),|,(?!\d{3}(?!\d))
      | (?<!\bno)(?<!\bnr)\.(?=\s|$)                # a full stop, not "No. 5"
      | \b(?:and|plus)\b
      | 和|還有|还有|以及|跟|加上
    )\s*)
    """,
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(slots=True)
class Piece:
    text: str
    candidates: list[Candidate]


def split(text: str) -> list[tuple[Piece, str]]:
    """Split into (piece, separator-after-it) pairs, finding amount candidates in each."""
    parts = _SPLIT_RE.split(text)
    pieces = []
    for i in range(0, len(parts), 2):
        piece_text = parts[i]
        separator = parts[i + 1] if i + 1 < len(parts) else ""
        pieces.append((Piece(piece_text, candidates(piece_text)), separator))
    return pieces


def merge_amountless(split: list[tuple[Piece, str]]) -> list[Piece]:
    """Glue pieces without an amount onto the next piece (or the previous one at the end).

    Keeps "fish and chips 200" and "yesterday, lunch 120" whole while
    "breakfast 80, bus 30" stays two items.
    """
    merged: list[Piece] = []
    pending = ""  # amountless text waiting for the next piece with an amount
    gap = ""  # separator after the last piece with an amount
    for piece, separator in split:
        if not piece.candidates:
            pending += piece.text + separator
            continue
        shift = len(pending)
        for candidate in piece.candidates:
            candidate.start += shift
            candidate.end += shift
        merged.append(Piece(pending + piece.text, piece.candidates))
        pending, gap = "", separator
    if merged and pending.strip():
        # Trailing words without an amount ("coffee 55 and a muffin") join the last item.
        last = merged[-1]
        merged[-1] = Piece(last.text + gap + pending, last.candidates)
    return merged


def pair(piece: Piece) -> list[tuple[Candidate, str, bool]]:
    """Match amounts with their words: (candidate, raw description, ambiguous?) per item.

    One amount: everything else is the description. Several: "breakfast 80 bus 30"
    (words first) or "$5 coffee $3 bagel" (amounts first) become several items;
    otherwise one amount is picked and the other numbers stay in the description.
    """
    text, candidates = piece.text, piece.candidates
    if len(candidates) == 1:
        return [(candidates[0], _cut(text, candidates[0]), False)]

    explicit = [c for c in candidates if c.explicit]
    if len(explicit) == 1:
        return [(explicit[0], _cut(text, explicit[0]), False)]

    bounds = [0, *(x for c in candidates for x in (c.start, c.end)), len(text)]
    chunks = [text[bounds[i] : bounds[i + 1]] for i in range(0, len(bounds), 2)]
    meaningful = [bool(clean_description(chunk)) for chunk in chunks]
    if all(meaningful[:-1]) and not meaningful[-1]:  # words 80 words 30
        return [(c, chunks[i], False) for i, c in enumerate(candidates)]
    if not meaningful[0] and all(meaningful[1:]):  # 80 words 30 words
        return [(c, chunks[i + 1], False) for i, c in enumerate(candidates)]

    # Ambiguous ("2 coffees 110", "110 for 2 coffees"): prefer the number that ends
    # the piece, then the one that starts it, then the largest.
    pool = explicit or candidates
    if not meaningful[-1] and pool[-1] is candidates[-1]:
        chosen = pool[-1]
    elif not meaningful[0] and pool[0] is candidates[0]:
        chosen = pool[0]
    else:
        chosen = max(pool, key=lambda c: c.value)
    return [(chosen, _cut(text, chosen), True)]


def _cut(text: str, candidate: Candidate) -> str:
    """The piece text with the candidate removed, leaving a gap marker."""
    return text[: candidate.start] + "\x01" + text[candidate.end :]
