"""The tasks gatescope trains on, by name: data generated (or read from this machine), a loss, a metric.

task = get_task("adding")
inputs, targets = task.batch(32, 100, torch.Generator().manual_seed(0))   # (32, 100, 2), (32,)
loss = task.loss(head(module(inputs)[0]), targets)
"""

from gatescope.zoo.tasks.adding import Adding
from gatescope.zoo.tasks.anbn import AnBn
from gatescope.zoo.tasks.base import HELD_OUT_SEED, Preset, Split, Task
from gatescope.zoo.tasks.charlm import CharLM
from gatescope.zoo.tasks.recall import Recall
from gatescope.zoo.tasks.sines import Sines

TASKS: dict[str, Task] = {task.name: task for task in (CharLM(), Adding(), Recall(), AnBn(), Sines())}


def get_task(name: str) -> Task:
    """The task called ``name``; ValueError naming the known tasks otherwise."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


__all__ = ["HELD_OUT_SEED", "TASKS", "Preset", "Split", "Task", "get_task"]
