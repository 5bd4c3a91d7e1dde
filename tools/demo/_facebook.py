"""Demo Facebook page activity: the brand's posts with comment threads, and visitor posts."""

from __future__ import annotations

from tools.demo._script import BRAND, Thread, t

__all__ = ["FACEBOOK_THREADS"]

FACEBOOK_THREADS: tuple[Thread, ...] = (
    Thread(
        "facebook",
        (
            t(
                BRAND,
                "Meet Tidepool 🌊 our new cold brew kit. 1.2 litres, 12 hours, zero fuss. Launch "
                "price £35 this week only → https://parley-coffee.example.com/tidepool #coldbrew",
                parent=None,
            ),
            t("ann", "Ooh, does it fit in a normal fridge door?", parent=0),
            t(BRAND, "Hi Ann! Yes, it's 28cm tall so it fits most fridge doors 😊"),
            t("ann", "Sold. Ordering one for my sister too."),
            t("grace", "Is the jar glass or plastic?", parent=0),
            t(BRAND, "Borosilicate glass, Grace, with a stainless steel filter."),
            t(
                "owen",
                "£35 for a jar with a filter? You can do this with a mason jar and a sock 🙄",
                parent=0,
            ),
            t("isabel", "@Owen Price a sock 😂 please no", parent=6),
            t("lucia", "¿Lo enviáis a España? ¡Lo quiero!", parent=0, lang="es"),
            t(BRAND, "¡Hola Lucía! Sí, enviamos a toda España en 3-5 días 🇪🇸", lang="es"),
        ),
    ),
    Thread(
        "facebook",
        (
            t(
                BRAND,
                "Winter Parley is back ❄️ Cinnamon, dark chocolate and a hint of orange. Limited "
                "batch, roasted in Bristol every Monday until it runs out. "
                "https://parley-coffee.example.com/winter-parley",
                parent=None,
            ),
            t("raj", "Best seasonal blend you do. Is it in the Bean Club box this month?", parent=0),
            t(BRAND, "It is, Raj! December box ships on the 1st."),
            t(
                "chloe",
                "Est-ce qu'il existe en décaféiné ? Je ne bois plus de caféine le soir.",
                parent=0,
                lang="fr",
            ),
            t(
                BRAND,
                "Bonjour Chloé ! Pas cette année, mais notre Huila Décaf a aussi des notes de chocolat 🍫",
                lang="fr",
            ),
            t("chloe", "Merci, je vais essayer !", lang="fr"),
            t("henrik", "Tried it last year, way too much cinnamon for me. Harbour Blend forever.", parent=0),
            t("fatima", "The smell when you open the bag 😍😍", parent=0),
            t(
                "nina",
                "Versand nach Deutschland dauert gerade ewig. Meine Bestellung ist seit zwei Wochen "
                "unterwegs 😡",
                parent=0,
                lang="de",
            ),
            t(
                BRAND,
                "Hallo Nina, das tut uns leid! Wir haben dir gerade eine E-Mail geschickt, das Paket "
                "wird heute neu verschickt.",
                lang="de",
            ),
        ),
    ),
    Thread(
        "facebook",
        (
            t(
                BRAND,
                "Our Manchester café opens this Saturday in the Northern Quarter! ☕ First 100 "
                "guests get a free flat white. See you there? 📍 12 Tib Street",
                parent=None,
            ),
            t("hannah", "Finally a Parley café up north!! What time do you open?", parent=0),
            t(BRAND, "8am Hannah, and we're open till 6 on Saturdays 🙌"),
            t("luke", "Any plans for Leeds?", parent=0),
            t(BRAND, "Nothing to announce yet Luke, but Leeds is on the list 👀"),
            t("emma", "Any chance of one in Edinburgh? 🙏", parent=0),
            t(
                "claire",
                "Went this morning, queue was huge but the staff were so friendly. Cortado was spot on.",
                parent=0,
            ),
            t("owen", "Waited 40 minutes for a coffee. Not worth it.", parent=0),
            t(
                BRAND,
                "Sorry about the wait Owen, opening day was busier than we planned. Come back "
                "midweek and the coffee's on us.",
            ),
            t("owen", "Fair enough, I might take you up on that."),
        ),
    ),
    Thread(
        "facebook",
        (
            t(
                BRAND,
                "GIVEAWAY 🎁 Win an Aurora X2 grinder + 3 months of Bean Club! Comment with your "
                "favourite way to drink coffee and tag a friend. Winner picked 20 November. UK only. "
                "T&Cs: https://parley-coffee.example.com/giveaway-terms",
                parent=None,
            ),
            t("fatima", "Flat white with oat milk, always. @Grace Kim", parent=0),
            t("grace", "Espresso tonic in summer, V60 in winter ☀️❄️", parent=0),
            t("isabel", "Café con leche como en casa de mi abuela ❤️", parent=0, lang="es"),
            t("joao", "Um espresso curto e forte, como em Lisboa ☕", parent=0, lang="pt"),
            t("amelie", "Un café crème en terrasse, même en novembre 😄", parent=0, lang="fr"),
            t("henrik", "Black filter coffee, big mug, no fuss.", parent=0),
            t("beatriz", "Galão! Adoro 😍", parent=0, lang="pt"),
            t("keiko", "ハンドドリップでゆっくり淹れるのが好きです ☕", parent=0, lang="ja"),
            t("luke", "Is this open to Northern Ireland?", parent=0),
            t(BRAND, "Yes Luke, all of the UK including Northern Ireland 🙂"),
            t(BRAND, "🎉 Congratulations Grace Kim, you've won! Check your messages 🎉", parent=0),
            t("grace", "WHAT 😱 I never win anything! Thank you!!"),
        ),
    ),
    Thread(
        "facebook",
        (
            t(
                BRAND,
                "Heads up: our online shop will be down for maintenance on Tuesday 10 November from "
                "1-3am GMT. Bean Club deliveries are not affected.",
                parent=None,
            ),
            t("claire", "Thanks for the warning!", parent=0),
            t(
                "raj",
                "Could you also fix the double charging while you're at it? Happened to me this month.",
                parent=0,
            ),
            t(
                BRAND,
                "Hi Raj, sorry about that. We've replied to your email; the fix for duplicate "
                "charges is part of this maintenance.",
            ),
        ),
    ),
    Thread(
        "facebook",
        (
            t(
                "hannah",
                "Hi Parley, my Ember mug lid cracked after a month. Is that covered by the "
                "warranty? Bought it at your Manchester café.",
                parent=None,
            ),
            t(
                BRAND,
                "Hi Hannah, yes it is! Send us a text on 07700 900100 with a photo and we'll post a new lid.",
            ),
            t("hannah", "Done, thanks!"),
        ),
    ),
    Thread(
        "facebook",
        (
            t(
                "amelie",
                "Je viens de recevoir mon Aurora Duo : la machine est magnifique mais la buse "
                "vapeur siffle très fort. C'est normal ?",
                parent=None,
                lang="fr",
            ),
            t(
                BRAND,
                "Bonjour Amélie ! Un léger sifflement est normal les premiers jours. S'il est très "
                "fort, purgez la buse 3 secondes avant chaque utilisation.",
                lang="fr",
            ),
            t("amelie", "Merci, c'est beaucoup mieux !", lang="fr"),
        ),
        lang="fr",
    ),
    Thread(
        "facebook",
        (
            t(
                "luke",
                "Three weeks and my Bean Club box still hasn't arrived. Emails go unanswered. "
                "Very disappointed.",
                parent=None,
            ),
            t(
                BRAND,
                "Luke, we're really sorry. We've found your box, it was returned to us with a "
                "wrong postcode. It's been resent by tracked delivery today.",
            ),
            t("luke", "Thanks, but it was my correct postcode, I checked."),
            t(BRAND, "You're right, the error was ours. We've credited a free month to your account."),
        ),
    ),
    Thread(
        "facebook",
        (
            t("joao", "Quando abre a loja de Lisboa? Estou ansioso!", parent=None, lang="pt"),
            t(BRAND, "Olá João! Abrimos no Chiado a 5 de dezembro 🎉", lang="pt"),
        ),
        lang="pt",
    ),
    Thread(
        "facebook",
        (
            t("keiko", "Harbour Blend を注文しました。届くのが楽しみです！", parent=None, lang="ja"),
            t(BRAND, "Thank you Keiko! It ships from London tomorrow ☕"),
        ),
    ),
    Thread(
        "facebook",
        (
            t("emma", "Quick one: does the Ember mug fit under the Aurora Duo spout?", parent=None),
            t(BRAND, "Hi Emma! Yes, with the drip tray removed it fits perfectly."),
        ),
    ),
    Thread(
        "facebook",
        (
            t(
                "isabel",
                "¿Tenéis tienda en Barcelona? Me encantaría probar el Aurora Duo antes de comprarlo.",
                parent=None,
            ),
            t(BRAND, "¡Hola Isabel! Todavía no, pero el Aurora Duo tiene 30 días de devolución gratuita 😊"),
            t("isabel", "¡Perfecto, entonces lo pido!"),
        ),
        lang="es",
    ),
    Thread(
        "facebook",
        (
            t(
                "claire",
                "Just want to say the staff at your Manchester café are brilliant. Jamie remembered "
                "my order on my second visit!",
                parent=None,
            ),
            t(BRAND, "Thank you Claire! We'll make sure Jamie sees this 💛"),
        ),
    ),
)
