"""A deterministic synthetic shop: customers, products and interactions with planted structure.

Pure Python + numpy (no Django), so benchmarks and model tests can use it directly.
What is planted, and exposed as ground truth for tests of the models trained on it:

- each customer has latent tastes over the product categories (`customer_tastes`),
  concentrated on 1-3 categories; sessions and views follow them;
- products belong to a category (`product_category`), have a long-tail (Zipf-like)
  popularity and a hidden quality (`product_quality`);
- sessions follow weekly and yearly seasonality; some customers sign up during the
  window (`customer_signup_day`) and some churn (`customer_churn_day`, inf if never);
- ratings are higher when the category matches the customer's taste and the product
  is good; review wording (English or Chinese) follows the rating.

Everything streams: customers are generated one at a time from their own random
stream, so output is identical for a seed and memory does not grow with volume.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

# category: (median price, modifiers, nouns, features, brands); "english=中文" pairs split by "|".
_CATALOGUE: dict[str, tuple[float, str, str, str, str]] = {
    "running": (
        90,
        "Trail running=越野|Road running=公路跑|Lightweight=轻量|Cushioned=缓震|Racing=竞速",
        "shoe=跑鞋|jacket=夹克|shorts=短裤|tights=紧身裤|vest=背心|socks=袜子",
        "breathable mesh=透气网面|reflective trim=反光条|quick-dry fabric=速干面料|wide fit=宽楦",
        "Stride|Pacer|Kinetic",
    ),
    "outdoor": (
        120,
        "Ultralight=超轻|Waterproof=防水|Four-season=四季|Packable=便携|Alpine=高山",
        "tent=帐篷|backpack=背包|sleeping bag=睡袋|headlamp=头灯|trekking pole=登山杖",
        "ripstop nylon=防撕裂尼龙|sealed seams=压胶接缝|aluminium frame=铝合金支架|USB charging=USB充电",
        "Summit|Ridgeline|Basecamp",
    ),
    "kitchen": (
        45,
        "Non-stick=不粘|Cast iron=铸铁|Stainless steel=不锈钢|Ceramic=陶瓷|Professional=专业",
        "frying pan=煎锅|chef's knife=厨师刀|saucepan=汤锅|cutting board=砧板|mixing bowl=搅拌碗",
        "dishwasher safe=可洗碗机清洗|induction ready=适用电磁炉|ergonomic handle=人体工学手柄|oven safe=可进烤箱",
        "Forge|Hearth|Copperline",
    ),
    "coffee_tea": (
        18,
        "Single-origin=单一产地|Organic=有机|Dark roast=深烘|Loose-leaf=散装|Decaf=低因",
        "coffee beans=咖啡豆|green tea=绿茶|oolong=乌龙茶|espresso blend=意式拼配|matcha=抹茶",
        "fair trade=公平贸易|resealable bag=密封袋|notes of chocolate=巧克力风味|hand picked=手工采摘",
        "Bean & Leaf|Morning Ritual|Highland",
    ),
    "skincare": (
        25,
        "Hydrating=保湿|Gentle=温和|Brightening=提亮|Anti-ageing=抗衰老|Fragrance-free=无香",
        "face cream=面霜|serum=精华|cleanser=洁面乳|sunscreen=防晒霜|face mask=面膜",
        "hyaluronic acid=玻尿酸|vitamin C=维生素C|SPF 50=SPF50|for sensitive skin=适合敏感肌",
        "Lumi|Pure Dew|Atelier Skin",
    ),
    "electronics": (
        150,
        "Wireless=无线|Noise-cancelling=降噪|Portable=便携|Smart=智能|Fast-charging=快充",
        "headphones=耳机|speaker=音箱|power bank=充电宝|smartwatch=智能手表|keyboard=键盘",
        "bluetooth 5.3=蓝牙5.3|30-hour battery=30小时续航|USB-C=USB-C接口|water resistant=防水",
        "Voltix|Sonora|Pixelcore",
    ),
    "books": (
        15,
        "Bestselling=畅销|Illustrated=插图版|Classic=经典|Hardcover=精装|Pocket=口袋版",
        "novel=小说|cookbook=食谱|travel guide=旅行指南|biography=传记|science book=科普书",
        "signed edition=签名版|with maps=附地图|large print=大字版|translated=译本",
        "Penrose|Quill House|Lantern Press",
    ),
    "toys": (
        30,
        "Wooden=木制|Educational=益智|Remote-control=遥控|Plush=毛绒|Magnetic=磁力",
        "building blocks=积木|puzzle=拼图|car=小汽车|teddy bear=泰迪熊|board game=桌游",
        "ages 3+=适合3岁以上|non-toxic paint=无毒涂料|rechargeable=可充电|100 pieces=100片",
        "Tinker|Playfield|Little Owl",
    ),
    "home_decor": (
        60,
        "Handmade=手工|Minimalist=极简|Vintage=复古|Scandinavian=北欧|Rattan=藤编",
        "vase=花瓶|table lamp=台灯|throw blanket=毛毯|wall mirror=挂镜|cushion cover=抱枕套",
        "linen blend=亚麻混纺|matte glaze=哑光釉面|warm white light=暖白光|solid oak=实心橡木",
        "Nook|Hearthstone|Linden",
    ),
    "pet_supplies": (
        22,
        "Grain-free=无谷|Orthopedic=护脊|Interactive=互动|Chew-proof=耐咬|Self-cleaning=自清洁",
        "dog food=狗粮|cat litter=猫砂|pet bed=宠物床|leash=牵引绳|scratching post=猫抓板",
        "real chicken=真鸡肉|washable cover=可拆洗|for large breeds=适合大型犬|odour control=除臭",
        "Pawsome|Whisker|Trusty",
    ),
    "fashion": (
        55,
        "Slim-fit=修身|Oversized=宽松|Organic cotton=有机棉|Merino wool=美利奴羊毛|Linen=亚麻",
        "shirt=衬衫|sweater=毛衣|jeans=牛仔裤|dress=连衣裙|scarf=围巾",
        "relaxed cut=休闲版型|machine washable=可机洗|recycled fibres=再生纤维|button-down collar=扣领",
        "Atlas & Co|Thread|Nordwear",
    ),
    "garden": (
        35,
        "Heavy-duty=重型|Self-watering=自动浇水|Solar=太阳能|Raised=抬高式|Compact=紧凑",
        "planter=花盆|pruning shears=修枝剪|garden hose=浇水软管|seed kit=种子套装|lantern=灯笼",
        "frost resistant=耐寒|UV stable=抗紫外线|rust-proof=防锈|organic seeds=有机种子",
        "Greenway|Bloom|Fieldstone",
    ),
}

_REVIEWS_EN = {
    "positive": (
        "Love it!|Really happy with this {noun}.|Exactly what I was looking for.|Five stars from me.",
        "The quality is excellent|It arrived quickly and well packed|Great value for the price|"
        "Does exactly what I wanted|Works exactly as described|Even better than I expected",
        "Would buy again.|Highly recommend.|Already ordered a second one.|My new favourite.",
    ),
    "neutral": (
        "It's okay.|Decent {noun}, nothing special.|Mixed feelings about this one.",
        "The quality is fine but the price is a bit high|It does the job|Delivery took a while",
        "Might buy again on sale.|Average overall.|Not sure yet.",
    ),
    "negative": (
        "Very disappointed.|Terrible {noun}.|Not worth the money.|What a letdown.",
        "The quality is poor|It broke after a week|Nothing like the pictures|It arrived damaged",
        "Returned it.|Would not recommend.|Avoid.|Waste of money.",
    ),
}
_REVIEWS_ZH = {
    "positive": "质量很好，非常满意|物超所值|做工精细|发货很快，包装完好|和描述一致|非常喜欢这个{noun}|会回购的|强烈推荐",
    "neutral": "一般般|还可以，但是有点贵|中规中矩|物流有点慢|{noun}凑合能用",
    "negative": "质量太差了，很失望|和描述不符|做工粗糙|用了一周就坏了|不推荐购买|已经退货了|这个{noun}真的不行",
}

_COUNTRIES_EN = (("US", "GB", "DE", "FR", "CA", "AU", "NL", "SE"), (30, 15, 14, 12, 9, 8, 6, 6))
_COUNTRIES_ZH = (("CN", "TW", "HK", "SG"), (70, 12, 10, 8))
_CHANNELS = ("organic", "paid_search", "social", "referral", "email")
_CHANNEL_SHARE = np.array([0.35, 0.25, 0.2, 0.1, 0.1])
_CHANNEL_CHURN = np.array([0.7, 1.2, 1.5, 0.6, 0.9])  # paid/social sign-ups churn more
_COLORS = ("black", "white", "grey", "navy", "green", "red", "beige")
_WEEKDAY = np.array([0.9, 0.88, 0.92, 0.97, 1.05, 1.2, 1.25])  # Monday .. Sunday
_HOURS = np.array(
    [1, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 7, 9, 8, 6, 6, 6, 7, 9, 12, 13, 11, 7, 3], float
)

CUSTOMER_BATCH = 256  # customers generated together in one vectorised pass
KINDS = ("view", "click", "add_to_cart", "purchase", "rating", "review")
_DAY = 86_400


def _pairs(spec: str) -> tuple[list[str], list[str]]:
    pairs = [item.split("=") for item in spec.split("|")]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@dataclass(frozen=True)
class SyntheticConfig:
    n_customers: int = 500
    n_products: int = 200
    n_days: int = 180
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    seed: int = 0
    n_categories: int = 10  # at most len(_CATALOGUE) == 12
    taste_background: float = 0.1  # taste mass spread over all categories
    sessions_per_month: float = 3.0  # mean, for an active customer
    views_per_session: float = 5.0  # mean
    explore_share: float = 0.15  # views outside the session's category, by popularity
    click_rate: float = 0.3  # scaled by taste match (x0.5 .. x1.5)
    cart_rate: float = 0.3  # given a click, scaled by taste match
    purchase_rate: float = 0.6  # given a cart
    rating_rate: float = 0.45  # given a purchase
    review_rate: float = 0.5  # given a rating
    zipf_exponent: float = 1.0
    new_customer_share: float = 0.4  # sign up during the window rather than before it
    churn_rate: float = 0.3  # share of customers who stop during the window
    chinese_share: float = 0.25  # customers who write in Chinese
    chinese_title_share: float = 0.15  # products listed with a Chinese title
    inactive_share: float = 0.03

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if not 1 <= self.n_categories <= len(_CATALOGUE):
            raise ValueError(f"n_categories must be between 1 and {len(_CATALOGUE)}")
        if self.n_products < self.n_categories or self.n_customers < 0 or self.n_days < 1:
            raise ValueError("need n_products >= n_categories, n_customers >= 0, n_days >= 1")
        if self.views_per_session < 1 or self.sessions_per_month < 0:
            raise ValueError("need views_per_session >= 1 and sessions_per_month >= 0")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.n_days)


class SyntheticDataset:
    """Rows to ingest (`customers`, `products`, `interactions`) plus the ground truth behind
    them: `category_names`, `customer_tastes`, `customer_signup_day`, `customer_churn_day`
    (days from `start`), `product_category`, `product_popularity`, `product_quality`."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config
        self.category_names: list[str] = list(_CATALOGUE)[: config.n_categories]
        self._vocab = [
            tuple(_pairs(part) for part in _CATALOGUE[name][1:4]) for name in self.category_names
        ]
        self._init_products(np.random.default_rng([config.seed, 1]))
        self._init_customers(np.random.default_rng([config.seed, 2]))
        # Cumulative seasonal intensity: sessions are a Poisson process drawn in one go.
        self._season_cum = np.concatenate([[0.0], np.cumsum(self._seasonality())])
        self._hour_cdf = np.cumsum(_HOURS) / _HOURS.sum()
        self._taste_cdf = np.cumsum(self.customer_tastes, axis=1)
        self._taste_cdf[:, -1] = 1.0  # exact row ends for the block-wise inverse CDF
        self._taste_match = self.customer_tastes / self.customer_tastes.max(axis=1, keepdims=True)
        self._category_cdf = np.cumsum(self.category_popularity)
        # Timestamps as "<day prefix><time of day>" from two tables: far faster than strftime.
        start = config.start.astimezone(UTC)
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        self._offset = int((start - midnight).total_seconds())
        self._day_prefix = [
            (midnight + timedelta(days=d)).strftime("%Y-%m-%dT") for d in range(config.n_days + 2)
        ]

    # --- latent structure -------------------------------------------------------------

    def _init_products(self, rng: np.random.Generator) -> None:
        cfg, k = self.config, self.config.n_categories
        n = cfg.n_products
        sizes = rng.dirichlet(np.full(k, 8.0))  # categories of somewhat unequal size
        category = rng.choice(k, n, p=sizes)
        category[rng.permutation(n)[:k]] = np.arange(k)  # every category has a product
        self.product_category: np.ndarray = category
        ranks = rng.permutation(n)
        self.product_popularity: np.ndarray = 1.0 / (ranks + 1.0) ** cfg.zipf_exponent
        self.product_quality: np.ndarray = rng.normal(0.0, 0.6, n)
        self.product_active: np.ndarray = rng.random(n) >= cfg.inactive_share
        medians = np.array([_CATALOGUE[c][0] for c in self.category_names])[category]
        self.product_price: np.ndarray = np.maximum(
            np.floor(medians * rng.lognormal(0.0, 0.45, n)) + 0.99, 0.99
        )
        self.product_ids = [f"p{j:05d}" for j in range(n)]
        self._product_draws = rng.integers(0, 1 << 30, (n, 6))  # vocabulary picks
        self._product_zh = rng.random(n) < cfg.chinese_title_share
        # Sampling by popularity within a category in one searchsorted call: products
        # sorted by category, cumulative weights in [c, c + 1) for category c.
        self._by_category = np.argsort(category, kind="stable")
        cdf = np.empty(n)
        for c in range(k):
            idx = np.flatnonzero(category[self._by_category] == c)
            weights = self.product_popularity[self._by_category[idx]]
            cdf[idx] = c + np.cumsum(weights) / weights.sum()
            cdf[idx[-1]] = c + 1.0
        self._cdf = cdf
        mass = np.bincount(category, weights=self.product_popularity, minlength=k)
        self.category_popularity: np.ndarray = mass / mass.sum()

    def _init_customers(self, rng: np.random.Generator) -> None:
        cfg, k, n = self.config, self.config.n_categories, self.config.n_customers
        # 1-3 favourite categories per customer, plus a little mass everywhere.
        n_fav = rng.choice([1, 2, 3], n, p=[0.4, 0.4, 0.2])
        rank = np.argsort(np.argsort(rng.random((n, k)), axis=1), axis=1)
        focus = rng.gamma(3.0, 1.0, (n, k)) * (rank < n_fav[:, None])  # Dirichlet(3) on favs
        focus /= focus.sum(axis=1, keepdims=True)
        background = rng.dirichlet(np.ones(k), n)
        self.customer_tastes: np.ndarray = (
            1 - cfg.taste_background
        ) * focus + cfg.taste_background * background
        self.customer_rate: np.ndarray = rng.gamma(1.5, cfg.sessions_per_month / 30 / 1.5, n)
        is_new = rng.random(n) < cfg.new_customer_share
        self.customer_signup_day: np.ndarray = np.where(
            is_new, rng.uniform(0, 0.8 * cfg.n_days, n), -rng.uniform(1, 730, n)
        )
        self._chinese = rng.random(n) < cfg.chinese_share
        self._channel = rng.choice(len(_CHANNELS), n, p=_CHANNEL_SHARE)
        self.customer_opt_in: np.ndarray = rng.random(n) < 0.6
        churn_weight = _CHANNEL_CHURN[self._channel] * np.where(self.customer_opt_in, 0.8, 1.3)
        churn_p = np.clip(
            cfg.churn_rate * churn_weight / max(churn_weight.mean() if n else 1.0, 1e-9), 0, 0.95
        )
        churned = rng.random(n) < churn_p
        lo = np.maximum(self.customer_signup_day, 0)
        churn_day = lo + rng.uniform(0.05, 0.85, n) * (cfg.n_days - lo)
        self.customer_churn_day: np.ndarray = np.where(churned, churn_day, np.inf)
        en, zh = (
            rng.choice(len(names), n, p=np.array(w) / sum(w))
            for names, w in (_COUNTRIES_EN, _COUNTRIES_ZH)
        )
        self._country = [
            _COUNTRIES_ZH[0][b] if is_zh else _COUNTRIES_EN[0][a]
            for a, b, is_zh in zip(en.tolist(), zh.tolist(), self._chinese.tolist(), strict=True)
        ]
        self.customer_ids = [f"c{i:06d}" for i in range(n)]

    def _seasonality(self) -> np.ndarray:
        """Relative session intensity per day of the window: weekday x time of year."""
        first = self.config.start.astimezone(UTC).date()
        days = np.datetime64(first, "D") + np.arange(self.config.n_days)
        weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        doy = (days - days.astype("datetime64[Y]")).astype(np.int64)
        yearly = 1 + 0.2 * np.cos(2 * np.pi * (doy - 350) / 365.25)
        yearly *= np.where((doy >= 323) & (doy <= 333), 1.6, 1.0)  # Black Friday week
        yearly *= np.where((doy >= 334) & (doy <= 357), 1.25, 1.0)  # Christmas shopping
        return _WEEKDAY[weekday] * yearly

    # --- rows ---------------------------------------------------------------------------

    def customers(self) -> Iterator[dict]:
        start = self.config.start
        for i, external_id in enumerate(self.customer_ids):
            signup = start + timedelta(days=float(self.customer_signup_day[i]))
            yield {
                "external_id": external_id,
                "email": "" if i % 19 == 7 else f"{external_id}@example.com",
                "attributes": {
                    "country": self._country[i],
                    "language": "zh" if self._chinese[i] else "en",
                    "signup_channel": _CHANNELS[self._channel[i]],
                    "signup_date": signup.date().isoformat(),
                },
                "email_opt_in": bool(self.customer_opt_in[i]),
            }

    def products(self) -> Iterator[dict]:
        for j, external_id in enumerate(self.product_ids):
            yield self._product(j, external_id)

    def _product(self, j: int, external_id: str) -> dict:
        c = int(self.product_category[j])
        name = self.category_names[c]
        (mod_en, mod_zh), (noun_en, noun_zh), (feat_en, feat_zh) = self._vocab[c]
        d = self._product_draws[j]
        m, o, f = d[0] % len(mod_en), d[1] % len(noun_en), d[2] % len(feat_en)
        g = (f + 1 + d[3] % (len(feat_en) - 1)) % len(feat_en)  # a second, different feature
        brands = _CATALOGUE[name][4].split("|")
        brand = brands[d[4] % len(brands)]
        title = f"{mod_en[m]} {noun_en[o]}, {feat_en[f]}"
        title = title[0].upper() + title[1:]
        description = (
            f"{brand} {mod_en[m].lower()} {noun_en[o]}: {feat_en[f]}, {feat_en[g]}. "
            f"Part of our {name.replace('_', ' ')} range."
        )
        attributes = {"brand": brand, "color": _COLORS[d[5] % len(_COLORS)], "language": "en"}
        if self._product_zh[j]:
            attributes.update(language="zh", title_en=title)
            title = f"{brand} {mod_zh[m]}{noun_zh[o]}（{feat_zh[f]}）"
            description = (
                f"{brand}{mod_zh[m]}{noun_zh[o]}，{feat_zh[f]}，{feat_zh[g]}。{description}"
            )
        tags = [name, mod_en[m].lower().replace(" ", "-"), feat_en[f].lower().replace(" ", "-")]
        if self.product_popularity[j] >= 0.1:
            tags.append("bestseller")
        return {
            "external_id": external_id,
            "title": title,
            "description": description,
            "category": name,
            "price": float(self.product_price[j]),
            "tags": tags,
            "attributes": attributes,
            "is_active": bool(self.product_active[j]),
        }

    def interactions(self) -> Iterator[dict]:
        for _, rows in self.interaction_batches():
            yield from rows

    def interaction_batches(self) -> Iterator[tuple[int, list[dict]]]:
        """(customers covered, their events) per block of CUSTOMER_BATCH customers.

        Customer-major, each customer's events in time order. A block depends only on
        the seed, its customers and the catalogue, and is generated in one vectorised pass.
        """
        for first in range(0, self.config.n_customers, CUSTOMER_BATCH):
            last = min(first + CUSTOMER_BATCH, self.config.n_customers)
            yield last - first, self._rows(first, last)

    def _rows(self, first: int, last: int) -> list[dict]:
        owner, t, kind, product, value, texts = self._events(first, last)
        owner += first
        counts = np.bincount(owner - first, minlength=last - first)
        seq = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
        is_review = kind == 5
        text_index = np.where(is_review, np.cumsum(is_review) - 1, -1)
        day, second = np.divmod(t + self._offset, _DAY)
        prefix, clock = self._day_prefix, _clock()
        customers, products = self.customer_ids, self.product_ids
        columns = (owner, seq, kind, product, value, text_index, day, second)
        return [
            {
                "event_id": f"e{c}-{n}",
                "customer": customers[c],
                "product": products[p],
                "kind": KINDS[k],
                "value": None if v != v else v,  # NaN marks "no value"
                "text": texts[x] if x >= 0 else "",
                "occurred_at": prefix[d] + clock[sec],
            }
            for c, n, k, p, v, x, d, sec in zip(*(col.tolist() for col in columns), strict=True)
        ]

    def _events(self, first: int, last: int) -> tuple:
        """Sessions -> views -> clicks -> carts -> purchases -> ratings -> reviews, vectorised
        over a block of customers. `owner` is each row's customer, relative to `first`."""
        cfg, rng = self.config, np.random.default_rng([self.config.seed, 3, first])
        cust = np.arange(first, last)
        m, k = len(cust), cfg.n_categories
        signup = self.customer_signup_day[cust]
        begin = np.maximum(np.floor(signup), 0).astype(np.int64)
        stop = np.minimum(self.customer_churn_day[cust], float(cfg.n_days))
        end = np.maximum(np.ceil(stop).astype(np.int64), begin)
        # Sessions: a Poisson process with the seasonal intensity, between sign-up and churn.
        lo, hi = self._season_cum[begin], self._season_cum[end]
        owner = np.repeat(np.arange(m), rng.poisson(self.customer_rate[cust] * (hi - lo)))
        position = lo[owner] + rng.random(len(owner)) * (hi - lo)[owner]
        day = np.searchsorted(self._season_cum, position, side="right") - 1
        hour = _draw(self._hour_cdf, rng.random(len(owner)))
        # Days and hours are calendar (UTC) ones; times are kept relative to `start`.
        start = day * _DAY + hour * 3600.0 + rng.uniform(0, 3600, len(owner)) - self._offset
        keep = start >= np.maximum(signup[owner], 0) * _DAY
        owner, start = owner[keep], start[keep]
        s = len(owner)
        # Each session browses one category drawn from the customer's tastes: inverse CDF
        # on the block's taste CDFs laid end to end, row r occupying [r, r + 1).
        taste_cdf = (self._taste_cdf[cust] + np.arange(m)[:, None]).ravel()
        u = np.minimum(rng.random(s), 1 - 1e-9)
        flat = np.searchsorted(taste_cdf, owner + u, side="right")
        session_cat = np.clip(flat - owner * k, 0, k - 1)
        n_views = 1 + rng.poisson(cfg.views_per_session - 1, s)
        session = np.repeat(np.arange(s), n_views)
        v = len(session)
        view_owner, cat = owner[session], session_cat[session]
        explore = rng.random(v) < cfg.explore_share
        cat[explore] = _draw(self._category_cdf, rng.random(int(explore.sum())))
        u = np.minimum(rng.random(v), 1 - 1e-9)
        product = self._by_category[np.searchsorted(self._cdf, cat + u, side="right")]
        gaps = 5 + rng.exponential(60, v)
        cum = np.cumsum(gaps)
        heads = np.cumsum(n_views) - n_views
        view_t = start[session] + cum - np.repeat(cum[heads] - gaps[heads], n_views)
        match = self._taste_match[cust[view_owner], cat]  # 1 for the favourite category
        clicked = rng.random(v) < cfg.click_rate * (0.5 + match)
        click_t = view_t + 3 + rng.exponential(20, v)
        carted = clicked & (rng.random(v) < cfg.cart_rate * (0.5 + match))
        cart_t = click_t + 10 + rng.exponential(40, v)
        bought = carted & (rng.random(v) < cfg.purchase_rate)
        latest = np.where(carted, cart_t, np.where(clicked, click_t, view_t))
        session_end = np.maximum.reduceat(latest, heads) if v else latest
        # Carted items are bought together at one checkout at the end of the session.
        buy_t = (session_end[session] + 30 + rng.exponential(120, v))[bought]
        buy_o, buy_p, buy_match = view_owner[bought], product[bought], match[bought]
        qty = rng.geometric(0.75, len(buy_p))
        buy_value = np.round(self.product_price[buy_p] * qty, 2)
        rated = rng.random(len(buy_p)) < cfg.rating_rate
        rate_o, rate_p = buy_o[rated], buy_p[rated]
        rate_t = buy_t[rated] + rng.uniform(2, 14, len(rate_p)) * _DAY
        score = 1.5 + 3.0 * buy_match[rated] + self.product_quality[rate_p]
        stars = np.clip(np.rint(score + rng.normal(0, 0.9, len(rate_p))), 1, 5)
        reviewed = rng.random(len(rate_p)) < cfg.review_rate
        chinese = self._chinese[cust[rate_o[reviewed]]].tolist()
        texts = [
            self._review(rng, p, int(r), zh)
            for p, r, zh in zip(rate_p[reviewed].tolist(), stars[reviewed], chinese, strict=True)
        ]
        review_t = rate_t[reviewed] + rng.uniform(0, 600, len(texts))
        nan = np.full(v, np.nan)
        parts = (
            (view_owner, view_t, 0, product, nan),
            (view_owner[clicked], click_t[clicked], 1, product[clicked], nan[clicked]),
            (view_owner[carted], cart_t[carted], 2, product[carted], nan[carted]),
            (buy_o, buy_t, 3, buy_p, buy_value),
            (rate_o, rate_t, 4, rate_p, stars),
            (rate_o[reviewed], review_t, 5, rate_p[reviewed], stars[reviewed]),
        )
        owner = np.concatenate([p[0] for p in parts])
        t = np.concatenate([p[1] for p in parts]).astype(np.int64)
        kind = np.concatenate([np.full(len(p[1]), p[2], np.int8) for p in parts])
        product = np.concatenate([p[3] for p in parts])
        value = np.concatenate([p[4] for p in parts])
        keep = np.flatnonzero(t < stop[owner] * _DAY)  # nothing after churn or the window
        idx = keep[np.lexsort((kind[keep], t[keep], owner[keep]))]
        # Texts were made in review-creation order; reorder them like the kept review rows.
        review_rank = np.cumsum(kind == 5) - 1
        kept_texts = [texts[r] for r in review_rank[idx][kind[idx] == 5].tolist()]
        return owner[idx], t[idx], kind[idx], product[idx], value[idx], kept_texts

    def _review(self, rng: np.random.Generator, product: int, stars: int, chinese: bool) -> str:
        sentiment = "positive" if stars >= 4 else "negative" if stars <= 2 else "neutral"
        _, (noun_en, noun_zh), _ = self._vocab[self.product_category[product]]
        o = self._product_draws[product][1] % len(noun_en)
        # Chinese-speaking customers write in Chinese; others now and then on Chinese listings.
        if chinese or (self._product_zh[product] and rng.random() < 0.2):
            pool = _REVIEWS_ZH[sentiment].split("|")
            picks = rng.choice(len(pool), min(len(pool), int(rng.integers(2, 4))), replace=False)
            return "，".join(pool[p] for p in picks).format(noun=noun_zh[o]) + "。"
        opener, middle, closer = (part.split("|") for part in _REVIEWS_EN[sentiment])
        a, b, c = (int(rng.integers(len(x))) for x in (opener, middle, closer))
        text = f"{opener[a]} {middle[b]}." + (f" {closer[c]}" if rng.random() < 0.7 else "")
        return text.format(noun=noun_en[o])


def _draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Categorical draws by inverse CDF; much cheaper than Generator.choice(p=...) per call."""
    return np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), len(cdf) - 1)


@functools.cache
def _clock() -> list[str]:
    return [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]
