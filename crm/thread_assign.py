"""One batch of thread links applied to the thread tables, inside the caller's transaction.

The tables hold a forest of thread *nodes* (one per message or per id a message names) grouped
into *components*, each stored under its current conversation id. A component's conversation
is that of its **root**: the node no message has given a parent. Which nodes have a parent is
a fact about the set of messages seen, not their order, so the root (and with it every
conversation id) ends the same whatever order, batching or process split the messages took:

* a message names its ancestry root first (``ThreadLink.chain``): every named id but the first
  has a parent (the one named before it), and so does the message itself when it names any;
* when a component has several parentless nodes (inconsistent ancestry) the smallest key wins;
  when it has none (a reply loop) the smallest key of the whole component does.

Components only ever merge. When a merge or a new parent changes a component's root, every
conversation it was stored under becomes an alias of the new one (``conversation_aliases``,
not yet ``moved``), which tells the knowledge-base writers which documents to move.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from crm.rollups import chunks
from crm.schema import conversation_aliases, thread_nodes
from hub.models import conversation_id_for, utcnow

__all__ = ["ThreadAssignment", "ThreadLink", "assign_links"]


@dataclass(frozen=True)
class ThreadLink:
    """What one message says about its place in a thread (the thread step derives it).

    ``chain`` holds the native ids the message names on its channel and account, thread root
    first and parent last (a channel's thread key, references, the replied-to id). ``opens``
    is False for bounces and auto-replies: they join a thread already known or none, never
    open one. ``follows`` (only read when ``chain`` is empty) is an earlier message whose
    conversation this one continues (the email subject fallback).
    """

    channel: str
    account: str
    native_id: str
    chain: tuple[str, ...] = ()
    opens: bool = True
    follows: str | None = None

    @property
    def key(self) -> str:
        """The message's node key: the conversation id it would have as a thread root."""
        return conversation_id_for(self.channel, self.account, self.native_id)

    def named_keys(self) -> list[str]:
        """Node keys of the named ids, root first, without self-references or repeats."""
        names = dict.fromkeys(n for n in self.chain if n and n != self.native_id)
        return [conversation_id_for(self.channel, self.account, n) for n in names]


@dataclass(frozen=True)
class ThreadAssignment:
    """What :func:`assign_links` decided for one batch of links."""

    #: link key -> the conversation its message belongs to (None: a bounce that joined nothing)
    conversations: dict[str, str | None] = field(default_factory=dict)
    #: conversations this batch folded away -> the conversation each one joined
    folds: dict[str, str] = field(default_factory=dict)


@dataclass
class _Node:
    #: the stored conversation, or (for a node new in this batch) its own key
    component: str
    has_parent: bool
    seen: bool
    stored: bool
    changed: bool = False


class _UnionFind:
    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        root = item
        while (up := self._parent.get(root, root)) != root:
            root = up
        while item != root:  # path compression
            self._parent[item], item = root, self._parent.get(item, item)
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self._parent[max(ra, rb)] = min(ra, rb)


def _load(conn: Connection, keys: Iterable[str]) -> dict[str, _Node]:
    nodes: dict[str, _Node] = {}
    c = thread_nodes.c
    for part in chunks(sorted(set(keys))):
        query = select(c.key, c.conversation_id, c.has_parent, c.seen).where(c.key.in_(part))
        for key, conversation_id, has_parent, seen in conn.execute(query):
            nodes[key] = _Node(conversation_id, bool(has_parent), bool(seen), stored=True)
    return nodes


def _stored_keys(conn: Connection, conversation_ids: Sequence[str], *, parentless: bool) -> dict[str, str]:
    """key -> conversation of the stored nodes of ``conversation_ids`` (only parentless ones,
    or else the smallest key of each conversation)."""
    c = thread_nodes.c
    found: dict[str, str] = {}
    for part in chunks(sorted(set(conversation_ids))):
        if parentless:
            query = select(c.key, c.conversation_id).where(
                c.conversation_id.in_(part), c.has_parent.is_(False)
            )
        else:
            query = select(func.min(c.key), c.conversation_id).where(c.conversation_id.in_(part))
            query = query.group_by(c.conversation_id)
        found.update((key, conversation_id) for key, conversation_id in conn.execute(query))
    return found


class _Batch:
    """The in-memory side of one assignment: nodes touched, components joined."""

    def __init__(self, nodes: dict[str, _Node]) -> None:
        self.nodes = nodes
        self.union = _UnionFind()
        #: components whose root may have changed
        self.dirty: set[str] = set()

    def node(self, key: str) -> _Node:
        if key not in self.nodes:
            self.nodes[key] = _Node(key, has_parent=False, seen=False, stored=False, changed=True)
            self.dirty.add(key)  # a new parentless node may be the root
        return self.nodes[key]

    def give_parent(self, key: str) -> None:
        node = self.node(key)
        if not node.has_parent:
            node.has_parent = node.changed = True
            self.dirty.add(node.component)  # it may have been the root

    def join(self, keys: Sequence[str]) -> None:
        components = {self.nodes[k].component for k in keys}
        first = min(components)
        for other in components - {first}:
            if self.union.find(first) != self.union.find(other):
                self.union.union(first, other)
                self.dirty.update((first, other))

    def apply(self, link: ThreadLink) -> bool:
        """Record ``link``; False when it is a bounce with nothing to join (no node made)."""
        own = link.key
        if own in self.nodes and self.nodes[own].seen:
            return True  # a replay keeps its conversation
        named = link.named_keys()
        follows = None
        if not named and link.follows and link.follows != link.native_id:
            follows = conversation_id_for(link.channel, link.account, link.follows)
            follows = follows if follows in self.nodes else None  # forgotten: start afresh
        if not link.opens and not any(k in self.nodes for k in (own, *named, follows) if k):
            return False
        for position, key in enumerate(named):
            self.node(key)
            if position:
                self.give_parent(key)
        node = self.node(own)
        if not node.seen:
            node.seen = node.changed = True
        if named or follows:
            self.give_parent(own)
        self.join([own, *named, *([follows] if follows else [])])
        return True


def _roots(conn: Connection, batch: _Batch) -> dict[str, str]:
    """Union-find class -> the conversation (root node key) of each class with a dirty member."""
    dirty = {batch.union.find(c) for c in batch.dirty}
    members: dict[str, list[str]] = {cls: [] for cls in dirty}
    stored: dict[str, set[str]] = {cls: set() for cls in dirty}
    for key, node in batch.nodes.items():
        cls = batch.union.find(node.component)
        if cls in dirty:
            members[cls].append(key)
            if node.stored:
                stored[cls].add(node.component)
    class_of = {component: cls for cls, components in stored.items() for component in components}
    candidates: dict[str, set[str]] = {cls: set() for cls in dirty}
    for key, component in _stored_keys(conn, list(class_of), parentless=True).items():
        if key not in batch.nodes:  # nodes in memory say for themselves (below)
            candidates[class_of[component]].add(key)
    for cls, keys in members.items():
        candidates[cls].update(k for k in keys if not batch.nodes[k].has_parent)
    roots = {cls: min(keys) for cls, keys in candidates.items() if keys}
    loops = [cls for cls in dirty if cls not in roots]
    if loops:  # every node has a parent: a reply loop; the smallest key of the loop decides
        wanted = [component for cls in loops for component in stored[cls]]
        smallest = _stored_keys(conn, wanted, parentless=False)
        for cls in loops:
            roots[cls] = min({k for k, c in smallest.items() if c in stored[cls]} | set(members[cls]))
    return roots


def _write(conn: Connection, batch: _Batch, roots: dict[str, str]) -> dict[str, str]:
    """Store the batch's nodes and folds; returns the folds (old conversation -> new)."""
    n, a = thread_nodes.c, conversation_aliases.c

    def current(node: _Node) -> str:
        cls = batch.union.find(node.component)
        return roots.get(cls, cls)

    folds = {
        node.component: current(node)
        for node in batch.nodes.values()
        if node.stored and current(node) != node.component
    }
    for old, new in sorted(folds.items()):
        conn.execute(update(thread_nodes).where(n.conversation_id == old).values(conversation_id=new))
        conn.execute(update(conversation_aliases).where(a.into_id == old).values(into_id=new))
    # A conversation folded before can be a root again (reply loops, conflicting ancestry):
    # its own alias went to itself above and must not stay.
    for part in chunks(sorted(set(folds.values()))):
        conn.execute(delete(conversation_aliases).where(a.conversation_id.in_(part)))
    if folds:
        now = utcnow()
        aliases = [
            {"conversation_id": o, "into_id": i, "moved": False, "created_at": now} for o, i in folds.items()
        ]
        conn.execute(insert(conversation_aliases), aliases)
    rows = [
        {"key": k, "conversation_id": current(v), "has_parent": v.has_parent, "seen": v.seen}
        for k, v in batch.nodes.items()
        if not v.stored
    ]
    if rows:
        conn.execute(insert(thread_nodes), rows)
    changed = [
        {"k": k, "conversation_id": current(v), "has_parent": v.has_parent, "seen": v.seen}
        for k, v in batch.nodes.items()
        if v.stored and v.changed
    ]
    if changed:
        conn.execute(update(thread_nodes).where(n.key == bindparam("k")), changed)
    return folds


def assign_links(conn: Connection, links: Sequence[ThreadLink]) -> ThreadAssignment:
    """Apply ``links`` (in order) to the thread tables; the conversation of every link's message.

    Must run in a transaction that no other assignment touching the same channel and account
    can interleave with (``crm.threads.ThreadStore`` takes the locks). Replays change nothing.
    """
    keys = [k for link in links for k in (link.key, *link.named_keys())]
    keys += [conversation_id_for(link.channel, link.account, link.follows) for link in links if link.follows]
    batch = _Batch(_load(conn, keys))
    placed = {link.key for link in links if batch.apply(link)}
    roots = _roots(conn, batch)
    folds = _write(conn, batch, roots)
    conversations: dict[str, str | None] = {}
    for link in links:
        if link.key in placed:
            cls = batch.union.find(batch.nodes[link.key].component)
            conversations[link.key] = roots.get(cls, cls)
        else:
            conversations[link.key] = None
    return ThreadAssignment(conversations, folds)
