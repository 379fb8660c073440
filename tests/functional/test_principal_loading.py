"""A token's principal read with precompiled Core statements (keystone_lite.token.principals)
is the one the ORM path reads (TokenService's _load_principal, store.roles_on and
store.expand_implied): the same user, domains and project, and the same roles in the same
order, through groups, inherited grants on the domain and on parent projects, implied roles
(transitively) and domain-specific roles; and nothing where the ORM path finds nothing."""
import pytest

from keystone_lite.db import models
from keystone_lite.identity import store
from keystone_lite.token import principals, service
from keystone_lite.token.cache import MemoryBudget


def _role(session, name, domain_id=None):
    return store.create_role(session, name=name, domain_id=domain_id).id


def _grant(session, model, actor, kind, target, role, inherited=False):
    actor_column = "user_id" if model is models.RoleAssignment else "group_id"
    session.add(model(**{actor_column: actor}, target_type=kind, target_id=target,
                      role_id=role, inherited=inherited))


@pytest.fixture
def tree(deployment):
    """alice (and her group) with grants all over a three-level project tree."""
    def build(session):
        other = models.Domain(id=store.new_id(), name="other", description="", enabled=True)
        session.add(other)
        session.flush()
        top = store.create_project(session, name="top", domain_id="default")
        middle = store.create_project(session, name="middle", domain_id="default")
        bottom = store.create_project(session, name="bottom", domain_id="default")
        middle.parent_id, bottom.parent_id = top.id, middle.id
        alice = store.create_user(session, name="alice", domain_id="default")
        group = models.Group(id=store.new_id(), name="staff", domain_id="default",
                             description="")
        session.add(group)
        session.flush()
        session.add(models.GroupMembership(user_id=alice.id, group_id=group.id))
        roles = {name: _role(session, name) for name in (
            "Zeta", "alpha", "Beta", "gamma", "deep", "inherited-top", "own-bottom-inherited",
            "group-inherited", "from-specific", "direct-middle")}
        roles["specific"] = _role(session, "specific", other.id)
        for prior, implied in (("Zeta", "gamma"), ("gamma", "deep"), ("specific",
                                                                    "from-specific"),
                               ("deep", "Zeta")):  # a cycle stored anyway
            store.imply(session, roles[prior], roles[implied])
        user_grants = models.RoleAssignment
        _grant(session, user_grants, alice.id, "project", bottom.id, roles["Zeta"])
        _grant(session, user_grants, alice.id, "project", bottom.id, roles["specific"])
        _grant(session, user_grants, alice.id, "project", bottom.id,
               roles["own-bottom-inherited"], inherited=True)  # not on bottom itself
        _grant(session, user_grants, alice.id, "project", top.id, roles["inherited-top"],
               inherited=True)
        _grant(session, user_grants, alice.id, "project", middle.id, roles["direct-middle"])
        _grant(session, user_grants, alice.id, "domain", "default", roles["alpha"])
        _grant(session, user_grants, alice.id, "system", "all", roles["Beta"])
        _grant(session, models.GroupAssignment, group.id, "domain", "default",
               roles["group-inherited"], inherited=True)
        _grant(session, models.GroupAssignment, group.id, "project", bottom.id,
               roles["alpha"])
        session.flush()
        return alice.id, {"top": top.id, "middle": middle.id, "bottom": bottom.id}
    with deployment.services().transaction() as session:
        user_id, projects = build(session)
    return deployment, user_id, projects


def _plain(principal):
    """What a principal says, as comparable values."""
    if principal is None:
        return None
    user, user_domain, roles, project, domain = principal
    return (vars(user), vars(user_domain), [vars(role) for role in roles],
            project and vars(project), domain and vars(domain))


def _both(deployment, user_id, scope_kind, scope_id, cached_reference):
    """(ORM path, Core path) for the same principal, the Core path twice over with a
    Reference (domains, rules) remembered from the first time when ``cached_reference``."""
    stamp = ("test", 1)
    budget = MemoryBudget(2 ** 20)
    budget.advance(stamp)
    reference = principals.Reference(budget)
    with deployment.services().transaction() as session:
        found = service._load_principal(session, user_id, scope_kind, scope_id)
        orm = found and (found.user, found.user_domain, found.roles, found.project,
                         found.domain)
        core = [principals.load(principals.connection_of(session), reference, stamp,
                                cached_reference, user_id, scope_kind, scope_id)
                for _ in range(2)]
    return _plain(orm), [_plain(loaded) for loaded in core]


@pytest.mark.parametrize("cached_reference", [True, False])
@pytest.mark.parametrize("scope", [("project", "bottom"), ("project", "middle"),
                                   ("project", "top"), ("domain", "default"),
                                   ("system", "all"), (None, None)])
def test_core_principal_is_the_orm_principal(tree, scope, cached_reference):
    deployment, user_id, projects = tree
    kind, target = scope
    orm, core = _both(deployment, user_id, kind, projects.get(target, target), cached_reference)

    assert orm is not None
    assert core == [orm, orm]


def test_roles_of_the_deepest_project_come_from_every_path(tree):
    deployment, user_id, projects = tree
    orm, _core = _both(deployment, user_id, "project", projects["bottom"], True)

    names = [role["name"] for role in orm[2]]
    # Held: Zeta (direct), alpha (group), group-inherited (domain), inherited-top (top);
    # implied: gamma, deep (Zeta's chain), from-specific (through the domain-specific role).
    assert sorted(names) == sorted(["Zeta", "alpha", "group-inherited", "inherited-top",
                                    "gamma", "deep", "from-specific"])


@pytest.mark.parametrize("change", ["user", "project", "user_domain"])
def test_disabled_user_project_or_domain_is_no_principal_either_way(tree, change):
    deployment, user_id, projects = tree

    def disable(session):
        if change == "user":
            session.get(models.User, user_id).enabled = False
        elif change == "project":
            session.get(models.Project, projects["bottom"]).enabled = False
        else:
            session.get(models.Domain, "default").enabled = False
    with deployment.services().transaction() as session:
        disable(session)
    orm, core = _both(deployment, user_id, "project", projects["bottom"], True)

    assert orm is None
    assert core == [None, None]


def test_project_without_a_role_is_no_principal_either_way(tree):
    deployment, user_id, _projects = tree
    with deployment.services().transaction() as session:  # (the domain's grants reach "default")
        other = store.find_domain(session, name="other").id
        bare = store.create_project(session, name="bare", domain_id=other).id
    orm, core = _both(deployment, user_id, "project", bare, True)

    assert orm is None
    assert core == [None, None]


def test_pending_changes_of_the_session_are_read(tree):
    """A login that provisions a user (certificate mapping) issues in the same transaction:
    the Core path sees what the session has not flushed yet, as the ORM's autoflush would."""
    deployment, user_id, projects = tree
    stamp = ("test", 1)
    budget = MemoryBudget(2 ** 20)
    budget.advance(stamp)
    with deployment.services().transaction() as session:
        session.get(models.User, user_id).name = "alice-renamed"
        loaded = principals.load(principals.connection_of(session),
                                 principals.Reference(budget), stamp, False, user_id,
                                 "project", projects["bottom"])
        session.rollback()

    assert loaded[0].name == "alice-renamed"
