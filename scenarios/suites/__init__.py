"""The QA scenario suites: CRM business flows, each inside a test tenant (see `scenarios`)."""
