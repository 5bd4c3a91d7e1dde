"""Write the bundled demo dataset, ``cli/demo/demo.jsonl``: ``python -m tools.demo.generate``.

Deterministic: a seeded ``random.Random`` decides every time and id, no set or hash order is
involved, MIME boundaries are fixed, so regenerating gives byte-identical output under any
``PYTHONHASHSEED``. Stdlib only and no network, so it runs on a bare interpreter.

The scripts (``_email``, ``_twitter``, ``_facebook``, ``_feeds``, ``_sms``) hold the words;
this module gives them ids, authors and times in the 30 days before 2026-11-20 and writes one
envelope per line, oldest first: email as ``rfc822`` text, tweets as X API v2 pages
(``x.v2.tweet_page``, parsed by ``channels.twitter``; built by ``_x``), every other channel as
``parley.message`` payloads (see ``channels/normalised.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cli.demo import DEMO_PATH
from tools.demo._cast import BRAND_EMAIL, BRAND_NAME, BRAND_PHONE, BRAND_TWITTER, FB_PAGE, PEOPLE
from tools.demo._email import EMAIL_THREADS
from tools.demo._facebook import FACEBOOK_THREADS
from tools.demo._feeds import FEED_THREADS
from tools.demo._rfc822 import Mail, render_mail
from tools.demo._script import BRAND, Thread
from tools.demo._sms import SMS_THREADS
from tools.demo._twitter import TWITTER_THREADS
from tools.demo._x import XUser, XWriter

__all__ = ["DEFAULT_SEED", "WINDOW_END", "WINDOW_START", "build_envelopes", "main", "render"]

DEFAULT_SEED = 20261120
WINDOW_END = datetime(2026, 11, 20, tzinfo=UTC)
WINDOW_START = WINDOW_END - timedelta(days=30)
ACCOUNT = "demo"
EMAIL_ACCOUNT = "support"
FB_PAGE_ID = "104729384756102"
_TWITTER_EPOCH_MS = 1288834974657
#: the demo brand's X user id (``for_user_id`` of its pages: its tweets are outbound)
BRAND_X_ID = "1029384756"
_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 1, 2, 4, 7, 8, 8, 8, 9, 9, 8, 8, 8, 8, 9, 10, 10, 8, 5, 2)

Record = tuple[datetime, int, dict[str, Any]]
#: the envelope kind of X API v2 tweet pages (``channels.twitter.parse.TWEET_PAGE_KIND``)
X_PAGE_KIND = "x.v2.tweet_page"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _numeric_id(key: str, digits: int) -> str:
    # From the key, not the rng, so adding a script never renumbers existing people.
    value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    return str(10 ** (digits - 1) + value % (9 * 10 ** (digits - 1)))


def _x_user(key: str, handle: str, name: str) -> XUser:
    # Ids and follower counts come from the key, not the rng: the other channels' times stay put.
    followers = int(_numeric_id(f"followers:{key}", 6)) % (60_000 if key in _X_PUBLISHERS else 2_500)
    return XUser(
        id=_numeric_id(f"tw:{key}", 10),
        username=handle,
        name=name,
        verified=key in _X_PUBLISHERS,
        followers=followers,
    )


#: accounts of the cast that are publications (verified, more followers)
_X_PUBLISHERS = frozenset({"beanscene", "techcup", "marketwatcher"})
X_BRAND = XUser(id=BRAND_X_ID, username=BRAND_TWITTER, name=BRAND_NAME, verified=True, followers=48_210)
X_IDS_BY_HANDLE = {
    BRAND_TWITTER.lower(): BRAND_X_ID,
    **{p.twitter.lower(): _x_user(p.key, p.twitter, p.name).id for p in PEOPLE.values() if p.twitter},
}


def _schedule(thread: Thread, rng: random.Random, email: bool) -> list[datetime]:
    """Times for each turn: brand answers within hours, customers come back within a day."""
    # Most people write in the day and evening (UTC here: the cast is mostly in Europe).
    hour = rng.choices(range(24), weights=_HOUR_WEIGHTS)[0]
    start = WINDOW_START + timedelta(days=rng.randrange(30), hours=hour, seconds=rng.uniform(0, 3600))
    times = [start]
    for index, turn in enumerate(thread.turns[1:], start=1):
        if turn.who == BRAND:
            minutes = rng.uniform(40, 20 * 60) if email else rng.uniform(4, 5 * 60)
        elif turn.parent not in (-1, index - 1):
            minutes = rng.uniform(10, 36 * 60)  # someone else joining the thread
        else:
            minutes = rng.uniform(60, 48 * 60) if email else rng.uniform(2, 12 * 60)
        times.append(times[-1] + timedelta(minutes=minutes))
    overshoot = times[-1] - (WINDOW_END - timedelta(minutes=30))
    if overshoot > timedelta(0):
        shift = overshoot + timedelta(minutes=rng.uniform(30, 600))
        times = [moment - shift for moment in times]
    return [moment.replace(microsecond=0) for moment in times]


def _parents(thread: Thread) -> list[int | None]:
    return [
        None if turn.parent is None else (index - 1 if turn.parent == -1 else turn.parent)
        for index, turn in enumerate(thread.turns)
    ]


def _customer(thread: Thread) -> str:
    for turn in thread.turns:
        if turn.who != BRAND:
            return turn.who
        if "to" in turn.opts:
            return str(turn.opts["to"])
    raise ValueError("a thread needs a customer")


class _Builder:
    """Turns scripts into envelope records; holds the rng and the per-channel id counters."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.order = 0
        self.fb_post = 1_043_000_000
        self.fb_comment = 5_217_000_000
        self.feed_comment = 1800
        self.x = XWriter(X_BRAND, X_IDS_BY_HANDLE)

    def _record(self, created: datetime, envelope: dict[str, Any]) -> Record:
        self.order += 1
        return created, self.order, envelope

    def _received(self, created: datetime) -> str:
        return _iso(created + timedelta(seconds=self.rng.randint(1, 90)))

    def _message(
        self,
        thread: Thread,
        index: int,
        created: datetime,
        payload: dict[str, Any],
    ) -> Record:
        turn = thread.turns[index]
        base: dict[str, Any] = {"native_id": payload.pop("native_id"), "text": turn.text}
        envelope = {
            "channel": thread.channel,
            "kind": "parley.message",
            "account": ACCOUNT,
            "received_at": self._received(created),
            "payload": {
                **base,
                "created_at": _iso(created),
                **payload,
                "direction": "out" if turn.who == BRAND else "in",
            },
        }
        return self._record(created, envelope)

    def twitter(self, thread: Thread) -> list[Record]:
        """The thread's tweets as X API v2 pages (``tools.demo._x``), one per tweet."""
        times, parents, ids = _schedule(thread, self.rng, False), _parents(thread), []
        replies = [sum(parent == index for parent in parents) for index in range(len(thread.turns))]
        records = []
        for index, turn in enumerate(thread.turns):
            ms = int(times[index].timestamp() * 1000) + self.rng.randint(0, 999)
            ids.append(str(((ms - _TWITTER_EPOCH_MS) << 22) | (self.order % 4096)))
            if turn.who == BRAND:
                author = X_BRAND
                source = "Parley Helpdesk"
            else:
                person = PEOPLE[turn.who]
                assert person.twitter, f"{person.key} has no Twitter handle"
                author = _x_user(person.key, person.twitter, person.name)
                source = self.rng.choice(["Twitter for iPhone", "Twitter for Android", "Twitter Web App"])
            parent = parents[index]
            metrics = {
                "retweet_count": 0,
                "reply_count": replies[index],
                "like_count": int(self.rng.paretovariate(1.2)) - 1,
                "quote_count": 0,
            }
            metrics["retweet_count"] = int(self.rng.paretovariate(1.8)) - 1
            payload = self.x.page(
                tweet_id=ids[index],
                author=author,
                text=turn.text,
                created=times[index],
                conversation_id=ids[0],
                parent_id=ids[parent] if parent is not None else None,
                lang=turn.lang or thread.lang,
                metrics=metrics,
                source=source,
            )
            envelope = {
                "channel": "twitter",
                "kind": X_PAGE_KIND,
                "account": ACCOUNT,
                "received_at": self._received(times[index]),
                "payload": payload,
            }
            records.append(self._record(times[index], envelope))
        return records

    def facebook(self, thread: Thread) -> list[Record]:
        times, parents, ids, post = _schedule(thread, self.rng, False), _parents(thread), [], ""
        records = []
        for index, turn in enumerate(thread.turns):
            parent = parents[index]
            if parent is None:
                self.fb_post += self.rng.randint(3, 4000)
                post = str(self.fb_post)
                ids.append(f"{FB_PAGE_ID}_{post}")
                url = f"https://facebook.example.com/{FB_PAGE}/posts/{post}"
                kind = "post"
            else:
                self.fb_comment += self.rng.randint(3, 9000)
                ids.append(f"{post}_{self.fb_comment}")
                url = f"https://facebook.example.com/{FB_PAGE}/posts/{post}?comment_id={self.fb_comment}"
                kind = "comment" if parents[parent] is None else "reply"
            if turn.who == BRAND:
                author = {"native_id": FB_PAGE_ID, "handle": FB_PAGE, "display_name": BRAND_NAME}
            else:
                person = PEOPLE[turn.who]
                author = {"native_id": _numeric_id(f"fb:{person.key}", 16), "display_name": person.name}
                for field in ("email", "phone"):
                    if getattr(person, field):
                        author[field] = getattr(person, field)
            payload: dict[str, Any] = {"native_id": ids[index]}
            if parent is not None:
                payload["in_reply_to"] = ids[parent]
            payload |= {
                "thread_key": ids[0],
                "url": url,
                "metadata": {
                    "type": kind,
                    "post_id": ids[0],
                    "reactions": int(self.rng.paretovariate(1.1)) - 1,
                },
                "author": author,
            }
            records.append(self._message(thread, index, times[index], payload))
        return records

    def sms(self, thread: Thread) -> list[Record]:
        times, parents = _schedule(thread, self.rng, False), _parents(thread)
        phone = PEOPLE[_customer(thread)].phone
        assert phone, f"sms thread with {_customer(thread)} needs a phone"
        ids = [f"SM{self.rng.getrandbits(128):032x}" for _ in thread.turns]
        records = []
        for index, turn in enumerate(thread.turns):
            mine = turn.who == BRAND
            sender, recipient = (BRAND_PHONE, phone) if mine else (phone, BRAND_PHONE)
            author = {"native_id": sender, "phone": sender}
            if mine:
                author["display_name"] = BRAND_NAME
            payload: dict[str, Any] = {"native_id": ids[index]}
            parent = parents[index]
            if parent is not None:
                payload["in_reply_to"] = ids[parent]
            payload |= {
                "thread_key": phone,
                "metadata": {
                    "from": sender,
                    "to": recipient,
                    "segments": max(1, math.ceil(len(turn.text) / 153)),
                },
                "author": author,
            }
            records.append(self._message(thread, index, times[index], payload))
        return records

    def feeds(self, thread: Thread) -> list[Record]:
        times, parents = _schedule(thread, self.rng, False), _parents(thread)
        meta, forum = thread.meta, thread.meta["kind"] == "forum"
        root_url = f"{meta['site']}/{meta['slug']}"
        host = meta["site"].split("//", 1)[1]
        ids, records = [], []
        for index, turn in enumerate(thread.turns):
            if parents[index] is None:
                ids.append(root_url)
            elif forum:
                ids.append(f"{root_url}/{index + 1}")
            else:
                self.feed_comment += self.rng.randint(1, 40)
                ids.append(f"{root_url}#comment-{self.feed_comment}")
            if turn.who == BRAND:
                handle, name = (
                    ("mara_parley", "Mara (Parley Coffee)") if forum else ("parleyteam", "The Parley Team")
                )
                author = {"native_id": f"{host}/u/{handle}", "handle": handle, "display_name": name}
            else:
                person = PEOPLE[turn.who]
                handle = person.key if person.name == person.key else person.name.split()[0].lower()
                author = {"native_id": f"{host}/u/{handle}", "handle": handle, "display_name": person.name}
                if person.email:
                    author["email"] = person.email
            payload: dict[str, Any] = {"native_id": ids[index]}
            parent = parents[index]
            if parent is None:
                payload["subject"] = thread.subject
            else:
                payload["in_reply_to"] = ids[parent]
            kind = ("topic" if forum else "post") if index == 0 else ("reply" if forum else "comment")
            payload |= {
                "thread_key": ids[0],
                "url": ids[index],
                "metadata": {"feed": meta["feed"], "feed_url": f"{meta['site']}/feed.xml", "type": kind},
                "author": author,
            }
            records.append(self._message(thread, index, times[index], payload))
        return records

    def email(self, thread: Thread) -> list[Record]:
        times, parents = _schedule(thread, self.rng, True), _parents(thread)
        customer = PEOPLE[_customer(thread)]
        assert customer.email and thread.subject
        brand = f"{BRAND_NAME} Support <{BRAND_EMAIL}>"
        them = f"{customer.name} <{customer.email}>"
        ids: list[str] = []
        records = []
        for index, turn in enumerate(thread.turns):
            mine = turn.who == BRAND
            stamp = times[index].strftime("%Y%m%d%H%M%S")
            token = f"{self.rng.getrandbits(48):012x}"
            domain = "parley-coffee.example.com" if mine else "mail." + customer.email.split("@", 1)[1]
            ids.append(f"<{stamp}.{token}@{domain}>")
            parent = parents[index]
            chain: list[str] = []
            cursor = parent
            while cursor is not None:
                chain.insert(0, ids[cursor])
                cursor = parents[cursor]
            local = times[index].astimezone(timezone(timedelta(hours=0 if mine else customer.tz)))
            subject = thread.subject if parent is None else f"Re: {thread.subject}"
            if turn.opts.get("auto_reply"):
                subject = f"Automatische Antwort: {subject}" if thread.lang == "de" else f"Auto: {subject}"
            quoted = None
            if parent is not None:
                author = brand if thread.turns[parent].who == BRAND else them
                quoted = (author, times[parent], thread.turns[parent].text)
            mail = Mail(
                message_id=ids[index],
                sender=brand if mine else them,
                to=them if mine else brand,
                subject=subject,
                date=local,
                body=turn.text,
                boundary=f"=_parley_{token}",
                in_reply_to=ids[parent] if parent is not None else None,
                references=tuple(chain),
                quoted=quoted,
                language=turn.lang or thread.lang,
                html=bool(turn.opts.get("html")),
                attachment=turn.opts.get("attachment"),
                auto_reply=bool(turn.opts.get("auto_reply")),
                mailer="Parley Helpdesk 2.4" if mine else None,
            )
            envelope = {
                "channel": "email",
                "kind": "rfc822",
                "account": EMAIL_ACCOUNT,
                "received_at": self._received(times[index]),
                "payload": render_mail(mail),
            }
            records.append(self._record(times[index], envelope))
        return records


def build_envelopes(seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """Every demo envelope as a JSON-ready dict, oldest first."""
    builder = _Builder(seed)
    plan: Sequence[tuple[Callable[[Thread], list[Record]], Sequence[Thread]]] = (
        (builder.email, EMAIL_THREADS),
        (builder.twitter, TWITTER_THREADS),
        (builder.facebook, FACEBOOK_THREADS),
        (builder.feeds, FEED_THREADS),
        (builder.sms, SMS_THREADS),
    )
    records = [record for build, threads in plan for thread in threads for record in build(thread)]
    # Replay order is arrival order, as a live poller would have seen it.
    records.sort(key=lambda record: (record[2]["received_at"], record[1]))
    return [envelope for _, _, envelope in records]


def render(seed: int = DEFAULT_SEED) -> str:
    """The dataset as JSONL text, one envelope per line."""
    return "".join(json.dumps(envelope, ensure_ascii=False) + "\n" for envelope in build_envelopes(seed))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=DEMO_PATH)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    text = render(args.seed)
    args.output.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {text.count(chr(10))} envelopes to {args.output}")


if __name__ == "__main__":
    main()
