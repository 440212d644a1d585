"""BM25 keyword channel: exact identifiers, stemming, typo correction, fusion."""

from __future__ import annotations

import numpy as np
import pytest

from serve.fusion import KEYWORD_POWER, fuse, normalise_keyword
from serve.keyword import KeywordIndex, shared_idf, stem, tokens


def doc(name: str, **fields: list[str]) -> dict[str, list[str]]:
    return {"name": [name], **fields}


DOCS = [
    doc(
        "Stop RDS instance",
        resource_types=["rds::instance"],
        step_details=["Calls StopDBInstance on the database"],
    ),
    doc(
        "Start RDS instance",
        resource_types=["rds::instance"],
        step_details=["Calls StartDBInstance"],
    ),
    doc("Remediate EC2.10 finding", use_cases=["Security Hub control EC2.10"]),
    doc("Fix AccessDenied on bucket policy", description=["S3 returns 403 AccessDenied"]),
    doc("Enable GuardDuty detector", resource_types=["guardduty::detector"]),
    doc("Attach an instance profile", description=["instance instance instance"]),
]


@pytest.fixture(scope="module")
def index() -> KeywordIndex:
    return KeywordIndex(DOCS)


def top(index: KeywordIndex, query: str) -> int:
    terms, _ = index.query_terms(query)
    return int(np.argmax(index.search(terms)))


def test_identifiers_are_whole_tokens_and_parts() -> None:
    assert tokens("rds::instance") == ["rds::instance", "rds", "instanc"]
    assert tokens("StopDBInstance")[:2] == ["stopdbinstance", "stop"]
    assert "ec2.10" in tokens("EC2.10")
    assert "accessdenied" in tokens("AccessDenied")


@pytest.mark.parametrize(
    ("query", "row"),
    [
        ("StopDBInstance", 0),
        ("StartDBInstance", 1),
        ("EC2.10", 2),
        ("AccessDenied", 3),
        ("403", 3),
        ("rds::instance stop", 0),
    ],
)
def test_identifiers_match_exactly(index: KeywordIndex, query: str, row: int) -> None:
    assert top(index, query) == row


def test_an_api_name_does_not_match_its_opposite(index: KeywordIndex) -> None:
    scores = index.search(index.query_terms("StopDBInstance")[0])
    assert scores[0] > 0 and scores[1] < scores[0]


def test_stemming_is_consistent() -> None:
    assert stem("stopped") == stem("stopping") == stem("stop")
    assert stem("policies") == stem("policy")
    assert stem("enabled") == stem("enable") == stem("enabling")
    assert stem("snapshots") == stem("snapshot")


def test_typos_are_corrected_against_the_vocabulary(index: KeywordIndex) -> None:
    _, fixed = index.query_terms("enable gaurdduty")
    assert fixed == {"gaurdduty": "guardduty"}
    assert top(index, "enable gaurdduty") == 4
    # short words are only corrected into the intent lexicon
    assert index.correct("stp") is None
    assert index.correct("stp", frozenset({"stop"})) == "stop"


def test_two_edit_typos_of_long_words() -> None:
    from serve.keyword import _within_two_edits

    idx = KeywordIndex([doc("Diagnose ImagePullBackOff on GKE"), doc("Enable GuardDuty")])
    assert idx.correct("imagepullbakof") == "imagepullbackoff"  # two edits, 14 letters
    assert idx.correct("compltelyunrelated") is None
    assert _within_two_edits("abcd", "bacd")  # a transposition is one edit
    assert not _within_two_edits("kitten", "sitting")  # three edits


def test_shared_idf_spans_collections(index: KeywordIndex) -> None:
    small = KeywordIndex([doc("Stop RDS instance")])
    idf = shared_idf([index, small], ["stop"])
    assert idf["stop"] == pytest.approx(np.log(1 + (7 - 2 + 0.5) / (2 + 0.5)))


def test_blend_and_rrf_fusion() -> None:
    cos = np.array([0.8, 0.5, 0.2])
    bm25 = np.array([0.0, 10.0, 5.0])
    assert normalise_keyword(bm25).tolist() == [0.0, 1.0, 0.5]
    blend = fuse(cos, bm25, "blend", vector_share=0.5)
    # the keyword share is (bm25 / max) ** KEYWORD_POWER (0.5): half the best BM25 -> 0.71
    assert blend == pytest.approx([0.4, 0.75, 0.1 + 0.5 * 0.5**KEYWORD_POWER])
    rrf = fuse(cos, bm25, "rrf")
    assert rrf.argmax() == 1  # second in one channel, first in the other
    assert 0 < rrf.max() <= 1
    assert fuse(cos, np.zeros(3), "blend").argmax() == 0  # no keyword evidence: cosine order
    with pytest.raises(ValueError):
        fuse(cos, bm25, "max")
