"""Alembic's entry point for the store: everything it does is in store.migrations.run_env."""

from typing import cast

from alembic import context
from alembic.runtime.environment import EnvironmentContext

from store import migrations

migrations.run_env(cast(EnvironmentContext, context))
