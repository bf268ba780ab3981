from datetime import date

from db.partitions import add_months, partition_for


def test_partition_for_names_the_month_and_bounds_it():
    part = partition_for(date(2026, 12, 17))
    assert part.name == "tasks_p2026_12"
    assert (part.start, part.end) == (date(2026, 12, 1), date(2027, 1, 1))


def test_add_months_crosses_years_both_ways():
    assert add_months(date(2026, 11, 5), 3) == date(2027, 2, 1)
    assert add_months(date(2026, 1, 31), -1) == date(2025, 12, 1)
