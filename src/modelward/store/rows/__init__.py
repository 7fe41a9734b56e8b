"""Tables (SQLAlchemy 2 typed rows), one module per aggregate. Private to ``modelward.store``.

Importing this package registers every table on ``Base.metadata`` (Alembic compares
against it), and re-exports the row classes.
"""

from modelward.store.rows.audit import AuditEventRow  # noqa: F401
from modelward.store.rows.auth import TokenRow, UserRow
from modelward.store.rows.base import Base
from modelward.store.rows.lineage import (  # noqa: F401  (registers the lineage tables)
    LineageArtifactRow,
    LineageAssociationRow,
    LineageContextRow,
    LineageEventRow,
    LineageExecutionRow,
)
from modelward.store.rows.mlflow import MlflowLoggedModelRow  # noqa: F401
from modelward.store.rows.predictions import PredictionFeedbackRow, PredictionIndexRow  # noqa: F401
from modelward.store.rows.model_cards import ModelCardAttachmentRow, ModelCardRevisionRow  # noqa: F401
from modelward.store.rows.registry import (  # noqa: F401  (registers the registry tables)
    ModelAliasEventRow,
    ModelAliasRow,
    ModelVersionFileRow,
    ModelVersionRow,
    ModelVersionTagRow,
    RegisteredModelRow,
    RegisteredModelTagRow,
)
from modelward.store.rows.governance import (  # noqa: F401  (registers the governance tables)
    BusinessImpactRow,
    ChecklistRow,
    EvaluationRow,
    PolicyRow,
    ReviewRow,
    RiskRow,
)
from modelward.store.rows.webhooks import WebhookDeliveryRow, WebhookRow  # noqa: F401
from modelward.store.rows.deployments import DeploymentRevisionRow, DeploymentRow  # noqa: F401
from modelward.store.rows.kpis import BusinessMetricRow  # noqa: F401
from modelward.store.rows.alerts import AlertEventRow, AlertStateRow, SchedulerLeaseRow  # noqa: F401
from modelward.store.rows.explanations import ExplanationRow  # noqa: F401
from modelward.store.rows.data_checks import DataCheckRow  # noqa: F401
from modelward.store.rows.personal_data import PersonalDataScanRow  # noqa: F401
from modelward.store.rows.tracking import (
    BlobRow,
    ExperimentRow,
    ExperimentTagRow,
    LatestMetricRow,
    MetricRow,
    ParamRow,
    RunArtifactRow,
    RunLogRow,
    RunNoteRow,
    RunRow,
    RunWriterRow,
    TagRow,
)

__all__ = [
    "Base",
    "BlobRow",
    "ExperimentRow",
    "ExperimentTagRow",
    "LatestMetricRow",
    "MetricRow",
    "ParamRow",
    "RunArtifactRow",
    "RunLogRow",
    "RunNoteRow",
    "RunRow",
    "RunWriterRow",
    "TagRow",
    "TokenRow",
    "UserRow",
]
