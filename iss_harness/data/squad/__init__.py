"""SQuAD v1.1 for BiDAF: reading, tokenising with character offsets, vocabularies, GloVe, tensors.

Reading
    ``read_squad_json`` parses and checks a v1.1 file (``DataError`` naming the file and the place
    when it is not one); ``load_squad`` also turns it into one ``SquadExample`` per question.
    ``split_articles`` and ``write_squad_json`` cut a data set into disjoint article sets and write
    a part as a valid v1.1 file, so that SQuAD dev can stand in for the missing train set at the
    smoke/mid scales and the held-out part can still be scored by the official metric.

Tokenisation (``tokenize``) keeps character offsets: every token is ``text[start:end]``. Policy, a
simplified PTB/NLTK tokeniser with BiDAF's extra splits:

* whitespace separates tokens and is never part of one (also U+200B and U+FEFF);
* a *word* is a run of letters, digits, underscores and combining marks (so "Beyoncé", "São",
  Devanagari with vowel signs stay whole; soft hyphen and zero-width (non-)joiners stay inside);
* digits joined by "." or "," stay one token: "1,000", "3.14", "1,000,000.5";
* letters joined by an apostrophe (' or ’) stay one token ("O'Neil", "rock'n'roll"), except
  that the PTB clitics n't 's 're 've 'll 'm 'd are split off: "don't" -> "do" "n't",
  "Beyoncé’s" -> "Beyoncé" "’s";
* abbreviations of single letters with periods stay one token: "U.S.", "e.g.", "U.S.S.R.";
* runs of periods ("...") and of ASCII hyphens ("--") are one token;
* every other character (punctuation, symbols, quotes “ ” ‘ ’ " ', dashes - – — −, slashes,
  "$", "%", "°", ...) is a token of its own. In particular hyphenated words, dates and number
  ranges are split at the hyphen ("1990-91" -> "1990" "-" "91", "state-of-the-art" -> 7
  tokens), as BiDAF's ``process_tokens`` does.

Answers are mapped to the tokens that overlap their characters (``char_span_to_token_span``);
predictions are the original context text between the predicted tokens (``span_to_text``), so
the official metric sees the original spelling and spacing.

Modules: ``tokenize`` (tokens with offsets), ``read`` (v1.1 files, examples, article splits),
``decode`` (best spans), ``vocab`` (words, characters, GloVe), ``batches`` (tensors). Their public
names are importable from here, as ``iss_harness.data.squad.<name>``.
"""
from __future__ import annotations

from iss_harness.data.squad.tokenize import char_span_to_token_span, span_to_text, Token, token_overlap, tokenize
from iss_harness.data.squad.read import (
    SQUAD_VERSION,
    check_squad_articles,
    examples_from_articles,
    load_squad,
    parse_squad_json,
    QuestionId,
    read_squad_json,
    split_articles,
    SquadExample,
    write_squad_json,
)
from iss_harness.data.squad.decode import best_span, best_spans
from iss_harness.data.squad.vocab import (
    PAD,
    PAD_ID,
    UNK,
    UNK_ID,
    build_vocab,
    count_words_and_chars,
    needed_words,
    read_glove,
    SquadVocab,
)
from iss_harness.data.squad.batches import encode, SquadBatch, SquadDataset, SquadLimits

__all__ = [
    "PAD", "PAD_ID", "QuestionId", "SQUAD_VERSION", "SquadBatch", "SquadDataset", "SquadExample", "SquadLimits",
    "SquadVocab", "Token", "UNK", "UNK_ID", "best_span", "best_spans", "build_vocab",
    "char_span_to_token_span", "check_squad_articles", "count_words_and_chars", "encode",
    "examples_from_articles", "load_squad", "needed_words", "parse_squad_json", "read_glove",
    "read_squad_json", "span_to_text", "split_articles", "token_overlap", "tokenize", "write_squad_json",
]
