"""One `transitions.Machine` per process type of a definition (auto_transitions off), driving ONE model that
stays attached: a command sets the model's state and fires, under a lock (the web server fires from several
threads). No process is ever attached, so memory does not grow with the number of agreements, and no command pays
for `Machine.add_model` building the trigger methods (bench/: that was most of the machine's cost)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from transitions import Machine, MachineError

from convenant.engine.definitions import ProcessSpec, WorkflowDefinition


class _Attached:
    """The model a machine drives: the state of the command being fired and the condition to test branches."""

    trigger: Callable[[str], bool]      # added to the model by transitions.Machine.add_model

    def __init__(self) -> None:
        self.state: str = ""
        self.test: Callable[[str], bool] | None = None


class ProcessMachine:
    def __init__(self, wf: WorkflowDefinition, ptype: str) -> None:
        self.spec: ProcessSpec = wf.process(ptype)
        self.machine = Machine(model=None, states=list(self.spec.states), initial=self.spec.initial,
                               auto_transitions=False, send_event=True, ignore_invalid_triggers=False)
        self.model = _Attached()
        self.machine.add_model(self.model, initial=self.spec.initial)
        self._lock = threading.Lock()
        for trig in self.spec.triggers:
            sources: list[Any] = list(expand_sources(wf, trig.source))
            for branch in trig.branches:
                self.machine.add_transition(trig.name, sources, branch.dest, conditions=[self._when(branch.when)])
            self.machine.add_transition(trig.name, sources, trig.dest if trig.dest else None)

    @staticmethod
    def _when(name: str) -> Callable:
        return lambda event: event.model.test(name)

    def fire(self, state: str, trigger: str, test: Callable[[str], bool]) -> str:
        """The destination state of `trigger` from `state`, with branch conditions answered by `test`."""
        model = self.model
        with self._lock:
            model.state, model.test = state, test
            try:
                model.trigger(trigger)
            except MachineError as exc:
                raise ValueError(str(exc)) from None
            finally:
                model.test = None  # keep no command's context alive between commands
            return model.state


def expand_sources(wf: WorkflowDefinition, sources: list[str]) -> list[str]:
    out: list[str] = []
    for src in sources:
        out.extend(wf.groups[src[1:]] if src.startswith("@") else [src])
    return out


class Machines:
    """The machines of all loaded definitions, built once."""

    def __init__(self) -> None:
        self._machines: dict[tuple[str, int, str], ProcessMachine] = {}

    def get(self, wf: WorkflowDefinition, ptype: str) -> ProcessMachine:
        key = (wf.name, wf.version, ptype)        # each version of a definition its own machine
        if key not in self._machines:
            self._machines[key] = ProcessMachine(wf, ptype)
        return self._machines[key]
