"""QA scenario suites: CRM business flows run against the primary, the candidate, or both.

    domain    canonical documents of each side's answers (pure)
    parity    "both" mode: both answers compared by the shadow comparison core, redacted (pure)
    guard     the production guard: mutating scenarios only inside test tenants (pure)
    settings  the `scenarios:` section (`ScenarioSettings`) and the run's `ScenarioContext`
    drivers   LegacyDriver, RestDriver, GraphQLDriver: domain actions over httpx
    flow      `Flow`: the domain against one side or both, steps, latency budget
    labels    `scenario(...)`: Allure labels + readonly/mutating marker of a scenario
    plugin    the pytest plugin (options, markers, guard, fixtures, Allure attachments)
    runner    `run(config_path, target, env, out_dir) -> Summary` in a child pytest process
    suites/   the scenarios themselves

Contract with readers of the results (readiness, issue 9). Every scenario carries the Allure
labels `epic`/`feature`/`story` (business area), `severity`, one `route` label per shadow route
it exercises (names of `shadow.routes[].name`: client, debtors, debtor, debts, debt,
debt_status, payments, payment, notes, note, plan, dump, dump_status, dump_file, graphql) and a
`target` label (primary | candidate | both). The JUnit XML (`--junitxml`, by `make scenarios` at
reports/scenarios/junit.xml) has the same as `<property name="route" value=...>` (one per
route) and `<property name="target" ...>` on each test case. Allure results go to
reports/allure-results.

Errors::

    ScenarioError
     ├── RefusalError   the API refused an action on purpose (a domain answer, with a code)
     ├── TargetError    a side failed: no answer, HTTP 5xx, an unreadable body
     ├── ParityError    (also AssertionError) both sides answered differently: paths and values
     └── LatencyError   (also AssertionError) an action exceeded scenarios.latency_budget_ms
"""
