"""The fictional cast of the demo: the brand "Parley Coffee" and its customers.

All names are invented; addresses use example.org/example.com and phone numbers the ranges
kept for drama (+44 7700 900xxx, +1 NXX 555-01xx), so nothing here reaches a real person.
The first block of people appear on two channels with the same email or phone, so the CRM
has contacts to merge.
"""

from __future__ import annotations

from cli.demo.brand import BRAND_EMAIL, BRAND_NAME, BRAND_PHONE, BRAND_TWITTER, FB_PAGE
from tools.demo._script import Person

__all__ = ["BRAND_EMAIL", "BRAND_NAME", "BRAND_PHONE", "BRAND_TWITTER", "FB_PAGE", "PEOPLE"]

_PEOPLE = [
    # --- on two channels: same email (mail + Facebook / forum) or same phone (SMS + Twitter) ---
    Person("ann", "Ann Whitlock", email="ann.whitlock@example.org"),
    Person("raj", "Raj Patel", email="raj.patel@example.com"),
    Person("lucia", "Lucía Fernández", email="lucia.fernandez@example.org", tz=1),
    Person("chloe", "Chloé Martin", email="chloe.martin@example.com", tz=1),
    Person("emma", "Emma Hughes", email="emma.hughes@example.org"),
    Person("nina", "Nina Schulz", email="nina.schulz@example.com", tz=1),
    Person("keiko", "Keiko Tanaka", email="keiko.tanaka@example.com", tz=9),
    Person("jonas", "Jonas Weber", email="jonas.weber@example.org", tz=1),
    Person("sam", "Sam Okafor", email="sam.okafor@example.org"),
    Person("tom", "Tom Becker", phone="+447700900231", twitter="tombrews"),
    Person("priya", "Priya Nair", phone="+447700900412", twitter="priyaspills"),
    Person("marcus", "Marcus Lee", phone="+12025550142", twitter="marcuslee_dc", tz=-5),
    Person("dave", "Dave Kowalski", phone="+13125550177", twitter="davek_chi", tz=-6),
    Person("olu", "Olu Adeyemi", phone="+447700900644", twitter="olu_makes"),
    Person("beatriz", "Beatriz Souza", phone="+447700900518"),
    Person("hannah", "Hannah Brooks", phone="+447700900733"),
    # --- one channel each ---
    Person("jess", "Jess Carter", twitter="jesscarter"),
    Person("mike", "Mike Dunn", twitter="mikedunn_ldn"),
    Person("carla", "Carla Reyes", twitter="carlareyes_mx"),
    Person("felipe", "Felipe Rocha", twitter="feliperocha"),
    Person("lena", "Lena Vogel", twitter="lenavogel"),
    Person("yuki", "Yuki Sato", twitter="yuki_coffee_log"),
    Person("gabe", "Gabe Morris", twitter="gabemorris"),
    Person("zoe", "Zoe Lambert", twitter="zoelambert_"),
    Person("ahmed", "Ahmed Karim", twitter="ahmedk"),
    Person("sofia", "Sofia Russo", twitter="sofiarusso"),
    Person("ben", "Ben Harper", twitter="benharper_ux"),
    Person("ines", "Inês Carvalho", twitter="inescarvalho"),
    Person("pierre", "Pierre Dubois", twitter="pdubois"),
    Person("kate", "Kate Sullivan", twitter="katesullivan"),
    Person("leo", "Leo Fischer", twitter="leofischer"),
    Person("maya", "Maya Singh", twitter="mayasingh"),
    Person("dan", "Dan O'Neill", twitter="danoneill"),
    Person("rosa", "Rosa Jiménez", twitter="rosajimenez"),
    Person("beanscene", "Bean Scene Weekly", twitter="beanscenewkly"),
    Person("techcup", "TechCup Reviews", twitter="techcupreviews"),
    Person("marketwatcher", "Coffee Markets Daily", twitter="coffeemktsdaily"),
    Person("grace", "Grace Kim"),
    Person("owen", "Owen Price"),
    Person("fatima", "Fatima Zahra"),
    Person("luke", "Luke Ward"),
    Person("isabel", "Isabel Moreno"),
    Person("henrik", "Henrik Larsen"),
    Person("amelie", "Amélie Laurent"),
    Person("joao", "João Pereira"),
    Person("claire", "Claire Donovan"),
    Person("victor", "Victor Hale", email="v.hale@example.com"),
    Person("rachel", "Rachel Stein", email="rachel.stein@example.org", tz=-5),
    Person("rafael", "Rafael Costa", email="rafael.costa@example.com"),
    Person("mei", "Mei Chen", email="mei.chen@example.org"),
    Person("paul", "Paul Grant", email="paul.grant@example.com"),
    Person("linda", "Linda Park", email="linda.park@example.org"),
    Person("george", "George Abbott", email="george.abbott@example.com"),
    Person("espresso_nerd", "espresso_nerd"),
    Person("milkfrother", "milkfrother"),
    Person("aeropresslover", "aeropresslover"),
    Person("darkroast_dan", "darkroast_dan"),
    Person("kaffeeklatsch", "kaffeeklatsch"),
    Person("v60vic", "v60vic"),
    Person("homebarista_h", "homebarista_h"),
    Person("sara", "Sara Lindqvist", phone="+447700900808"),
    Person("kwame", "Kwame Mensah", phone="+447700900856"),
]

PEOPLE: dict[str, Person] = {p.key: p for p in _PEOPLE}
