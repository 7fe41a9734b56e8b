"""The life-cycle table: every illegal move is refused naming the allowed ones; random sequences of
service calls never leave it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from modelward.domain.governance import TRANSITIONS, VersionState, allowed_targets, check_transition
from modelward.errors import Conflict, InvalidTransition, ModelwardError
from modelward.services import deployments, evaluations, governance, registry
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.governance.helpers import ADMIN, COMPLIANCE, RISK, cancer_frame, dataset, fair_model, register_model, set_model_policy

ALL = list(VersionState)


@pytest.mark.parametrize("current", ALL)
@pytest.mark.parametrize("target", ALL)
def test_every_pair_is_allowed_exactly_when_the_table_says(current: VersionState, target: VersionState) -> None:
    if (current, target) in TRANSITIONS:
        assert check_transition(current, target)
        return
    with pytest.raises(InvalidTransition) as refused:
        check_transition(current, target)
    message = str(refused.value)
    assert f"state '{current.value}'" in message and f"'{target.value}'" in message
    for allowed in allowed_targets(current):
        assert allowed.value in message
    if not allowed_targets(current):
        assert "final state" in message


def test_rejected_and_retired_are_terminal_and_unknown_states_move_nowhere() -> None:
    assert allowed_targets(VersionState.REJECTED) == [] and allowed_targets(VersionState.RETIRED) == []
    with pytest.raises(InvalidTransition, match="archived"):
        check_transition("archived", VersionState.IN_REVIEW)


FRAME = cancer_frame()
MODEL = fair_model(FRAME)
POLICY = """\
model: {name}
gates:
  - {{metric: roc_auc, min: 0.5}}
  - {{kpi: ok, min: 1}}
review: {{approvals: 2, roles: [risk, compliance], risk_assessment_required: false}}
"""


class LifeCycle(RuleBasedStateMachine):
    """Drives the real services on SQLite; after every call the state is in the table's reach."""

    def __init__(self) -> None:
        super().__init__()
        self.backend = Backend.from_settings(Settings(home=Path(tempfile.mkdtemp())))
        set_model_policy(self.backend, "lc", POLICY)
        self.data = dataset(self.backend, FRAME.head(120))
        self.version = register_model(self.backend, "lc", MODEL, FRAME)
        self.state = VersionState.CANDIDATE
        self.changes = 0
        self.deployed = 0

    def _apply(self, call) -> None:  # type: ignore[no-untyped-def]
        before = self.state
        try:
            call()
        except (Conflict, ModelwardError):
            pass
        after = VersionState(registry.get_version(self.backend, "lc", self.version).status)
        assert after == before or (before, after) in TRANSITIONS, (before, after)
        self.changes += after != before
        self.state = after

    @rule(passing=st.booleans())
    def evaluate(self, passing: bool) -> None:
        self._apply(lambda: evaluations.evaluate(self.backend, ADMIN, "lc", self.version, dataset=self.data,
                                                 kpis={"ok": 1 if passing else 0}))

    @rule()
    def request_review(self) -> None:
        self._apply(lambda: governance.request_review(self.backend, ADMIN, "lc", self.version))

    @rule(who=st.sampled_from([RISK, COMPLIANCE]))
    def approve(self, who) -> None:  # type: ignore[no-untyped-def]
        self._apply(lambda: governance.approve(self.backend, who, "lc", self.version))

    @rule()
    def reject(self) -> None:
        self._apply(lambda: governance.reject(self.backend, RISK, "lc", self.version, "no"))

    @rule()
    def request_changes(self) -> None:
        self._apply(lambda: governance.request_changes(self.backend, RISK, "lc", self.version, "fix it"))

    @rule()
    def deploy(self) -> None:
        self._apply(lambda: deployments.create(self.backend, ADMIN, f"lc-{self.changes}-{self.deployed}",
                                               model="lc", environment="production", version=self.version))
        self.deployed += 1

    @rule()
    def retire_deployments(self) -> None:
        for deployment in deployments.list_(self.backend):
            self._apply(lambda: deployments.retire(self.backend, ADMIN, deployment.name))

    @rule()
    def retire(self) -> None:
        self._apply(lambda: governance.retire(self.backend, ADMIN, "lc", self.version))

    @invariant()
    def state_is_known(self) -> None:
        assert isinstance(self.state, VersionState)

    def teardown(self) -> None:
        self.backend.close()


LifeCycle.TestCase.settings = settings(max_examples=12, stateful_step_count=12, deadline=None,
                                       suppress_health_check=list(HealthCheck))
test_life_cycle_never_leaves_the_table = LifeCycle.TestCase
