"""Local-only control endpoints (``/__sim/...``) the devstack uses to switch faults and scenarios."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clever_simulator.district import GeneratedDistrict
from clever_simulator.faults import FaultRequest

if TYPE_CHECKING:
    from clever_simulator.server import CleverSimulator


class ScenarioRequest(BaseModel):
    """Body of ``POST /__sim/scenario``: a scenario name and its keyword arguments."""

    model_config = ConfigDict(extra="forbid")

    name: str
    params: dict[str, Any] = {}


class NewDistrictRequest(BaseModel):
    """Body of ``POST /__sim/districts``: a generated district that authorizes the app at once."""

    model_config = ConfigDict(extra="forbid")

    seed: int
    schools: int = Field(default=2, ge=1, le=50)
    students: int = Field(default=200, ge=10, le=20_000)
    district_admins: int = Field(default=2, ge=0, le=20)
    admin_emails: list[str] = []
    token: str | None = None


class TokenRequest(BaseModel):
    """Body of ``POST /__sim/districts/<id>/token``: the token to list (default: the district's own)."""

    model_config = ConfigDict(extra="forbid")

    token: str | None = None


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

    @blueprint.get("/districts")
    def districts() -> Response:
        return _json({"districts": sim.district_summaries()})

    @blueprint.post("/districts")
    def add_district() -> Response:
        try:
            wanted = NewDistrictRequest.model_validate(request.get_json(silent=True) or {})
        except ValidationError as error:
            return _invalid(error)
        district = GeneratedDistrict(
            wanted.seed,
            schools=wanted.schools,
            students=wanted.students,
            district_admins=wanted.district_admins,
            admin_emails=wanted.admin_emails,
        )
        try:
            token = sim.add_district(district, wanted.token)
        except ValueError as error:
            return _json({"error": "conflict", "message": str(error)}, 409)
        return _json({"district_id": district.district_id, "token": token}, 201)

    @blueprint.post("/districts/<district_id>/token")
    def connect(district_id: str) -> Response:
        try:
            wanted = TokenRequest.model_validate(request.get_json(silent=True) or {})
        except ValidationError as error:
            return _invalid(error)
        try:
            token = sim.connect(district_id, wanted.token)
        except KeyError:
            return _json({"error": "unknown", "message": f"unknown district {district_id}"}, 404)
        return _json({"district_id": district_id, "token": token})

    @blueprint.delete("/districts/<district_id>/token")
    def disconnect(district_id: str) -> Response:
        try:
            removed = sim.disconnect(district_id)
        except KeyError:
            return _json({"error": "unknown", "message": f"unknown district {district_id}"}, 404)
        return _json({"district_id": district_id, "removed_tokens": len(removed)})

    @blueprint.post("/users/<user_id>/token")
    def user_token(user_id: str) -> Response:
        """An SSO token for the user, as Log in with Clever would hand the app."""
        try:
            wanted = TokenRequest.model_validate(request.get_json(silent=True) or {})
        except ValidationError as error:
            return _invalid(error)
        try:
            token = sim.issue_user_token(user_id, wanted.token)
        except KeyError:
            return _json({"error": "unknown", "message": f"unknown user {user_id}"}, 404)
        return _json({"user_id": user_id, "token": token})

    @blueprint.get("/state")
    def state() -> Response:
        return _json(sim.state())

    @blueprint.post("/reset")
    def reset() -> Response:
        sim.reset()
        return _json(sim.state())

    return blueprint
