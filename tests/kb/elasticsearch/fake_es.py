"""A tiny HTTP stand-in for the Elasticsearch REST endpoints ElasticsearchKB calls.

Elasticsearch cannot run on this machine, so this checks the wire level only: that the real
``elasticsearch`` client sends well-formed requests (index templates, bulk NDJSON, mget,
update_by_query, search bodies) and that the backend reads the responses, including bulk
429s and per-document rejections. Search answers are canned (every stored document, empty
aggregations); query semantics are tested against a real cluster by test_behaviour.py.
Every write bumps a sequence number; ``mget`` returns it and writes conditional on
``if_seq_no`` (or ``create`` of an existing id) fail with 409, as Elasticsearch's do.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_CONFLICT = {
    "error": {"type": "version_conflict_engine_exception", "reason": "version conflict"},
    "status": 409,
}


class FakeElasticsearch:
    """Stores documents per index; ``reject`` ids fail with 400, ``throttle`` ids get one 429.

    Outages: each bulk request first pops a status from ``bulk_failures`` and, if there was
    one, fails as a whole with it (``[502] * 100``: the cluster is away for 100 requests).
    ``item_failures[id]`` holds statuses that document gets, one per bulk attempt, before it
    is written (``[500]``: one shard failure; ``[429] * 100``: rejected for good).

    ``before_write`` callbacks (one per conditional write, oldest first) run just before a
    write that carries ``if_seq_no``: a test stages a concurrent writer there (with
    :meth:`store`, not through HTTP: the fake's lock is held).

    Slow searches: with ``searches_time_out`` every search answers ``timed_out: true``; with
    ``stall_searches`` every search is a running task (listed by ``GET _tasks`` with its
    ``X-Opaque-Id``) that answers only once ``POST _tasks/<id>/_cancel`` cancels it (or after
    10 s). ``opaque_ids`` holds the ``X-Opaque-Id`` of every search; ``cancelled`` the task ids.
    """

    def __init__(self) -> None:
        self.indices: dict[str, dict[str, Any]] = {}
        self.templates: dict[str, Any] = {}
        #: index -> its mappings, where they differ from its template's (an older index)
        self.mappings: dict[str, Any] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.reject: set[str] = set()
        self.throttle: set[str] = set()
        self.bulk_failures: list[int] = []
        self.item_failures: dict[str, list[int]] = {}
        self.bulk_requests = 0
        self.seq_nos: dict[tuple[str, str], int] = {}
        self.before_write: list[Callable[[], None]] = []
        self.searches_time_out = False
        self.stall_searches = False
        self.opaque_ids: list[str | None] = []
        self.cancelled: list[str] = []
        self._running: dict[str, tuple[str | None, threading.Event]] = {}
        self._seq = 0
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # a short poll interval: shutdown() waits for it, in every test's teardown
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeElasticsearch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def store(self, index: str, doc_id: str, source: Any) -> None:
        """Write a document as the cluster would (a new sequence number)."""
        with self._lock:
            self._seq += 1
            self.indices.setdefault(index, {})[doc_id] = source
            self.seq_nos[(index, doc_id)] = self._seq

    def conflict(self, index: str, doc_id: str, if_seq_no: Any, create: bool) -> bool:
        """Whether a write with these preconditions must fail with 409 (runs ``before_write``)."""
        if if_seq_no is not None and self.before_write:
            self.before_write.pop(0)()
        exists = doc_id in self.indices.get(index, {})
        if create:
            return exists
        return if_seq_no is not None and (not exists or self.seq_nos[(index, doc_id)] != int(if_seq_no))

    def run_search_task(self, opaque_id: str | None) -> None:
        """A search as a task: listed and cancellable while ``stall_searches`` holds it."""
        with self._lock:
            task_id = f"node1:{len(self._running) + len(self.cancelled) + 1}"
            released = threading.Event()
            self._running[task_id] = (opaque_id, released)
        released.wait(10)
        with self._lock:
            self._running.pop(task_id, None)

    def task_listing(self) -> dict[str, Any]:
        with self._lock:
            tasks = {
                task_id: {
                    "action": "indices:data/read/search",
                    "headers": {"X-Opaque-Id": opaque} if opaque else {},
                }
                for task_id, (opaque, _) in self._running.items()
            }
        return {"nodes": {"node1": {"tasks": tasks}}}

    def cancel_task(self, task_id: str) -> None:
        with self._lock:
            self.cancelled.append(task_id)
            running = self._running.get(task_id)
        if running is not None:
            running[1].set()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any = None) -> None:
                data = json.dumps(body if body is not None else {}).encode()
                self.send_response(status)
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_HEAD(self) -> None:
                name = self.path.strip("/").split("?")[0]
                self._reply(200 if name in fake.indices else 404)

            def do_PUT(self) -> None:
                path = self.path.split("?")[0].strip("/")
                if path.endswith("_bulk"):  # the client sends bulk as PUT
                    return self._bulk(self._body())
                body = json.loads(self._body() or b"{}")
                fake.requests.append(("PUT", path, body))
                if path.startswith("_index_template/"):
                    fake.templates[path.split("/", 1)[1]] = body
                elif path.endswith("/_mapping"):
                    pass  # recorded in requests: the fake keeps no mappings
                elif "/_doc/" in path:
                    index, _, doc_id = path.split("/", 2)
                    query = parse_qs(urlsplit(self.path).query)
                    if_seq_no = query.get("if_seq_no", [None])[0]
                    with fake._lock:
                        if fake.conflict(index, doc_id, if_seq_no, create=False):
                            return self._reply(409, _CONFLICT)
                        fake.store(index, doc_id, body)
                else:
                    fake.indices.setdefault(path, {})
                self._reply(200, {"acknowledged": True, "result": "created"})

            def do_DELETE(self) -> None:
                path = self.path.split("?")[0].strip("/")
                fake.indices.pop(path, None)
                fake.templates.pop(path.replace("_index_template/", ""), None)
                self._reply(200, {"acknowledged": True})

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                path = self.path.split("?")[0].strip("/")
                raw = self._body()
                if path.endswith("_bulk"):
                    return self._bulk(raw)
                if path == "_tasks":
                    return self._reply(200, fake.task_listing())
                if path.startswith("_tasks/") and path.endswith("/_cancel"):
                    fake.cancel_task(unquote(path.split("/")[1]))
                    return self._reply(200, {"nodes": {}})
                if path.endswith("/_mapping"):  # an index's mappings: its template's, as created
                    name = path.split("/")[0]
                    template = fake.templates.get(name, {}).get("template", {})
                    return self._reply(
                        200, {name: {"mappings": fake.mappings.get(name, template.get("mappings", {}))}}
                    )
                body = json.loads(raw or b"{}")
                fake.requests.append(("POST", path, body))
                index = path.split("/")[0]
                docs = fake.indices.get(index, {})
                if path.endswith("_mget"):
                    found = [
                        {
                            "_id": i,
                            "found": True,
                            "_source": docs[i],
                            "_seq_no": fake.seq_nos[(index, i)],
                            "_primary_term": 1,
                        }
                        if i in docs
                        else {"_id": i, "found": False}
                        for i in body["ids"]
                    ]
                    return self._reply(200, {"docs": found})
                if path.endswith("_count"):
                    return self._reply(200, {"count": len(docs)})
                if path.endswith("_search"):
                    return self._search(docs, body)
                if path.endswith("_update_by_query") or path.endswith("_delete_by_query"):
                    return self._reply(200, {"updated": 0, "deleted": 0, "failures": []})
                if path.endswith("_refresh"):
                    return self._reply(200, {"_shards": {}})
                self._reply(404, {"error": {"type": "not_found", "reason": path}, "status": 404})

            def _search(self, docs: dict[str, Any], body: dict[str, Any]) -> None:
                fake.opaque_ids.append(self.headers.get("X-Opaque-Id"))
                if fake.stall_searches:
                    fake.run_search_task(self.headers.get("X-Opaque-Id"))
                after = body.get("search_after")
                ordered = sorted(docs.items())
                if after:
                    ordered = [(i, d) for i, d in ordered if i > after[-1]]
                ordered = ordered[body.get("from", 0) : body.get("from", 0) + body.get("size", 10)]
                # one sort value per sort clause, as Elasticsearch answers (search_after needs all)
                keys = [next(iter(c)) if isinstance(c, dict) else c for c in body.get("sort") or ["id"]]
                hits = [
                    {
                        "_id": i,
                        "_score": 1.0,
                        "_source": d,
                        "sort": [1.0 if k == "_score" else i if k == "id" else d.get(k) for k in keys],
                    }
                    for i, d in ordered
                ]
                aggs: dict[str, Any] = {}
                for name, spec in (body.get("aggs") or {}).items():
                    aggs[name] = {"buckets": []}
                    if "date_histogram" in spec:
                        aggs[name]["buckets"] = [
                            {"key_as_string": "2026-11-02T00:00:00.000Z", "doc_count": 1}
                        ]
                # track_total_hits as Elasticsearch applies it: an int counts up to that many
                tracked = body.get("track_total_hits", 10_000)
                total = {"value": len(docs), "relation": "eq"}
                if tracked is not True and len(docs) > int(tracked):
                    total = {"value": int(tracked), "relation": "gte"}
                self._reply(
                    200,
                    {
                        "timed_out": fake.searches_time_out,
                        "hits": {"total": total, "hits": hits},
                        "aggregations": aggs,
                    },
                )

            def _bulk(self, raw: bytes) -> None:
                lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
                fake.bulk_requests += 1
                if fake.bulk_failures:
                    status = fake.bulk_failures.pop(0)
                    error = {"type": "outage", "reason": f"the cluster answered {status}"}
                    return self._reply(status, {"error": error, "status": status})
                fake.requests.append(("POST", "_bulk", lines))
                items = []
                for action, source in zip(lines[0::2], lines[1::2], strict=True):
                    op, meta = next(iter(action.items()))
                    doc_id = meta["_id"]
                    if fake.item_failures.get(doc_id):
                        status = fake.item_failures[doc_id].pop(0)
                        error = {"type": "unavailable", "reason": f"shard answered {status}"}
                        items.append({op: {"_id": doc_id, "status": status, "error": error}})
                    elif doc_id in fake.throttle:
                        fake.throttle.discard(doc_id)
                        items.append({op: {"_id": doc_id, "status": 429, "error": {"type": "es_rejected"}}})
                    elif doc_id in fake.reject:
                        error = {"type": "mapper_parsing_exception", "reason": "failed to parse"}
                        items.append({op: {"_id": doc_id, "status": 400, "error": error}})
                    else:
                        with fake._lock:
                            if fake.conflict(meta["_index"], doc_id, meta.get("if_seq_no"), op == "create"):
                                items.append(
                                    {op: {"_id": doc_id, "status": 409, "error": _CONFLICT["error"]}}
                                )
                                continue
                            fake.store(meta["_index"], doc_id, source)
                        items.append({op: {"_id": doc_id, "status": 201, "result": "created"}})
                errors = any(next(iter(i.values()))["status"] >= 300 for i in items)
                self._reply(200, {"took": 1, "errors": errors, "items": items})

        return Handler
