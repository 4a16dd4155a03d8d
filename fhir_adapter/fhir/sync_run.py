"""One trial through ``push``/``sync``: its member List, the write, then what it no longer has.

:func:`push_trial` is :func:`~fhir_adapter.fhir.push.push_bundle` plus, for a Bundle made from a trial record in
update or sync mode, the trial's member List (:mod:`fhir_adapter.fhir.sync_retire`), and in sync mode the
retiring of the resources the trial no longer has, once the write landed. :func:`plan_trial` is the same without
writing (``--dry-run``): create / update / unchanged per resource, then retire / keep rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_adapter.fhir.push import PushClient, PushMode, PushReport, TypeStrategy, plan_sync_push, push_bundle
from fhir_adapter.fhir.push_sync import PlannedWrite, WriteMode
from fhir_adapter.fhir.sync_retire import RetirePlan, plan_retire, retire, stored_members, with_member_list


@dataclass(frozen=True)
class TrialPlan:
    strategies: dict[str, TypeStrategy]
    bundle: dict[str, Any]
    """What would be sent (the prepared transaction)."""
    writes: list[PlannedWrite]
    retires: list[RetirePlan]

    def counts(self) -> dict[str, int]:
        found = {a: sum(1 for p in self.writes if p.action == a) for a in ("create", "update", "unchanged")}
        found["retire"] = sum(1 for r in self.retires if r.action == "retire")
        if any(r.action == "keep" for r in self.retires):
            found["keep"] = sum(1 for r in self.retires if r.action == "keep")
        return found


def trial_bundle_for_push(bundle: dict[str, Any], from_record: bool, write_mode: WriteMode) -> dict[str, Any]:
    """The Bundle with the member List when it was made from a record and the mode keeps the List current."""
    return with_member_list(bundle) if from_record and write_mode != "create" else bundle


def push_trial(
    client: PushClient, bundle: dict[str, Any], *, from_record: bool, source: str = "bundle", validate: bool = False,
    mode: PushMode = "auto", write_mode: WriteMode = "sync",
) -> PushReport:
    """Write one trial; in sync mode, then retire what it no longer has (outcomes ``retired`` / ``kept``)."""
    caps = client.capabilities()
    bundle = trial_bundle_for_push(bundle, from_record, write_mode)
    before = stored_members(client, caps, bundle) if from_record and write_mode == "sync" else None
    report = push_bundle(client, bundle, source=source, validate=validate, mode=mode, write_mode=write_mode)
    if before is not None and report.ok:
        plans = plan_retire(client, caps, bundle, before)
        if plans:
            report.outcomes += retire(client, caps, plans, len(report.outcomes))
    return report


def plan_trial(client: PushClient, bundle: dict[str, Any], *, from_record: bool, write_mode: WriteMode) -> TrialPlan:
    """The plan of one trial; reads the server, writes nothing."""
    caps = client.capabilities()
    bundle = trial_bundle_for_push(bundle, from_record, write_mode)
    strategies, prepared, writes = plan_sync_push(client, bundle, caps, write_mode)
    retires: list[RetirePlan] = []
    if from_record and write_mode == "sync":
        retires = plan_retire(client, caps, bundle, stored_members(client, caps, bundle))
    return TrialPlan(strategies, prepared, writes, retires)
