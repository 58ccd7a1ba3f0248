"""Tokenisers, character n-grams and script detection (no database)."""

from __future__ import annotations

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from nlp.ml.text import (
    STOP_WORDS_EN,
    STOP_WORDS_ZH,
    CharAnalyzer,
    WordAnalyzer,
    char_ngrams,
    detect_script,
    normalize_text,
    tokenize,
)

SENTENCE_ZH = "这款手机的电池非常耐用"


def test_chinese_is_tokenised_into_words():
    tokens = tokenize(SENTENCE_ZH)

    assert "手机" in tokens
    assert "电池" in tokens
    assert "耐用" in tokens
    assert "的" not in tokens  # a stop word
    assert SENTENCE_ZH not in tokens
    assert any(len(token) > 1 for token in tokens)  # not one character at a time
    assert len(tokens) >= 3


def test_chinese_punctuation_and_spaces_are_not_tokens():
    tokens = tokenize("质量很好！ 快递也快，  推荐。")

    assert tokens
    assert all(token.strip() and token.strip() == token for token in tokens)
    assert not {"！", "，", "。", " "} & set(tokens)


def test_english_is_lower_cased_and_normalised_and_stop_words_go():
    tokens = tokenize("The Café's BATTERY is GREAT, and the screen?")

    assert tokens == ["café's", "battery", "great", "screen"]


def test_unicode_forms_and_apostrophes_are_unified():
    decomposed = "Cafe\u0301"  # e + combining acute accent
    assert tokenize(decomposed) == ["café"]
    assert tokenize("Ｗｉｄｅ") == ["wide"]  # full-width letters
    assert tokenize("don\u2019t") == tokenize("don't") == ["don't"]
    assert normalize_text(None) == ""


def test_negations_are_kept_because_they_carry_sentiment():
    assert tokenize("It is not good") == ["not", "good"]
    assert "不" in tokenize("电池不耐用") or "不耐用" in tokenize("电池不耐用")


def test_numbers_are_dropped_in_both_languages():
    assert tokenize("Paid 25 dollars for 2 of them") == ["paid", "dollars"]
    assert tokenize("买了3个手机") == ["买", "手机"]


def test_stop_words_can_be_kept():
    assert tokenize("the battery", stop_words=False) == ["the", "battery"]
    assert "的" in tokenize(SENTENCE_ZH, stop_words=False)
    assert "the" in STOP_WORDS_EN and "的" in STOP_WORDS_ZH


def test_mixed_text_sends_each_script_to_its_tokeniser():
    tokens = tokenize("这个iPhone的电池很好, battery life is great")

    assert "iphone" in tokens
    assert "电池" in tokens
    assert "battery" in tokens and "life" in tokens


def test_empty_and_blank_texts_have_no_tokens():
    assert tokenize("") == []
    assert tokenize(None) == []
    assert tokenize("   ！！ ...") == []


@pytest.mark.parametrize(
    ("text", "script"),
    [
        (SENTENCE_ZH, "zh"),
        ("The battery lasts all day", "en"),
        ("Café crème", "en"),
        ("这个iPhone很好用", "zh"),  # mostly Chinese with a brand name
        ("I love my new phone, 手机", "en"),  # mostly English
        ("Привет, мир", "other"),
        ("", ""),
        ("123 !!", ""),
    ],
)
def test_script_detection(text, script):
    assert detect_script(text) == script


def test_char_ngrams_stay_inside_words():
    grams = char_ngrams("Good 手机", 1, 3)

    assert "go" in grams and " go" in grams and "od " in grams
    assert "手机" in grams and " 手机" in grams
    assert "d 手" not in grams  # never across a word boundary
    assert " " not in grams
    with pytest.raises(ValueError):
        char_ngrams("x", 3, 2)


def test_analyzers_plug_into_scikit_learn():
    texts = ["电池很耐用", "battery is not good", "电池不耐用"]

    words = TfidfVectorizer(analyzer=WordAnalyzer(ngram_max=2)).fit(texts)
    chars = TfidfVectorizer(analyzer=CharAnalyzer(2, 3)).fit(texts)

    assert "not good" in words.vocabulary_ and "电池" in words.vocabulary_
    assert "电池" in chars.vocabulary_
    assert WordAnalyzer(ngram_max=2) == WordAnalyzer(ngram_max=2) != WordAnalyzer()
