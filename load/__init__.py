"""Load runs and the go/no-go verdict.

Will hold the Locust traffic models (personas inside test tenants), the orchestrator that runs
Locust in its own process and alternates the primary and candidate arms, and the pure gate
evaluation that turns raw request timings into GO / NO-GO / INCONCLUSIVE / INVALID.
"""
