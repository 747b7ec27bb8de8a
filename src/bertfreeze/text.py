"""Text preprocessing for the sparse baselines (the paper's recipe, reproducible offline).

The paper's baselines removed punctuation and English stop words and Porter-stemmed every
token before vectorising. :func:`paper_preprocess` does the same, with one documented
difference: NLTK's stop-word corpus must be downloaded (``nltk.download``), which an offline
install cannot do, so scikit-learn's built-in ``ENGLISH_STOP_WORDS`` list is used instead.
"""

from __future__ import annotations

import functools
import string

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

#: Lower-cased stop words, matched case-insensitively (``The`` and ``THE`` are dropped too).
STOP_WORDS: frozenset[str] = frozenset(w.lower() for w in ENGLISH_STOP_WORDS)

_PUNCT_TABLE = str.maketrans("", "", string.punctuation)


@functools.cache
def _stemmer():  # imported lazily: nltk costs ~0.2 s in every joblib worker otherwise
    from nltk.stem import PorterStemmer

    return PorterStemmer()


@functools.lru_cache(maxsize=200_000)
def _stem(token: str) -> str:
    """Porter stem with the token's case pattern kept (``RUNNING`` -> ``RUN``, ``Floods`` -> ``Flood``).

    NLTK's ``stem(word, to_lowercase=False)`` only matches lower-case suffixes, so it would
    leave ``RUNNING`` unstemmed; the lower-cased token is stemmed instead and the case
    restored: ALL-CAPS stays upper, Capitalised stays capitalised, anything else is lower.
    Cached: a tweet corpus has far fewer distinct tokens than tokens.
    """
    stem = _stemmer().stem(token.lower())
    if len(token) > 1 and token.isupper():
        return stem.upper()
    if token[:1].isupper():
        return stem[:1].upper() + stem[1:]
    return stem


def paper_preprocess(text: str, lowercase: bool = False) -> str:
    """The paper's baseline preprocessing: punctuation removal, stop-word removal, Porter stemming.

    Steps, in order:

    1. **Punctuation removal**: every ASCII punctuation character (``string.punctuation``) is
       deleted, not replaced by a space, so ``don't`` -> ``dont`` and ``#fire`` -> ``fire``
       (and a URL collapses into one token). Non-ASCII symbols are kept.
    2. **Whitespace tokens**: ``str.split()`` on any whitespace.
    3. **Stop-word removal**: a token is dropped when its lower-cased form is in
       scikit-learn's ``ENGLISH_STOP_WORDS`` (318 words). *Difference from the paper*: the paper
       used NLTK's English list (179 words: it also holds ``don``, ``s``, ``t``, ``ll``, while
       scikit-learn's list holds more, e.g. ``afterwards``, ``whereby``, ``co``). NLTK's corpus
       must be downloaded, which an offline install cannot do, so the lists differ slightly.
    4. **Porter stemming** (``nltk.stem.PorterStemmer``, NLTK-extensions mode). With
       ``lowercase=False`` (the default) the **case is kept**: ``Running`` -> ``Run``,
       ``RUNNING`` -> ``RUN``, ``floods`` -> ``flood``. ``lowercase=True`` returns lower-case
       stems, which is what NLTK's ``PorterStemmer().stem(word)`` does by default (NLTK >= 3.5)
       and reproduces the paper's Table 1 more closely.

    Returns the tokens joined by single spaces (possibly the empty string).
    """
    tokens = text.translate(_PUNCT_TABLE).split()
    stems = (_stem(t) for t in tokens if t.lower() not in STOP_WORDS)
    return " ".join(s.lower() for s in stems) if lowercase else " ".join(stems)


def paper_preprocess_lower(text: str) -> str:
    """:func:`paper_preprocess` with ``lowercase=True`` (a picklable module-level function)."""
    return paper_preprocess(text, lowercase=True)
