"""A fake exchange server for tests: real wire protocols, recorded payloads, fault injection."""

from tests.fake_exchange.server import ApiKey, FakeExchange, Fault, RecordedRequest, load_payload

__all__ = ["ApiKey", "FakeExchange", "Fault", "RecordedRequest", "load_payload"]
