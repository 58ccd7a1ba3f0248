"""Text to tokens for Chinese, English and mixed product reviews.

- `normalize_text`: NFKC (full-width letters and digits become ASCII, compatibility
  ideographs become unified ones), lower case, typographic apostrophes become "'".
- `tokenize`: runs of CJK ideographs go to jieba (a private `jieba.Tokenizer`, built on
  first use, its logger quietened to WARNING); everything else to a Unicode-aware word
  regex (letters and digits of any script, inner apostrophes kept: "don't"). Tokens made
  only of digits are dropped in both languages: prices, dates and order numbers are noise
  to a classifier, and the character n-grams still see them. Stop words: small built-in
  lists (STOP_WORDS_EN, STOP_WORDS_ZH). Negations (not, never, 不, 没 ...) are deliberately
  not stop words: they flip the sentiment of a review.
- `char_ngrams`: character n-grams inside each word, padded with a space at both ends
  (scikit-learn's "char_wb"); for Chinese a word is a whole run of ideographs, so this
  is the fallback when word boundaries are unreliable.
- `WordAnalyzer` and `CharAnalyzer`: the same, as plain module-level classes with simple
  attributes, so a TfidfVectorizer(analyzer=...) holding them can be saved with skops.
- `detect_script`: "zh", "en", "other" or "" (no letters at all), per text.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata

import jieba

# CJK Unified Ideographs, Extension A, compatibility ideographs, Extensions B-F.
CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
# One ideograph carries about as much as three Latin letters (a Chinese word is ~1.5
# characters, an English one ~5 letters), so ideographs count triple in detect_script.
LATIN_LETTERS_PER_IDEOGRAPH = 3


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS_EN = _words(
    """
    a an the and or but if then else so than as of to in on at by for with from into onto
    about over under after before between through during until upon off out up down via
    is are was were be been being am do does did doing have has had having will would
    shall should can could may might must i me my mine myself we us our ours ourselves
    you your yours yourself yourselves he him his himself she her hers herself it its
    itself they them their theirs themselves this that these those there here what which
    who whom whose when where why how all any both each few more most other some such own
    same just also only very too again once s t d ll m re ve i'm i've i'd i'll you're
    you've you'd you'll he's she's it's we're we've they're they've that's there's
    what's let's
    """
)
STOP_WORDS_ZH = _words(
    """
    的 地 得 了 着 过 是 在 和 与 及 或 而 也 就 都 又 还 再 才 把 被 让 给 对 从 向 往
    为 以 于 之 其 此 所 等 个 些 上 下 中 里 吗 呢 吧 啊 呀 哦 嗯 哈 啦 么 嘛 呗 我 你
    您 他 她 它 我们 你们 他们 她们 它们 咱们 自己 这 那 这个 那个 这些 那些 这里 那里
    这样 那样 这么 那么 一个 一些 一下 一点 因为 所以 但是 但 然后 如果 虽然 而且 或者
    还是 就是 只是 可以 已经 什么 怎么 哪 谁 每 各 该 并 即 则 且 另外 其他 其它
    """
)
STOP_WORDS = STOP_WORDS_EN | STOP_WORDS_ZH

_CJK_RUN = re.compile(f"([{CJK_RANGES}]+)")
_CJK_CHAR = re.compile(f"[{CJK_RANGES}]")
_LATIN_CHAR = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
# Letters and digits of any script (no underscore), with inner apostrophes: "don't".
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})

_jieba_lock = threading.Lock()
_jieba_tokenizer: jieba.Tokenizer | None = None


def _segmenter() -> jieba.Tokenizer:
    """A private jieba tokenizer (the global one is shared with any other user of jieba),
    initialised once per process: loading the dictionary takes ~0.5 s."""
    global _jieba_tokenizer
    if _jieba_tokenizer is None:
        with _jieba_lock:
            if _jieba_tokenizer is None:
                logging.getLogger("jieba").setLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _jieba_tokenizer = tokenizer
    return _jieba_tokenizer


def normalize_text(text: str | None) -> str:
    """NFKC, lower case, one kind of apostrophe."""
    if not text:
        return ""
    return unicodedata.normalize("NFKC", str(text)).lower().translate(_APOSTROPHES)


def detect_script(text: str | None) -> str:
    """The dominant script of the letters: "zh" for CJK ideographs (each counted as three
    Latin letters), "en" for Latin letters, "other" for any other script, "" for none."""
    if not text:
        return ""
    cjk = len(_CJK_CHAR.findall(text))
    latin = len(_LATIN_CHAR.findall(text))
    other = sum(1 for char in text if char.isalpha()) - cjk - latin
    if cjk + latin + other == 0:
        return ""
    weights = {"zh": cjk * LATIN_LETTERS_PER_IDEOGRAPH, "en": latin, "other": other}
    return max(weights, key=weights.__getitem__)  # ties go to the first: zh, then en


def tokenize(text: str | None, *, stop_words: bool = True) -> list[str]:
    """Words in text order: jieba for runs of ideographs, the word regex for the rest."""
    tokens: list[str] = []
    # re.split with a capturing group alternates: other text, ideograph run, other, ...
    for position, part in enumerate(_CJK_RUN.split(normalize_text(text))):
        if not part:
            continue
        if position % 2:
            tokens.extend(_segmenter().cut(part, HMM=True))
        else:
            tokens.extend(_WORD.findall(part))
    return [
        token
        for token in tokens
        if not token.isdigit() and not (stop_words and token in STOP_WORDS)
    ]


def char_ngrams(text: str | None, n_min: int = 1, n_max: int = 3) -> list[str]:
    """Character n-grams of each word padded with spaces (" ab", "abc", "bc "), all
    n from n_min to n_max; grams of padding alone are left out."""
    if not 1 <= n_min <= n_max:
        raise ValueError(f"need 1 <= n_min <= n_max, got {n_min} and {n_max}")
    grams: list[str] = []
    for word in _WORD.findall(normalize_text(text)):
        padded = f" {word} "
        for n in range(n_min, n_max + 1):
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    if n_min == 1:
        grams = [gram for gram in grams if gram != " "]
    return grams


def word_ngrams(tokens: list[str], n_max: int) -> list[str]:
    """The tokens followed by their 2..n_max-grams joined with a space ("not good")."""
    grams = list(tokens)
    for n in range(2, n_max + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


class WordAnalyzer:
    """`tokenize` (plus word n-grams up to `ngram_max`) as a scikit-learn analyzer:
    TfidfVectorizer(analyzer=WordAnalyzer()). Plain attributes only, so skops can save it."""

    def __init__(self, stop_words: bool = True, ngram_max: int = 1) -> None:
        self.stop_words = stop_words
        self.ngram_max = ngram_max

    def __call__(self, text: str) -> list[str]:
        tokens = tokenize(text, stop_words=self.stop_words)
        return word_ngrams(tokens, self.ngram_max) if self.ngram_max > 1 else tokens

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.stop_words, self.ngram_max))

    def __repr__(self) -> str:
        return f"WordAnalyzer(stop_words={self.stop_words!r}, ngram_max={self.ngram_max!r})"


class CharAnalyzer:
    """`char_ngrams` as a scikit-learn analyzer: TfidfVectorizer(analyzer=CharAnalyzer(2, 4))."""

    def __init__(self, n_min: int = 2, n_max: int = 4) -> None:
        self.n_min = n_min
        self.n_max = n_max

    def __call__(self, text: str) -> list[str]:
        return char_ngrams(text, self.n_min, self.n_max)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.n_min, self.n_max))

    def __repr__(self) -> str:
        return f"CharAnalyzer(n_min={self.n_min!r}, n_max={self.n_max!r})"
