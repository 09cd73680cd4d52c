"""Every fault leaves the transcript of the long recording intact, recovers fast, leaks no key."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from tests.conftest import GRAMMAR
from tests.faults.scenarios import SCENARIOS, Scenario, run

KEY = "sk-resilience-0123456789abcdef"
LONG_SPANS = [(300, 2188), (3688, 5867), (7367, 9559), (11059, 13095), (14595, 16526), (18026, 20018)]


@pytest.fixture(scope="module")
def keyed_server() -> ServerThread:
    with ServerThread(ServerConfig(grammar=GRAMMAR, api_key=SecretStr(KEY))) as server:
        yield server


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_fault_loses_no_words(
    scenario: Scenario, keyed_server: ServerThread, debug_logs: pytest.LogCaptureFixture
) -> None:
    outcome = await run(scenario, keyed_server.url, api_key=KEY)
    assert outcome.error is None, outcome.error
    assert outcome.texts == outcome.reference, "the transcript is identical to the one without fault"
    assert outcome.words_lost == 0 and outcome.dropped_ms == 0
    for (begin, end), (true_begin, true_end) in zip(outcome.spans, LONG_SPANS, strict=True):
        assert abs(begin - true_begin) < 400 and abs(end - true_end) < 400, "one continuous stream timeline"
    if scenario.inject is not None or scenario.before_connect is not None:
        assert outcome.reconnects, "the fault forced a reconnect"
        assert outcome.recovery_ms < 3000, f"recovered in {outcome.recovery_ms:.0f} ms"
        assert 0 < outcome.fault_to_recovery_ms < 5000, "detected and recovered within a bound"
        # The first sentence's final (with usage) came before the fault: that billing is kept.
        assert sum(r.billed_seconds for r in outcome.reconnects) > 0
    else:
        assert not outcome.reconnects
    assert KEY not in debug_logs.text
    for reconnect in outcome.reconnects:
        assert KEY not in str(reconnect.error) and KEY not in repr(reconnect.error)
