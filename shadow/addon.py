"""The mitmproxy addon: capture each live exchange and hand it to the mirror pipeline.

One class, `ShadowAddon`, with options prefixed `shadow_`. Its hooks are plain, synchronous and
O(1): guard clauses, a snapshot of the request and the primary's response, appended to an outbox.
The outbox goes to the pipeline's bounded queue 20 milliseconds later, in one message, from a
loop callback: so the hand-over's cost (pickling the batch, one non-blocking send to the worker)
is neither inside the hook, which the live response waits for, nor paid once per request. It
never edits, delays or fails the live flow: the primary's response goes to the client exactly as
it came, and every error of ours is swallowed and counted.

One more hook serves the listener, not the mirror: with TLS to the client, mitmproxy picks the
ALPN protocol in the client's order of preference, and some clients (httpx among them) list
http/1.1 before h2, so they would never get HTTP/2; like most servers, the proxy prefers h2 when
the client offers it and mitmproxy's `http2` option is on.

Guards, in order (each counted as `dropped.<reason>` and sent to the pipeline once a second):
no pipeline yet, kill switch (`shadow_enabled=false`, `shadow.enabled: false` in the config file,
the switch file, the `shadow.kill` command or `POST /kill`), a replayed flow, a request that
carries the marker header (a loop), an upgrade (websocket), a streamed body, a body over the size
cap, a full queue.

Used two ways:
  * `mitmdump --mode reverse:URL -s cutover/shadow_entry.py --set shadow_config=cutover.yaml`:
    the entry script builds the addon with a loader that reads the config (cutover's job);
  * `cutover shadow --config cutover.yaml`: the launcher builds it with ready settings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Final

from mitmproxy import command, ctx, exceptions, http, tls

from shadow.mirror import ANY_ROUTE
from shadow.pipeline import LiveJob, Pipeline, default_proxy_id
from shadow.settings import Mirroring

log = logging.getLogger("shadow.addon")

SettingsLoader = Callable[[str], Mirroring]
_Method = Callable[..., Any]
_command: Callable[[str], Callable[[_Method], _Method]] = command.command
_STOP_POLL_S: Final = 0.25
_COUNTERS_EVERY_S: Final = 1.0
# The outbox's age when it is sent: far below any stale_after_s. Each send wakes the worker; at
# 5 ms, the wake-ups cost it ~40% more CPU per exchange at a few hundred requests/s.
OFFER_EVERY_S: Final = 0.02


class ShadowAddon:
    """Mirror live traffic to the candidate through an off-loop pipeline."""

    def __init__(
        self,
        mirroring: Mirroring | None = None,
        *,
        loader: SettingsLoader | None = None,
    ) -> None:
        self.mirroring = mirroring
        self.loader = loader
        self.pipeline: Pipeline | None = None
        self._dropped: Counter[tuple[str, str]] = Counter()
        self._counters_sent_at = 0.0
        self._enabled_option = True
        self._stop_checked_at = 0.0
        self._stopped = False
        self._configured_path: str | None = None
        self._running = False
        self._ticker: asyncio.TimerHandle | None = None
        self._outbox: list[LiveJob] = []

    # Lifecycle (always synchronous: mitmproxy calls these from sync contexts too).

    def load(self, loader: Any) -> None:
        loader.add_option(
            "shadow_config", str | None, None, "cutover configuration file (YAML) to mirror with."
        )
        loader.add_option(
            "shadow_enabled", bool, True, "Mirror to the candidate; false stops at once."
        )

    def configure(self, updated: set[str]) -> None:
        if "shadow_enabled" in updated:
            self._enabled_option = bool(ctx.options.shadow_enabled)
        if "shadow_config" in updated:
            path = ctx.options.shadow_config
            if path and path != self._configured_path:
                if self.loader is None:
                    raise exceptions.OptionsError(  # type: ignore[no-untyped-call]
                        "shadow_config needs the cutover entry script: run mitmdump with "
                        "-s cutover/shadow_entry.py"
                    )
                try:
                    mirroring = self.loader(path)
                except Exception as exc:
                    raise exceptions.OptionsError(str(exc)) from None  # type: ignore[no-untyped-call]
                self._stop_pipeline()
                self.mirroring = mirroring
                self._configured_path = path
                if self._running:
                    self._start_pipeline()

    def running(self) -> None:
        # configure() is not called for addons added programmatically: derive state here too.
        if self.mirroring is None and self.loader is not None:
            self.configure({"shadow_config"})
        self._running = True
        if self.mirroring is None:
            log.warning("shadow: no shadow_config set, so nothing is mirrored")
        self._start_pipeline()
        self._tick()

    def _tick(self) -> None:
        # Counts of drops reach the pipeline within a second even when traffic stops.
        if not self._running:
            return
        self._send_counters()
        self._ticker = asyncio.get_running_loop().call_later(_COUNTERS_EVERY_S, self._tick)

    def done(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self._send_outbox()
        self._send_counters(force=True)
        self._stop_pipeline()
        self._running = False

    def _start_pipeline(self) -> None:
        if self.pipeline is not None or self.mirroring is None:
            return
        # Under mitmdump the port comes from its own options, not from the config. Port 0 (any
        # free port) names no proxy: two such proxies on one host would share counters, so the
        # id falls back to the process id.
        mitmdump_port = getattr(ctx.options, "listen_port", None)
        port = self.mirroring.proxy.listen_port if mitmdump_port is None else mitmdump_port
        proxy_id = self.mirroring.proxy.proxy_id or default_proxy_id(port or None)
        self.pipeline = Pipeline(self.mirroring, proxy_id=proxy_id)
        self.pipeline.start()
        log.info("shadow: mirroring to %s", self.mirroring.candidate.url)

    def _stop_pipeline(self) -> None:
        pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None:
            pipeline.stop()

    # Commands (mitmdump has no prompt: the status endpoint offers the same switch).

    @_command("shadow.kill")
    def kill(self) -> None:
        """Stop all mirroring now (until shadow.resume)."""
        if self.pipeline is not None:
            self.pipeline.kill(True)
        self._stop_checked_at = 0.0  # seen by the next request, not the next poll
        log.warning("shadow: mirroring stopped by command")

    @_command("shadow.resume")
    def resume(self) -> None:
        """Resume mirroring after shadow.kill (the switch file and shadow_enabled still win)."""
        if self.pipeline is not None:
            self.pipeline.kill(False)
        self._stop_checked_at = 0.0

    @_command("shadow.queue")
    def queue_depth(self) -> int:
        """Jobs waiting for the mirror."""
        return self.pipeline.queue_depth() if self.pipeline is not None else 0

    # Hooks.

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        client = data.context.client
        if ctx.options.http2 and client.alpn is None and b"h2" in data.client_hello.alpn_protocols:
            # mitmproxy's ALPN choice takes a protocol set here as already agreed.
            client.alpn = b"h2"

    def response(self, flow: http.HTTPFlow) -> None:
        try:
            self._capture(flow)
        except Exception:  # never let the mirror touch the live flow
            self._drop("internal_error")
            log.exception("shadow: capturing a flow failed (the live response is unaffected)")
        self._send_counters()

    def error(self, flow: http.HTTPFlow) -> None:
        if self.pipeline is not None and not flow.is_replay:
            self._drop("primary_error")

    def _capture(self, flow: http.HTTPFlow) -> None:
        pipeline, mirroring = self.pipeline, self.mirroring
        if pipeline is None or mirroring is None:
            return
        if self._killed(mirroring, pipeline):
            self._drop("kill_switch")
            return
        if flow.is_replay:
            return
        request, response = flow.request, flow.response
        if response is None:
            return
        # The raw header fields, scanned once: mitmproxy's case-insensitive lookups decode every
        # field on each call, which cost more than the rest of this hook together.
        request_fields = request.headers.fields
        marker = mirroring.proxy.marker_header.encode()  # lower case, validated in settings
        loop, upgrade = False, flow.websocket is not None
        for name, _ in request_fields:
            lowered = name.lower()
            loop = loop or lowered == marker
            upgrade = upgrade or lowered == b"upgrade"
        if loop:
            self._drop("loop")
            return
        if upgrade:
            self._drop("upgrade")
            return
        request_body, response_body = request.raw_content, response.raw_content
        if request_body is None or response_body is None:
            self._drop("streamed")
            return
        limit = mirroring.comparison.max_body_bytes
        if len(request_body) > limit or len(response_body) > limit:
            self._drop("too_large")
            return
        primary_ms = None
        if response.timestamp_end is not None:
            primary_ms = (response.timestamp_end - request.timestamp_start) * 1000
        job: LiveJob = (
            flow.id,
            request.timestamp_start,
            request.method,
            request.path,
            request_fields,
            request_body,
            response.status_code,
            response.headers.fields,
            response_body,
            primary_ms,
        )
        if len(self._outbox) >= mirroring.proxy.queue_size:
            self._drop("queue_full")
            return
        self._outbox.append(job)
        if len(self._outbox) == 1:
            asyncio.get_running_loop().call_later(OFFER_EVERY_S, self._send_outbox)

    def _send_outbox(self) -> None:
        jobs, self._outbox = self._outbox, []
        if not jobs:
            return
        pipeline = self.pipeline
        taken = pipeline.offer_many(jobs) if pipeline is not None else 0
        if taken < len(jobs):
            self._dropped[(ANY_ROUTE, "dropped.queue_full")] += len(jobs) - taken

    def _killed(self, mirroring: Mirroring, pipeline: Pipeline) -> bool:
        if not self._enabled_option:
            return True
        # The shared events (set here or by the worker's status endpoint; the config flag, which
        # the worker reads from the file) and the switch file are looked at a few times a second,
        # not per request: each costs system calls, and the worker checks all of them again
        # before anything is sent.
        now = time.monotonic()
        if now - self._stop_checked_at >= _STOP_POLL_S:
            self._stop_checked_at = now
            switch = mirroring.kill_switch_file
            self._stopped = (
                pipeline.killed.is_set()
                or pipeline.config_off.is_set()
                or (switch is not None and switch.exists())
            )
        return self._stopped

    def _drop(self, reason: str) -> None:
        self._dropped[(ANY_ROUTE, f"dropped.{reason}")] += 1

    def _send_counters(self, *, force: bool = False) -> None:
        if not self._dropped or self.pipeline is None:
            return
        now = time.monotonic()
        if not force and now - self._counters_sent_at < _COUNTERS_EVERY_S:
            return
        self._counters_sent_at = now
        # Sent as increments; when the queue is full they wait for the next try.
        if self.pipeline.send_counters(dict(self._dropped)):
            self._dropped.clear()
