"""The scheduler's side of ``wess run --push``: users whose mailbox changed go to the
front of the queue, once, and a user under way when their change came syncs once more;
between passes they get a pass of their own (real syncs against the emulator); a
transport without streaming notifications is polled only."""

from __future__ import annotations

import threading
import time

from tests.support import scheduled_home
from tests.support.memory_transport import MemoryTransportPlugin, ready_alice
from wess_core import plugins
from wess_core.service import Context
from wess_core.service.push import Urgent, start_streams
from wess_core.service.scheduler import Scheduler, run_forever
from wess_plugins.transport_ews.transport import EwsTransport


def test_pushed_users_go_first_once_and_again_after_their_sync(home, ews_server):
    logins = [f"q{i}" for i in range(5)]
    ctx = scheduled_home(home, ews_server, logins, cap=4, people=0)
    urgent = Urgent()
    order: list[str] = []

    def factory(connection):
        order.append(connection.login)
        if order == ["q0"]:  # changes come in while q0 syncs
            urgent.push("q0")  # under way: once more after
            urgent.push("q3")  # waiting: to the front
            urgent.push("q3")  # twice: queued once
        return EwsTransport(connection)

    factory.needs_ews_url = True
    with Scheduler(ctx, workers=1, transport_factory=factory) as scheduler:
        outcome = scheduler.run_pass(urgent=urgent)
    assert order == ["q0", "q0", "q3", "q1", "q2", "q4"]
    assert outcome["synced"] == logins and not outcome["failed"]


def test_between_passes_a_pushed_user_gets_a_pass_of_their_own(home, ews_server):
    ctx = scheduled_home(home, ews_server, ["r0", "r1"], cap=4, people=0)
    urgent, stop = Urgent(), threading.Event()
    outcomes: list[dict] = []

    def on_pass(outcome: dict) -> None:
        outcomes.append(outcome)
        if len(outcomes) == 1:
            urgent.push("r1")
            urgent.push("not-a-user")  # not eligible: ignored
        else:
            stop.set()

    started = time.monotonic()
    run_forever(ctx, 2, 300, stop, on_pass=on_pass, urgent=urgent)
    assert [o["synced"] for o in outcomes] == [["r0", "r1"], ["r1"]]
    assert time.monotonic() - started < 60  # not the 300 s interval


def test_a_transport_without_streams_is_polled_only(wess, home):
    plugin = MemoryTransportPlugin()
    with plugins.registered(plugin):
        ready_alice(wess, ("users", "set", "alice", "--transport", "memory", "--skip-check"))
        stop = threading.Event()
        streams = start_streams(Context(home=home), lambda login: None, stop)
    assert streams.polled_only == ["memory"] and streams.threads == []
    assert streams.users == {}
