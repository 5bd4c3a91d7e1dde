"""Routing cost: rules evaluated per second, and routing's share of the ingest flow.

With 50 rules (listening queries and conversation fields; most do not match, the last assigns
round robin) and 200 agents in 10 teams, in the same run:

  (a) rule evaluation alone: ``flows.routing.decide`` over N inbound messages (50 rules each)
  (b) routing transactions alone: ``CRMStore.routing.route_batch`` (new conversations, rules,
      assignment under the routing lock, events) in batches of 256
  (c) the whole ingest dataflow (``bench/ingest.py``'s workload) with routing off, fresh stores
  (d) the same with routing on (the rules and agents above), fresh stores

and prints rules/s, conversations routed/s and the share of routing in the flow, (d-c)/c (the
goal is under 5%). With ``--rounds R`` (c) and (d) run R times, interleaved (off, on, on, off,
off, on, ...: each order as often, so a machine getting busier or quieter favours neither),
each round's share printed, then the median of the rounds' shares. The flow is warmed first
(one unmeasured run of the whole file: models, imports and caches loaded before any measured
run), and what it loaded is then frozen out of the garbage collector as ``parley ingest`` does
(``flows.ingest.preload``); each measured run starts after a full collection. Each share is
given by wall time and by this process's CPU time (``time.process_time``: the flow runs
in-process, so on a shared machine what other processes take moves it much less than the wall
clock).

The difference of two runs carries both runs' noise (the same run's CPU time moved by +-15%
here between rounds). So (d) also times routing itself inside the flow: the thread CPU time
of ``flows.routing.Router.route`` (rules, assignment transactions, events) summed over the
run (less the authors' contacts it resolves, which the ``crm`` sink resolves with routing off),
as a share of the routing-off run's CPU time: (e) "routing's own time".
Run: python bench/routing.py --n 3000 [--rounds 3] [--no-ner] [--postgres URL]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# bench/kb.py and bench/crm.py would shadow the packages of the same name: the repo root first.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))

from ingest import generate, run_flow  # noqa: E402  (bench/ingest.py)

from channels import parse_envelope  # noqa: E402
from crm import CRMStore, open_crm  # noqa: E402
from crm.routing import Arrival  # noqa: E402
from enrichment import enrich  # noqa: E402
from flows.imports import iter_records  # noqa: E402
from flows.report import IngestReport  # noqa: E402
from flows.routing import Router, compile_rules, decide  # noqa: E402
from hub.models import Envelope, Message, utcnow  # noqa: E402
from hub.settings import Settings  # noqa: E402

RULES, AGENTS, TEAMS = 50, 200, 10
QUERIES = [
    "refund NEAR/3 broken",
    '"money back" -spam',
    "lang:fr",
    "sentiment:negative kettle",
    "intent:complaint",
    "hashtag:fail",
    "grinder OR beans",
    "discount code",
    "site:example.com",
    "author:u1",
]


def setup_team(crm: CRMStore) -> None:
    """200 agents in 10 teams, 50 rules: 49 specific ones, then a round-robin catch-all."""
    rng = random.Random(3)
    ids = [
        crm.agents.create(
            name=f"agent {n}",
            email=f"agent{n}@bench.test",
            languages=rng.sample(["en", "fr", "es", "de"], 2),
            channels=rng.sample(["twitter", "facebook", "sms", "email"], 3),
            capacity=1000,
            availability="online" if n % 4 else "away",
        ).id
        for n in range(AGENTS)
    ]
    teams = [crm.teams.create(f"team {t}", member_ids=ids[t::TEAMS]).id for t in range(TEAMS)]
    for r in range(RULES - 1):
        condition: dict[str, object] = {"query": QUERIES[r % len(QUERIES)] + f" OR zz{r}"}
        if r % 3 == 0:
            condition["channels"] = [rng.choice(["twitter", "sms"])]
        if r % 5 == 0:
            condition["priorities"] = ["urgent"]  # never true here: most rules do not match
        actions: dict[str, object] = {"tags": [f"t{r}"]}
        if r % 2:
            actions["assign"] = {
                "mode": "least_loaded" if r % 4 == 1 else "sticky",
                "team_id": teams[r % TEAMS],
                **({"fallback": {"mode": "round_robin", "team_id": teams[r % TEAMS]}} if r % 4 == 3 else {}),
            }
        crm.rules.create(name=f"rule {r}", condition=condition, actions=actions)
    crm.rules.create(
        name="everyone else",
        condition={},
        actions={"queue": "inbox", "assign": {"mode": "round_robin", "team_id": teams[0]}},
    )


def bench_decide(crm: CRMStore, messages: list[Message]) -> float:
    """Seconds to evaluate every rule for every message (rules compiled once, as the flow does)."""
    rules = compile_rules(crm.rules.list_all(enabled_only=True))
    from crm.routing import RoutingState

    state = RoutingState(
        "c", "twitter", "brand", None, "en", "open", None, None, None, "normal", (), False, None
    )
    started = time.perf_counter()
    for message in messages:
        decide(rules, state, message)
    return time.perf_counter() - started


def bench_route_batch(crm: CRMStore, messages: list[Message]) -> float:
    """Seconds to route one new conversation per message, in batches of 256."""
    rules = compile_rules(crm.rules.list_all(enabled_only=True))
    by_id = {f"bench-{n}": m for n, m in enumerate(messages)}
    arrivals = [
        Arrival(cid, m.channel, m.account, None, "en", m.id, utcnow(), inbound=True, has_inbound=True)
        for cid, m in by_id.items()
    ]
    started = time.perf_counter()
    for start in range(0, len(arrivals), 256):
        crm.routing.route_batch(
            arrivals[start : start + 256], lambda s: decide(rules, s, by_id[s.conversation_id])
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="messages to generate")
    parser.add_argument("--no-ner", action="store_true", help="disable spaCy NER in enrichment")
    parser.add_argument("--postgres", help="a PostgreSQL URL for the CRM store (default: SQLite)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved off/on pairs of (c) and (d)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "bench.jsonl"
        generate(source, args.n)

        def settings_for(name: str, routing: bool) -> Settings:
            settings = Settings(data_dir=Path(tmp) / name, demo=False)
            settings.enrichment.ner = not args.no_ner
            settings.enrichment.cache_size = 0
            settings.routing.enabled = routing
            if args.postgres:
                settings.database_url = args.postgres
            return settings

        messages = [m for r in iter_records(source) if isinstance(r, Envelope) for m in parse_envelope(r)]
        base = settings_for("unit", True)
        messages = enrich(messages, base.enrichment, base.brand)  # rules read the enrichment
        _reset(args.postgres)
        crm = open_crm(base)
        setup_team(crm)
        decide_time = bench_decide(crm, messages)
        route_time = bench_route_batch(crm, messages)
        crm.close()

        # warm-up: one unmeasured run of the whole file, routing on (models, imports, caches);
        # with a small one the first measured run still came out 30-40% slower than the rest
        _reset(args.postgres)
        warm = settings_for("warm", True)
        crm = open_crm(warm)
        setup_team(crm)
        crm.close()
        run_flow(warm, source)
        gc.collect()
        gc.freeze()  # as parley ingest's preload: the loaded models stay out of the collector's walks
        own = _RouteTimer()

        def flow(name: str, routing: bool) -> tuple[float, float, IngestReport, int, float]:
            """One measured run on fresh stores (the team set up first when routing): wall
            seconds, CPU seconds, the report, conversations assigned, routing's own CPU seconds."""
            _reset(args.postgres)
            settings = settings_for(name, routing)
            if routing:
                crm = open_crm(settings)
                setup_team(crm)
                crm.close()
            gc.collect()
            own.reset()
            cpu = time.process_time()
            elapsed, report = run_flow(settings, source)
            cpu = time.process_time() - cpu
            if not routing:
                return elapsed, cpu, report, 0, own.seconds
            crm = open_crm(settings)
            assigned = len(crm.events.read(types=["conversation.assigned"], limit=1_000_000))
            crm.close()
            return elapsed, cpu, report, assigned, own.seconds

        own.install()
        rounds: list[tuple[float, float, float, float]] = []
        own_shares: list[float] = []
        for r in range(args.rounds):
            order = [False, True] if r % 2 == 0 else [True, False]
            runs = {routing: flow(f"{'with' if routing else 'without'}{r}", routing) for routing in order}
            (without_time, without_cpu, without, _, _) = runs[False]
            (with_time, with_cpu, with_report, assigned, _) = runs[True]
            rounds.append((without_time, with_time, without_cpu, with_cpu))
            own_seconds = runs[True][4]
            own_shares.append(own_seconds / without_cpu)
            if args.rounds > 1:
                print(
                    f"round {r + 1}: off {args.n / without_time:.1f} msgs/s, on {args.n / with_time:.1f}"
                    f" msgs/s, share {(with_time - without_time) / without_time:+.1%}; CPU off"
                    f" {without_cpu:.2f} s, on {with_cpu:.2f} s,"
                    f" share {(with_cpu - without_cpu) / without_cpu:+.1%};"
                    f" routing's own {own_seconds:.3f} s = {own_shares[-1]:.1%}",
                    flush=True,
                )

    n = len(messages)
    ner, backend = "off" if args.no_ner else "on", "PostgreSQL" if args.postgres else "SQLite"
    print(f"messages: {n}  rules: {RULES}  agents: {AGENTS}  (NER {ner}, CRM {backend})")
    per_s = n / decide_time
    print(f"(a) rule evaluation alone       {per_s * RULES:12.0f} rules/s  ({per_s:.0f} messages/s)")
    print(f"(b) routing transactions alone  {n / route_time:12.1f} conversations/s")
    print(f"(c) ingest flow, routing off    {n / without_time:12.1f} msgs/s  created {without.created}")
    created = with_report.created
    rate = n / with_time
    print(f"(d) ingest flow, routing on     {rate:12.1f} msgs/s  created {created}, assigned {assigned}")
    print(
        f"routing share of the flow (d-c)/c = {(with_time - without_time) / without_time:+.1%}  (goal < 5%)"
        + (" (the last round)" if args.rounds > 1 else "")
    )
    if args.rounds > 1:
        shares = [(on - off) / off for off, on, _, _ in rounds]
        cpu_shares = [(on - off) / off for _, _, off, on in rounds]
        print(
            f"median share over {args.rounds} interleaved rounds = {statistics.median(shares):+.1%} (wall),"
            f" {statistics.median(cpu_shares):+.1%} (CPU)"
        )
    rounds_note = f" (median of {args.rounds} rounds)" if args.rounds > 1 else ""
    print(
        "(e) routing's own time in the flow (Router.route's thread CPU / routing-off CPU)"
        f" = {statistics.median(own_shares):.1%}{rounds_note}  (goal < 5%)"
    )


class _RouteTimer:
    """Sums the thread CPU time spent in ``Router.route`` (the flow runs in this process), less
    the authors' contacts it resolves (``CRMStore.upsert_from_messages``): with routing off the
    flow's ``crm`` sink does that work instead, so it is not routing's cost."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._inside = False

    def reset(self) -> None:
        self.seconds = 0.0

    def install(self) -> None:
        route, upsert = Router.route, CRMStore.upsert_from_messages

        def timed_route(router: Router, *args: Any, **kwargs: Any) -> Any:
            started, self._inside = time.thread_time(), True
            try:
                return route(router, *args, **kwargs)
            finally:
                self.seconds += time.thread_time() - started
                self._inside = False

        def untimed_upsert(crm: CRMStore, *args: Any, **kwargs: Any) -> Any:
            if not self._inside:
                return upsert(crm, *args, **kwargs)
            started = time.thread_time()
            try:
                return upsert(crm, *args, **kwargs)
            finally:
                self.seconds -= time.thread_time() - started

        Router.route = timed_route  # type: ignore[method-assign]
        CRMStore.upsert_from_messages = untimed_upsert  # type: ignore[method-assign]


def _reset(url: str | None) -> None:
    """A fresh PostgreSQL schema for each measurement (SQLite stores are fresh directories)."""
    if not url:
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


if __name__ == "__main__":
    main()
