"""The CRM operations the load personas perform, and the route each arm serves them on.

Pure data. The same logical endpoint (`debtor`, `payment`, ...) has one URL on the monolith and
another on the new services; every request is named (`name=`) by the route template of the arm it
hits, and the verdict pairs the arms by logical endpoint. The locustfile builds its requests from
this table; the orchestrator uses it to map route templates back to endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

from load.runs import Arm
from load.settings import Persona


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    persona: Persona
    primary: Route
    candidate: Route

    def route(self, arm: Arm) -> Route:
        return self.primary if arm == "primary" else self.candidate


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "debtor",
        "agent",
        Route("GET", "/api/debtor.php?id={id}"),
        Route("GET", "/v2/accounts/{id}"),
    ),
    Endpoint(
        "debtors",
        "agent",
        Route("GET", "/api/debtors.php?client={client}&page={page}"),
        Route("GET", "/v2/clients/{client}/accounts?page={page}"),
    ),
    Endpoint(
        "payment",
        "payments",
        Route("POST", "/api/payment.php"),
        Route("POST", "/v2/accounts/{id}/payments"),
    ),
    Endpoint(
        "dashboard",
        "dashboard",
        Route("GET", "/api/client.php?id={client}"),
        Route("POST", "/graphql#dashboard"),
    ),
    Endpoint(
        "dump",
        "dump",
        Route("POST", "/api/dump.php"),
        Route("POST", "/v2/clients/{client}/account-dumps"),
    ),
    Endpoint(
        "dump_status",
        "dump",
        Route("GET", "/api/dump_status.php?job={job}"),
        Route("GET", "/v2/account-dumps/{job}"),
    ),
)
BY_NAME = {endpoint.name: endpoint for endpoint in ENDPOINTS}


def endpoint_of(arm: Arm) -> dict[str, str]:
    """Request name (`METHOD template`) on `arm` -> logical endpoint name."""
    return {str(e.route(arm)): e.name for e in ENDPOINTS}
