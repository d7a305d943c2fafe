"""One `transitions.Machine` per process type of a definition (auto_transitions off); a process is attached
only while one command runs, so memory does not grow with the number of agreements."""
from __future__ import annotations

from typing import Callable

from transitions import Machine, MachineError

from engine.definitions import ProcessSpec, WorkflowDefinition


class _Attached:
    """The model a machine drives for one command: the current state and the condition to test branches."""

    def __init__(self, state: str, test: Callable[[str], bool]) -> None:
        self.state = state
        self.test = test


class ProcessMachine:
    def __init__(self, wf: WorkflowDefinition, ptype: str) -> None:
        self.spec: ProcessSpec = wf.process(ptype)
        self.machine = Machine(model=None, states=list(self.spec.states), initial=self.spec.initial,
                               auto_transitions=False, send_event=True, ignore_invalid_triggers=False)
        for trig in self.spec.triggers:
            sources = expand_sources(wf, trig.source)
            for branch in trig.branches:
                self.machine.add_transition(trig.name, sources, branch.dest, conditions=[self._when(branch.when)])
            self.machine.add_transition(trig.name, sources, trig.dest if trig.dest else None)

    @staticmethod
    def _when(name: str) -> Callable:
        return lambda event: event.model.test(name)

    def allowed_in(self, state: str) -> list[str]:
        return self.machine.get_triggers(state)

    def fire(self, state: str, trigger: str, test: Callable[[str], bool]) -> str:
        """The destination state of `trigger` from `state`, with branch conditions answered by `test`."""
        model = _Attached(state, test)
        self.machine.add_model(model, initial=state)
        try:
            model.trigger(trigger)
        except MachineError as exc:
            raise ValueError(str(exc)) from None
        finally:
            self.machine.remove_model(model)
        return model.state


def expand_sources(wf: WorkflowDefinition, sources: list[str]) -> list[str]:
    out: list[str] = []
    for src in sources:
        out.extend(wf.groups[src[1:]] if src.startswith("@") else [src])
    return out


class Machines:
    """The machines of all loaded definitions, built once."""

    def __init__(self) -> None:
        self._machines: dict[tuple[str, str], ProcessMachine] = {}

    def get(self, wf: WorkflowDefinition, ptype: str) -> ProcessMachine:
        key = (wf.name, ptype)
        if key not in self._machines:
            self._machines[key] = ProcessMachine(wf, ptype)
        return self._machines[key]
