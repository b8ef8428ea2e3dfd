"""plan_batches: fetch batches bounded by message count and bytes."""

from mailbridge.ingest.sources.imap import plan_batches


def test_small_messages_go_in_batches_of_fifty():
    uids = list(range(1, 121))
    batches = plan_batches(uids, {uid: 1000 for uid in uids})
    assert [len(b) for b in batches] == [50, 50, 20]
    assert [uid for b in batches for uid in b] == uids


def test_batch_closes_before_the_byte_limit():
    assert plan_batches([1, 2, 3, 4], {1: 40, 2: 40, 3: 40, 4: 10}, max_bytes=100) == [[1, 2], [3, 4]]


def test_message_larger_than_the_byte_limit_is_fetched_alone():
    assert plan_batches([1, 2, 3], {1: 10, 2: 500, 3: 10}, max_bytes=100) == [[1], [2], [3]]


def test_unknown_size_counts_as_zero():
    assert plan_batches([1, 2], {}) == [[1, 2]]
