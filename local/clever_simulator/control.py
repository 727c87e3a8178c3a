"""Local-only control endpoints (``/__sim/...``) the devstack uses to switch faults and scenarios."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, ValidationError

from clever_simulator.faults import FaultRequest

if TYPE_CHECKING:
    from clever_simulator.server import CleverSimulator


class ScenarioRequest(BaseModel):
    """Body of ``POST /__sim/scenario``: a scenario name and its keyword arguments."""

    model_config = ConfigDict(extra="forbid")

    name: str
    params: dict[str, Any] = {}


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _invalid(error: ValidationError) -> Response:
    return _json({"error": "invalid_request", "details": json.loads(error.json())}, 400)


def control_blueprint(sim: CleverSimulator) -> Blueprint:
    blueprint = Blueprint("simulator_control", __name__)

    @blueprint.post("/faults")
    def set_faults() -> Response:
        try:
            fault_request = FaultRequest.model_validate(request.get_json(silent=True) or {})
        except ValidationError as error:
            return _invalid(error)
        sim.faults.apply(fault_request)
        return _json(sim.state())

    @blueprint.post("/scenario")
    def apply_scenario() -> Response:
        try:
            scenario = ScenarioRequest.model_validate(request.get_json(silent=True) or {})
        except ValidationError as error:
            return _invalid(error)
        try:
            effect = sim.scenarios.apply(scenario.name, scenario.params)
        except KeyError as error:
            return _json({"error": "unknown", "message": f"unknown scenario or id: {error}"}, 404)
        except (TypeError, ValueError, LookupError) as error:
            return _json({"error": "invalid_request", "message": str(error)}, 400)
        return _json(effect.as_json())

    @blueprint.get("/state")
    def state() -> Response:
        return _json(sim.state())

    @blueprint.post("/reset")
    def reset() -> Response:
        sim.reset()
        return _json(sim.state())

    return blueprint
