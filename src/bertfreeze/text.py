"""Text preprocessing for the sparse baselines (the paper's recipe, reproducible offline).

The paper's baselines removed punctuation and English stop words and Porter-stemmed every
token before vectorising. :func:`paper_preprocess` does the same, with one documented
difference: NLTK's stop-word corpus must be downloaded (``nltk.download``), which an offline
install cannot do, so scikit-learn's built-in ``ENGLISH_STOP_WORDS`` list is used instead.
"""

from __future__ import annotations

import functools
import re
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


#: scikit-learn's default word tokens: 2+ word characters, after lower-casing.
SKLEARN_TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")

_ANALYZERS = {
    # exactly what CountVectorizer()/TfidfVectorizer()/HashingVectorizer() do by default
    "word": lambda doc: SKLEARN_TOKEN_RE.findall(doc.lower()),
    # the paper's preprocessing, then whitespace tokens
    "paper": lambda doc: paper_preprocess(doc).split(),
    "paper_lower": lambda doc: paper_preprocess(doc, lowercase=True).split(),
}
_TOKEN_CACHE: dict[tuple[str, str], tuple[str, ...]] = {}
_TOKEN_CACHE_MAX = 500_000


class CachedAnalyzer:
    """A vectorizer ``analyzer=`` that tokenises each distinct document once per process.

    Tokenising is a pure function of one document (no statistics of other documents), so
    memoising it cannot leak anything between folds: vocabularies, document frequencies and
    IDF weights are still computed by the vectorizer's ``fit`` on the training rows only. It
    only saves re-tokenising the same tweet for every fold and feature set (30x per run).

    ``mode``: ``word`` (scikit-learn's default analyzer: lower-case, ``(?u)\\b\\w\\w+\\b``
    tokens), ``paper`` (:func:`paper_preprocess`, whitespace tokens) or ``paper_lower``.
    Picklable (joblib workers each keep their own cache).
    """

    def __init__(self, mode: str = "word") -> None:
        if mode not in _ANALYZERS:
            raise ValueError(f"unknown analyzer mode {mode!r}: use one of {sorted(_ANALYZERS)}")
        self.mode = mode

    def __call__(self, doc: str) -> tuple[str, ...]:
        key = (self.mode, doc)
        tokens = _TOKEN_CACHE.get(key)
        if tokens is None:
            tokens = tuple(_ANALYZERS[self.mode](doc))
            if len(_TOKEN_CACHE) >= _TOKEN_CACHE_MAX:
                _TOKEN_CACHE.clear()
            _TOKEN_CACHE[key] = tokens
        return tokens

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CachedAnalyzer) and other.mode == self.mode

    def __hash__(self) -> int:
        return hash(("CachedAnalyzer", self.mode))

    def __repr__(self) -> str:
        return f"CachedAnalyzer({self.mode!r})"


def clear_token_cache() -> None:
    """Forget every memoised token list (tests, memory)."""
    _TOKEN_CACHE.clear()
