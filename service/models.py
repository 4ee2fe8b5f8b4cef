"""Every domain's tables, imported in one place for Alembic and the schema test."""

from service.alerts import models as alerts_models
from service.auth import models as auth_models
from service.communities import models as communities_models
from service.db import Base
from service.feeds import models as feeds_models
from service.hazards import models as hazards_models
from service.jobs import models as jobs_models
from service.messaging import models as messaging_models
from service.ops import models as ops_models
from service.risk import models as risk_models
from service.shelters import models as shelters_models
from service.table_changes import table_changes

__all__ = [
    "Base",
    "alerts_models",
    "auth_models",
    "communities_models",
    "feeds_models",
    "hazards_models",
    "jobs_models",
    "messaging_models",
    "ops_models",
    "risk_models",
    "shelters_models",
    "table_changes",
]
