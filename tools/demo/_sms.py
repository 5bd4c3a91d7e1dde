"""Demo SMS conversations with the brand's support number (+44 7700 900100)."""

from __future__ import annotations

from tools.demo._script import BRAND, Thread, t

__all__ = ["SMS_THREADS"]

SMS_THREADS: tuple[Thread, ...] = (
    Thread(
        "sms",
        (
            t(
                "tom",
                "Hi, it's Tom Becker. Courier came for the old grinder but didn't bring the new one?",
                parent=None,
            ),
            t(BRAND, "Parley Coffee: Hi Tom, the new Aurora X2 is on a separate van, arriving by 6pm today."),
            t("tom", "Great, thanks"),
            t("tom", "Arrived. All good 👍"),
        ),
    ),
    Thread(
        "sms",
        (
            t("priya", "Hi is the Manchester cafe dog friendly?", parent=None),
            t(BRAND, "Parley Coffee: Hi Priya! Yes, dogs are very welcome, we even have treats 🐶"),
            t("priya", "Amazing, see you Saturday"),
        ),
    ),
    Thread(
        "sms",
        (
            t(
                "marcus",
                "Hey, Aurora Duo arrived but the drip tray is missing. Order PC-US-2281",
                parent=None,
            ),
            t(
                BRAND,
                "Parley Coffee: Hi Marcus, sorry about that! A drip tray ships today from Chicago, "
                "tracking to follow.",
            ),
            t("marcus", "Thx. Tracking?"),
            t(BRAND, "Parley Coffee: 1Z-PC-449182. Should arrive Thursday."),
            t("marcus", "got it, cheers"),
        ),
    ),
    Thread(
        "sms",
        (
            t("dave", "This is Dave K. Still no tracking email for my order. Can you text it?", parent=None),
            t(BRAND, "Parley Coffee: Hi Dave, tracking is 1Z-PC-448870. Sorry again for the delay."),
            t("dave", "ok thanks"),
        ),
    ),
    Thread(
        "sms",
        (
            t(
                "olu",
                "Hi! Do you sell the Ember mug in walnut colour or just the 4 on the site?",
                parent=None,
            ),
            t(
                BRAND,
                "Parley Coffee: Hi Olu, just the 4 for now, but a wood-effect edition is planned for spring!",
            ),
            t("olu", "Nice, put me on the list 😄"),
        ),
    ),
    Thread(
        "sms",
        (
            t("beatriz", "Olá, a minha encomenda PC-10688 ainda não chegou. Podem ver?", parent=None),
            t(
                BRAND,
                "Parley Coffee: Olá Beatriz! A encomenda está no centro de distribuição de Londres, "
                "entrega amanhã.",
            ),
            t("beatriz", "Obrigada 🙏"),
            t("beatriz", "Chegou, tudo perfeito!"),
        ),
        lang="pt",
    ),
    Thread(
        "sms",
        (
            t(
                "hannah",
                "Hi, Hannah here (Facebook re the Ember lid). Photo: https://pics.example.org/hannah/lid.jpg",
                parent=None,
            ),
            t(BRAND, "Parley Coffee: Thanks Hannah! New lid posted today, 2-3 days."),
            t("hannah", "Lovely, thank you x"),
        ),
    ),
    Thread(
        "sms",
        (
            t("sara", "Hi can I pause my Bean Club for December? Travelling", parent=None),
            t(
                BRAND,
                "Parley Coffee: Hi Sara, done! Bean Club is paused for December and restarts in January.",
            ),
            t("sara", "Perfect thank you"),
        ),
    ),
    Thread(
        "sms",
        (
            t("kwame", "How much is the Aurora X2 in store vs online?", parent=None),
            t(
                BRAND,
                "Parley Coffee: Hi Kwame, it's £189 both in store and online, and free delivery online.",
            ),
            t("kwame", "And do you price match Grindhaus?"),
            t(
                BRAND,
                "Parley Coffee: We don't price match, sorry, but Bean Club members get 10% off grinders.",
            ),
            t("kwame", "Hmm ok I'll think about it"),
        ),
    ),
    Thread(
        "sms",
        (
            t(
                BRAND,
                "Parley Coffee: Your order PC-10455 is out for delivery today. Reply HELP for support.",
                parent=None,
                to="tom",
            ),
            t("tom", "HELP can it be left with a neighbour? Out all day"),
            t(BRAND, "Parley Coffee: Sure Tom, we've asked the courier to leave it at no. 14."),
        ),
    ),
    Thread(
        "sms",
        (
            t(
                BRAND,
                "Parley Coffee: Your Bean Club box ships tomorrow! Winter Parley + Night Owl. "
                "Reply SKIP to skip this month.",
                parent=None,
                to="priya",
            ),
            t("priya", "SKIP"),
            t(BRAND, "Parley Coffee: Done, this month's box is skipped. See you in January!"),
            t("priya", "Wait, sorry, can I un-skip? I want the Winter Parley after all 😅"),
            t(BRAND, "Parley Coffee: No problem, un-skipped! It ships tomorrow."),
        ),
    ),
    Thread(
        "sms",
        (
            t(BRAND, "Parley Coffee: Your refund RF-55102 has been processed.", parent=None, to="kwame"),
            t("kwame", "Wrong number? I didn't ask for a refund"),
            t(
                BRAND,
                "Parley Coffee: Apologies Kwame, that message was sent to you by mistake. Please ignore it.",
            ),
        ),
    ),
    Thread(
        "sms",
        (
            t("sara", "STOP", parent=None),
            t(
                BRAND,
                "Parley Coffee: You've been unsubscribed from marketing texts. Order updates will "
                "still be sent.",
            ),
        ),
    ),
    Thread(
        "sms",
        (
            t(
                "olu",
                "Hey it's Olu, any discount code for the Ember mug? Saw you mention one on Twitter",
                parent=None,
            ),
            t(BRAND, "Parley Coffee: Hi Olu! Use EMBER10 for 10% off until 30 November."),
            t("olu", "Legend, ordered the charcoal one"),
        ),
    ),
)
