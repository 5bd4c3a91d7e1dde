"""Demo feed items: blog posts with comments and forum topics with replies.

``meta`` names the feed (``feed``, ``site``, ``kind`` blog/forum, ``slug``); the post's
title is the thread subject. The brand's own blog posts are outbound; third-party reviews
and forum threads are what marketers listen to.
"""

from __future__ import annotations

from tools.demo._script import BRAND, Thread, t

__all__ = ["FEED_THREADS"]

_JOURNAL = {"feed": "The Parley Journal", "site": "https://blog.parley-coffee.example.com", "kind": "blog"}
_FORUM = {"feed": "Home Barista Forum", "site": "https://forum.example.org", "kind": "forum"}
_TECHCUP = {"feed": "TechCup Reviews", "site": "https://techcup.example.com", "kind": "blog"}
_BEANSCENE = {"feed": "Bean Scene Weekly", "site": "https://beanscene.example.org", "kind": "blog"}
_KAFFEE = {"feed": "Kaffeeklatsch Blog", "site": "https://kaffeeklatsch.example.org", "kind": "blog"}


FEED_THREADS: tuple[Thread, ...] = (
    Thread(
        "feeds",
        subject="How we roast Winter Parley",
        meta={**_JOURNAL, "slug": "2026/11/winter-parley"},
        turns=(
            t(
                BRAND,
                "Every Monday our head roaster Iñaki fires up the Loring in Bristol for one thing: "
                "Winter Parley. Here's how we build a blend that tastes like cinnamon and dark chocolate "
                "without adding any flavourings, from green beans in Huila and Minas Gerais to the cup.",
                parent=None,
            ),
            t(
                "sam",
                "Great read. Would love a post on how you pick lots for espresso blends, we're "
                "about to start using Harbour Blend at our café.",
            ),
            t(BRAND, "Thanks Sam! That's next month's post, promise."),
            t(
                "espresso_nerd",
                "What development time ratio are you targeting? Sounds like a fairly "
                "long finish for the chocolate notes.",
                parent=0,
            ),
            t(BRAND, "Around 22% DTR, espresso_nerd. Longer dulls the orange note."),
        ),
    ),
    Thread(
        "feeds",
        subject="Five ways to use up stale beans",
        meta={**_JOURNAL, "slug": "2026/10/stale-beans"},
        turns=(
            t(
                BRAND,
                "Bag been open for a month? Don't bin it. Cold brew, coffee ice cubes, tiramisu, "
                "a dry rub for steak and fridge deodoriser: five ways we use beans past their best.",
                parent=None,
            ),
            t("milkfrother", "The steak rub is a game changer. Coffee + smoked paprika + brown sugar."),
            t("darkroast_dan", "Stale beans? In this house? Never 😄", parent=0),
            t("aeropresslover", "Cold brew with stale beans is honestly fine, nobody can tell.", parent=0),
        ),
    ),
    Thread(
        "feeds",
        subject="Bean Club turns two: what you told us",
        meta={**_JOURNAL, "slug": "2026/11/bean-club-two"},
        turns=(
            t(
                BRAND,
                "Two years and 40,000 boxes later: we asked 3,000 Bean Club members what to change. "
                "The top answers were more decaf, flexible delivery dates and less packaging. All three "
                "are coming in December.",
                parent=None,
            ),
            t("jonas", "Flexible delivery dates, endlich! Will you also ship to Austria?"),
            t(BRAND, "Yes Jonas, Austria and Switzerland from January."),
            t("v60vic", "Less packaging is great. Any chance of compostable valves on the bags?", parent=0),
        ),
    ),
    Thread(
        "feeds",
        subject="Aurora X2 vs Grindhaus G5 vs KoffeeKraft Mill Pro: grinder shootout",
        meta={**_TECHCUP, "slug": "reviews/grinders-2026"},
        turns=(
            t(
                "techcup",
                "We ground 40kg of coffee through three sub-£250 grinders. The Parley Aurora X2 "
                "had the tightest particle distribution and lowest retention (0.2g), the Grindhaus G5 was "
                "fastest, and the KoffeeKraft Mill Pro was loud and retained 1.4g. Verdict: Aurora X2 for "
                "espresso, G5 if speed matters. Score: 8.7 / 8.1 / 6.4.",
                parent=None,
            ),
            t("homebarista_h", "Matches my experience. The X2 is slower but so consistent."),
            t(
                "darkroast_dan",
                "Shame you didn't test the Brewster & Co Mill, it's the best seller in the US.",
                parent=0,
            ),
            t("techcup", "Next round, Dan! It's on the bench."),
            t(
                BRAND,
                "Thanks for the thorough testing! FYI a firmware update in December speeds up the "
                "X2 by about 15%.",
                parent=0,
            ),
        ),
    ),
    Thread(
        "feeds",
        subject="UK coffee subscriptions compared: Bean Club, Brewster Box, KoffeeKraft Club",
        meta={**_BEANSCENE, "slug": "subs"},
        turns=(
            t(
                "beanscene",
                "Three months, three subscriptions, one kitchen. Parley's Bean Club arrived "
                "with the freshest roast dates (avg. 4 days), Brewster Box had the widest range but "
                "beans were often 3 weeks old, and KoffeeKraft Club is the cheapest at £12.99. Best "
                "overall: Bean Club. Best budget: KoffeeKraft.",
                parent=None,
            ),
            t("aeropresslover", "Brewster's roast dates are a real problem, glad someone measured it."),
            t(
                "milkfrother",
                "KoffeeKraft for the price is fine tbh, not everyone needs single origins.",
                parent=0,
            ),
        ),
    ),
    Thread(
        "feeds",
        lang="de",
        subject="Parley Coffee im Test: Lohnt sich der Winter Parley Blend?",
        meta={**_KAFFEE, "slug": "2026/11/parley-winter-test"},
        turns=(
            t(
                "kaffeeklatsch",
                "Die britische Rösterei Parley Coffee liefert seit diesem Jahr auch nach "
                "Deutschland. Wir haben den Winter Parley Blend im Siebträger und in der French Press "
                "getestet: viel Zimt, dunkle Schokolade, wenig Säure. Für 14,90 € pro 250 g nicht "
                "billig, aber eine schöne Alternative zu den üblichen Weihnachtsröstungen.",
                parent=None,
            ),
            t("jonas", "Ich habe ihn auch probiert. Im Siebträger super, als Filter zu intensiv."),
            t("kaffeeklatsch", "Sehe ich genauso, Jonas!"),
        ),
    ),
    Thread(
        "feeds",
        subject="Aurora X2 grinder: retention and static?",
        meta={**_FORUM, "slug": "t/aurora-x2-retention/4412"},
        turns=(
            t(
                "espresso_nerd",
                "Just got the Parley Aurora X2. Getting about 0.3g retention and some "
                "static with dark roasts. Anyone tried the RDT trick (a drop of water on the beans)? "
                "https://forum.example.org/t/rdt-explained/1203",
                parent=None,
            ),
            t("homebarista_h", "RDT fixes the static completely for me. One spray per 18g dose."),
            t("v60vic", "Also try the bellows on top, pushes most of the retained grounds out.", parent=0),
            t("espresso_nerd", "RDT worked, zero static now. Thanks both!", parent=1),
            t(
                BRAND,
                "Parley staff here: a static-reducing chute for the X2 is coming in the new year, "
                "free for existing owners.",
                parent=0,
            ),
            t("homebarista_h", "Free? That's classy."),
        ),
    ),
    Thread(
        "feeds",
        subject="Best beans for milk drinks under £15?",
        meta={**_FORUM, "slug": "t/milk-drink-beans/4419"},
        turns=(
            t(
                "milkfrother",
                "Looking for something chocolatey that cuts through oat milk. Budget about "
                "£15 a bag. Suggestions?",
                parent=None,
            ),
            t("darkroast_dan", "Parley Night Owl. Dark, heavy, made for milk."),
            t(
                "aeropresslover",
                "Brewster & Co Harvest if you find it on sale, but Night Owl is better.",
                parent=0,
            ),
            t("sam", "We use Parley Harbour Blend at our café with oat, customers love it.", parent=0),
            t("milkfrother", "Ordered Night Owl, will report back."),
            t("milkfrother", "Report: Night Owl + oat = excellent. Thanks all."),
        ),
    ),
    Thread(
        "feeds",
        subject="Aurora Duo steam wand too weak?",
        meta={**_FORUM, "slug": "t/aurora-duo-steam/4425"},
        turns=(
            t(
                "darkroast_dan",
                "Aurora Duo owners: is your steam wand weak? Takes me over a minute to "
                "steam 200ml. Thinking of returning it.",
                parent=None,
            ),
            t("homebarista_h", "Are you waiting for the ready light? First 30s after brewing is weak."),
            t("darkroast_dan", "Ah, I wasn't. Much better now, about 35s."),
            t(
                BRAND,
                "That's right, and descaling every 4-6 weeks keeps it at full pressure. Sorry the "
                "manual doesn't say that clearly, we're updating it.",
                parent=0,
            ),
        ),
    ),
    Thread(
        "feeds",
        subject="Where to buy Parley beans in Germany?",
        meta={**_FORUM, "slug": "t/parley-germany/4431"},
        turns=(
            t(
                "kaffeeklatsch",
                "Does anyone know a shop in Berlin or Munich that sells Parley beans? "
                "Shipping from the UK takes forever since Brexit.",
                parent=None,
            ),
            t("jonas", "Kaffeerösterei am Gärtnerplatz in Munich has Harbour Blend and Night Owl."),
            t("kaffeeklatsch", "Danke Jonas!"),
        ),
    ),
    Thread(
        "feeds",
        subject="Cold brew ratio for the Tidepool kit",
        meta={**_FORUM, "slug": "t/tidepool-ratio/4437"},
        turns=(
            t(
                "v60vic",
                "What ratio are people using in the Parley Tidepool? The leaflet says 1:8 but "
                "that's very strong.",
                parent=None,
            ),
            t("aeropresslover", "1:10, 16 hours in the fridge, then dilute 1:1 with water or milk."),
            t("espresso_nerd", "1:12 for drinking straight, no dilution.", parent=0),
        ),
    ),
)
