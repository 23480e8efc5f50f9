"""Parallel branches in a flow that can branch: where they meet (joins) and how much work they may do (budgets).

Joins are synchronizing merges (WCP-7), decided by counting, not by timing. Once an execution has forked,
each live branch is counted, for every join point some path from its task leads to, in that join's
`reaching` count. A branch routed to a join point waits there; the join runs once, when no live branch can
still reach it (nor a join with branches waiting that leads to it), merging every branch that waits: a
branch that routes away, or ends, stops holding it. Before any fork there is one branch and nothing is
counted, so a path that loops through a join point passes straight through. A branch that ends in an
unhandled failure marks every join it could have reached: such a join does not run, the branches waiting at
it end there, and the execution is FAILED when the last branch has ended.

Every run counts against the flow's `max_transitions`. A path that never forked is bounded by its step
number; from the first fork on, each branch carries a budget of runs it may start, handed out from the
execution's pool (`runs_left`) in chunks and given back when the branch ends or waits. So only a fork, an
end, a wait, a branch turning away from a join or an exhausted budget writes the execution item; a step,
and the last branch reaching its join, do not.

`plan` is pure: the runner commits what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.records import MAX_JOIN_LABELS, ExecutionRecord, JoinState, RunRef
from flowcore.domain.routing import Decision

#: Runs handed to a branch at a time; a branch that used them up asks the pool for more.
CHUNK = 64


@dataclass(frozen=True, slots=True)
class NewRun:
    """A run a commit creates PENDING: a successor, or a join's run."""

    ref: RunRef
    budget: int | None = None  # None: on a path that never forked
    arrived: tuple[str, ...] = ()  # a join's run: the runs that reached the join, by label (the first 32)
    merged: int = 0  # a join's run: how many of them the execution still lists as waiting (cleared at its commit)
    arrived_total: int | None = None  # a join's run: how many arrived, when more than `arrived` lists
    predecessor: str | None = None  # the run that led to it, by label (kept when the flow reads `previous`)


@dataclass(frozen=True, slots=True)
class Plan:
    runs: tuple[NewRun, ...]
    joins: dict[str, JoinState]  # the execution's joins after the commit (entries with nothing in them dropped)
    pool: int
    changes_execution: bool  # False: the execution item needs no write
    limit_exceeded: bool = False


@dataclass
class _Work:
    flow: CompiledFlow
    ref: RunRef
    joins: dict[str, JoinState]
    pool: int
    live: int  # branches live after this one ends, before its successors
    runs: list[NewRun] = field(default_factory=list)
    limit_exceeded: bool = False

    def count(self, task: str, step: int) -> None:
        """A live branch at `task` starts (+1) or stops (-1) counting for every join it can reach."""
        for join in self.flow.joins_ahead.get(task, ()):
            entry = self.joins.get(join, JoinState())
            self.joins[join] = replace(entry, reaching=entry.reaching + step)

    def fail_ahead(self, task: str) -> None:
        """A branch at `task` ended in an unhandled failure: no join it could have reached will run."""
        for join in self.flow.joins_ahead.get(task, ()):
            self.joins[join] = replace(self.joins.get(join, JoinState()), failed=True)

    def spawn(self, run: NewRun) -> None:
        self.runs.append(run)
        if run.budget is not None:
            self.count(run.ref.task_name, +1)

    def top_up(self) -> int:
        """A fresh budget from the pool, this run already counted; an empty pool exceeds the limit."""
        take = min(CHUNK, self.pool)
        if take < 1:
            self.limit_exceeded = True
            return 0
        self.pool -= take
        return take - 1

    def blocking(self, join: str) -> int:
        """Live branches that can still reach `join`, and other joins with branches waiting that lead to it."""
        upstream = sum(
            1
            for other, entry in self.joins.items()
            if other != join and entry.waiting and join in self.flow.joins_ahead.get(other, ())
        )
        return self.joins.get(join, JoinState()).reaching + upstream


def plan(
    flow: CompiledFlow, execution: ExecutionRecord, ref: RunRef, budget: int | None, merged: int, decision: Decision
) -> Plan:
    """What follows `ref`'s end in a flow that can branch: the runs to create, and the execution's joins and
    pool after it. `budget` is the ending run's (None: on a path that never forked); `merged`, for a join's
    run, how many branches it merged that the execution still lists as waiting."""
    work = _Work(flow, ref, dict(execution.joins), execution.runs_left or 0, execution.open_branches - 1)
    if merged:
        entry = work.joins.get(ref.task_name, JoinState())
        rest = max(0, entry.waiting - merged)
        work.joins[ref.task_name] = replace(
            entry, waiting=rest, labels=entry.labels[merged:], last_seq=entry.last_seq if rest else 0
        )
    if budget is not None:
        work.count(ref.task_name, -1)
        if decision.unhandled_failure:
            work.fail_ahead(ref.task_name)
    names = [successor.task_name for successor in decision.successors]
    remaining = budget if budget is not None else flow.definition.max_transitions - ref.seq
    tracked = budget is not None or len(names) > 1
    budgets = _budgets(work, names, remaining, budget is not None)
    if not (len(names) == 1 and tracked and _carry_into_join(work, names[0], budgets[0], execution)):
        for name, child in zip(names, budgets, strict=True):
            if tracked and name in flow.join_points:
                _wait(work, name, child)
            else:
                work.spawn(NewRun(RunRef(ref.execution_id, ref.seq + 1, name), child if tracked else None))
        _fire_ready(work)
    joins = {join: entry for join, entry in work.joins.items() if entry.reaching or entry.waiting}
    unchanged = (
        joins == dict(execution.joins)
        and work.pool == (execution.runs_left or 0)
        and len(work.runs) == 1
        and not work.limit_exceeded
    )
    return Plan(tuple(work.runs), joins, work.pool, not unchanged, work.limit_exceeded)


def _budgets(work: _Work, names: list[str], remaining: int, tracked: bool) -> list[int]:
    """Each successor's budget, its own run already counted."""
    if len(names) > 1:
        work.pool += remaining  # a fork: the branch's budget goes back, and is shared out
        share = min(CHUNK, work.pool // len(names))
        if share < 1:
            work.limit_exceeded = True
            return [0] * len(names)
        work.pool -= share * len(names)
        return [share - 1] * len(names)
    if not names:
        if tracked:
            work.pool += remaining
        return []
    if remaining >= 1:
        return [remaining - 1]
    if not tracked:
        work.limit_exceeded = True  # a path that never forked has used every step it has
        return [0]
    return [work.top_up()]


def _carry_into_join(work: _Work, join: str, budget: int, execution: ExecutionRecord) -> bool:
    """The last branch a join waits for becomes the join's run itself, taking its budget with it, when that
    changes no count: then the execution item is not written, and the join's run clears the waiting list."""
    ahead = work.flow.joins_ahead
    entry = work.joins.get(join, JoinState())
    if entry.failed or ahead.get(work.ref.task_name) != ahead.get(join) or work.blocking(join):
        return False
    seq = max(entry.last_seq, work.ref.seq) + 1
    arrived = (*entry.labels, work.ref.label)[:MAX_JOIN_LABELS]
    total = _total(arrived, entry.waiting + 1)
    work.spawn(NewRun(RunRef(work.ref.execution_id, seq, join), budget, arrived, entry.waiting, total))
    return True


def _wait(work: _Work, join: str, budget: int) -> None:
    """A branch waits at a join point; its budget goes back to the pool."""
    entry = work.joins.get(join, JoinState())
    labels = (*entry.labels, work.ref.label) if len(entry.labels) < MAX_JOIN_LABELS else entry.labels
    seq = max(entry.last_seq, work.ref.seq)
    work.joins[join] = replace(entry, waiting=entry.waiting + 1, labels=labels, last_seq=seq)
    work.pool += budget + 1


def _fire_ready(work: _Work) -> None:
    """Run each join nothing can reach any more. With no live branch left, the first join that waits runs even
    if another waiting join leads to it: two joins on one loop would otherwise wait for each other."""
    order = work.flow.task_order.index
    for join in sorted(work.joins, key=order):
        if work.joins[join].waiting and not work.blocking(join):
            _fire(work, join)
    waiting = sorted((join for join, entry in work.joins.items() if entry.waiting), key=order)
    if waiting and work.live + len(work.runs) == 0:
        _fire(work, waiting[0])


def _fire(work: _Work, join: str) -> None:
    entry = work.joins[join]
    work.joins[join] = replace(entry, waiting=0, labels=(), last_seq=0, failed=False)
    if entry.failed:
        return  # a branch that could have reached it failed: the join does not run, its branches end here
    ref = RunRef(work.ref.execution_id, entry.last_seq + 1, join)
    work.spawn(NewRun(ref, work.top_up(), entry.labels, arrived_total=_total(entry.labels, entry.waiting)))


def _total(labels: tuple[str, ...], total: int) -> int | None:
    """How many arrived, kept only when the labels do not say it."""
    return total if total > len(labels) else None
