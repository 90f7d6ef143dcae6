"""A Graph client's mirror of a contacts folder, kept by delta rounds, equals the folder
whatever happens between and during its pages: creates and changes over Graph or in the
store (as EWS makes them), deletes, moves out and back in, any page size."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from wess_emulator.emulator import EmulatorServer
from wess_emulator.emulator.graph.ids import immutable_id
from wess_emulator.graph_client import GraphHttp, app_token
from wess_emulator.tls import session_ca

USER = "alice@example.com"
NAMES = st.sampled_from(["Ann", "Bo", "Cy", "Di"])


class DeltaMirror(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.server = EmulatorServer(ca=session_ca())
        self.mailbox = self.server.add_user(USER, "pw")
        self.server.add_app("app", "secret")
        self.server.start()
        self.http = GraphHttp(
            self.server.graph_url, app_token(self.server, "app", "secret"), self.server.ca_cert
        )
        self.contacts = self.mailbox.distinguished["contacts"]
        self.elsewhere = self.mailbox.create_folder(
            self.mailbox.distinguished["msgfolderroot"], "Old", "IPF.Contact", "ContactsFolder"
        )
        self.path = f"/users/{USER}/contactFolders/contacts/contacts"
        self.mirror: dict[str, tuple] = {}
        self.link = f"{self.path}/delta"
        self.in_round = False
        self.page_size = 2
        self.counter = 0

    def teardown(self) -> None:
        self.http.close()
        self.server.stop()
        assert not self.server.errors, self.server.errors

    # ------------------------------------------------------------------ changes
    def _name(self, base: str) -> str:
        self.counter += 1
        return f"{base}{self.counter}"

    @rule(name=NAMES)
    def create_over_graph(self, name):
        answer = self.http.post(self.path, json={"givenName": self._name(name)})
        assert answer.status_code == 201

    @rule(name=NAMES)
    def create_in_store(self, name):
        self.mailbox.add_items(self.contacts, [{"GivenName": self._name(name)}])

    def _pick(self, folder, index: int):
        items = sorted(folder.items.values(), key=lambda i: i.created_seq)
        return items[index % len(items)] if items else None

    @rule(index=st.integers(0, 50), surname=NAMES)
    def change_over_graph(self, index, surname):
        item = self._pick(self.contacts, index)
        if item is not None:
            graph_id = immutable_id(self.mailbox, item.id)
            answer = self.http.patch(
                f"/users/{USER}/contacts/{graph_id}", json={"surname": surname}
            )
            assert answer.status_code == 200

    @rule(index=st.integers(0, 50), surname=NAMES)
    def change_in_store(self, index, surname):
        item = self._pick(self.contacts, index)
        if item is not None:
            with self.mailbox.lock:
                item.set_field("Surname", surname)
                self.mailbox.update_item(item)

    @rule(index=st.integers(0, 50))
    def delete_over_graph(self, index):
        item = self._pick(self.contacts, index)
        if item is not None:
            graph_id = immutable_id(self.mailbox, item.id)
            assert self.http.delete(f"/users/{USER}/contacts/{graph_id}").status_code == 204

    @rule(index=st.integers(0, 50))
    def move_out(self, index):
        item = self._pick(self.contacts, index)
        if item is not None:
            self.mailbox.move_item(item, self.elsewhere)

    @rule(index=st.integers(0, 50))
    def move_back(self, index):
        item = self._pick(self.elsewhere, index)
        if item is not None:
            self.mailbox.move_item(item, self.contacts)

    # ------------------------------------------------------------------ the client
    def _page(self) -> None:
        headers = {"Prefer": f'IdType="ImmutableId", odata.maxpagesize={self.page_size}'}
        answer = self.http.get(self.link, headers=headers)
        assert answer.status_code == 200, answer.text
        doc = answer.json()
        assert len(doc["value"]) <= self.page_size
        for value in doc["value"]:
            if "@removed" in value:
                self.mirror.pop(value["id"], None)
            else:
                self.mirror[value["id"]] = (value["givenName"], value["surname"])
        self.in_round = "@odata.nextLink" in doc
        self.link = doc.get("@odata.nextLink") or doc["@odata.deltaLink"]

    @rule(page_size=st.integers(1, 3))
    def one_page(self, page_size):
        """The next page of the round in progress (a new round takes ``page_size``)."""
        if not self.in_round:
            self.page_size = page_size
        self._page()

    @rule()
    def resync_from_scratch(self):
        """What a client does after 410: forget everything, start a first round."""
        self.mirror = {}
        self.link = f"{self.path}/delta"
        self.in_round = False

    @rule()
    def finish_round(self):
        self._page()
        while self.in_round:
            self._page()
        expected = {
            immutable_id(self.mailbox, item.id): (
                item.field_text("GivenName"),
                item.field_text("Surname"),
            )
            for item in self.contacts.items.values()
        }
        assert self.mirror == expected

    @invariant()
    def links_stay_on_this_server(self):
        assert self.link.startswith("/users/") or self.link.startswith(self.server.graph_url)


DeltaMirror.TestCase.settings = settings(max_examples=60, stateful_step_count=40)
TestDeltaMirror = DeltaMirror.TestCase
