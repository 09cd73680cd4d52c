"""The state machines of both ends of a connection, each defined by one table.

Rule: every state transition of the protocol lives in this file, as data. A trigger that
is not in the table for the current state is illegal: triggered by this side it raises
:class:`LocalProtocolError`, triggered by the peer it raises :class:`RemoteProtocolError`
and the machine enters its terminal failure state. Both messages name the state.

The diagrams below and in docs/PROTOCOL.md §5.1 are drawn from the tables by
:func:`mermaid` (``python scripts/render_states.py``); a test fails when they drift.

Client (one WebSocket connection runs one task at a time; reuse after task-finished):

.. BEGIN GENERATED: client states
::

    stateDiagram-v2
        [*] --> IDLE
        IDLE --> STARTING: send run-task
        IDLE --> FAILED: receive task-failed, receive an invalid frame
        STARTING --> STREAMING: receive task-started
        STARTING --> FAILED: receive task-failed, receive an invalid frame
        STREAMING --> STREAMING: send audio, send continue-task, receive result-generated
        STREAMING --> FINISHING: send finish-task
        STREAMING --> FAILED: receive task-failed, receive an invalid frame
        STREAMING --> IDLE: receive task-finished
        FINISHING --> FINISHING: receive result-generated
        FINISHING --> IDLE: receive task-finished
        FINISHING --> FAILED: receive task-failed, receive an invalid frame
        IDLE --> CLOSED: connection lost
        STARTING --> CLOSED: connection lost
        STREAMING --> CLOSED: connection lost
        FINISHING --> CLOSED: connection lost
        FAILED --> CLOSED: connection lost
        CLOSED --> CLOSED: connection lost

.. END GENERATED: client states

Server: the mirror image, with ``STARTING`` meaning "run-task received, not yet answered":

.. BEGIN GENERATED: server states
::

    stateDiagram-v2
        [*] --> IDLE
        IDLE --> STARTING: receive run-task
        STARTING --> RUNNING: send task-started
        RUNNING --> RUNNING: receive audio, receive continue-task, send result-generated
        RUNNING --> FINISHING: receive finish-task
        FINISHING --> FINISHING: send result-generated
        FINISHING --> IDLE: send task-finished
        IDLE --> FAILED: send task-failed
        STARTING --> FAILED: send task-failed
        RUNNING --> FAILED: send task-failed
        FINISHING --> FAILED: send task-failed
        IDLE --> CLOSED: connection lost
        STARTING --> CLOSED: connection lost
        RUNNING --> CLOSED: connection lost
        FINISHING --> CLOSED: connection lost
        FAILED --> CLOSED: connection lost
        CLOSED --> CLOSED: connection lost

.. END GENERATED: server states
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Generic, TypeVar

from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "CLIENT_TRANSITIONS",
    "SERVER_TRANSITIONS",
    "ClientState",
    "ClientTrigger",
    "ServerState",
    "ServerTrigger",
    "StateMachine",
    "mermaid",
]


class ClientState(enum.Enum):
    IDLE = "idle"
    STARTING = "starting"
    STREAMING = "streaming"
    FINISHING = "finishing"
    FAILED = "failed"
    CLOSED = "closed"


class ClientTrigger(enum.Enum):
    # sent by the client
    RUN_TASK = "send run-task"
    SEND_AUDIO = "send audio"
    CONTINUE_TASK = "send continue-task"
    FINISH_TASK = "send finish-task"
    # received from the server
    TASK_STARTED = "receive task-started"
    RESULT = "receive result-generated"
    TASK_FINISHED = "receive task-finished"
    TASK_FAILED = "receive task-failed"
    # A frame no event describes (malformed JSON, a binary frame, another task's id): the
    # peer broke the protocol, so the connection cannot be trusted any more.
    PROTOCOL_VIOLATION = "receive an invalid frame"
    # the transport
    CONNECTION_LOST = "connection lost"


_C, _CT = ClientState, ClientTrigger

CLIENT_TRANSITIONS: Mapping[tuple[ClientState, ClientTrigger], ClientState] = {
    (_C.IDLE, _CT.RUN_TASK): _C.STARTING,
    # The service may fail a connection between tasks (e.g. before it is reused).
    (_C.IDLE, _CT.TASK_FAILED): _C.FAILED,
    (_C.STARTING, _CT.TASK_STARTED): _C.STREAMING,
    (_C.STARTING, _CT.TASK_FAILED): _C.FAILED,
    (_C.STREAMING, _CT.SEND_AUDIO): _C.STREAMING,
    (_C.STREAMING, _CT.CONTINUE_TASK): _C.STREAMING,
    (_C.STREAMING, _CT.RESULT): _C.STREAMING,
    (_C.STREAMING, _CT.FINISH_TASK): _C.FINISHING,
    (_C.STREAMING, _CT.TASK_FAILED): _C.FAILED,
    # The service may end a task on its own; the task is then over and the socket reusable.
    (_C.STREAMING, _CT.TASK_FINISHED): _C.IDLE,
    (_C.FINISHING, _CT.RESULT): _C.FINISHING,
    (_C.FINISHING, _CT.TASK_FINISHED): _C.IDLE,
    (_C.FINISHING, _CT.TASK_FAILED): _C.FAILED,
    # Failed and closed are terminal: a violation there changes nothing.
    **{(state, _CT.PROTOCOL_VIOLATION): _C.FAILED for state in (_C.IDLE, _C.STARTING, _C.STREAMING, _C.FINISHING)},
    **{(state, _CT.CONNECTION_LOST): _C.CLOSED for state in ClientState},
}

#: Triggers that come from the peer; illegal ones are the peer's fault.
CLIENT_REMOTE_TRIGGERS = frozenset({_CT.TASK_STARTED, _CT.RESULT, _CT.TASK_FINISHED, _CT.TASK_FAILED})


class ServerState(enum.Enum):
    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    FINISHING = "finishing"
    FAILED = "failed"
    CLOSED = "closed"


class ServerTrigger(enum.Enum):
    # received from the client
    RUN_TASK = "receive run-task"
    AUDIO = "receive audio"
    CONTINUE_TASK = "receive continue-task"
    FINISH_TASK = "receive finish-task"
    # sent by the server
    TASK_STARTED = "send task-started"
    RESULT = "send result-generated"
    TASK_FINISHED = "send task-finished"
    TASK_FAILED = "send task-failed"
    # the transport
    CONNECTION_LOST = "connection lost"


_S, _ST = ServerState, ServerTrigger

SERVER_TRANSITIONS: Mapping[tuple[ServerState, ServerTrigger], ServerState] = {
    (_S.IDLE, _ST.RUN_TASK): _S.STARTING,
    (_S.STARTING, _ST.TASK_STARTED): _S.RUNNING,
    (_S.RUNNING, _ST.AUDIO): _S.RUNNING,
    (_S.RUNNING, _ST.CONTINUE_TASK): _S.RUNNING,
    (_S.RUNNING, _ST.RESULT): _S.RUNNING,
    (_S.RUNNING, _ST.FINISH_TASK): _S.FINISHING,
    (_S.FINISHING, _ST.RESULT): _S.FINISHING,
    (_S.FINISHING, _ST.TASK_FINISHED): _S.IDLE,
    # A task can fail at any point, even before it started (e.g. audio before run-task).
    **{(state, _ST.TASK_FAILED): _S.FAILED for state in (_S.IDLE, _S.STARTING, _S.RUNNING, _S.FINISHING)},
    **{(state, _ST.CONNECTION_LOST): _S.CLOSED for state in ServerState},
}

SERVER_REMOTE_TRIGGERS = frozenset({_ST.RUN_TASK, _ST.AUDIO, _ST.CONTINUE_TASK, _ST.FINISH_TASK})

S = TypeVar("S", bound=enum.Enum)
T = TypeVar("T", bound=enum.Enum)


class StateMachine(Generic[S, T]):
    """Applies triggers to a state according to a transition table.

    ``remote`` is the set of triggers caused by the peer; ``failed`` is the state an illegal
    remote trigger leads to (None: the state is left as it was, for the owner to decide).
    """

    def __init__(
        self, table: Mapping[tuple[S, T], S], initial: S, *, remote: frozenset[T], failed: S | None, role: str
    ) -> None:
        self._table = table
        self._remote = remote
        self._failed = failed
        self._role = role
        self.state = initial

    def fire(self, trigger: T) -> S:
        """Apply ``trigger``; return the new state or raise if the table does not allow it."""
        new = self._table.get((self.state, trigger))
        if new is None:
            message = f"cannot {trigger.value}: {self._role} is {self.state.value}"
            if trigger in self._remote:
                if self._failed is not None:
                    self.state = self._failed
                raise RemoteProtocolError(message)
            raise LocalProtocolError(message)
        self.state = new
        return new

    def allows(self, trigger: T) -> bool:
        """Whether ``trigger`` is legal now."""
        return (self.state, trigger) in self._table


def client_machine() -> StateMachine[ClientState, ClientTrigger]:
    """A client connection: a peer violation fails the connection (it cannot be trusted)."""
    return StateMachine(
        CLIENT_TRANSITIONS, ClientState.IDLE, remote=CLIENT_REMOTE_TRIGGERS, failed=ClientState.FAILED, role="task"
    )


def server_machine() -> StateMachine[ServerState, ServerTrigger]:
    """A server connection: a client violation leaves the state for the server to answer with task-failed."""
    return StateMachine(SERVER_TRANSITIONS, ServerState.IDLE, remote=SERVER_REMOTE_TRIGGERS, failed=None, role="task")


def mermaid(table: Mapping[tuple[S, T], S], initial: S) -> str:
    """``table`` as a Mermaid ``stateDiagram-v2``: one arrow per pair of states, in table order.

    An arrow's label lists the triggers that take it, so the drawing has exactly the
    transitions of the table, no more and no fewer.
    """
    arrows: dict[tuple[S, S], list[str]] = {}
    for (source, trigger), target in table.items():
        arrows.setdefault((source, target), []).append(trigger.value)
    lines = ["stateDiagram-v2", f"    [*] --> {initial.name}"]
    lines += [f"    {source.name} --> {target.name}: {', '.join(names)}" for (source, target), names in arrows.items()]
    return "\n".join(lines)
