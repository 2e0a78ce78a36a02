"""Load runs inside test tenants and the go/no-go verdict.

The same offered load goes to the primary (monolith) and the candidate (new services) in
interleaved pairs of Locust runs; every request's raw timing is kept, and gates written like k6
thresholds (`p95 < 300ms`, `error_rate < 0.5%`, `rps >= 200`, `p95 <= 1.10x primary`) turn them
into one verdict per endpoint, worst wins: GO (exit 0), NO-GO (10), INCONCLUSIVE (11),
INVALID (12). The CLI (`cutover load run|compare`) is the composition root; nothing here reads
configuration files or the environment for settings.

Layers (pure core first, thin adapters after)::

    gates      the gate grammar: parse_gate -> Gate                                   (pure)
    settings   the `load:` section: profiles, gates, policy, environments and caps    (pure)
    stats      exact percentiles, ratio bounds resampling whole runs (seeded)         (pure)
    runs       raw samples of one run, and its steady-state view                      (pure)
    verdict    evaluate(gates, primary runs, candidate runs, policy) -> Verdict       (pure)
    routes     the CRM operations and their route on each arm                         (pure)
    plan       admit / plan_run: the safety checks and what one Locust run must do   (pure)
    calibration  the A/A run-to-run spread and the suggested noise floor              (pure)
    charts     inline SVG latency distributions                                       (pure)
    samplefile the compact raw-sample file format
    recorder   every request's timing in a Locust process, by one monotonic clock
    locustfile personas and the recorder's hooks, run only inside Locust's own processes
    launcher   runs one arm as Locust processes (local, master + N workers, remote workers)
    campaign   the orchestrator: run_target, compare (A B B A ...), calibrate (A/A),
               tenant discovery
    report     verdict.json, verdict.md, verdict.html, Allure results

Errors (each message is one paragraph: what failed, why it matters, what to do)::

    LoadError
     ├── GateError    a gate that cannot be parsed or makes no sense
     ├── PlanError    a run that must not start: unknown profile, rate above the cap,
     │                a client that is not a (registered) test tenant, tenant data unreadable
     └── RunError     a Locust run that failed, overran its deadline or left no results
"""

from load.errors import GateError, LoadError, PlanError, RunError
from load.gates import Gate, parse_gate
from load.settings import GateSet, LoadSettings, Policy, Profile
from load.verdict import EXIT_CODES, Outcome, Verdict, evaluate

__all__ = [
    "EXIT_CODES",
    "Gate",
    "GateError",
    "GateSet",
    "LoadError",
    "LoadSettings",
    "Outcome",
    "PlanError",
    "Policy",
    "Profile",
    "RunError",
    "Verdict",
    "evaluate",
    "parse_gate",
]
