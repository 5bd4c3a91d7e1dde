"""What a reply must be to go out on X, checked purely before anything is sent.

* a public reply starts with ``@<author>`` (added when the agent did not write it; not when
  following up the brand's own tweet) and fits X's weighted length: 280, counted by
  twitter-text's v3 rules (URLs 23, most CJK and emoji 2); :func:`tweet_text` says by how much
  it is over (``InvalidInput``);
* a DM answers a DM, with 1 to 10,000 characters.

Kept apart from ``replier`` (which speaks to X through tweepy) so the API and the flow can
check drafts without loading the client libraries.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from channels.base import ReplyProblem
from channels.twitter.fields import DM_FLAG
from hub.errors import InvalidInput
from hub.models import Direction, Reply

if TYPE_CHECKING:
    from twitter_text import ParsedResult

__all__ = ["MAX_DM_CHARS", "MAX_WEIGHTED_LENGTH", "check_reply", "tweet_text", "weighted_length"]

#: X's limit for a tweet, in twitter-text weighted characters
MAX_WEIGHTED_LENGTH = 280
#: X's limit for a DM, in characters
MAX_DM_CHARS = 10_000
_LEADING_MENTIONS = re.compile(r"^\s*(?:[@＠]\w{1,20}\s+)*")


def _parse_tweet(text: str) -> ParsedResult:
    # twitter-text's parser loads its emoji tables through pkg_resources (about 18 MB): only
    # a process that checks replies pays for it, never the ingest flow.
    from twitter_text import parse_tweet

    return parse_tweet(text)


def weighted_length(text: str) -> int:
    """The length X counts for ``text`` (twitter-text v3: URLs 23, CJK and emoji 2...)."""
    return int(_parse_tweet(text).weightedLength)


def _mentioned_first(text: str, handle: str) -> bool:
    lead = _LEADING_MENTIONS.match(text)
    names = re.findall(r"[@＠](\w{1,20})", lead.group(0)) if lead else []
    return handle.lower() in (name.lower() for name in names)


def tweet_text(reply: Reply) -> str:
    """The text to post for ``reply``: a leading ``@mention`` of the answered author added when
    missing, checked against X's rules. Raises ``InvalidInput`` (empty, over 280 weighted
    characters, characters X refuses) naming the problem and where."""
    text = reply.text.strip()
    if not text:
        raise InvalidInput("a reply on X needs some text", position=0)
    parent = reply.in_reply_to
    author = parent.author if parent is not None else None
    answering = parent is not None and parent.direction is Direction.IN
    if answering and author is not None and author.handle and not _mentioned_first(text, author.handle):
        text = f"@{author.handle} {text}"
    result = _parse_tweet(text)
    length = int(result.weightedLength)
    if length > MAX_WEIGHTED_LENGTH:
        raise InvalidInput(
            f"the reply is {length} characters as X counts them (URLs count 23, most emoji and CJK 2); "
            f"the limit is {MAX_WEIGHTED_LENGTH}: shorten it by {length - MAX_WEIGHTED_LENGTH}",
            position=int(result.validRangeEnd) + 1,
            expected=[f"at most {MAX_WEIGHTED_LENGTH} weighted characters"],
        )
    if not result.valid:
        raise InvalidInput("the reply contains characters X refuses (control or invalid characters)")
    return text


def check_reply(reply: Reply) -> list[ReplyProblem]:
    """What keeps ``reply`` from going out on X (pure): a tweet or DM to answer, a public reply
    within 280 weighted characters (the leading ``@mention`` counted, as it is added), a DM
    within 10,000 characters, and the kind matching the answered message (DMs answer DMs)."""
    parent = reply.in_reply_to
    if parent is None:
        return [ReplyProblem("in_reply_to", "a reply on X answers a tweet or a DM: name one")]
    is_dm = DM_FLAG in parent.flags
    if reply.private is True and not is_dm:
        return [
            ReplyProblem(
                "private",
                "a DM in answer to a public tweet is not supported: reply publicly, or answer "
                "the person's DM when they send one",
            )
        ]
    if reply.private is False and is_dm:
        return [ReplyProblem("private", "this answers a DM: the answer is a DM too; leave 'private' out")]
    if is_dm:
        length = len(reply.text.strip())
        if not 0 < length <= MAX_DM_CHARS:
            return [ReplyProblem("text", f"a DM on X needs 1 to {MAX_DM_CHARS} characters, not {length}")]
        return []
    try:
        tweet_text(reply)
    except InvalidInput as exc:
        return [ReplyProblem("text", str(exc))]
    return []
