"""`taskctl` answers bad input with a one-line error and exit code 1, not a traceback."""

from click.testing import CliRunner

from taskctl.cli import main


def test_submit_of_an_unknown_type_is_a_clean_error():
    result = CliRunner().invoke(main, ["submit", "nope"])
    assert result.exit_code == 1
    assert "unknown task type 'nope'" in result.output
    assert "Traceback" not in result.output


def test_get_of_a_malformed_id_is_a_usage_error():
    result = CliRunner().invoke(main, ["get", "not-an-id"])
    assert result.exit_code == 2
    assert "not a task id" in result.output
