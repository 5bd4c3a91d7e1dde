"""Demo email threads to the support mailbox (rendered as RFC 822 by ``_rfc822``).

Options: ``html=True`` adds an HTML alternative, ``attachment=(name, content_type)`` attaches
a tiny file, ``auto_reply=True`` marks an out-of-office answer (``Auto-Submitted``).
"""

from __future__ import annotations

from tools.demo._script import BRAND, Thread, t

__all__ = ["EMAIL_THREADS"]

_SIG = "\n\nBest,\nMara\nParley Coffee Customer Care"

EMAIL_THREADS: tuple[Thread, ...] = (
    Thread(
        "email",
        subject="Order PC-10482 arrived with a cracked carafe",
        turns=(
            t(
                "ann",
                "Hi there,\n\nMy order PC-10482 (Aurora Duo + 2 bags of Harbour Blend) arrived this "
                "morning and the glass carafe is cracked right down the side. The box looked fine, "
                "so I think it left the warehouse like that. Photo attached.\n\nCan you send a "
                "replacement? I'd rather not wait another week, it was meant to be a birthday "
                "present.\n\nThanks,\nAnn",
                parent=None,
                attachment=("carafe.png", "image/png"),
            ),
            t(
                BRAND,
                "Hi Ann,\n\nI'm really sorry, that's not the unboxing anyone wants, least of all on a "
                "birthday. Thanks for the photo, that's all we need. A replacement carafe is going out "
                "today by next-day delivery (tracking: PX-88213-GB) and you don't need to send the "
                "broken one back, please just recycle it carefully." + _SIG,
                html=True,
            ),
            t("ann", "That was quick, thank you Mara! Carafe arrived and the birthday was saved :)\n\nAnn"),
        ),
    ),
    Thread(
        "email",
        subject="Charged twice for Bean Club this month",
        turns=(
            t(
                "raj",
                "Hello,\n\nI've been charged £18.50 twice for my Bean Club subscription on 2 November. "
                "Bank statement shows two identical payments. Please refund the duplicate.\n\nRaj Patel",
                parent=None,
            ),
            t(
                BRAND,
                "Hi Raj,\n\nThanks for flagging this. I can see the duplicate payment on our side too; "
                "it was caused by a retry in our payment system. I've refunded £18.50 today, it usually "
                "takes 3-5 working days to show up." + _SIG,
            ),
            t(
                "raj",
                "It's now been 8 working days and there is still no refund. This is the second time "
                "this year something like this has happened. Honestly I'm close to cancelling.\n\nRaj",
            ),
            t(
                BRAND,
                "Hi Raj,\n\nYou're right to be annoyed, and I'm sorry. The first refund failed on the "
                "bank side and nobody told you. I've pushed it through again manually (reference "
                "RF-55102) and added a free bag of Night Owl to your next box for the hassle." + _SIG,
            ),
            t("raj", "Refund has landed. Thanks for sorting it properly this time.\n\nRaj"),
        ),
    ),
    Thread(
        "email",
        lang="es",
        subject="Mi molinillo Aurora X2 hace un ruido extraño",
        turns=(
            t(
                "lucia",
                "Hola,\n\nDesde hace unos días mi molinillo Aurora X2 hace un ruido metálico muy "
                "fuerte al moler. Lo compré en septiembre en vuestra tienda de Madrid. ¿Es normal? "
                "¿Qué puedo hacer?\n\nGracias,\nLucía Fernández",
                parent=None,
            ),
            t(
                BRAND,
                "Hola Lucía,\n\nGracias por escribirnos. Ese ruido suele aparecer cuando una piedra "
                "pequeña o un grano muy duro se queda entre las muelas. Desenchufa el molinillo, quita la "
                "muela superior (gira a la izquierda) y limpia con el cepillo incluido. Si el ruido sigue, "
                "te enviamos uno nuevo: está en garantía.\n\nUn saludo,\nMara\nParley Coffee",
            ),
            t(
                "lucia",
                "¡Era una piedrecita! Ya funciona perfectamente. Muchas gracias por la ayuda tan "
                "rápida 😊\n\nLucía",
            ),
        ),
    ),
    Thread(
        "email",
        lang="fr",
        subject="Détartrage de l'Aurora Duo",
        turns=(
            t(
                "chloe",
                "Bonjour,\n\nQuel produit recommandez-vous pour détartrer l'Aurora Duo ? L'eau est "
                "très calcaire à Lyon et le manuel ne précise pas la fréquence.\n\nMerci d'avance,\nChloé",
                parent=None,
            ),
            t(
                BRAND,
                "Bonjour Chloé,\n\nAvec une eau dure comme à Lyon, nous conseillons un détartrage "
                "toutes les 4 à 6 semaines avec un détartrant à base d'acide citrique. Le programme se lance "
                "en maintenant les deux boutons 5 secondes.\n\nBien cordialement,\nMara\nParley Coffee",
            ),
        ),
    ),
    Thread(
        "email",
        subject="Wholesale beans for a new café in Bristol",
        turns=(
            t(
                "sam",
                "Hi Parley team,\n\nI'm opening a small café in Bristol (Stokes Croft) in January and "
                "would love to serve Harbour Blend as our house espresso. How much would 20kg a month "
                "cost, and do you offer barista training?\n\nCheers,\nSam Okafor",
                parent=None,
            ),
            t(
                BRAND,
                "Hi Sam,\n\nCongratulations on the café! For 20kg a month our wholesale price for "
                "Harbour Blend is £19.80/kg including delivery, and the first training session for your "
                "team is free. I've copied our wholesale lead, Dev, who will send you a tasting pack this "
                "week." + _SIG,
                html=True,
            ),
            t(
                "sam",
                "Brilliant, tasting pack received. We'll go with Harbour Blend. Can we start with "
                "15kg for January and scale up?\n\nSam",
            ),
            t(BRAND, "Absolutely, 15kg for January is fine. Dev will send the contract today." + _SIG),
        ),
    ),
    Thread(
        "email",
        subject="Where can I buy the Ember travel mug in Edinburgh?",
        turns=(
            t(
                "emma",
                "Hello! Is there anywhere in Edinburgh that stocks the Ember travel mug? I'd like to "
                "see the colours in person before buying.\n\nEmma",
                parent=None,
            ),
            t(
                BRAND,
                "Hi Emma,\n\nYes! Stockbridge Kitchen Supplies on Raeburn Place has the full range, and "
                "Waverley Books & Coffee has the sage and charcoal ones. Online you can also use code "
                "EMBER10 for 10% off until the end of the month." + _SIG,
                html=True,
            ),
            t("emma", "Perfect, popped into Stockbridge and got the sage one. Love it!"),
        ),
    ),
    Thread(
        "email",
        lang="de",
        subject="Lieferung seit zwei Wochen unterwegs",
        turns=(
            t(
                "nina",
                "Guten Tag,\n\nmeine Bestellung PC-10617 (Winter Parley Blend) ist seit zwei Wochen "
                "unterwegs und die Sendungsverfolgung zeigt seit dem 4. November nichts Neues. Können Sie "
                "bitte nachsehen?\n\nMit freundlichen Grüßen\nNina Schulz\nBerlin",
                parent=None,
            ),
            t(
                BRAND,
                "Hallo Nina,\n\nentschuldigen Sie die Verzögerung. Das Paket hing im Zoll in Leipzig "
                "fest; wir haben heute kostenlos ein neues Paket per Express verschickt.\n\nViele Grüße\n"
                "Mara\nParley Coffee",
            ),
            t(
                "nina",
                "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 30. November nicht im "
                "Büro und habe nur eingeschränkt Zugriff auf meine E-Mails. In dringenden Fällen wenden Sie "
                "sich bitte an office@example.com.\n\nNina Schulz",
                auto_reply=True,
            ),
        ),
    ),
    Thread(
        "email",
        lang="ja",
        subject="日本への発送について",
        turns=(
            t(
                "keiko",
                "こんにちは。\n\n東京に住んでいます。ウィンター・パーリー・ブレンドを日本に発送して"
                "いただくことは可能でしょうか？送料はいくらですか？\n\nよろしくお願いいたします。\n田中 恵子",
                parent=None,
            ),
            t(
                BRAND,
                "Hello Keiko,\n\nThank you for your message! Yes, we ship to Japan: delivery to "
                "Tokyo takes 5-7 working days and costs £9.90, free over £60.\n\n"
                "ご注文をお待ちしております。" + _SIG,
                lang="en",
            ),
        ),
    ),
    Thread(
        "email",
        lang="de",
        subject="Rechnung für Bestellung PC-10555",
        turns=(
            t(
                "jonas",
                "Hallo,\n\nkönnten Sie mir bitte eine Rechnung mit ausgewiesener Mehrwertsteuer für "
                "die Bestellung PC-10555 schicken? Ich brauche sie für meine Firma in München.\n\nDanke und "
                "Gruß\nJonas Weber",
                parent=None,
            ),
            t(
                BRAND,
                "Hallo Jonas,\n\nanbei die Rechnung als PDF.\n\nViele Grüße\nMara\nParley Coffee",
                attachment=("Rechnung-PC-10555.pdf", "application/pdf"),
            ),
        ),
    ),
    Thread(
        "email",
        subject="Press enquiry: Parley Coffee for our winter gift guide",
        turns=(
            t(
                "victor",
                "Hi,\n\nI'm putting together the winter gift guide for Home & Table magazine and "
                "would like to include the Tidepool cold brew kit. Could you send high-res images and the "
                "UK RRP? We're also comparing it with the Brewster & Co Chill Kit, so any specs on "
                "capacity and steep time would help.\n\nVictor Hale\nHome & Table",
                parent=None,
            ),
            t(
                BRAND,
                "Hi Victor,\n\nThanks for thinking of us! The Tidepool kit is £39 RRP, 1.2 litre "
                "capacity, 12-18 hour steep. Press images are at "
                "https://parley-coffee.example.com/press/tidepool. Happy to send a sample too." + _SIG,
            ),
            t("victor", "Sample would be great, please send to the office address in my signature. Thanks!"),
        ),
    ),
    Thread(
        "email",
        subject="Collaboration idea",
        turns=(
            t(
                "rachel",
                "Hey Parley team!\n\nI run @rachelbrews (48k followers, mostly home espresso in "
                "Austin). I've been using the Aurora X2 for two months and honestly it beats my old "
                "Grindhaus G5. Would you be interested in a sponsored video series for the holidays?\n\n"
                "Rachel",
                parent=None,
            ),
            t(
                BRAND,
                "Hi Rachel,\n\nWe've seen your videos and love them! Our marketing team will reach "
                "out this week with a brief for December." + _SIG,
            ),
        ),
    ),
    Thread(
        "email",
        subject="Unsubscribe me NOW",
        turns=(
            t(
                "paul",
                "I have unsubscribed THREE times and I still get your marketing emails every single "
                "day. This is illegal under GDPR. Remove paul.grant@example.com from every list you "
                "have.",
                parent=None,
            ),
            t(
                BRAND,
                "Hi Paul,\n\nI'm sorry, you're right and this should not have happened. Your address "
                "was on an old list that our unsubscribe link didn't reach. It has now been removed from "
                "all lists, and I've confirmed it myself." + _SIG,
            ),
        ),
    ),
    Thread(
        "email",
        subject="Aurora X2 motor burnt out after 5 weeks",
        turns=(
            t(
                "george",
                "The motor on my Aurora X2 died this morning with a burning smell. Five weeks "
                "old. For £189 I expected far better. I want a full refund, not a repair.\n\nGeorge "
                "Abbott\nOrder PC-10391",
                parent=None,
            ),
            t(
                BRAND,
                "Hi George,\n\nThat sounds worrying, please keep it unplugged. I've arranged a courier "
                "to collect it on Monday and issued a full refund to your original payment method." + _SIG,
            ),
            t("george", "Fine. Refund received. I'll be going back to my Brewster & Co grinder though."),
        ),
    ),
    Thread(
        "email",
        subject="Best beans I've had in years",
        turns=(
            t(
                "linda",
                "Just wanted to say the Huila Decaf is incredible. I'm pregnant and had given up on "
                "decaf tasting like anything, but this is chocolatey and sweet. Thank you!\n\nLinda",
                parent=None,
            ),
            t(
                BRAND,
                "Linda, this made the whole team's day. Congratulations! We've passed your note to "
                "our roaster, Iñaki, who sourced the Huila lot himself." + _SIG,
            ),
        ),
    ),
    Thread(
        "email",
        lang="pt",
        subject="Cartão-presente não funciona",
        turns=(
            t(
                "rafael",
                "Olá,\n\nRecebi um cartão-presente de £50 da Parley Coffee, mas o código "
                "GIFT-7QX2-LM9P dá erro no checkout. Podem verificar?\n\nObrigado,\nRafael Costa",
                parent=None,
            ),
            t(
                BRAND,
                "Olá Rafael,\n\nPedimos desculpa! O cartão ainda não tinha sido ativado pela loja de "
                "Lisboa. Já está ativo e pode usá-lo agora.\n\nCumprimentos,\nMara\nParley Coffee",
            ),
            t("rafael", "Funcionou, obrigado! Já encomendei o Tidepool."),
        ),
    ),
    Thread(
        "email",
        subject="Is the Huila decaf Swiss Water processed?",
        turns=(
            t(
                "mei",
                "Hi, quick question: is the Huila Decaf decaffeinated with the Swiss Water process "
                "or with a solvent? Couldn't find it on the product page.\n\nMei",
                parent=None,
            ),
            t(
                BRAND,
                "Hi Mei,\n\nIt's sugarcane (ethyl acetate) process, done in Colombia close to the "
                "farm. No methylene chloride. We'll add that to the product page, thanks for asking!" + _SIG,
            ),
        ),
    ),
    Thread(
        "email",
        subject="Change delivery address for PC-10702",
        turns=(
            t(
                "ann",
                "Hi again! I just placed order PC-10702 but it's going to my old flat. Could you "
                "change the address to 14 Alder Road, Leeds LS6 2AB before it ships?\n\nThanks, Ann",
                parent=None,
            ),
            t(BRAND, "Hi Ann,\n\nCaught it in time, the address is updated and it ships tomorrow." + _SIG),
        ),
    ),
    Thread(
        "email",
        subject="Grinder settings for V60?",
        turns=(
            t(
                "raj",
                "Hi, what setting on the Aurora X2 would you start with for a V60? I keep getting "
                "bitter cups with the Night Owl roast.\n\nRaj",
                parent=None,
            ),
            t(
                BRAND,
                "Hi Raj,\n\nStart around 18 on the dial and go coarser by 2 steps if it's still "
                "bitter. Dark roasts like Night Owl also like slightly cooler water, about 90°C." + _SIG,
            ),
        ),
    ),
    Thread(
        "email",
        subject="Missing item in order PC-10734",
        turns=(
            t(
                "emma",
                "My order PC-10734 arrived without the Tidepool filter bags, only the jar. The "
                "packing slip lists them. Could you send them?\n\nEmma Hughes",
                parent=None,
            ),
            t(
                BRAND,
                "Hi Emma,\n\nApologies! A pack of 10 filter bags is on its way with first-class post." + _SIG,
            ),
        ),
    ),
)
