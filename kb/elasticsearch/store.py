"""The Elasticsearch 8 knowledge base: one index for messages, one for conversations.

Index templates carry explicit mappings (``kb.elasticsearch.query``): analysed text with the same
tokenisation, folding and Porter stemming as the embedded backend, keyword fields for every
filter and facet, dates. Documents keep their full pydantic JSON under ``doc`` (not indexed).

Why two indices: messages are what people search and facet; conversations carry triage state
and rollups that change often. A message also carries a denormalised copy of its
conversation's triage state (``conv_status``, ``conv_assignee``, ``conv_queue``, ``conv_tag``)
so ``status:``/``tag:``/``assignee:`` work inside one message query; it is refreshed with
``update_by_query`` when a conversation is created or its triage state changes, from the
state stored at that moment (so the last restate copies the latest state, whoever wrote it).

Conversation read-modify-writes (``update_conversation``, ``save_rollups``) use optimistic
concurrency: the write carries the ``_seq_no``/``_primary_term`` it read (``create`` for a new
document) and is redone from a fresh read on a 409, so a rollup never overwrites an agent's
triage change made after the rollup's read, and vice versa. The same read-then-conditional
write makes the routing projection's version check (``kb.conversations.apply_triage``: never
an older ``triage_version`` over a newer one) atomic.

Writes go through the bulk helpers with retry and backoff on 429 and 5xx. An outage is never
a refusal: a bulk request that fails as a whole, or documents still answered 429/5xx after the
retries, raise ``RetriableError`` (the rest of the batch is written; upserts are idempotent,
so the caller retries the batch). Only documents the cluster refuses for what they are (a 4xx
other than 429: a mapping error...) are reported per id in ``UpsertResult.errors``. Client
errors are translated in :func:`_errors` (connection/timeout/408/429/5xx -> RetriableError,
auth -> FatalError).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    ConflictError,
    Elasticsearch,
    helpers,
)
from elasticsearch import ConnectionError as ESConnectionError

from hub.errors import FatalError, ParleyError, RetriableError
from hub.models import Conversation, Message
from kb.base import OnUnreadable, SearchRequest, SearchResult, UpsertResult
from kb.common import read_document
from kb.conversations import apply_triage, check_triage_changes, merge_rollup
from kb.elasticsearch.documents import conversation_source, conversation_state, message_source
from kb.elasticsearch.query import CONVERSATION_MAPPINGS, INDEX_LAYOUT, INDEX_SETTINGS, MESSAGE_MAPPINGS
from kb.elasticsearch.search import search_conversations, search_messages
from kb.limits import SearchLimits

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = ["ElasticsearchKB"]

#: per-document bulk statuses the bulk helper retries with backoff before giving up
_BULK_RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
#: rounds of optimistic-concurrency retries before a write gives up (as retriable)
CONFLICT_ATTEMPTS = 10
_CONV_SCRIPT = """
def c = params.convs[ctx._source.conversation_id];
if (c == null) { ctx.op = 'noop'; return; }
ctx._source.conv_status = c.status;
ctx._source.conv_assignee = c.assignee;
ctx._source.conv_assignee_f = c.assignee_f;
ctx._source.conv_queue = c.queue;
ctx._source.conv_tag = c.tag;
"""


@contextmanager
def _errors(what: str) -> Iterator[None]:
    """Translate the client's exceptions into the hub's error families (the one place)."""
    try:
        yield
    except (AuthenticationException, AuthorizationException) as exc:
        raise FatalError(
            f"Elasticsearch refused the credentials while {what}: check PARLEY_ES__API_KEY or "
            "PARLEY_ES__USERNAME/PARLEY_ES__PASSWORD"
        ) from exc
    except ESConnectionError as exc:  # includes ConnectionTimeout
        raise RetriableError(f"Elasticsearch unreachable while {what}: {exc}") from exc
    except ApiError as exc:
        if _passing(exc.meta.status):
            retry_after = exc.meta.headers.get("retry-after") if exc.meta.headers else None
            raise RetriableError(
                f"Elasticsearch busy ({exc.meta.status}) while {what}",
                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
            ) from exc
        raise ParleyError(f"Elasticsearch rejected a request while {what}: {exc}") from exc


def _passing(status: int) -> bool:
    """Whether an HTTP status from Elasticsearch says "later", not "never" (408, 429, 5xx)."""
    return status in (408, 429) or status >= 500


def _raise_passing(failed: dict[str, tuple[int, str]], what: str) -> None:
    """``RetriableError`` if any document in ``failed`` was refused for a passing reason."""
    passing = {doc_id: f"{status}: {why}" for doc_id, (status, why) in failed.items() if _passing(status)}
    if passing:
        sample = dict(list(passing.items())[:3])
        raise RetriableError(
            f"Elasticsearch could not take {len(passing)} documents while {what} ({sample}); retry the batch"
        )


class ElasticsearchKB:
    """``KnowledgeBase`` on Elasticsearch 8 (see the module docstring for the layout)."""

    #: bulk helper retries of 429/5xx documents, and the first backoff (doubling each time)
    bulk_max_retries = 5
    bulk_initial_backoff_s = 0.5

    def __init__(
        self,
        client: Elasticsearch,
        *,
        index_prefix: str = "parley",
        refresh: bool = False,
        limits: SearchLimits | None = None,
    ) -> None:
        self.client = client
        #: the query budget and deadline every search keeps (``kb.limits``)
        self.limits = limits or SearchLimits()
        self.prefix = index_prefix
        self.messages_index = f"{index_prefix}-messages"
        self.conversations_index = f"{index_prefix}-conversations"
        #: refresh after every write (tests, small demos); otherwise writes appear within ~1 s
        self._refresh: bool | str = bool(refresh)
        #: messages written by this instance that search may not see yet (see conversation_messages)
        self._unrefreshed = False
        #: set when an index predates the text layout: searches and writes raise it
        self._stale_layout: FatalError | None = None
        self._ensure_indices()

    @classmethod
    def from_settings(cls, settings: Settings, *, refresh: bool = False) -> ElasticsearchKB:
        es = settings.es
        url = es.url or os.environ.get("PARLEY_ES_URL")
        if not url:
            raise FatalError("the Elasticsearch backend needs a URL: set PARLEY_ES_URL (or PARLEY_ES__URL)")
        kwargs: dict[str, Any] = {
            "request_timeout": es.request_timeout_s,
            "retry_on_timeout": True,
            "max_retries": 3,
            "verify_certs": es.verify_certs,
        }
        if es.api_key is not None:
            kwargs["api_key"] = es.api_key.get_secret_value()
        elif es.username:
            kwargs["basic_auth"] = (es.username, es.password.get_secret_value() if es.password else "")
        if url.startswith("https"):  # the client refuses TLS options on an http:// URL
            if es.ca_certs:
                kwargs["ca_certs"] = str(es.ca_certs)
            if not es.verify_certs:
                kwargs["ssl_show_warn"] = False
        else:
            del kwargs["verify_certs"]
        try:
            client = Elasticsearch(url, **kwargs)
        except ValueError as exc:
            raise FatalError(f"cannot use the Elasticsearch settings ({url}): {exc}") from exc
        limits = SearchLimits.from_settings(settings)
        return cls(client, index_prefix=es.index_prefix, refresh=refresh, limits=limits)

    # -- indices -------------------------------------------------------------------------------

    def _ensure_indices(self) -> None:
        with _errors("creating the indices"):
            for index, mappings in (
                (self.messages_index, MESSAGE_MAPPINGS),
                (self.conversations_index, CONVERSATION_MAPPINGS),
            ):
                self.client.indices.put_index_template(
                    name=index,
                    index_patterns=[index],
                    template={"settings": INDEX_SETTINGS, "mappings": mappings},
                    priority=200,
                )
                if not self.client.indices.exists(index=index):
                    self.client.options(ignore_status=400).indices.create(index=index)
                else:
                    self._check_layout(index)
            # mapping changes that existing indices can take in place (the template only
            # shapes new ones): eager global ordinals for the conversation aggregation
            self.client.indices.put_mapping(
                index=self.messages_index,
                properties={"conversation_id": MESSAGE_MAPPINGS["properties"]["conversation_id"]},
            )

    def _check_layout(self, index: str) -> None:
        """``FatalError`` unless ``index`` indexes text the way this Parley searches it.

        An analyzer cannot change on an existing index: an index from before text was
        analysed per language (no ``_meta.parley_layout``) must be rebuilt.
        """
        mapping: dict[str, Any] = dict(self.client.indices.get_mapping(index=index))
        first: dict[str, Any] = next(iter(mapping.values()), {})
        meta = first.get("mappings", {}).get("_meta", {})
        layout = meta.get("parley_layout", 1)
        if layout != INDEX_LAYOUT:
            # reads (iter_*, counts, gets) still work, so the documents can be copied out
            self._stale_layout = FatalError(
                f"the Elasticsearch index {index} has text layout {layout}, this Parley needs {INDEX_LAYOUT}"
                " (text analysed per language): copy the knowledge base to SQLite (parley kb migrate --to"
                " sqlite), delete the indices, and copy it back (PARLEY_KB__BACKEND=sqlite parley kb"
                " migrate --to elasticsearch); or delete them and ingest again"
            )

    def _require_layout(self) -> None:
        if self._stale_layout is not None:
            raise self._stale_layout

    def refresh(self) -> None:
        """Make every write so far searchable and counted (writes appear within ~1 s otherwise)."""
        with _errors("refreshing"):
            self.client.indices.refresh(index=[self.messages_index, self.conversations_index])

    def drop(self) -> None:
        """Delete both indices and their templates (tests; ``kb migrate`` back)."""
        with _errors("dropping the indices"):
            for index in (self.messages_index, self.conversations_index):
                self.client.options(ignore_status=404).indices.delete(index=index)
                self.client.options(ignore_status=404).indices.delete_index_template(name=index)

    def close(self) -> None:
        self.client.close()

    # -- writes --------------------------------------------------------------------------------

    def _sources(self, index: str, ids: Sequence[str], fields: list[str] | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {}
        ids = list(dict.fromkeys(i for i in ids if i))
        with _errors(f"reading {index}"):
            for start in range(0, len(ids), 1000):
                response = self.client.mget(index=index, ids=ids[start : start + 1000], source=fields or True)
                for doc in response["docs"]:
                    if doc.get("found"):
                        found[doc["_id"]] = doc["_source"]
        return found

    def _bulk_actions(self, actions: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
        """Run bulk ``actions``; returns id -> (status, reason) of the documents that failed.

        Documents answered 429/5xx are retried with backoff first. A request that fails as a
        whole is retried likewise and then raises through :func:`_errors` (RetriableError for
        an outage): reporting every document in it as failed would dead-letter a whole batch
        because the cluster was briefly away.
        """
        failed: dict[str, tuple[int, str]] = {}
        if not actions:
            return failed
        with _errors("writing documents"):
            for ok, item in helpers.streaming_bulk(
                self.client,
                actions,
                chunk_size=500,
                max_retries=self.bulk_max_retries,
                initial_backoff=self.bulk_initial_backoff_s,
                max_backoff=30,
                retry_on_status=_BULK_RETRY_STATUSES,
                raise_on_error=False,
                raise_on_exception=True,
                refresh=self._refresh,
            ):
                if not ok:
                    info: dict[str, Any] = next(iter(item.values()), {})
                    error = info.get("error")
                    reason = error.get("reason", str(error)) if isinstance(error, dict) else str(error)
                    failed[str(info.get("_id"))] = (int(info.get("status") or 0), reason)
        return failed

    def _bulk(
        self, index: str, sources: dict[str, dict[str, Any]], result: UpsertResult
    ) -> dict[str, tuple[int, str]]:
        """Index ``sources``; returns the failures, of which refusals go to ``result.errors``.

        The caller finishes its bookkeeping for the written documents, then calls
        :func:`_raise_passing` so documents that failed for a passing reason are retried.
        """
        actions = [{"_op_type": "index", "_index": index, "_id": i, "_source": s} for i, s in sources.items()]
        failed = self._bulk_actions(actions)
        for doc_id, (status, reason) in failed.items():
            if not _passing(status):
                result.errors[doc_id] = f"{status}: {reason}"
        return failed

    def _versioned(self, ids: Sequence[str]) -> dict[str, tuple[Conversation, int, int]]:
        """Stored conversations with the ``_seq_no`` and ``_primary_term`` they were read at."""
        found: dict[str, tuple[Conversation, int, int]] = {}
        ids = list(dict.fromkeys(ids))
        with _errors(f"reading {self.conversations_index}"):
            for start in range(0, len(ids), 1000):
                response = self.client.mget(
                    index=self.conversations_index, ids=ids[start : start + 1000], source=["doc"]
                )
                for doc in response["docs"]:
                    if doc.get("found"):
                        conversation = Conversation.model_validate(doc["_source"]["doc"])
                        found[doc["_id"]] = (conversation, int(doc["_seq_no"]), int(doc["_primary_term"]))
        return found

    def upsert_messages(self, messages: Sequence[Message]) -> UpsertResult:
        self._require_layout()
        latest = {m.id: m for m in messages}
        existing = self._sources(self.messages_index, list(latest), ["doc"])
        conv_ids = [m.conversation_id for m in latest.values() if m.conversation_id]
        conversations = {
            cid: Conversation.model_validate(src["doc"])
            for cid, src in self._sources(self.conversations_index, conv_ids, ["doc"]).items()
        }
        result = UpsertResult()
        pending: dict[str, dict[str, Any]] = {}
        for mid, message in latest.items():
            doc = message.model_dump(mode="json")
            if mid in existing and existing[mid].get("doc") == doc:
                result.unchanged.append(mid)
                continue
            conversation = conversations.get(message.conversation_id or "")
            pending[mid] = message_source(message, conversation)
        # set before writing: a bulk that fails half-way may still have written some of them
        self._unrefreshed = self._unrefreshed or (bool(pending) and not self._refresh)
        failed = self._bulk(self.messages_index, pending, result)
        for mid in pending:
            if mid not in failed:
                (result.updated if mid in existing else result.created).append(mid)
        _raise_passing(failed, "indexing messages")
        return result

    def upsert_conversations(self, conversations: Sequence[Conversation]) -> UpsertResult:
        self._require_layout()
        latest = {c.id: c for c in conversations}
        existing = self._sources(self.conversations_index, list(latest), ["doc"])
        result = UpsertResult()
        pending: dict[str, dict[str, Any]] = {}
        for cid, conversation in latest.items():
            if cid in existing and existing[cid].get("doc") == conversation.model_dump(mode="json"):
                result.unchanged.append(cid)
                continue
            pending[cid] = conversation_source(conversation)
        failed = self._bulk(self.conversations_index, pending, result)
        restate: dict[str, Conversation | None] = {}
        for cid in pending:
            if cid in failed:
                continue
            old = Conversation.model_validate(existing[cid]["doc"]) if cid in existing else None
            (result.updated if old is not None else result.created).append(cid)
            if old is None or conversation_state(old) != conversation_state(latest[cid]):
                restate[cid] = latest[cid]
        self._restate_messages(restate)
        _raise_passing(failed, "indexing conversations")
        return result

    def _restate_messages(self, conversations: dict[str, Conversation | None]) -> None:
        """Copy conversations' triage state onto their messages (None clears it)."""
        ids = list(conversations)
        with _errors("updating messages' conversation state"):
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                self.client.update_by_query(
                    index=self.messages_index,
                    query={"terms": {"conversation_id": chunk}},
                    script={
                        "source": _CONV_SCRIPT,
                        "lang": "painless",
                        "params": {"convs": {cid: conversation_state(conversations[cid]) for cid in chunk}},
                    },
                    conflicts="proceed",
                    refresh=True,
                    wait_for_completion=True,
                )

    def save_rollups(
        self,
        conversations: Sequence[Conversation],
        *,
        reopen: Collection[str] = (),
        triage: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Merge rollups into the stored documents (``KnowledgeBase.save_rollups``).

        Each write is conditional on the version read (``create`` for a new document); ids
        that lost a race are merged again from a fresh read, up to :data:`CONFLICT_ATTEMPTS`
        rounds (then ``RetriableError``). Documents still answered 429/5xx raise
        ``RetriableError`` and refused ones ``ParleyError``, after the rest are written.
        """
        self._require_layout()
        latest = {c.id: c for c in conversations}
        reopened = set(reopen)
        pending = list(latest)
        restate: set[str] = set()
        failed: dict[str, tuple[int, str]] = {}
        try:
            for _ in range(CONFLICT_ATTEMPTS):
                if not pending:
                    break
                actions = self._rollup_actions(pending, latest, reopened, restate, triage or {})
                outcome = self._bulk_actions(actions)
                pending = [cid for cid, (status, _) in outcome.items() if status == 409]
                failed.update({cid: err for cid, err in outcome.items() if err[0] != 409})
        except ParleyError:
            # Conversations created before the failure need their state on their messages: a
            # retried batch finds them unchanged and would not restate them.
            with suppress(ParleyError):
                self._restate_current(sorted(restate))
            raise
        if restate:
            self._restate_current(sorted(restate))
        _raise_passing(failed, "saving conversation rollups")
        if pending:
            raise RetriableError(
                f"conversations {', '.join(pending[:5])} changed under every one of"
                f" {CONFLICT_ATTEMPTS} rollup attempts; retry the batch"
            )
        if failed:
            refused = {cid: f"{status}: {why}" for cid, (status, why) in failed.items()}
            raise ParleyError(f"Elasticsearch refused conversation rollups: {refused}")

    def _rollup_actions(
        self,
        ids: list[str],
        rollups: dict[str, Conversation],
        reopen: set[str],
        restate: set[str],
        triage: Mapping[str, Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """Conditional bulk writes merging ``rollups`` into the stored ``ids`` as read now.

        Adds to ``restate`` the ids whose triage state the write sets (new documents, reopens).
        """
        stored = self._versioned(ids)
        actions: list[dict[str, Any]] = []
        for cid in ids:
            old = stored.get(cid)
            merged = merge_rollup(
                old[0] if old else None, rollups[cid], reopen=cid in reopen, triage=triage.get(cid)
            )
            action: dict[str, Any] = {"_index": self.conversations_index, "_id": cid}
            if old is None:
                action["_op_type"] = "create"
            else:
                if merged == old[0]:
                    continue
                action.update(_op_type="index", if_seq_no=old[1], if_primary_term=old[2])
            actions.append({**action, "_source": conversation_source(merged)})
            if old is None or conversation_state(old[0]) != conversation_state(merged):
                restate.add(cid)
        return actions

    def update_conversation(self, conversation_id: str, changes: dict[str, Any]) -> Conversation | None:
        check_triage_changes(changes)
        for _ in range(CONFLICT_ATTEMPTS):
            stored = self._versioned([conversation_id]).get(conversation_id)
            if stored is None:
                return None
            current, seq_no, primary_term = stored
            updated = apply_triage(current, changes, validate=True)
            if updated is current:  # an older routing version than the document shows: refused
                return current
            with _errors("updating a conversation"):
                try:
                    # people expect their triage change in the very next list: wait for the refresh
                    self.client.index(
                        index=self.conversations_index,
                        id=conversation_id,
                        document=conversation_source(updated),
                        if_seq_no=seq_no,
                        if_primary_term=primary_term,
                        refresh="wait_for",
                    )
                except ConflictError:
                    continue  # a rollup or another agent wrote in between: apply to the fresh copy
            if conversation_state(current) != conversation_state(updated):
                self._restate_current([conversation_id])
            return updated
        raise RetriableError(
            f"conversation {conversation_id} changed under every one of {CONFLICT_ATTEMPTS} update attempts"
        )

    def _restate_current(self, conversation_ids: list[str]) -> None:
        """Copy the conversations' triage state as stored now onto their messages.

        Reading after our own write (rather than passing what we wrote) means whichever of two
        racing writers restates last copies the newest state.
        """
        current = self.get_conversations(conversation_ids)  # mget is real-time: no refresh needed
        self._restate_messages({cid: current.get(cid) for cid in conversation_ids})

    def delete_conversations(self, conversation_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(conversation_ids))
        existing = self._sources(self.conversations_index, ids, ["id"])
        if not existing:
            return 0
        with _errors("deleting conversations"):
            self.client.delete_by_query(
                index=self.conversations_index,
                query={"ids": {"values": list(existing)}},
                refresh=True,
                conflicts="proceed",
            )
        self._restate_messages(dict.fromkeys(existing))
        return len(existing)

    # -- reads ---------------------------------------------------------------------------------

    def get_message(self, message_id: str) -> Message | None:
        return self.get_messages([message_id]).get(message_id)

    def get_messages(self, message_ids: Sequence[str]) -> dict[str, Message]:
        found = self._sources(self.messages_index, message_ids, ["doc"])
        return {mid: Message.model_validate(src["doc"]) for mid, src in found.items()}

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        return self.get_conversations([conversation_id]).get(conversation_id)

    def get_conversations(self, conversation_ids: Sequence[str]) -> dict[str, Conversation]:
        found = self._sources(self.conversations_index, conversation_ids, ["doc"])
        return {cid: Conversation.model_validate(src["doc"]) for cid, src in found.items()}

    def conversation_messages(self, conversation_id: str, limit: int = 500) -> list[Message]:
        """Oldest first; includes messages this instance has just written.

        Search is near-real-time (about 1 s), but the ingest flow rolls a conversation up from
        its messages right after writing them: a writer refreshes before reading its own writes.
        """
        if self._unrefreshed:
            with _errors("refreshing messages"):
                self.client.indices.refresh(index=self.messages_index)
            self._unrefreshed = False
        with _errors("reading a conversation"):
            response = self.client.search(
                index=self.messages_index,
                query={"term": {"conversation_id": conversation_id}},
                sort=[{"created_at": "asc"}, {"id": "asc"}],
                size=min(limit, 10_000),
                source={"includes": ["doc"]},
            )
        hits = response["hits"]["hits"]
        read = (read_document(Message, "message", hit["_id"], hit["_source"].get("doc")) for hit in hits)
        return [message for message in read if message is not None]

    def search_messages(self, request: SearchRequest) -> SearchResult[Message]:
        self._require_layout()
        with _errors("searching messages"):
            return search_messages(self.client, self.messages_index, request, self.limits)

    def search_conversations(self, request: SearchRequest) -> SearchResult[Conversation]:
        self._require_layout()
        with _errors("searching conversations"):
            return search_conversations(
                self.client, self.messages_index, self.conversations_index, request, self.limits
            )

    def _iter_sources(self, index: str, batch_size: int) -> Iterator[tuple[str, Any]]:
        """(id, stored document) of every document of ``index``, ordered by id."""
        after: list[Any] | None = None
        while True:
            with _errors(f"reading {index}"):
                response = self.client.search(
                    index=index,
                    query={"match_all": {}},
                    sort=[{"id": "asc"}],
                    size=batch_size,
                    source={"includes": ["doc"]},
                    search_after=after,
                )
            hits = response["hits"]["hits"]
            if not hits:
                return
            for hit in hits:
                yield hit["_id"], hit["_source"].get("doc")
            after = hits[-1]["sort"]

    def iter_messages(
        self, batch_size: int = 1000, on_unreadable: OnUnreadable | None = None
    ) -> Iterator[Message]:
        """Every message ordered by id (stable across calls: migrations resume on it)."""
        for doc_id, doc in self._iter_sources(self.messages_index, batch_size):
            message = read_document(Message, "message", doc_id, doc, on_unreadable)
            if message is not None:
                yield message

    def iter_conversations(
        self, batch_size: int = 1000, on_unreadable: OnUnreadable | None = None
    ) -> Iterator[Conversation]:
        for doc_id, doc in self._iter_sources(self.conversations_index, batch_size):
            conversation = read_document(Conversation, "conversation", doc_id, doc, on_unreadable)
            if conversation is not None:
                yield conversation

    def count_messages(self) -> int:
        with _errors("counting messages"):
            return int(self.client.count(index=self.messages_index)["count"])

    def count_conversations(self) -> int:
        with _errors("counting conversations"):
            return int(self.client.count(index=self.conversations_index)["count"])
