"""Seeded generators of text with planted structure, for the nlp tests and benchmarks.

- `reviews`: (text, rating 1-5). Each opinion clause is positive with a probability that
  follows the rating (RATING_POSITIVE_SHARE), so 4-5 star reviews mostly praise and 1-2
  star ones mostly complain, but a 4-star review may carry a complaint, some reviews hold
  no opinion at all, and negations ("not sturdy", "不耐用") reuse positive words: learnable,
  not trivially separable. English, Chinese, or mixed (each clause either language).
- `topic_texts`: (text, topic) for delivery / quality / price; a text sometimes also
  mentions another topic in passing.
- `product_descriptions`: (text, category), each category with its own vocabulary
  (CATEGORY_WORDS, English and Chinese) mixed with generic shop words.
- `product_sequences`: per customer, a time-ordered list of product ids browsed mostly
  within one planted category.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LANGUAGES = ("en", "zh", "mixed")
RATING_SHARES = (0.15, 0.12, 0.13, 0.25, 0.35)  # ratings 1..5: shops see more 5s
RATING_POSITIVE_SHARE = {1: 0.05, 2: 0.15, 3: 0.5, 4: 0.85, 5: 0.95}
NO_OPINION_SHARE = 0.06  # reviews that only describe the purchase


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_EN = {
    "products": "phone jacket kettle backpack headphones shoes blender watch lamp mug tent "
    "dress keyboard charger sofa",
    "parts": "battery screen camera strap fabric zipper sole lid handle cable colour size "
    "sound packaging stitching buttons case",
    "adverbs": "very really quite so super extremely",
    "good": "great excellent sturdy comfortable reliable beautiful solid fantastic durable lovely",
    "bad": "terrible awful flimsy useless defective faulty poor disappointing cheap ugly",
    "praise": "highly recommend|love it|exceeded my expectations|worth every penny|"
    "five stars|very happy with it|works perfectly|would buy again|best purchase this year",
    "complaint": "waste of money|stopped working after a week|returned it|regret buying it|"
    "broke on day two|one star|do not buy|very disappointed|fell apart quickly",
    "neutral": "bought this {product} last month|it arrived on a tuesday|"
    "I use it for work|the {part} is black|ordered the medium one|"
    "my sister uses it every day|got it as a gift|this is my second {product}|"
    "I compared a few models first",
    "delivery": "the package arrived late|delivery took two weeks|shipping was fast|"
    "the courier left it at the door|tracking never updated|the parcel was damaged in transit|"
    "arrived a day early|the box came crushed|delivered on time",
    "quality": "the stitching came apart|build quality is solid|the material feels sturdy|"
    "it broke after a week|the finish is excellent|well made and durable|the plastic feels flimsy|"
    "the seams are neat|the fabric started pilling",
    "price": "great value for money|too expensive for what it is|cheaper than in stores|"
    "the discount made it worth it|overpriced|paid full price|good price|used a coupon|"
    "costs twice as much elsewhere",
}
_ZH = {
    "products": "手机 耳机 衣服 鞋子 背包 水杯 台灯 手表 键盘 帐篷 裙子 电饭煲 充电器 沙发",
    "parts": "电池 屏幕 音质 面料 做工 拉链 鞋底 颜色 尺码 包装 外观 手感 质量 按键",
    "adverbs": "很 非常 特别 挺 超级 真的",
    "good": "好 不错 耐用 舒服 漂亮 结实 清晰 精致 好看 满意",
    "bad": "差 粗糙 难看 劣质 糟糕 失望 廉价 脆弱",
    "praise": "物超所值|非常满意|强烈推荐|五星好评|会回购|超出预期|性价比高|值得购买|很喜欢",
    "complaint": "非常失望|质量太差|已经退货|差评|不会再买|用了两天就坏了|浪费钱|后悔购买|和描述不符",
    "neutral": "上个月买的{product}|周二收到的|平时上班用|{part}是黑色的|买的是中号|"
    "给妈妈买的|朋友推荐的|这是第二个{product}了|对比了好几款",
    "delivery": "快递很快|物流太慢了|三天就到了|包裹被压坏了|快递员很负责|发货很及时|"
    "物流信息一直不更新|送货上门|晚到了一个星期",
    "quality": "做工很精细|材质很结实|用了一周就坏了|面料有点薄|做工粗糙|很耐用|线头很多|"
    "手感很好|质量一般",
    "price": "价格实惠|性价比很高|太贵了|比超市便宜|用了优惠券|打折买的|物有所值|价格偏高|"
    "这个价钱值了",
}

VOCABULARY = {
    language: {key: value.split("|") if "|" in value else value.split() for key, value in v.items()}
    for language, v in (("en", _EN), ("zh", _ZH))
}
TOPICS = ("delivery", "quality", "price")

CATEGORY_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "kitchen": _words(
            "skillet knife cutting board saucepan spatula whisk oven microwave "
            "cookware ladle kettle colander blender apron teapot"
        ),
        "outdoor": _words(
            "tent sleeping bag hiking backpack camping trekking headlamp "
            "waterproof lantern compass canteen hammock trail campsite"
        ),
        "electronics": _words(
            "smartphone headphones charger battery bluetooth keyboard mouse "
            "laptop usb speaker tablet processor memory camera hdmi"
        ),
        "beauty": _words(
            "lipstick mascara perfume foundation eyeshadow moisturizer serum "
            "lotion sunscreen cleanser toner blush concealer skincare nail"
        ),
    },
    "zh": {
        "kitchen": _words(
            "炒锅 菜刀 砧板 汤锅 铲子 餐具 筷子 烤箱 微波炉 厨房 烹饪 蒸锅 调料 围裙 茶壶"
        ),
        "outdoor": _words(
            "帐篷 睡袋 登山 露营 徒步 头灯 野营 户外 冲锋衣 营地 水壶 吊床 指南针 登山鞋 防潮垫"
        ),
        "electronics": _words(
            "手机 耳机 充电器 电池 蓝牙 键盘 鼠标 电脑 数据线 音箱 平板 芯片 内存 相机 显示器"
        ),
        "beauty": _words(
            "口红 面膜 香水 粉底 眼影 护肤 保湿 化妆 精华 乳液 防晒 洗面奶 睫毛膏 腮红 指甲油"
        ),
    },
}
GENERIC_WORDS = {
    "en": _words(
        "new premium classic gift quality design best price colour set free "
        "shipping popular original deal"
    ),
    "zh": _words("新款 正品 经典 礼物 品质 设计 热销 价格 颜色 套装 包邮 人气 原装 特价 优惠"),
}
CATEGORIES = tuple(CATEGORY_WORDS["en"])
OWN_WORD_SHARE = 0.7  # share of a description's words from its category's vocabulary


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")


def _fill(rng: np.random.Generator, template: str, vocab: dict[str, list[str]]) -> str:
    return template.format(product=_pick(rng, vocab["products"]), part=_pick(rng, vocab["parts"]))


def _opinion(rng: np.random.Generator, positive: bool, language: str) -> str:
    vocab = VOCABULARY[language]
    form = rng.random()
    if form < 0.4:  # phrase: "highly recommend", "非常失望"
        return _pick(rng, vocab["praise" if positive else "complaint"])
    part, adverb = _pick(rng, vocab["parts"]), _pick(rng, vocab["adverbs"])
    if not positive and form < 0.55:  # negated praise: the same words, the other meaning
        good = _pick(rng, vocab["good"])
        return f"the {part} is not {good}" if language == "en" else f"{part}不{good}"
    adjective = _pick(rng, vocab["good" if positive else "bad"])
    return (
        f"the {part} is {adverb} {adjective}" if language == "en" else f"{part}{adverb}{adjective}"
    )


def _join(rng: np.random.Generator, clauses: list[tuple[str, str]]) -> str:
    """Clauses as (language, text) into one review with each language's punctuation."""
    text = ""
    for i, (language, clause) in enumerate(clauses):
        if i:
            text += ", " if language == "en" else _pick(rng, ("，", "，", " ", ""))
        text += clause[:1].upper() + clause[1:] if i == 0 and language == "en" else clause
    end = clauses[-1][0]
    return text + (_pick(rng, (".", "!", "")) if end == "en" else _pick(rng, ("。", "！", "")))


def _clause_language(rng: np.random.Generator, language: str) -> str:
    return language if language != "mixed" else _pick(rng, ("en", "zh"))


def reviews(n: int, *, language: str = "en", seed: int = 0) -> list[tuple[str, int]]:
    """n (text, rating) pairs; ratings drawn with RATING_SHARES."""
    _check_language(language)
    rng = np.random.default_rng(seed)
    ratings = rng.choice(np.arange(1, 6), size=n, p=RATING_SHARES)
    out = []
    for rating in ratings.tolist():
        n_opinions = 0 if rng.random() < NO_OPINION_SHARE else 1 + int(rng.poisson(1.0))
        n_neutral = int(rng.poisson(0.8)) + (n_opinions == 0)
        clauses = []
        for _ in range(n_opinions):
            lang = _clause_language(rng, language)
            positive = rng.random() < RATING_POSITIVE_SHARE[rating]
            clauses.append((lang, _opinion(rng, positive, lang)))
        for _ in range(n_neutral):
            lang = _clause_language(rng, language)
            clause = _fill(rng, _pick(rng, VOCABULARY[lang]["neutral"]), VOCABULARY[lang])
            clauses.insert(int(rng.integers(len(clauses) + 1)), (lang, clause))
        out.append((_join(rng, clauses), rating))
    return out


def topic_texts(
    n: int, topics: Sequence[str] = TOPICS, *, language: str = "en", seed: int = 0
) -> list[tuple[str, str]]:
    """n (text, topic) pairs, topics equally likely; 30% also mention another topic."""
    _check_language(language)
    unknown = set(topics) - set(TOPICS)
    if len(topics) < 2 or unknown:
        raise ValueError(f"topics must be at least two of {TOPICS}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        topic = _pick(rng, topics)
        clauses = []
        for _ in range(1 + int(rng.integers(2))):
            lang = _clause_language(rng, language)
            clauses.append((lang, _pick(rng, VOCABULARY[lang][topic])))
        if rng.random() < 0.3:
            lang = _clause_language(rng, language)
            other = _pick(rng, [t for t in topics if t != topic])
            clauses.append((lang, _pick(rng, VOCABULARY[lang][other])))
        if rng.random() < 0.5:
            lang = _clause_language(rng, language)
            neutral = _fill(rng, _pick(rng, VOCABULARY[lang]["neutral"]), VOCABULARY[lang])
            clauses.insert(0, (lang, neutral))
        out.append((_join(rng, clauses), topic))
    return out


def product_descriptions(
    n: int, categories: Sequence[str] = CATEGORIES, *, language: str = "en", seed: int = 0
) -> list[tuple[str, str]]:
    """n (description, category) pairs: 6-15 words, OWN_WORD_SHARE of them from the
    category's vocabulary, the rest generic; Chinese words separated by 、 or ，."""
    if language not in CATEGORY_WORDS:
        raise ValueError(f"language must be one of {tuple(CATEGORY_WORDS)}, not {language!r}")
    unknown = set(categories) - set(CATEGORIES)
    if not categories or unknown:
        raise ValueError(f"categories must be taken from {CATEGORIES}")
    rng = np.random.default_rng(seed)
    generic = GENERIC_WORDS[language]
    out = []
    for _ in range(n):
        category = _pick(rng, categories)
        own = CATEGORY_WORDS[language][category]
        words = [
            _pick(rng, own) if rng.random() < OWN_WORD_SHARE else _pick(rng, generic)
            for _ in range(6 + int(rng.integers(10)))
        ]
        if language == "en":
            text = " ".join(words).capitalize() + "."
        else:
            text = "".join(w + _pick(rng, ("、", "，")) for w in words[:-1]) + words[-1] + "。"
        out.append((text, category))
    return out


def product_sequences(
    n_customers: int,
    *,
    n_categories: int = 5,
    products_per_category: int = 30,
    length: tuple[int, int] = (5, 25),
    stay: float = 0.85,
    seed: int = 0,
) -> tuple[list[list[str]], dict[str, int]]:
    """Browsing sequences and the planted category of every product id.

    Each customer has a home category; each view is from it with probability `stay`,
    otherwise from a random category; within a category, popularity is Zipf-like.
    Product ids ("sku-0042") are assigned to categories at random, so they give nothing away.
    """
    rng = np.random.default_rng(seed)
    n_products = n_categories * products_per_category
    ids = [f"sku-{i:04d}" for i in range(n_products)]
    order = rng.permutation(n_products)
    members = order.reshape(n_categories, products_per_category)
    category_of = {ids[p]: c for c in range(n_categories) for p in members[c].tolist()}
    popularity = 1.0 / np.arange(1, products_per_category + 1) ** 0.8
    popularity /= popularity.sum()
    sequences = []
    for _ in range(n_customers):
        home = int(rng.integers(n_categories))
        size = int(rng.integers(length[0], length[1] + 1))
        away = rng.random(size) >= stay
        cats = np.where(away, rng.integers(n_categories, size=size), home)
        picks = rng.choice(products_per_category, size=size, p=popularity)
        sequences.append([ids[p] for p in members[cats, picks].tolist()])
    return sequences, category_of
