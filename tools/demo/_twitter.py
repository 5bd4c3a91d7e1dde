"""Demo Twitter/X conversations with @ParleyCoffee: complaints, questions, praise, reviews."""

from __future__ import annotations

from tools.demo._mentions import TWITTER_MENTIONS
from tools.demo._script import BRAND, Thread, t

__all__ = ["TWITTER_THREADS"]

_CONVERSATIONS: tuple[Thread, ...] = (
    Thread(
        "twitter",
        (
            t(
                "tom",
                "@ParleyCoffee my Aurora X2 stopped grinding after 3 weeks. Just hums and does "
                "nothing. Not impressed 😤 #fail",
                parent=None,
            ),
            t(
                BRAND,
                "@tombrews Oh no Tom, that's not right at all. Could you DM us your order number? "
                "We'll get it sorted today.",
            ),
            t("tom", "@ParleyCoffee DM'd. Order PC-10455."),
            t(
                BRAND,
                "@tombrews Got it, thanks! A replacement Aurora X2 ships tomorrow, courier collects "
                "the old one at the same time.",
            ),
            t("tom", "@ParleyCoffee legends, thank you 🙌 that's how you do customer service"),
            t(
                "mike",
                "@tombrews @ParleyCoffee same thing happened to mine in October, they swapped it in "
                "2 days tbf",
                parent=0,
            ),
            t("tom", "@mikedunn_ldn good to know, feeling better about it now"),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "priya",
                "Third morning in a row the @ParleyCoffee app says my Bean Club box is 'out for "
                "delivery' and then nothing. Is anyone actually delivering in Manchester? 🙃",
                parent=None,
            ),
            t(
                BRAND,
                "@priyaspills Hi Priya, sorry about this! Our courier in Manchester has had a "
                "backlog since the weekend. Can you DM us your postcode so we can chase it?",
            ),
            t(
                "priya",
                "@ParleyCoffee done. Would be nice to get a heads-up next time rather than finding "
                "out from Twitter",
            ),
            t(
                BRAND,
                "@priyaspills Totally fair. Box arrives today before 2pm, and we've refunded this "
                "month's delivery fee.",
            ),
            t("priya", "@ParleyCoffee it arrived! Winter Parley smells amazing ☕❄️"),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "marcus",
                "How much is the Aurora Duo in the US? @ParleyCoffee the site keeps showing me pounds",
                parent=None,
            ),
            t(
                BRAND,
                "@marcuslee_dc Hi Marcus! It's $349 in the US, shipping free from our Chicago "
                "warehouse. Switch the region at the bottom of the page: "
                "https://parley-coffee.example.com/us/aurora-duo",
            ),
            t(
                "marcus",
                "@ParleyCoffee perfect, just ordered one. Black Friday deal coming or should I not wait? 😅",
            ),
            t(
                BRAND,
                "@marcuslee_dc No spoilers 🤫 but if the price drops within 30 days we refund the "
                "difference.",
            ),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "dave",
                "Ordered beans from @ParleyCoffee 9 days ago. No tracking, no reply to 2 emails. "
                "Chicago store says 'call online support'. This is a joke.",
                parent=None,
            ),
            t(
                BRAND,
                "@davek_chi Dave, we're sorry, that's a bad experience. Your order got stuck in a "
                "payment review. It's shipped now, tracking is in your inbox.",
            ),
            t("dave", "@ParleyCoffee ok it's moving. Still, 9 days for a bag of coffee..."),
            t(
                "gabe",
                "@davek_chi @ParleyCoffee honestly their beans are worth the wait but yeah the "
                "shipping has been rough lately",
                parent=0,
            ),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "olu",
                "Built a little shelf for my coffee corner this weekend, the @ParleyCoffee Ember mug "
                "finally has a home 🛠️☕ #coffeecorner #woodworking https://pics.example.org/olu/shelf",
                parent=None,
            ),
            t(BRAND, "@olu_makes That shelf is gorgeous 😍 mind if we share it on our page?"),
            t("olu", "@ParleyCoffee go for it!"),
            t("zoe", "@olu_makes what wood is that? walnut?", parent=0),
            t("olu", "@zoelambert_ oak with a walnut stain 👌"),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "jess",
                "Is it just me or is the new @ParleyCoffee Harbour Blend more bitter than it used to "
                "be? Did you change the roast?",
                parent=None,
            ),
            t(
                BRAND,
                "@jesscarter Good palate! We moved to a new Brazilian lot in October. Try grinding a "
                "touch coarser, it shines at 1:16 on filter.",
            ),
            t("jess", "@ParleyCoffee tried it coarser and yes, much sweeter. Thanks!"),
            t("kate", "@jesscarter I noticed too! Thought my grinder was off lol", parent=0),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "carla",
                "¿Alguien sabe dónde comprar café de @ParleyCoffee en Ciudad de México? #café #cdmx",
                parent=None,
            ),
            t(
                BRAND,
                "@carlareyes_mx ¡Hola Carla! Aún no tenemos tiendas en México, pero enviamos desde "
                "nuestra web en 4-6 días 🇲🇽",
            ),
            t("carla", "@ParleyCoffee ¡genial, gracias! Voy a pedir el Winter Parley 🎄"),
        ),
        lang="es",
    ),
    Thread(
        "twitter",
        (
            t(
                "felipe",
                "Comprei a Aurora X2 da @ParleyCoffee e estou impressionado. Moagem super "
                "uniforme, silenciosa. Recomendo! ☕🇧🇷",
                parent=None,
            ),
            t(BRAND, "@feliperocha Que ótimo, Felipe! Obrigado pela recomendação 🙏"),
        ),
        lang="pt",
    ),
    Thread(
        "twitter",
        (
            t(
                "lena",
                "Die neue Winter Parley Mischung von @ParleyCoffee ist leider nichts für mich. Viel "
                "zu viel Zimt. 😕",
                parent=None,
            ),
            t(
                BRAND,
                "@lenavogel Schade, Lena! Probier mal unsere Harbour Blend, die ist klassischer. "
                "Schreib uns eine DM, wir schicken dir eine Probe.",
            ),
            t("lena", "@ParleyCoffee oh, das ist nett. DM ist raus!"),
        ),
        lang="de",
    ),
    Thread(
        "twitter",
        (
            t(
                "yuki",
                "@ParleyCoffee のエンバーマグ、保温性が最高です。朝淹れたコーヒーがお昼でもまだ温かい☕ "
                "#コーヒー",
                parent=None,
            ),
            t(BRAND, "@yuki_coffee_log ありがとうございます！とても嬉しいです 😊"),
        ),
        lang="ja",
    ),
    Thread(
        "twitter",
        (
            t(
                "pierre",
                "@ParleyCoffee bonjour, livrez-vous en France ? Le Tidepool m'intéresse beaucoup.",
                parent=None,
            ),
            t(BRAND, "@pdubois Bonjour Pierre ! Oui, livraison en France en 3-4 jours, gratuite dès 50 €."),
            t("pierre", "@ParleyCoffee parfait, merci ! Commande passée."),
        ),
        lang="fr",
    ),
    Thread(
        "twitter",
        (
            t(
                "ahmed",
                "Day 14 of waiting for a refund from @ParleyCoffee for a grinder I returned. "
                "Customer service keeps saying '3-5 days'. #badservice",
                parent=None,
            ),
            t(
                BRAND,
                "@ahmedk Ahmed, we're sorry. We can see the return arrived on the 6th but the "
                "refund wasn't triggered. It's been processed now, reference RF-55190.",
            ),
            t("ahmed", "@ParleyCoffee thanks. Shouldn't take a tweet to get a refund though."),
            t(BRAND, "@ahmedk You're right. We're fixing the returns process so this doesn't happen again."),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "techcup",
                "Review: Aurora X2 vs Grindhaus G5 vs KoffeeKraft Mill Pro. The @ParleyCoffee "
                "grinder wins on consistency, Grindhaus on speed. Full review: "
                "https://techcup.example.com/reviews/grinders-2026 #coffee #gear",
                parent=None,
            ),
            t(
                "ben",
                "@techcupreviews great comparison. Surprised the KoffeeKraft came last, it's twice the price",
            ),
            t("techcup", "@benharper_ux price isn't everything 😄 retention on the Mill Pro was awful"),
            t(BRAND, "@techcupreviews Thanks for the thorough review! Glad the X2 held up 🙌", parent=0),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "beanscene",
                "This week on Bean Scene: Parley Coffee opens its first Manchester café in "
                "the Northern Quarter. We spoke to founder Ada Okoro about ethical sourcing. "
                "https://beanscene.example.org/parley-manchester",
                parent=None,
            ),
            t("maya", "@beanscenewkly went on opening day, the flat white was 10/10"),
            t("dan", "@beanscenewkly @mayasingh queue was round the block though 😂", parent=1),
            t("maya", "@danoneill worth it"),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "marketwatcher",
                "$PRLY up 6% after Parley Coffee Q3: subscriptions +31% YoY, margin "
                "pressure from green coffee prices. Rivals $GRND and $KFKR flat. #coffee #earnings",
                parent=None,
            ),
            t(
                "ben",
                "@coffeemktsdaily Bean Club is doing the heavy lifting. Curious how long that growth lasts",
            ),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "sofia",
                "Visited the @ParleyCoffee café in Manchester today. Staff were lovely but my "
                "oat latte was lukewarm 😐",
                parent=None,
            ),
            t(
                BRAND,
                "@sofiarusso Thanks for the honest feedback Sofia! We'll pass it to the team. Next "
                "drink is on us, just show this tweet ☕",
            ),
        ),
    ),
    Thread(
        "twitter",
        (
            t("ines", "A @ParleyCoffee vai abrir loja em Lisboa? Vi uma placa no Chiado 👀", parent=None),
            t(BRAND, "@inescarvalho 👀 Podemos dizer que sim! Abertura em dezembro."),
            t("ines", "@ParleyCoffee finalmente!! 🎉"),
        ),
        lang="pt",
    ),
    Thread(
        "twitter",
        (
            t(
                "leo",
                "@ParleyCoffee Gibt es die Aurora Duo auch mit 230V für Deutschland? Und was kostet sie?",
                parent=None,
            ),
            t(BRAND, "@leofischer Hallo Leo! Ja, die EU-Version kostet 379 € inkl. Versand."),
        ),
        lang="de",
    ),
    Thread(
        "twitter",
        (
            t(
                "rosa",
                "Probé el Tidepool de @ParleyCoffee y el cold brew queda buenísimo, pero la tapa "
                "gotea un poco 😅",
                parent=None,
            ),
            t(
                BRAND,
                "@rosajimenez ¡Gracias Rosa! Mándanos una foto de la tapa por DM y te enviamos una nueva.",
            ),
        ),
        lang="es",
    ),
    Thread(
        "twitter",
        (
            t(
                "gabe",
                "Genuinely asking: @ParleyCoffee Bean Club or Brewster & Co subscription? Which is "
                "better value?",
                parent=None,
            ),
            t("kate", "@gabemorris Bean Club. Brewster ships stale beans half the time"),
            t(
                "zoe",
                "@gabemorris @katesullivan agree, Parley roast dates are always within a week",
                parent=1,
            ),
            t(BRAND, "@gabemorris We're biased 😄 but first box is 50% off with code HELLOBEANS", parent=0),
            t("gabe", "@ParleyCoffee ok you win, signed up"),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "sofia",
                "@ParleyCoffee is the app down? Can't log in since this morning and my Bean Club "
                "renews tomorrow",
                parent=None,
            ),
            t(
                BRAND,
                "@sofiarusso Hi Sofia, yes, we're aware and a fix is rolling out within the hour. "
                "Your renewal won't be charged until you can log in. "
                "https://status.parley-coffee.example.com",
            ),
            t("maya", "@ParleyCoffee @sofiarusso same here 😩", parent=0),
            t(BRAND, "@mayasingh @sofiarusso We're back up! Sorry for the trouble 🙏"),
            t("sofia", "@ParleyCoffee works now 👍", parent=3),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "ben",
                "@ParleyCoffee feature request: print a suggested grind size for V60/espresso on each "
                "bag. Would save so many wasted doses",
                parent=None,
            ),
            t(BRAND, "@benharper_ux Love this idea Ben, passing it to our packaging team 📝"),
            t("ben", "@ParleyCoffee 🙌"),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "rosa",
                "Pedí dos bolsas de Night Owl y llegó solo una. @ParleyCoffee ¿me ayudáis? 😕",
                parent=None,
            ),
            t(BRAND, "@rosajimenez ¡Perdona, Rosa! Te enviamos la segunda bolsa hoy mismo, sin coste."),
            t("rosa", "@ParleyCoffee ¡gracias por la rapidez! 🙌"),
        ),
        lang="es",
    ),
    Thread(
        "twitter",
        (
            t(
                "pierre",
                "Mon Tidepool fuit par le bas depuis hier 😠 @ParleyCoffee c'est un défaut connu ?",
                parent=None,
            ),
            t(
                BRAND,
                "@pdubois Bonjour Pierre, désolés ! Le joint a peut-être bougé au lavage. Envoyez-nous "
                "une photo en DM, on vous en envoie un neuf.",
            ),
            t("pierre", "@ParleyCoffee joint remis en place, plus de fuite. Merci !"),
        ),
        lang="fr",
    ),
    Thread(
        "twitter",
        (
            t(
                "beanscene",
                "Parley Coffee vs Brewster & Co: who's winning UK coffee Twitter? Our social "
                "listening shows Parley with 2x the mentions in October and far fewer complaints 📈 "
                "#marketing #coffee",
                parent=None,
            ),
            t("ben", "@beanscenewkly would love to see the sentiment split by product"),
            t("marketwatcher", "@beanscenewkly $PRLY holders will like that chart", parent=0),
        ),
    ),
    Thread(
        "twitter",
        (
            t(
                "marcus",
                "Drip tray arrived, the Aurora Duo is complete 🙌 first latte art attempt was... a blob",
                parent=None,
            ),
            t(BRAND, "@marcuslee_dc A blob is just a heart in progress ❤️ keep going!"),
        ),
    ),
    Thread(
        "twitter",
        (
            t("yuki", "@ParleyCoffee 日本から注文できますか？送料はいくらですか？", parent=None),
            t(BRAND, "@yuki_coffee_log はい！5〜7営業日でお届けします。送料は£9.90、£60以上で無料です。"),
            t("yuki", "@ParleyCoffee ありがとうございます！さっそく注文しました ☕"),
        ),
        lang="ja",
    ),
)


TWITTER_THREADS: tuple[Thread, ...] = _CONVERSATIONS + TWITTER_MENTIONS
