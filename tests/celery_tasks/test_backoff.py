from celery_tasks.backoff import retry_delay_s


def test_delays_grow_exponentially_without_jitter():
    assert [retry_delay_s(n, 2, 600, jitter=False) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]


def test_delay_is_capped_at_the_maximum():
    assert retry_delay_s(20, 2, 600, jitter=False) == 600
    assert retry_delay_s(20, 2, 600) <= 600


def test_jittered_delays_stay_within_half_and_full_backoff_and_keep_growing():
    for _ in range(200):
        gaps = [retry_delay_s(n, 2, 600) for n in (1, 2, 3)]
        assert 1 <= gaps[0] <= 2
        assert 2 <= gaps[1] <= 4
        assert 4 <= gaps[2] <= 8
        assert gaps[0] <= gaps[1] <= gaps[2]
