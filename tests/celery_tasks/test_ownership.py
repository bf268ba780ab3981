import os
import socket
import subprocess

from celery_tasks.ownership import (
    is_dead_local_owner,
    lock_token,
    machine_key,
    owner_for,
    owner_id,
    owner_pid,
)


def test_owner_id_names_this_host_machine_and_process():
    assert owner_id() == f"{socket.gethostname()}/{machine_key()}:{os.getpid()}"
    assert owner_pid(owner_id()) == os.getpid()


def test_a_process_that_exited_is_a_dead_local_owner():
    child = subprocess.Popen(["true"])
    child.wait()
    assert is_dead_local_owner(owner_for(child.pid))
    # Another hostname on the same process table (unshare --uts) is still this table.
    assert is_dead_local_owner(f"renamed-host/{machine_key()}:{child.pid}")


def test_live_processes_and_other_hosts_are_never_presumed_dead():
    assert not is_dead_local_owner(owner_id())
    assert not is_dead_local_owner(owner_for(1))
    assert not is_dead_local_owner(f"{socket.gethostname()}/other-table:999999")
    # The pre-machine-key format ("host:pid") is never presumed dead: its table is unknown.
    assert not is_dead_local_owner(f"{socket.gethostname()}:999999")
    assert not is_dead_local_owner(None)
    assert not is_dead_local_owner("garbage")


def test_lock_token_starts_with_the_owner():
    assert lock_token("h:1", "n").partition("|")[0] == "h:1"
