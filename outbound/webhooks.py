"""The webhook deliverer: follows the event log and POSTs each event, signed, to its subscribers.

One loop (``WebhookDeliverer.run``; ``parley run`` starts it in a thread, ``parley webhooks
deliver`` runs it alone) does two things over and over:

1. **queue**: reads the event log (``store.events.read``) after the lowest cursor of the enabled
   subscriptions and queues a delivery per subscriber (``crm.outbound_webhooks``: the delivery
   rows and the cursors move in one transaction, so nothing is lost or queued twice);
2. **send**: claims due deliveries and sends them, ``concurrency`` at once, each a ``POST`` of
   the stored JSON body (``{"type", "timestamp", "data"}``) with the Standard Webhooks headers
   (``outbound.signing``; ``webhook-id`` is ``evt_<event id>`` on every attempt, so receivers
   dedupe retries by it).

A 2xx answer is success. Anything else (another status, a timeout, a refused connection) is
retried with exponential backoff and jitter (``hub.backoff``), or after the receiver's
Retry-After, until ``retry_for_s`` after the delivery was queued (a day by default); then the
delivery is ``failed``. After a failure the whole subscription waits (its own backoff), so a
dead receiver gets one attempt per backoff step rather than one per queued event; after
``disable_after_failures`` failures in a row it is disabled with the reason. Redirects are
not followed (a 3xx is a failure): the URL an admin saved is the one that receives.

The SSRF policy of the feeds (``channels.feeds.addresses``) vets every attempt: the host is
resolved once and the connection goes to the vetted addresses only (DNS rebinding cannot turn
a public name internal between the check and the connect). A URL refused at delivery time
disables its subscription at once, with the reason.

Delivery is at least once: a deliverer killed between a receiver's answer and recording it
sends that delivery again after its lease; a recorded delivery is never sent again.
The deliverer runs beside the ingest flow and never blocks it: it only reads the event log
and writes its own tables.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from channels.feeds.addresses import AddressPolicy, RefusedFeedURL, UnresolvableHost
from channels.feeds.fetch import parse_retry_after
from crm.outbound_webhooks import Claim
from crm.store import CRMStore
from hub.backoff import backoff_delay
from hub.errors import RetriableError
from hub.models import utcnow
from hub.settings import OutboundWebhookSettings
from outbound.signing import headers

__all__ = ["Attempt", "DeliveryStats", "WebhookDeliverer", "delivering_in_background"]

log = logging.getLogger("parley.webhooks")

USER_AGENT = "Parley-Webhooks/0.1 (+https://github.com/parley-hub/parley)"
#: seconds added to a claim's lease beyond the attempts' own timeouts
LEASE_MARGIN_S = 30.0
#: deliveries a worker claims at once (fewer store writes; a longer lease)
CLAIM_PER_WORKER = 16
#: how often finished deliveries older than the retention are pruned
PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True)
class Attempt:
    """How one attempt went: ``ok`` (a 2xx), else the status (if any) and why, a Retry-After,
    and ``refused`` when the address policy refused the URL."""

    ok: bool
    status: int | None = None
    error: str | None = None
    response: str | None = None
    retry_after: float | None = None
    refused: bool = False


@dataclass
class DeliveryStats:
    """What a deliverer did since it started (thread-safe counters)."""

    queued: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    disabled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


class WebhookDeliverer:
    """Queues and sends the event log's webhooks (see the module doc)."""

    def __init__(
        self,
        store: CRMStore,
        settings: OutboundWebhookSettings,
        *,
        policy: AddressPolicy | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.policy = policy or AddressPolicy.for_outbound_webhooks(settings)
        self.concurrency = concurrency or settings.concurrency
        self.stats = DeliveryStats()
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            transport=self.policy.transport(),
            event_hooks=self.policy.event_hooks(),
            limits=httpx.Limits(
                max_connections=self.concurrency * 2, max_keepalive_connections=self.concurrency
            ),
        )
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="webhook")
        self._last_prune = 0.0

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()

    def __enter__(self) -> WebhookDeliverer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one round -----------------------------------------------------------------------

    def queue(self) -> int:
        """Queue deliveries for the events not yet queued; how many were queued."""
        queued = 0
        outbound = self.store.outbound_webhooks
        while (after := outbound.min_cursor()) is not None:
            events = self.store.events.read(after=after, limit=self.settings.batch_size)
            if not events:
                break
            queued += outbound.queue_events(events)
            if len(events) < self.settings.batch_size:
                break
        self.stats.add(queued=queued)
        return queued

    def send_due(self) -> int:
        """Send what is due now, ``concurrency`` workers each claiming batches of its own (so
        one's store writes overlap the others' requests); how many deliveries were attempted.
        Retries that fall due meanwhile wait for the next call."""
        due_by = utcnow()
        workers = [self._pool.submit(self._work_through, due_by) for _ in range(self.concurrency)]
        return sum(worker.result() for worker in workers)

    def _work_through(self, due_by: datetime) -> int:
        # the lease outlasts a batch's slowest case: each attempt up to a DNS lookup and a
        # request of timeout_s
        lease_s = CLAIM_PER_WORKER * 2 * self.settings.timeout_s + LEASE_MARGIN_S
        outbound = self.store.outbound_webhooks
        attempted = 0
        while claims := outbound.claim(limit=CLAIM_PER_WORKER, lease_s=lease_s, due_by=due_by):
            # failures are recorded as they come (they pause or disable the subscription); the
            # batch's successes in one transaction after it (should that fail, their leases
            # end and they are sent again: at least once)
            delivered = [done for done in map(self._deliver, claims) if done is not None]
            outbound.record_successes(delivered)
            self.stats.add(delivered=len(delivered))
            attempted += len(claims)
        return attempted

    def run_once(self) -> int:
        """Queue, then send what is due; how many deliveries were attempted."""
        self.queue()
        attempted = self.send_due()
        self._prune()
        return attempted

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set, looking for work every ``poll_s`` when idle. A store
        outage or a bug is logged and waited out: the loop never ends on its own."""
        failures = 0
        while not stop.is_set():
            try:
                attempted = self.run_once()
                failures = 0
            except RetriableError as exc:
                failures += 1
                log.warning("webhook deliverer: %s; retrying", exc)
                attempted = 0
            except Exception:
                failures += 1
                log.exception("webhook deliverer failed; retrying")
                attempted = 0
            if not attempted:
                wait = self.settings.poll_s
                if failures:
                    wait = backoff_delay(failures, base_s=self.settings.poll_s, max_s=60.0, jitter=True)
                stop.wait(wait)

    # --- one delivery --------------------------------------------------------------------

    def attempt(self, claim: Claim) -> Attempt:
        """POST ``claim`` once, signed now; never raises for what the receiver or network did."""
        body = claim.body.encode("utf-8")
        signed = headers(claim.secret, claim.message_id, int(time.time()), body, claim.previous_secret)
        request_headers = {**signed, "content-type": "application/json"}
        try:
            with self._client.stream("POST", claim.url, content=body, headers=request_headers) as response:
                excerpt = _read_excerpt(response, self.settings.max_response_bytes)
                status = response.status_code
                if 200 <= status < 300:
                    return Attempt(ok=True, status=status, response=excerpt)
                retry_after = parse_retry_after(
                    response.headers.get("retry-after"), max_s=self.settings.backoff_max_s
                )
                return Attempt(
                    ok=False, status=status, error=f"HTTP {status}", response=excerpt, retry_after=retry_after
                )
        except RefusedFeedURL as exc:
            return Attempt(ok=False, error=str(exc), refused=True)
        except UnresolvableHost as exc:
            return Attempt(ok=False, error=str(exc))
        except httpx.TimeoutException as exc:
            return Attempt(
                ok=False, error=f"no answer within {self.settings.timeout_s:g}s ({type(exc).__name__})"
            )
        except httpx.HTTPError as exc:
            return Attempt(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])

    def _deliver(self, claim: Claim) -> tuple[Claim, int, str | None] | None:
        """One attempt; a success to record (claim, status, answer), or ``None`` once a failure
        is recorded."""
        outcome = self.attempt(claim)
        if outcome.ok:
            return claim, outcome.status or 200, outcome.response
        try:
            self._record_failure(claim, outcome)
        except Exception:  # a store failure: the lease ends and the delivery is due again
            log.exception(
                "webhook delivery %s to %s could not be recorded", claim.message_id, claim.subscription_id
            )
        return None

    def _record_failure(self, claim: Claim, outcome: Attempt) -> None:
        outbound = self.store.outbound_webhooks
        now = utcnow()
        retry_at = self._retry_at(claim, outcome, now)
        pause = outcome.retry_after
        if pause is None:
            pause = backoff_delay(
                claim.failures + 1,
                base_s=self.settings.backoff_base_s,
                max_s=self.settings.backoff_max_s,
                jitter=True,
            )
        disabled = outbound.record_failure(
            claim,
            status=outcome.status,
            error=outcome.error or "failed",
            response=outcome.response,
            retry_at=retry_at,
            pause_until=now + timedelta(seconds=pause),
            disable_after=self.settings.disable_after_failures,
            disable_reason=f"its URL was refused at delivery: {outcome.error}" if outcome.refused else None,
        )
        self.stats.add(failed_attempts=1, given_up=int(retry_at is None), disabled=int(disabled))
        if disabled:
            log.warning("webhook subscription %s disabled: %s", claim.subscription_id, outcome.error)

    def _retry_at(self, claim: Claim, outcome: Attempt, now: datetime) -> datetime | None:
        """When to try ``claim`` again, or ``None`` once that would be past ``retry_for_s``."""
        if claim.is_test:
            return None
        delay = outcome.retry_after
        if delay is None:
            delay = backoff_delay(
                claim.attempts + 1,
                base_s=self.settings.backoff_base_s,
                max_s=self.settings.backoff_max_s,
                jitter=True,
            )
        retry_at = now + timedelta(seconds=delay)
        if retry_at - claim.created_at > timedelta(seconds=self.settings.retry_for_s):
            return None
        return retry_at

    def _prune(self) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = time.monotonic()
        cutoff = utcnow() - timedelta(days=self.settings.log_retention_days)
        pruned = self.store.outbound_webhooks.prune(cutoff)
        if pruned:
            log.info("pruned %d finished webhook deliveries older than %s", pruned, cutoff.isoformat())


def _read_excerpt(response: httpx.Response, max_bytes: int) -> str | None:
    """The start of the answer body (the rest is never read), as text."""
    if max_bytes <= 0:
        return None
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= max_bytes:
            break
    text = b"".join(chunks)[:max_bytes].decode("utf-8", "replace")
    return text or None


@contextmanager
def delivering_in_background(
    store: CRMStore, settings: OutboundWebhookSettings
) -> Iterator[WebhookDeliverer]:
    """A deliverer running in a daemon thread for the duration of the ``with`` block."""
    stop = threading.Event()
    deliverer = WebhookDeliverer(store, settings)
    thread = threading.Thread(target=deliverer.run, args=(stop,), name="webhook-deliverer", daemon=True)
    thread.start()
    try:
        yield deliverer
    finally:
        stop.set()
        thread.join(timeout=settings.timeout_s * 3 + 5)
        deliverer.close()
