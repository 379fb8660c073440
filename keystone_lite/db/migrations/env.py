"""Alembic environment: migrations always run on the engine keystone_lite hands in.

On SQLite, foreign keys are off while migrations run: changing a table's constraints rebuilds
the table (batch mode), and with keys on, dropping the old table would cascade-delete every
row that references it (migration 0007 rebuilds ``roles``: the grants would go). This is
SQLite's documented procedure: keys switched off outside the transaction (inside, the PRAGMA
does nothing), checked with ``foreign_key_check`` before the commit, switched on again.
"""
from alembic import context

from keystone_lite.db.models import Base, every_table

every_table()  # maps the tables of feature_models too: target_metadata is the whole schema
engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
    try:
        with connection.begin():
            context.configure(connection=connection, target_metadata=Base.metadata,
                              render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"migration left rows without their parent: {broken[:5]}")
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys = ON")
