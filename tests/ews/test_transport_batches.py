"""A request Exchange refuses whole for one bad item is resent item by item."""

from __future__ import annotations

from exchangelib.errors import ErrorSchemaValidation

from wess_plugins.transport_ews.transport import EwsTransport


class FakeService:
    calls: list[list[str]] = []

    def __init__(self, account, chunk_size):
        pass

    def call(self, items):
        FakeService.calls.append(list(items))
        if "bad" in items:
            raise ErrorSchemaValidation("The request failed schema validation")
        return [f"ok {i}" for i in items]


def test_a_schema_refusal_fails_only_the_bad_item():
    transport = EwsTransport(connection=None, account=object())
    FakeService.calls = []
    answers = transport._call(FakeService, items=["a", "bad", "c"])
    assert answers[0] == "ok a" and answers[2] == "ok c"
    assert isinstance(answers[1], ErrorSchemaValidation)
    assert FakeService.calls == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]
