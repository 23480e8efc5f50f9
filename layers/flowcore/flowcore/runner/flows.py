"""Compiled flow versions, kept for the container's life: versions never change."""

from __future__ import annotations

from collections import OrderedDict

from flowcore.domain.compiled import CompiledFlow
from flowcore.ports import FlowRepository


class FlowCache:
    def __init__(self, flows: FlowRepository, size: int = 256) -> None:
        self._repository = flows
        self._size = size
        self._flows: OrderedDict[tuple[str, int], CompiledFlow] = OrderedDict()

    def get(self, flow_id: str, version: int) -> CompiledFlow:
        key = (flow_id, version)
        flow = self._flows.get(key)
        if flow is None:
            record = self._repository.get(flow_id, version)
            flow = CompiledFlow.build(flow_id, version, record.definition)
            self._flows[key] = flow
            if len(self._flows) > self._size:
                self._flows.popitem(last=False)
        else:
            self._flows.move_to_end(key)
        return flow
