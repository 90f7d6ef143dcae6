"""At most four requests in flight per mailbox, whoever sends them: Exchange Online
answers a fifth with 429 MailboxConcurrency, so every Graph transport of one mailbox in
a process (the engine's, the calendar's, a second user's view of a shared mailbox)
waits for a free slot instead of being throttled."""

from __future__ import annotations

import threading

from tests.support import CLIENT_SECRET
from tests.support.graph_sync import graph_transport
from wess_core.strategies import ItemRef, NewItem


def test_many_threads_on_one_mailbox_keep_four_requests_in_flight(emu):
    emu.set_latency(0.05, operation="graph:contacts.delta")
    transports = [graph_transport(emu, "alice@example.com", CLIENT_SECRET) for _ in range(2)]
    failures: list[BaseException] = []

    def read(transport):
        try:
            transport.changes("contacts", None)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=read, args=(transports[n % 2],)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert emu.counts["graph:contacts.delta"] == 12  # no request refused and sent again
    assert emu.graph.peak_in_flight == 4  # they did overlap, never beyond the limit


def test_the_batches_of_one_bulk_write_go_side_by_side(emu):
    emu.set_latency(0.03, operation="graph:contacts.create")
    mailbox = graph_transport(emu, "alice@example.com", CLIENT_SECRET)
    new = [NewItem({"given_name": f"P{n}", "surname": "Lee"}, f"C{n}") for n in range(60)]
    refs = mailbox.create("contacts", new)
    assert all(isinstance(r, ItemRef) for r in refs)
    assert len({r.item_id for r in refs}) == 60
    assert emu.counts["graph:batch"] == 3
    assert emu.graph.peak_in_flight == 3  # three batches of 20 at once
    got = mailbox.get("contacts", [refs[0].item_id, refs[59].item_id])
    assert [(i.fields["given_name"], i.crm_id) for i in got] == [("P0", "C0"), ("P59", "C59")]
