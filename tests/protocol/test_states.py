"""The client and server state machines, as tables and as machines."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

import pytest

from funasr_realtime.protocol import LocalProtocolError, RemoteProtocolError
from funasr_realtime.protocol.states import (
    CLIENT_REMOTE_TRIGGERS,
    CLIENT_TRANSITIONS,
    SERVER_REMOTE_TRIGGERS,
    SERVER_TRANSITIONS,
    ClientState,
    ClientTrigger,
    ServerState,
    ServerTrigger,
    client_machine,
    server_machine,
)

E = TypeVar("E", bound=Enum)
T = TypeVar("T", bound=Enum)

C, CT = ClientState, ClientTrigger
S, ST = ServerState, ServerTrigger

CLIENT_LOCAL_TRIGGERS = frozenset({CT.RUN_TASK, CT.SEND_AUDIO, CT.CONTINUE_TASK, CT.FINISH_TASK})
SERVER_LOCAL_TRIGGERS = frozenset({ST.TASK_STARTED, ST.RESULT, ST.TASK_FINISHED, ST.TASK_FAILED})


# --------------------------------------------------------------------------- client: walking the table


def test_client_starts_idle() -> None:
    assert client_machine().state is C.IDLE


def test_client_full_task_then_reused_task() -> None:
    m = client_machine()
    walk = [
        (CT.RUN_TASK, C.STARTING),
        (CT.TASK_STARTED, C.STREAMING),
        (CT.SEND_AUDIO, C.STREAMING),
        (CT.RESULT, C.STREAMING),
        (CT.CONTINUE_TASK, C.STREAMING),
        (CT.SEND_AUDIO, C.STREAMING),
        (CT.RESULT, C.STREAMING),
        (CT.FINISH_TASK, C.FINISHING),
        (CT.RESULT, C.FINISHING),
        (CT.TASK_FINISHED, C.IDLE),
        # the same connection carries a second task
        (CT.RUN_TASK, C.STARTING),
        (CT.TASK_STARTED, C.STREAMING),
        (CT.FINISH_TASK, C.FINISHING),
        (CT.TASK_FINISHED, C.IDLE),
    ]
    for trigger, expected in walk:
        assert m.fire(trigger) is expected
        assert m.state is expected


def test_client_server_may_finish_on_its_own() -> None:
    m = client_machine()
    for trigger in (CT.RUN_TASK, CT.TASK_STARTED, CT.TASK_FINISHED):
        m.fire(trigger)
    assert m.state is C.IDLE


@pytest.mark.parametrize(
    "prefix",
    [[CT.RUN_TASK], [CT.RUN_TASK, CT.TASK_STARTED], [CT.RUN_TASK, CT.TASK_STARTED, CT.FINISH_TASK]],
    ids=["starting", "streaming", "finishing"],
)
def test_client_task_failed_from_each_active_state(prefix: list[ClientTrigger]) -> None:
    m = client_machine()
    for trigger in prefix:
        m.fire(trigger)
    assert m.fire(CT.TASK_FAILED) is C.FAILED
    with pytest.raises(LocalProtocolError, match="task is failed"):
        m.fire(CT.RUN_TASK)


def test_client_connection_lost_from_every_state() -> None:
    for state in ClientState:
        m = client_machine()
        m.state = state
        assert m.fire(CT.CONNECTION_LOST) is C.CLOSED


# --------------------------------------------------------------------------- client: illegal triggers

ILLEGAL_CLIENT_LOCAL = {
    C.IDLE: {CT.SEND_AUDIO, CT.CONTINUE_TASK, CT.FINISH_TASK},
    C.STARTING: {CT.RUN_TASK, CT.SEND_AUDIO, CT.CONTINUE_TASK, CT.FINISH_TASK},
    C.STREAMING: {CT.RUN_TASK},
    C.FINISHING: {CT.RUN_TASK, CT.SEND_AUDIO, CT.CONTINUE_TASK, CT.FINISH_TASK},
    C.FAILED: set(CLIENT_LOCAL_TRIGGERS),
    C.CLOSED: set(CLIENT_LOCAL_TRIGGERS),
}

ILLEGAL_CLIENT_REMOTE = {
    C.IDLE: {CT.TASK_STARTED, CT.RESULT, CT.TASK_FINISHED},  # task-failed: the service may fail an idle connection
    C.STARTING: {CT.RESULT, CT.TASK_FINISHED},
    C.STREAMING: {CT.TASK_STARTED},
    C.FINISHING: {CT.TASK_STARTED},
    C.FAILED: set(CLIENT_REMOTE_TRIGGERS),
    C.CLOSED: set(CLIENT_REMOTE_TRIGGERS),
}


def test_illegal_client_triggers_agree_with_the_table() -> None:
    for state in ClientState:
        illegal_local = {t for t in CLIENT_LOCAL_TRIGGERS if (state, t) not in CLIENT_TRANSITIONS}
        illegal_remote = {t for t in CLIENT_REMOTE_TRIGGERS if (state, t) not in CLIENT_TRANSITIONS}
        assert illegal_local == ILLEGAL_CLIENT_LOCAL[state], state
        assert illegal_remote == ILLEGAL_CLIENT_REMOTE[state], state


@pytest.mark.parametrize(
    ("state", "trigger"),
    [(s, t) for s in ClientState for t in sorted(ILLEGAL_CLIENT_LOCAL[s], key=lambda t: t.value)],
    ids=str,
)
def test_illegal_local_client_trigger_raises_local_error_naming_state(
    state: ClientState, trigger: ClientTrigger
) -> None:
    m = client_machine()
    m.state = state
    assert not m.allows(trigger)
    with pytest.raises(LocalProtocolError) as info:
        m.fire(trigger)
    assert not isinstance(info.value, RemoteProtocolError)
    assert f"task is {state.value}" in str(info.value)
    assert trigger.value in str(info.value)
    assert m.state is state  # API misuse does not change the state


def test_local_error_message_example() -> None:
    m = client_machine()
    m.fire(CT.RUN_TASK)
    with pytest.raises(LocalProtocolError, match=r"^cannot send audio: task is starting$"):
        m.fire(CT.SEND_AUDIO)


@pytest.mark.parametrize(
    ("state", "trigger"),
    [(s, t) for s in ClientState for t in sorted(ILLEGAL_CLIENT_REMOTE[s], key=lambda t: t.value)],
    ids=str,
)
def test_illegal_remote_client_trigger_raises_remote_error_and_fails(
    state: ClientState, trigger: ClientTrigger
) -> None:
    m = client_machine()
    m.state = state
    with pytest.raises(RemoteProtocolError) as info:
        m.fire(trigger)
    assert f"task is {state.value}" in str(info.value)
    assert m.state is C.FAILED


# --------------------------------------------------------------------------- server: walking the table


def test_server_full_task_then_reused_task() -> None:
    m = server_machine()
    walk = [
        (ST.RUN_TASK, S.STARTING),
        (ST.TASK_STARTED, S.RUNNING),
        (ST.AUDIO, S.RUNNING),
        (ST.RESULT, S.RUNNING),
        (ST.CONTINUE_TASK, S.RUNNING),
        (ST.FINISH_TASK, S.FINISHING),
        (ST.RESULT, S.FINISHING),
        (ST.TASK_FINISHED, S.IDLE),
        (ST.RUN_TASK, S.STARTING),
        (ST.TASK_STARTED, S.RUNNING),
        (ST.FINISH_TASK, S.FINISHING),
        (ST.TASK_FINISHED, S.IDLE),
    ]
    for trigger, expected in walk:
        assert m.fire(trigger) is expected


@pytest.mark.parametrize("state", [S.IDLE, S.STARTING, S.RUNNING, S.FINISHING])
def test_server_can_fail_from_every_live_state(state: ServerState) -> None:
    m = server_machine()
    m.state = state
    assert m.fire(ST.TASK_FAILED) is S.FAILED


ILLEGAL_SERVER_REMOTE = {
    S.IDLE: {ST.AUDIO, ST.CONTINUE_TASK, ST.FINISH_TASK},
    S.STARTING: {ST.RUN_TASK, ST.AUDIO, ST.CONTINUE_TASK, ST.FINISH_TASK},
    S.RUNNING: {ST.RUN_TASK},
    S.FINISHING: {ST.RUN_TASK, ST.AUDIO, ST.CONTINUE_TASK, ST.FINISH_TASK},
    S.FAILED: set(SERVER_REMOTE_TRIGGERS),
    S.CLOSED: set(SERVER_REMOTE_TRIGGERS),
}

ILLEGAL_SERVER_LOCAL = {
    S.IDLE: {ST.TASK_STARTED, ST.RESULT, ST.TASK_FINISHED},
    S.STARTING: {ST.RESULT, ST.TASK_FINISHED},
    S.RUNNING: {ST.TASK_STARTED, ST.TASK_FINISHED},
    S.FINISHING: {ST.TASK_STARTED},
    S.FAILED: set(SERVER_LOCAL_TRIGGERS),
    S.CLOSED: set(SERVER_LOCAL_TRIGGERS),
}


def test_illegal_server_triggers_agree_with_the_table() -> None:
    for state in ServerState:
        illegal_local = {t for t in SERVER_LOCAL_TRIGGERS if (state, t) not in SERVER_TRANSITIONS}
        illegal_remote = {t for t in SERVER_REMOTE_TRIGGERS if (state, t) not in SERVER_TRANSITIONS}
        assert illegal_local == ILLEGAL_SERVER_LOCAL[state], state
        assert illegal_remote == ILLEGAL_SERVER_REMOTE[state], state


@pytest.mark.parametrize(
    ("state", "trigger"),
    [(s, t) for s in ServerState for t in sorted(ILLEGAL_SERVER_REMOTE[s], key=lambda t: t.value)],
    ids=str,
)
def test_illegal_remote_server_trigger_leaves_state_for_task_failed(state: ServerState, trigger: ServerTrigger) -> None:
    m = server_machine()
    m.state = state
    with pytest.raises(RemoteProtocolError, match=f"task is {state.value}"):
        m.fire(trigger)
    assert m.state is state


@pytest.mark.parametrize(
    ("state", "trigger"),
    [(s, t) for s in ServerState for t in sorted(ILLEGAL_SERVER_LOCAL[s], key=lambda t: t.value)],
    ids=str,
)
def test_illegal_local_server_trigger_raises_local_error(state: ServerState, trigger: ServerTrigger) -> None:
    m = server_machine()
    m.state = state
    with pytest.raises(LocalProtocolError, match=f"task is {state.value}"):
        m.fire(trigger)
    assert m.state is state


# --------------------------------------------------------------------------- the tables themselves


def _reachable(table: Mapping[tuple[E, T], E], initial: E) -> set[E]:
    seen = {initial}
    queue = deque([initial])
    while queue:
        state = queue.popleft()
        for (source, _trigger), target in table.items():
            if source == state and target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def test_every_client_state_is_reachable() -> None:
    assert _reachable(CLIENT_TRANSITIONS, C.IDLE) == set(ClientState)


def test_every_server_state_is_reachable() -> None:
    assert _reachable(SERVER_TRANSITIONS, S.IDLE) == set(ServerState)


def test_idle_is_reachable_again_from_every_live_client_state() -> None:
    for state in (C.STARTING, C.STREAMING, C.FINISHING):
        assert C.IDLE in _reachable(CLIENT_TRANSITIONS, state), state


@pytest.mark.parametrize("state", [C.FAILED, C.CLOSED])
def test_client_failed_and_closed_are_terminal(state: ClientState) -> None:
    exits = {trigger: target for (source, trigger), target in CLIENT_TRANSITIONS.items() if source is state}
    assert exits == {CT.CONNECTION_LOST: C.CLOSED}


@pytest.mark.parametrize("state", [S.FAILED, S.CLOSED])
def test_server_failed_and_closed_are_terminal(state: ServerState) -> None:
    exits = {trigger: target for (source, trigger), target in SERVER_TRANSITIONS.items() if source is state}
    assert exits == {ST.CONNECTION_LOST: S.CLOSED}


def test_connection_lost_is_legal_everywhere() -> None:
    assert all((state, CT.CONNECTION_LOST) in CLIENT_TRANSITIONS for state in ClientState)
    assert all((state, ST.CONNECTION_LOST) in SERVER_TRANSITIONS for state in ServerState)


def test_tables_only_mention_their_own_enums() -> None:
    for (state, trigger), target in CLIENT_TRANSITIONS.items():
        assert isinstance(state, ClientState)
        assert isinstance(trigger, ClientTrigger)
        assert isinstance(target, ClientState)
    for (server_state, server_trigger), server_target in SERVER_TRANSITIONS.items():
        assert isinstance(server_state, ServerState)
        assert isinstance(server_trigger, ServerTrigger)
        assert isinstance(server_target, ServerState)


def test_remote_trigger_sets() -> None:
    expected_client = {CT.TASK_STARTED, CT.RESULT, CT.TASK_FINISHED, CT.TASK_FAILED}
    expected_server = {ST.RUN_TASK, ST.AUDIO, ST.CONTINUE_TASK, ST.FINISH_TASK}
    assert expected_client == CLIENT_REMOTE_TRIGGERS
    assert expected_server == SERVER_REMOTE_TRIGGERS


def test_only_task_finished_returns_to_idle() -> None:
    client_to_idle = {trigger for (_s, trigger), target in CLIENT_TRANSITIONS.items() if target is C.IDLE}
    server_to_idle = {trigger for (_s, trigger), target in SERVER_TRANSITIONS.items() if target is S.IDLE}
    assert client_to_idle == {CT.TASK_FINISHED}
    assert server_to_idle == {ST.TASK_FINISHED}


def test_allows_matches_fire() -> None:
    for state in ClientState:
        for trigger in ClientTrigger:
            m = client_machine()
            m.state = state
            allowed = m.allows(trigger)
            try:
                m.fire(trigger)
            except (LocalProtocolError, RemoteProtocolError):
                assert not allowed
            else:
                assert allowed
