"""Intent without an LLM: action synonyms, providers from services, resource mapping."""

from __future__ import annotations

import pytest

from serve.intent import name_verbs, parse_intent

VOCAB = {"rds::instance", "rds::cluster", "compute::disk", "storage::account", "ec2::instance"}


@pytest.mark.parametrize(
    ("query", "action"),
    [
        ("turn off the staging vm", "stop"),
        ("shut down our rds db until monday", "stop"),
        ("halt a running gce instance", "stop"),
        ("power on all the vms at 7am", "start"),
        ("bring the rds instance back up after the weekend shutdown", "start"),
        ("suspend an idle vm instead of stopping it", "suspend"),
        ("detach an ebs volume from its instance", "detach"),
        ("turn on rotation for a kms key", "enable"),
        ("scale the documentdb cluster down", "decrease"),
        ("pull a log file off an azure vm", "copy_from"),
        ("push a config file onto an azure vm", "copy_to"),
    ],
)
def test_action_synonyms_map_to_one_canonical_verb(query: str, action: str) -> None:
    intent = parse_intent(query)
    assert intent.action == action
    assert intent.action_confident


def test_both_directions_asked_is_not_confident() -> None:
    intent = parse_intent("shut down rds every friday and start it monday")
    assert intent.action == "stop"
    assert not intent.action_confident
    assert intent.opposites == frozenset()


@pytest.mark.parametrize(
    ("query", "provider", "confident"),
    [
        ("stop the rds database", "aws", True),
        ("turn off anonymous blob storage access", "azure", True),
        ("change the machine type of a gce vm", "gcp", True),
        ("grow a persistent disk to 500gb", "gcp", True),
        ("start vms in azure", "azure", True),
    ],
)
def test_provider_is_inferred_from_service_names(
    query: str, provider: str, confident: bool
) -> None:
    intent = parse_intent(query)
    assert intent.providers == (provider,)
    assert intent.provider_confident is confident


def test_no_provider_signal_infers_none() -> None:
    intent = parse_intent("restore from backup")
    assert intent.providers == ()
    assert not intent.provider_confident


def test_resource_types_are_mapped_onto_the_snapshot_vocabulary() -> None:
    assert parse_intent("stop rds", VOCAB).resource_types == ("rds::instance", "rds::cluster")
    assert parse_intent("resize a persistent disk", VOCAB).resource_types == ("compute::disk",)
    # rds::snapshot is a known alias target but is not in this snapshot: not returned.
    assert "rds::snapshot" not in parse_intent("copy an rds snapshot", VOCAB).resource_types
    # An identifier in the query is taken as is when the snapshot has it.
    assert parse_intent("anything touching ec2::instance", VOCAB).resource_types == (
        "ec2::instance",
    )


def test_environment_and_schedule_context() -> None:
    intent = parse_intent("stop production databases every weekend and nightly in dev")
    assert intent.environment == "production"
    assert set(intent.schedule) >= {"weekend", "nightly"}
    assert parse_intent("stop the db").environment is None


def test_acronyms_are_expanded_and_reported() -> None:
    intent = parse_intent("tde on azure sql databases")
    assert "transparent data encryption" in intent.expansions
    assert intent.expanded_query("tde").startswith("tde transparent data encryption")
    assert intent.to_dict()["expansions"] == list(intent.expansions)


def test_name_verbs() -> None:
    assert name_verbs("Stop RDS Instance") == {"stop"}
    assert name_verbs("Copy Item From Azure VM") >= {"copy_from"}
    assert name_verbs("ASG scale out") >= {"increase"}


@pytest.mark.parametrize(
    ("query", "action"),
    [
        # a when/why clause does not carry the request
        ("back up the file system before tonight's release", "backup"),
        ("restart the vm after the patch is installed", "restart"),
        # general "throw away" vocabulary
        ("purge every message in the queue", "delete"),
        ("throw away old snapshots", "delete"),
    ],
)
def test_main_action_ignores_clauses(query: str, action: str) -> None:
    assert parse_intent(query).action == action


def test_negated_verb_is_a_symptom_not_a_request() -> None:
    intent = parse_intent("can't delete a security group, an eni is still in use")
    assert intent.action is None
    assert not intent.action_confident
    assert parse_intent("unable to stop the instance").action is None


def test_backup_and_restore_are_opposites() -> None:
    intent = parse_intent("back up the efs file system")
    assert intent.action == "backup" and intent.action_confident
    assert intent.opposites == frozenset({"restore"})
    assert name_verbs("Create EFS backup") == frozenset({"create", "backup"})
    # the backup a runbook restores from is not what it does
    assert name_verbs("Restore RDS from backup") == frozenset({"restore"})
    assert name_verbs("EFS restore backup in another region") == frozenset({"restore"})


def test_action_family_links_close_verbs() -> None:
    from serve.intent import ACTION_FAMILY, OPPOSITES

    assert "delete" in ACTION_FAMILY["remove"]
    assert "increase" in ACTION_FAMILY["add"]
    for action, close in ACTION_FAMILY.items():  # a close verb is never an opposite
        assert not close & OPPOSITES.get(action, frozenset()), action


def test_concepts_map_operator_phrasings_to_service_words() -> None:
    intent = parse_intent("can't connect to the box, ssh just times out")
    joined = " ".join(intent.concepts)
    assert "security group" in joined and "firewall" in joined
    assert "cloudtrail" in " ".join(parse_intent("who deleted the bucket").concepts)
    assert parse_intent("stop the rds instance").concepts == ()
    # soft evidence for the keyword channel only: not part of the expanded query
    assert "firewall" not in intent.expanded_query("x")
