"""Policies as code: store each YAML policy as a new version, audit every change, and compute
the one effective policy of a model.

Scopes: ``global`` (merged into every model's policy), ``default`` (the organisation's policy
for models with neither a policy of their own nor a tier policy), ``tier:<risk tier>`` and
``model:<registered model name>``. The scope is what the YAML declares (``model:`` and/or
``risk_tier:``); ``default`` is chosen explicitly. A model's risk tier is its model policy's
``risk_tier``, else the model's ``risk_tier`` tag (a governed field: see ``check_governed_change``).

A model policy binds to the model's identity: once the model exists, a rename takes the
policy along, and a new model under an old name starts without it. The evaluation dataset
a policy names is pinned by digest when the policy is stored; gates read those bytes.
A policy change voids approvals given under the policy's earlier version (approved versions
go back to review, on the audit trail).
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.governance import StoredPolicy, VersionState, counting_roles
from modelward.domain.policy import Policy, merge_policies, parse_policy_yaml
from modelward.errors import InvalidInput, NotFound, PermissionDenied, PolicyViolation
from modelward.services import audit
from modelward.services.backend import Backend
from modelward.services.lifecycle import transition
from modelward.store import artifact_index
from modelward.store import governance as store
from modelward.store import registry as registry_store
from modelward.store import runs as run_store

GLOBAL = "global"
DEFAULT = "default"
RISK_TIER_TAG = "risk_tier"
MAX_DIFF_CHARS = 8000


def scope_of(policy: Policy) -> str:
    if policy.model is not None:
        return f"model:{policy.model}"
    if policy.risk_tier is not None:
        return f"tier:{policy.risk_tier.value}"
    return GLOBAL


def _check_scope(scope: str | None, declared: str) -> str:
    if scope in (None, "", declared):
        return declared
    if scope == DEFAULT and declared == GLOBAL:
        return DEFAULT
    raise InvalidInput(
        f"policy scope '{scope}' does not match what the YAML declares ('{declared}'): a model policy "
        "names 'model:', a tier policy only 'risk_tier:', a global or default policy neither"
    )


def diff_summary(old: str | None, new: str) -> dict[str, Any]:
    lines = list(difflib.unified_diff((old or "").splitlines(), new.splitlines(), "before", "after", lineterm=""))
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return {"added_lines": added, "removed_lines": removed, "diff": "\n".join(lines)[:MAX_DIFF_CHARS]}


def validate(yaml_text: str) -> Policy:
    """The parsed policy, or InvalidInput listing each problem with its line."""
    return parse_policy_yaml(yaml_text)


def set_policy(backend: Backend, actor: Actor, yaml_text: str, *, scope: str | None = None) -> StoredPolicy:
    policy = parse_policy_yaml(yaml_text)
    scope = _check_scope(scope, scope_of(policy))
    with backend.write() as session:
        previous = store.active_policy(session, scope)
        model_id = registry_store.model_id_of(session, policy.model) if policy.model else None
        stored = store.add_policy(session, scope=scope, yaml_text=yaml_text, created_by=actor.name,
                                  now=datetime.now(UTC), model_id=model_id, dataset_digest=_pin(session, policy))
        audit.record(
            session, actor, "policy.changed", subject_type="policy", subject_id=scope,
            model_name=policy.model, details={"version": stored.version, **diff_summary(previous and previous.yaml, yaml_text)},
        )
        void_outdated_approvals(session, actor, reason=f"policy '{scope}' changed to version {stored.version}")
        return stored


def _pin(session: Any, policy: Policy) -> str | None:
    """The digest of the bytes the policy's evaluation dataset names now (or the one it states)."""
    ref = policy.evaluation_dataset
    if ref is None:
        return None
    stated = getattr(ref, "digest", None)
    try:
        found = artifact_index.get(session, run_store.pk_of(session, ref.run_id), ref.path)
    except NotFound:
        raise InvalidInput(
            f"the policy's evaluation_dataset names '{ref.path}' of run '{ref.run_id}', which does not exist: "
            "log the dataset first"
        ) from None
    if stated is not None and stated != found.digest:
        raise InvalidInput(
            f"the policy's evaluation_dataset states digest {stated}, but '{ref.path}' of run '{ref.run_id}' "
            f"holds {found.digest}"
        )
    return found.digest


def void_outdated_approvals(session: Any, actor: Actor, *, reason: str) -> list[tuple[str, int]]:
    """Approved versions whose approvals saw another policy version go back to review."""
    voided = []
    for name, version, _ in store.versions_in_state(session, VersionState.APPROVED.value):
        _, used = effective_in(session, name)
        row = registry_store.version_row(session, name, version)
        seen = {r.evidence.get("policy") for r in store.reviews(session, row, name)
                if r.decision == "approve" and r.evidence}
        if seen and policy_fingerprint(used) not in seen:
            transition(session, actor, name, row, VersionState.IN_REVIEW, action="review.approval_voided",
                       reason=reason, details={"policy_versions": used})
            voided.append((name, version))
    return voided


def policy_fingerprint(used: dict[str, int]) -> str:
    """The policy versions a decision was made under, as one comparable string."""
    return ",".join(f"{scope}@{version}" for scope, version in sorted(used.items())) or "none"


def get(backend: Backend, scope: str, *, version: int | None = None) -> StoredPolicy:
    with backend.read() as session:
        if version is not None:
            return store.policy_version(session, scope, version)
        found = store.active_policy(session, scope)
    if found is None:
        raise NotFound(f"no policy is set for scope '{scope}'")
    return found


def list_(backend: Backend) -> list[StoredPolicy]:
    with backend.read() as session:
        return store.active_policies(session)


def history(backend: Backend, scope: str) -> list[StoredPolicy]:
    with backend.read() as session:
        found = store.policy_history(session, scope)
    if not found:
        raise NotFound(f"no policy was ever set for scope '{scope}'")
    return found


# -- effective policy -------------------------------------------------------------------------


def effective_in(session: Any, model_name: str, *, risk_tier: str | None = None) -> tuple[Policy, dict[str, int]]:
    """The merged policy for a model, and which version of each scope went into it.

    global + tier + model when the model has a tier or a policy of its own, else global + default."""
    if not store.any_active_policy(session):  # one query for the common case of a store without policies
        return merge_policies(None, None, None), {}
    used: dict[str, int] = {}
    model_id = registry_store.model_id_of(session, model_name)

    def load(scope: str, *, bound_to: str | None = None) -> Policy | None:
        row = store.active_policy_row(session, scope, model_id=bound_to)
        if row is None:
            return None
        used[scope] = row.version
        return _with_pin(parse_policy_yaml(row.yaml), row.dataset_digest, model_name if bound_to else None)

    global_policy = load(GLOBAL)
    model_policy = load(f"model:{model_name}", bound_to=model_id or "")
    tier = risk_tier or (model_policy.risk_tier.value if model_policy and model_policy.risk_tier else None)
    if tier is None and model_id is not None:
        tier = registry_store.model_tag(session, model_id, RISK_TIER_TAG)
    tier_policy = load(f"tier:{tier}") if tier else None
    if model_policy is None and tier_policy is None:
        tier_policy = load(DEFAULT)  # the organisation's default stands where the tier policy would
    return merge_policies(global_policy, tier_policy, model_policy), used


def _with_pin(policy: Policy, digest: str | None, model_name: str | None) -> Policy:
    """The stored policy as it governs: its dataset pinned, its model named as the model is now."""
    update: dict[str, Any] = {}
    if digest and policy.evaluation_dataset is not None and getattr(policy.evaluation_dataset, "digest", None) is None:
        update["evaluation_dataset"] = policy.evaluation_dataset.model_copy(update={"digest": digest})
    if model_name is not None and policy.model != model_name:
        update["model"] = model_name
    return policy.model_copy(update=update) if update else policy


def effective_policy(backend: Backend, model_name: str, *, risk_tier: str | None = None) -> Policy:
    with backend.read() as session:
        return effective_in(session, model_name, risk_tier=risk_tier)[0]


# -- protected aliases and governed fields --------------------------------------------------------

ALIAS_TARGET_STATES = ("approved", "released")


def check_alias_move(session: Any, actor: Actor, model_name: str, alias: str, *, target_status: str | None) -> None:
    """Refuse moving (or, with ``target_status`` None, deleting) an alias against the policy.

    A protected alias moves only by a user with the policy's role for it, and only to an
    approved or released version; any other alias needs write access. Protection applies once
    some policy applies to the model (global, default, its tier or its own): a store with no
    policy at all keeps plain-registry behaviour, so MLflow-style alias use works out of the box.
    """
    policy, used = effective_in(session, model_name)
    rule = next((p for p in policy.protected_aliases if p.alias == alias), None) if used else None
    if rule is None:
        require_write(actor, f"move alias '{alias}' of model '{model_name}'")
        return
    if not actor.has(rule.requires_role):
        raise PermissionDenied(
            f"alias '{alias}' of model '{model_name}' is protected: only a user with the "
            f"'{rule.requires_role.value}' role may move it, and '{actor.name}' has not"
        )
    if target_status is not None and target_status not in ALIAS_TARGET_STATES:
        raise PolicyViolation(
            f"alias '{alias}' of model '{model_name}' is protected: it may only point at an approved "
            f"or released version, and this version is '{target_status}' (get it approved first)"
        )


def protected_alias_names(session: Any, model_name: str) -> set[str]:
    policy, used = effective_in(session, model_name)
    return {p.alias for p in policy.protected_aliases} if used else set()


def require_write(actor: Actor, what: str) -> None:
    from modelward.domain.access import Permission, permissions_of

    if Permission.WRITE not in permissions_of(actor.roles):
        raise PermissionDenied(f"user '{actor.name}' needs write access to {what}")


def require_decider(
    session: Any, actor: Actor, model_name: str, what: str, *, reason: str | None, reason_required: bool = True,
) -> list[str]:
    """Governed changes (risk tier, deleting or renaming governed models and versions) need
    someone who could approve the model's versions under its policy, and a reason."""
    policy, _ = effective_in(session, model_name)
    roles = counting_roles(policy, actor)
    if not roles:
        named = ", ".join(r.value for r in policy.review.roles) or "approver"
        raise PermissionDenied(
            f"{what} is a governed change: it needs a user with the role {named} under the policy of "
            f"model '{model_name}', and '{actor.name}' holds none"
        )
    if reason_required and (reason is None or not reason.strip()):
        raise InvalidInput(f"{what} is a governed change: give a reason")
    return roles
