"""The web's view of Data Exchange (the school's MIS connection), through
``frs.services.data_exchange.DataExchange`` when it is installed.

Without that module the status box says "not connected" and offers no action, so the portal works
on its own. Every rule (who may enable, what connecting needs) stays in the DataExchange service.
"""

from __future__ import annotations

from typing import Any

from ..storage.service import Refused

NOT_CONNECTED, CONNECTED, ENABLED = "not connected", "connected", "enabled"


class DataExchangeAdapter:
    def __init__(self, service, impl: Any = None):
        if impl is None:
            try:
                from ..services.data_exchange import DataExchange
            except ImportError:
                impl = None
            else:
                impl = DataExchange(service)
        self.impl = impl

    @property
    def available(self) -> bool:
        return self.impl is not None

    def status(self, actor, school_dfe: str) -> dict[str, Any]:
        """``state``, ``partner``, ``mis_id``, ``last_pull``, ``last_error``, plus ``available``."""
        blank = {"state": NOT_CONNECTED, "partner": None, "mis_id": None, "last_pull": None, "last_error": None}
        if self.impl is None:
            return {**blank, "available": False}
        status = self.impl.status(actor, school_dfe)
        data = status.to_dict() if hasattr(status, "to_dict") else dict(status)
        return {**blank, **data, "available": True}

    def _call(self, name: str, *args, **kwargs):
        if self.impl is None:
            raise Refused("Data Exchange is not available on this service yet.", code="not-available")
        return getattr(self.impl, name)(*args, **kwargs)

    def enable(self, actor, school_dfe: str):
        return self._call("enable", actor, school_dfe)

    def disable(self, actor, school_dfe: str):
        return self._call("disable", actor, school_dfe)

    def connect(self, actor, school_dfe: str, partner: str, mis_id: str | None = None):
        return self._call("connect", actor, school_dfe, partner, mis_id=mis_id)
