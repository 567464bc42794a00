"""Tokens with character offsets (the policy is in the package docstring), and answers as token spans."""
from __future__ import annotations

import bisect
import re
import unicodedata
from typing import NamedTuple, Sequence



# --- tokenisation --------------------------------------------------------------------------


class Token(NamedTuple):
    """A token and its character span in the text it came from: ``text[start:end] == token``."""

    token: str
    start: int
    end: int


def _combining_mark_class() -> str:
    """Regex class body holding every combining mark (categories Mn, Mc, Me) of the BMP."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code))[0] == "M":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


# Word characters: \w (letters, digits, underscore), combining marks, soft hyphen, ZWNJ, ZWJ, word joiner.
_W = "[\\w" + _combining_mark_class() + "\u00ad\u200c\u200d\u2060]"
_APOSTROPHE = "['\u2019]"
_TOKEN_RE = re.compile(
    r"(?:[^\W\d_]\.){2,}"  # U.S. e.g. U.S.S.R.
    rf"|{_W}+(?:(?:(?<=\d)[.,](?=\d)|{_APOSTROPHE}(?={_W})){_W}+)*"  # words, 1,000.5, O'Neil, don't
    r"|\.{2,}|-{2,}"  # ... and --
    "|[^\\s\u200b\ufeff]"  # any other single character
)
_CLITIC_RE = re.compile(rf"(?:n{_APOSTROPHE}t|{_APOSTROPHE}(?:s|re|ve|ll|m|d))$", re.IGNORECASE)


def tokenize(text: str) -> list[Token]:
    """Tokens of `text` with their character offsets (policy in the module docstring)."""
    tokens: list[Token] = []
    for match in _TOKEN_RE.finditer(text):
        word, start, end = match.group(), match.start(), match.end()
        if "'" in word or "\u2019" in word:
            clitic = _CLITIC_RE.search(word)
            if clitic is not None and clitic.start() > 0:
                cut = start + clitic.start()
                tokens.append(Token(text[start:cut], start, cut))
                tokens.append(Token(text[cut:end], cut, end))
                continue
        tokens.append(Token(word, start, end))
    return tokens


def char_span_to_token_span(tokens: Sequence[Token], char_start: int, char_end: int) -> tuple[int, int] | None:
    """(first, last) index of the tokens overlapping characters [char_start, char_end), or None if none do.

    `tokens` must be in text order (as ``tokenize`` returns them). The last index is inclusive.
    """
    ends = [t.end for t in tokens]
    starts = [t.start for t in tokens]
    return token_overlap(starts, ends, char_start, char_end)


def token_overlap(starts: list[int], ends: list[int], char_start: int, char_end: int) -> tuple[int, int] | None:
    first = bisect.bisect_right(ends, char_start)  # first token ending after char_start
    last = bisect.bisect_left(starts, char_end) - 1  # last token starting before char_end
    return (first, last) if first <= last else None


def span_to_text(context: str, tokens: Sequence[Token], start: int, end: int) -> str:
    """The original context text from the start of token `start` to the end of token `end` (inclusive)."""
    if not 0 <= start <= end < len(tokens):
        raise IndexError(f"Token span ({start}, {end}) is not within 0..{len(tokens) - 1} with start <= end.")
    return context[tokens[start].start : tokens[end].end]
