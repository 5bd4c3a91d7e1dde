"""Demo stand-alone tweets: brand mentions, questions, reviews and market chatter."""

from __future__ import annotations

from tools.demo._script import Thread, t

__all__ = ["TWITTER_MENTIONS"]


def _single(who: str, text: str, lang: str = "en") -> Thread:
    return Thread("twitter", (t(who, text, parent=None),), lang=lang)


TWITTER_MENTIONS: tuple[Thread, ...] = (
    _single("jess", "Nothing beats the first sip of @ParleyCoffee Night Owl on a rainy London morning ☔☕"),
    _single("mike", "@ParleyCoffee where can I buy your beans in Leeds? Only see the online shop"),
    _single(
        "kate", "Not me buying a second Ember mug because the first one lives in the car now 🙈 @ParleyCoffee"
    ),
    _single(
        "ben",
        "UX nitpick: the @ParleyCoffee checkout makes you create an account before "
        "showing shipping costs. Please fix 🙏 #ux "
        "https://pics.example.org/ben/checkout.png",
    ),
    _single(
        "dan",
        "@ParleyCoffee how much is shipping to Ireland? Thinking of getting the Tidepool kit for my brother",
    ),
    _single(
        "zoe",
        "Switched from Grindhaus to @ParleyCoffee beans last month and my morning "
        "espresso has never been better. Worth every penny. #coffeelover",
    ),
    _single(
        "maya",
        "The @ParleyCoffee Bean Club box this month came with a handwritten note 🥹 small things matter",
    ),
    _single("sofia", "Honestly the @ParleyCoffee app is so slow. 30 seconds to load my orders."),
    _single(
        "tom",
        "Weekend brew: Aurora X2 on 14, Harbour Blend, 18g in 36g out in 29s. Chef's "
        "kiss 🤌 #espresso #homebarista",
    ),
    _single("priya", "Anyone in Manchester want to try the new @ParleyCoffee café with me Saturday? ☕"),
    _single("marcus", "Aurora Duo arrived. Setting it up now. DC friends, coffee at mine 😎"),
    _single(
        "dave",
        "Update: @ParleyCoffee beans finally here and ok, they're really good. Still "
        "annoyed about the shipping.",
    ),
    _single("olu", "Coffee and sawdust, my two favourite smells. #woodworking #coffee"),
    _single("carla", "El café de @ParleyCoffee llegó en 5 días a CDMX. Muy bien empacado 👌", lang="es"),
    _single("felipe", "Alguém sabe quanto custa a Aurora Duo no Brasil? @ParleyCoffee", lang="pt"),
    _single(
        "lena",
        "Kennt jemand eine gute Alternative zu @ParleyCoffee in München? Suche Bohnen für Siebträger.",
        lang="de",
    ),
    _single(
        "yuki", "パーリーコーヒーのハーバーブレンド、酸味が少なくて飲みやすい。おすすめです。", lang="ja"
    ),
    _single(
        "pierre", "Le Tidepool de @ParleyCoffee est arrivé. Premier cold brew ce soir ! #coldbrew", lang="fr"
    ),
    _single(
        "ahmed",
        "To be fair to @ParleyCoffee, the refund came through and the new grinder is great. Fixed my review.",
    ),
    _single(
        "gabe", "Bean Club box #1: Night Owl + Huila Decaf. Decaf that actually tastes like coffee?? wild"
    ),
    _single(
        "rosa", "Tapa nueva del Tidepool recibida. Servicio al cliente de 10 👏 @ParleyCoffee", lang="es"
    ),
    _single("ines", "Fila enorme na inauguração da @ParleyCoffee no Chiado hoje ☕🇵🇹", lang="pt"),
    _single("kate", "Hot take: Parley's Winter Parley blend > Brewster's Christmas blend. Fight me."),
    _single("leo", "Aurora Duo bestellt. Mal sehen, ob sie meine alte KoffeeKraft ersetzen kann.", lang="de"),
    _single(
        "techcup",
        "Poll: which grinder would you buy under £200? Aurora X2, Grindhaus G5 or KoffeeKraft Mill? #coffee",
    ),
    _single(
        "beanscene",
        "Bean Club, Brewster Box, KoffeeKraft Club: we compared 3 UK coffee "
        "subscriptions over 3 months. Parley wins on freshness. https://beanscene.example.org/subs",
    ),
    _single("jess", "@ParleyCoffee do you do gift cards? Need a last-minute present"),
    _single("maya", "Which @ParleyCoffee beans for a moka pot? Harbour or Night Owl?"),
    _single("mike", "Found Parley beans at Whitfield's Grocer in Leeds, ignore my last tweet 😂"),
    _single("priya", "The Manchester @ParleyCoffee café gave my dog a biscuit. 10/10, will return 🐶"),
    _single("olu", "@ParleyCoffee any chance of a discount code for the Ember? Asking for my wallet 😅"),
    _single(
        "zoe",
        "Cancelled my @ParleyCoffee subscription. Nothing wrong with it, just drinking too much coffee 😅",
    ),
)
