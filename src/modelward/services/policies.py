"""Policies as code: store each YAML policy as a new version, audit every change, and compute
the one effective policy of a model (global + tier + model, ``merge_policies``).

Scopes: ``global``, ``tier:<risk tier>``, ``model:<registered model name>``. The scope is what
the YAML declares (``model:`` and/or ``risk_tier:``); a scope passed in must agree with it.
A model's risk tier is its model policy's ``risk_tier``, else the model's ``risk_tier`` tag.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.governance import StoredPolicy
from modelward.domain.policy import Policy, merge_policies, parse_policy_yaml
from modelward.errors import InvalidInput, NotFound, PermissionDenied, PolicyViolation
from modelward.services import audit
from modelward.services.backend import Backend
from modelward.store import governance as store
from modelward.store import registry as registry_store

GLOBAL = "global"
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
    raise InvalidInput(
        f"policy scope '{scope}' does not match what the YAML declares ('{declared}'): a model policy "
        "names 'model:', a tier policy only 'risk_tier:', a global policy neither"
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
        stored = store.add_policy(session, scope=scope, yaml_text=yaml_text, created_by=actor.name, now=datetime.now(UTC))
        audit.record(
            session, actor, "policy.changed", subject_type="policy", subject_id=scope,
            model_name=policy.model, details={"version": stored.version, **diff_summary(previous and previous.yaml, yaml_text)},
        )
        return stored


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
    """The merged policy for a model, and which version of each scope went into it."""
    if not store.any_active_policy(session):  # one query for the common case of a store without policies
        return merge_policies(None, None, None), {}
    used: dict[str, int] = {}

    def load(scope: str) -> Policy | None:
        stored = store.active_policy(session, scope)
        if stored is None:
            return None
        used[scope] = stored.version
        return parse_policy_yaml(stored.yaml)

    global_policy = load(GLOBAL)
    model_policy = load(f"model:{model_name}")
    tier = risk_tier or (model_policy.risk_tier.value if model_policy and model_policy.risk_tier else None)
    if tier is None:
        model = registry_store.find_model(session, model_name)
        tier = model.tags.get(RISK_TIER_TAG) if model is not None else None
    tier_policy = load(f"tier:{tier}") if tier else None
    return merge_policies(global_policy, tier_policy, model_policy), used


def effective_policy(backend: Backend, model_name: str, *, risk_tier: str | None = None) -> Policy:
    with backend.read() as session:
        return effective_in(session, model_name, risk_tier=risk_tier)[0]


# -- protected aliases ------------------------------------------------------------------------

ALIAS_TARGET_STATES = ("approved", "released")


def check_alias_move(session: Any, actor: Actor, model_name: str, alias: str, *, target_status: str | None) -> None:
    """Refuse moving (or, with ``target_status`` None, deleting) a protected alias against the policy.

    Only once some policy applies to the model (global, its tier or its own): a store with no
    policy at all keeps plain-registry behaviour, so MLflow-style alias use works out of the box.
    """
    policy, used = effective_in(session, model_name)
    if not used:
        return
    rule = next((p for p in policy.protected_aliases if p.alias == alias), None)
    if rule is None:
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
