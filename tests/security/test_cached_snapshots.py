"""What the per-process caches keep: plain snapshots of rows, never a password hash."""
from keystone_lite.db import models


def test_user_snapshot_leaves_the_password_hash_out():
    user = models.User(id="u1", domain_id="default", name="alice", enabled=True,
                       password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                       default_project_id=None, description="")
    snapshot = user.snapshot()
    assert (snapshot.id, snapshot.name, snapshot.enabled) == ("u1", "alice", True)
    assert not hasattr(snapshot, "password_hash")
    assert "argon2" not in repr(vars(snapshot))
