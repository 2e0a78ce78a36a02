"""A test tenant written straight into a registry, for tests of what reads the registry (the
shadow proxy's lookup) without building the tenant's rows."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from fixtures import registry


def register(url: str, tenant_id: int, size: int = 1000) -> range:
    """Register a ready test tenant with the id block [tenant_id, tenant_id + size) in the
    registry of the database at `url` (its tables created if missing); return the block."""
    engine = sa.create_engine(url)
    try:
        registry.REGISTRY.create_all(engine)
        with engine.begin() as conn:
            registry.insert_tenant(conn, registry.TenantRecord(
                tenant_id=tenant_id, id_end=tenant_id + size, run_id="r1", marker="ZZTEST",
                label="registry test", profile="small", debtors=1, seed=1, state="ready",
                created_at=datetime.now(UTC).replace(tzinfo=None), keep_until=None,
            ))  # fmt: skip
    finally:
        engine.dispose()
    return range(tenant_id, tenant_id + size)
