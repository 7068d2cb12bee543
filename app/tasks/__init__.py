"""The tasks gatescope trains on, by name: data generated (or read from this machine), a loss, a metric.

task = get_task("adding")
inputs, targets = task.batch(32, 100, torch.Generator().manual_seed(0))   # (32, 100, 2), (32,)
loss = task.loss(head(module(inputs)[0]), targets)
"""

from app.tasks.adding import Adding
from app.tasks.anbn import AnBn
from app.tasks.base import HELD_OUT_SEED, Preset, Split, Task
from app.tasks.charlm import CharLM
from app.tasks.recall import Recall
from app.tasks.sines import Sines

TASKS: dict[str, Task] = {task.name: task for task in (CharLM(), Adding(), Recall(), AnBn(), Sines())}


def get_task(name: str) -> Task:
    """The task called ``name``; ValueError naming the known tasks otherwise."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


__all__ = ["HELD_OUT_SEED", "TASKS", "Preset", "Split", "Task", "get_task"]
