"""Compiled flow versions, kept for the container's life: versions never change."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.flow import MAX_TRANSITIONS_LIMIT
from flowcore.ports import FlowRepository


class FlowCache:
    """`ceiling` caps every version's `max_transitions` (a deployment may lower it after flows were stored)."""

    def __init__(self, flows: FlowRepository, size: int = 256, ceiling: int = MAX_TRANSITIONS_LIMIT) -> None:
        self._repository = flows
        self._size = size
        self._ceiling = ceiling
        self._flows: OrderedDict[tuple[str, int], CompiledFlow] = OrderedDict()

    def get(self, flow_id: str, version: int) -> CompiledFlow:
        key = (flow_id, version)
        flow = self._flows.get(key)
        if flow is None:
            definition = self._repository.get(flow_id, version).definition
            if definition.max_transitions > self._ceiling:
                definition = replace(definition, max_transitions=self._ceiling)
            flow = CompiledFlow.build(flow_id, version, definition)
            self._flows[key] = flow
            if len(self._flows) > self._size:
                self._flows.popitem(last=False)
        else:
            self._flows.move_to_end(key)
        return flow
