"""QA scenario suites: CRM business flows run against primary, candidate or both.

Will hold the domain-level drivers (legacy monolith API, new REST and GraphQL services) and the
pytest suites QA runs inside test tenants, with Allure labels, steps and attachments.
"""
