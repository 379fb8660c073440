"""Alembic environment: migrations always run on the engine keystone_lite hands in."""
from alembic import context

from keystone_lite.db.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
