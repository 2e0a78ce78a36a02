"""The addon's hooks with mitmproxy's test helpers: what is offered to the pipeline (after the
hook, in batches), what is dropped and counted (loop, upgrade, streamed, too large, full queue,
kill switch), that the live flow is never changed, and the ALPN preference for h2."""

from __future__ import annotations

import asyncio
import os
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from mitmproxy import tls
from mitmproxy.proxy.context import Context
from mitmproxy.test import tflow, tutils
from proxy_support import write_config

from cutover.configfile import load_config
from cutover.shadow_cli import mirroring_from_file, mirroring_of
from shadow.addon import ShadowAddon
from shadow.settings import Mirroring

with warnings.catch_warnings():
    # mitmproxy's test master imports pyasn1, which warns about its own deprecations.
    warnings.simplefilter("ignore", DeprecationWarning)
    from mitmproxy import exceptions
    from mitmproxy.test import taddons


class _Event:
    on = False

    def is_set(self) -> bool:
        return self.on


class _Pipeline:
    """Stands in for `shadow.pipeline.Pipeline`: records offers, has room for `room` jobs."""

    def __init__(self, room: int = 1_000_000) -> None:
        self.room = room
        self.offers: list[Any] = []
        self.batches: list[int] = []
        self.counters: list[dict[tuple[str, str], int]] = []
        self.killed = _Event()
        self.config_off = _Event()  # the worker sets it from the config file

    def offer_many(self, jobs: list[Any]) -> int:
        taken = jobs[: self.room]
        self.room -= len(taken)
        self.offers += taken
        self.batches.append(len(taken))
        return len(taken)

    def send_counters(self, increments: dict[tuple[str, str], int]) -> bool:
        self.counters.append(increments)
        return True

    def kill(self, on: bool = True) -> None:
        self.killed.on = on


def _mirroring(tmp_path: Path, **shadow: Any) -> Mirroring:
    config = write_config(tmp_path / "cutover.yaml", primary="http://127.0.0.1:9",
                          candidate="http://127.0.0.1:9", shadow=shadow)  # fmt: skip
    return mirroring_of(load_config(config, os.environ))


def _run(tmp_path: Path, flows: list[Any], pipeline: _Pipeline, **shadow: Any) -> ShadowAddon:
    async def inner() -> ShadowAddon:
        addon = ShadowAddon(_mirroring(tmp_path, **shadow))
        with taddons.context(addon):
            addon.pipeline = pipeline  # type: ignore[assignment]
            for flow in flows:
                addon.response(flow)
            # Nothing is offered inside the hook, which the live response waits for ...
            assert pipeline.offers == []
            # ... but a few milliseconds later, from the loop.
            await asyncio.sleep(0.05)
            addon._send_counters(force=True)
        return addon

    return asyncio.run(inner())


def _dropped(pipeline: _Pipeline) -> dict[str, int]:
    found: dict[str, int] = {}
    for increments in pipeline.counters:
        for (_, name), n in increments.items():
            found[name] = found.get(name, 0) + n
    return found


def test_a_response_is_offered_as_plain_values_and_left_untouched(tmp_path: Path) -> None:
    flow = tflow.tflow(resp=True)
    before = flow.response.get_state()  # type: ignore[union-attr]
    pipeline = _Pipeline()
    _run(tmp_path, [flow], pipeline)
    assert flow.response.get_state() == before  # type: ignore[union-attr]
    (job,) = pipeline.offers
    assert job[0] == flow.id
    assert job[2:4] == ("GET", "/path")
    assert job[6] == 200
    assert job[8] == b"message"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: tflow.tflow(req=tutils.treq(headers=((b"x-cutover-shadow", b"1"),)),
                             resp=True), "dropped.loop"),
        (lambda: tflow.tflow(req=tutils.treq(headers=((b"upgrade", b"websocket"),)),
                             resp=True), "dropped.upgrade"),
        (lambda: tflow.tflow(resp=tutils.tresp(content=None)), "dropped.streamed"),
        (lambda: tflow.tflow(resp=tutils.tresp(content=b"x" * 3000)), "dropped.too_large"),
    ],
)  # fmt: skip
def test_guards_drop_and_count(tmp_path: Path, make: Any, reason: str) -> None:
    pipeline = _Pipeline()
    _run(tmp_path, [make()], pipeline, max_body_bytes=2048)
    assert pipeline.offers == []
    assert _dropped(pipeline) == {reason: 1}


def test_responses_are_offered_in_one_batch_and_a_full_queue_drops_the_rest(
    tmp_path: Path,
) -> None:
    flows = [tflow.tflow(resp=True) for _ in range(5)]
    pipeline = _Pipeline()
    _run(tmp_path, flows, pipeline)
    assert pipeline.batches == [5]
    assert [job[0] for job in pipeline.offers] == [flow.id for flow in flows]
    assert _dropped(pipeline) == {}

    nearly_full = _Pipeline(room=2)
    _run(tmp_path, [tflow.tflow(resp=True) for _ in range(5)], nearly_full)
    assert len(nearly_full.offers) == 2
    assert _dropped(nearly_full) == {"dropped.queue_full": 3}

    # The outbox itself never holds more than queue_size jobs.
    small = _Pipeline()
    _run(tmp_path, [tflow.tflow(resp=True) for _ in range(5)], small, queue_size=3)
    assert len(small.offers) == 3
    assert _dropped(small) == {"dropped.queue_full": 2}


def test_the_kill_switches(tmp_path: Path) -> None:
    switch = tmp_path / "STOP"
    switch.touch()
    stopped = _Pipeline()
    _run(tmp_path, [tflow.tflow(resp=True)], stopped, kill_switch_file=str(switch))
    assert _dropped(stopped) == {"dropped.kill_switch": 1}

    disabled = _Pipeline()
    disabled.config_off.on = True  # `shadow.enabled: false`, as the worker read it
    _run(tmp_path, [tflow.tflow(resp=True)], disabled)
    assert _dropped(disabled) == {"dropped.kill_switch": 1}

    commanded = _Pipeline()
    commanded.kill()
    _run(tmp_path, [tflow.tflow(resp=True)], commanded)
    assert _dropped(commanded) == {"dropped.kill_switch": 1}


def test_a_switch_thrown_while_running_stops_capture_within_its_poll(tmp_path: Path) -> None:
    """Each way to stop, thrown between requests: the option and the command stop the very next
    request; the shared events (the worker's status endpoint, and the worker reading the config
    flag, set them from its own process) and the switch file are polled, so they stop every
    request from a quarter second on."""
    switch = tmp_path / "STOP"

    async def inner() -> list[int]:
        pipeline = _Pipeline()
        addon = ShadowAddon(_mirroring(tmp_path, kill_switch_file=str(switch)))
        offered: list[int] = []

        def request_then_count() -> None:
            addon.response(tflow.tflow(resp=True))
            offered.append(len(addon._outbox))
            addon._send_outbox()

        with taddons.context(addon) as tctx:
            addon.pipeline = pipeline  # type: ignore[assignment]
            request_then_count()  # 1: mirrored
            tctx.configure(addon, shadow_enabled=False)
            request_then_count()  # 0: the option, at once
            tctx.configure(addon, shadow_enabled=True)
            request_then_count()  # 1
            addon.kill()
            request_then_count()  # 0: the command, at once
            addon.resume()
            request_then_count()  # 1
            pipeline.killed.on = True  # as the worker's POST /kill does, from its process
            await asyncio.sleep(0.3)
            request_then_count()  # 0: seen at the next poll
            pipeline.killed.on = False
            await asyncio.sleep(0.3)
            request_then_count()  # 1
            pipeline.config_off.on = True  # the config flag, as the worker read it
            await asyncio.sleep(0.3)
            request_then_count()  # 0: seen at the next poll
            pipeline.config_off.on = False
            await asyncio.sleep(0.3)
            request_then_count()  # 1
            switch.touch()
            await asyncio.sleep(0.3)
            request_then_count()  # 0
        return offered

    assert asyncio.run(inner()) == [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]


@pytest.mark.parametrize(
    ("offers", "http2", "chosen"),
    [
        ((b"http/1.1", b"h2"), True, b"h2"),  # httpx's order: h2 is still preferred
        ((b"h2", b"http/1.1"), True, b"h2"),
        ((b"http/1.1",), True, None),  # left to mitmproxy: the client's own choice
        ((b"http/1.1", b"h2"), False, None),  # http2=false: mitmproxy decides (HTTP/1.1)
    ],
)
def test_h2_is_preferred_when_the_client_offers_it(
    tmp_path: Path, offers: tuple[bytes, ...], http2: bool, chosen: bytes | None
) -> None:
    async def inner() -> bytes | None:
        addon = ShadowAddon(_mirroring(tmp_path))
        with taddons.context(addon) as tctx:
            tctx.options.update(http2=http2)
            client = tflow.tclient_conn()
            client.alpn = None
            hello = tls.ClientHelloData(
                context=Context(client, tctx.options),
                client_hello=SimpleNamespace(alpn_protocols=list(offers)),  # type: ignore[arg-type]
            )
            addon.tls_clienthello(hello)
            return client.alpn

    assert asyncio.run(inner()) == chosen


def test_an_unusable_shadow_config_is_an_options_error(tmp_path: Path) -> None:
    async def inner() -> None:
        addon = ShadowAddon(loader=mirroring_from_file)
        with (
            taddons.context(addon) as tctx,
            pytest.raises(exceptions.OptionsError, match="no such configuration file"),
        ):
            tctx.configure(addon, shadow_config=str(tmp_path / "missing.yaml"))

    asyncio.run(inner())
