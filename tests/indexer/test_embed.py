"""Embedder.embed_all (what index runs call) against Embedder.embed (the raw model path)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from indexer.embed import CHUNK_TEXTS, Embedder, VectorMemo


class RecordingEmbedder(Embedder):
    """The real packaged model; remembers the texts of every :meth:`embed` call."""

    def __init__(self, batch_size: int, chunk_texts: int) -> None:
        super().__init__(batch_size=batch_size, chunk_texts=chunk_texts)
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return super().embed(texts)


TEXTS = [
    "Stop an RDS database instance",
    "Rotate the keys of an IAM role and every service that reads them",
    "Stop an RDS database instance",
    "Scale an ECS service",
    "Back up a DynamoDB table to S3 before a schema change",
    "Scale an ECS service",
    "Restart a Compute Engine VM",
]


@pytest.fixture(scope="module")
def small_chunks() -> RecordingEmbedder:
    """Batches of 2 texts, 2 batches per embed call (the default is 8 x 64)."""
    e = RecordingEmbedder(batch_size=2, chunk_texts=4)
    e.warm()
    return e


def test_chunk_size_is_whole_batches() -> None:
    assert Embedder().chunk_size == CHUNK_TEXTS == 512
    assert Embedder(batch_size=100).chunk_size == 500
    assert Embedder(batch_size=1000).chunk_size == 1000
    assert Embedder(batch_size=2, chunk_texts=5).chunk_size == 4


def test_embed_all_matches_embed_in_input_order(embedder: Embedder) -> None:
    together = embedder.embed_all(TEXTS)
    alone = embedder.embed(TEXTS)
    assert together.dtype == np.float32 and together.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(together[0], together[2]) and np.array_equal(together[3], together[5])


def test_embed_all_embeds_each_distinct_text_once_longest_first_in_whole_batches(
    small_chunks: RecordingEmbedder,
) -> None:
    small_chunks.calls.clear()
    seen: list[tuple[int, int]] = []
    vectors = small_chunks.embed_all(TEXTS, lambda done, total: seen.append((done, total)))
    distinct = sorted(set(TEXTS), key=len, reverse=True)
    assert small_chunks.calls == [distinct[:4], distinct[4:]]
    assert seen == [(4, 5), (5, 5)]
    np.testing.assert_allclose(vectors, small_chunks.embed(TEXTS), atol=1e-5)


def test_embed_all_of_nothing(small_chunks: RecordingEmbedder) -> None:
    small_chunks.calls.clear()
    assert small_chunks.embed_all([]).shape == (0, 384)
    assert small_chunks.calls == []


def test_vector_memo_keeps_the_first_vector_up_to_its_limit() -> None:
    memo = VectorMemo(limit=2)
    one, two = np.full(384, 0.5, np.float32), np.full(384, 0.25, np.float32)
    memo.add("a", one)
    memo.add("a", two)
    memo.add("b", two)
    memo.add("c", one)
    assert len(memo) == 2 and memo.get("c") is None
    assert np.array_equal(memo.get("a"), one) and np.array_equal(memo.get("b"), two)  # type: ignore[arg-type]
    one[:] = 0.0  # the memo holds a copy, not the caller's (reused) buffer
    assert memo.get("a")[0] == 0.5  # type: ignore[index]
