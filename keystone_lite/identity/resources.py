"""Admin resources as data: a ``Resource`` declaration, and the generic controller and store path
that serve every declared resource.

A declaration names the model, its ``Field``s (JSON Schema of the value, default, whether it may
change, whether it filters lists), the attributes policy targets see, what makes a name unique,
and a ``render`` function. From it come the routes (list, create, get, update, delete; PUT
where ids are chosen by clients), request validation (JSON Schema, as Keystone: the messages are
jsonschema's own, in Keystone's wording), the ``?filter=`` of lists, the 409 on duplicate names
and the policy rule names (``identity:list_users``, ``identity:get_user``, ...). What is truly
special about a resource (password hashing, cascades, checks on other rows) is a ``Hooks``
subclass in the resource's own module (users.py, projects.py, ...), overriding only what differs.

Attributes a body sends that are not declared are kept (``extra``) on resources whose model has
an ``extra`` column, and echoed as Keystone does; elsewhere they are ignored.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
from typing import Any, Callable

from sqlalchemy import select

from keystone_lite import errors, policy
from keystone_lite.identity import parsing, store
from keystone_lite.identity.admin import AdminController, find_row, ident, listing
from keystone_lite.router import json_response, no_content

# Value schemas shared by the declarations, as Keystone's (the json_body filter has already
# refused NUL characters, which PostgreSQL cannot store).
ID = {"type": "string", "minLength": 1, "maxLength": 64}
NULLABLE_ID = {**ID, "type": ["string", "null"]}
TEXT = {"type": ["string", "null"]}
BOOLEAN = {"type": "boolean"}


def name(max_length: int) -> dict:
    """A name: at most ``max_length`` characters, at least one of them not a space."""
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": r"\S"}


@dataclasses.dataclass(frozen=True)
class Field:
    """One attribute of a resource's body.

    ``default`` (a value, or a function of the ``Call``) fills a create that leaves it out;
    ``column=False`` fields are validated but stored by the resource's hooks (a password is
    hashed first); ``immutable`` ones may be repeated but not changed by an update; ``filter``
    makes ``?name=value`` select on the column in lists; ``secret`` keeps the value out of
    error messages.
    """

    name: str
    schema: dict
    required: bool = False
    default: Any = None
    column: bool = True
    immutable: bool = False
    filter: bool = False
    secret: bool = False

    def default_for(self, call) -> Any:
        return self.default(call) if callable(self.default) else self.default


class Hooks:
    """A resource's special cases; each default does nothing. ``values``/``changes`` are the
    model attributes about to be written and may be changed in place."""

    def routes(self, controller) -> list:
        """Routes beyond the five generic ones."""
        return []

    def rule(self, resource, action: str, subject) -> str:
        """The policy rule of ``action`` on ``subject``: the list's query parameters, the
        create's body (as far as it parses) or the row (None when missing). Keystone has
        other rules for some rows (domain-specific roles)."""
        return resource.rule(action)

    def list_target(self, params: dict) -> dict | None:
        """The policy target of a list with these query parameters (trusts: the trustor or
        trustee it asks for)."""
        return None

    def filtering(self, call, params: dict, filters: dict) -> None:
        """Complete a list's ``{column: value}`` filters (a value None selects NULL)."""

    def wrap(self, controller, routes: list) -> list:
        """The resource's routes, whose handlers a resource may wrap (projects answer for the
        domains acting as projects)."""
        return routes

    def creating(self, call, values: dict, body: dict) -> None:
        """Before the INSERT: check references, derive values (may raise)."""

    def create_instead(self, call, values: dict, body: dict) -> dict | None:
        """The rendered body of something created in place of the row (a project acting as a
        domain is a domain), or None to create the row."""
        return None

    def list_conditions(self, call, params: dict) -> list:
        """SQL conditions beyond the declared ``?filter=`` ones (project tags)."""
        return []

    def created(self, call, row, body: dict) -> dict | None:
        """After the INSERT: rows of other tables. May return attributes that the create's
        response shows and no later one does (a generated secret)."""

    def updating(self, call, row, changes: dict, body: dict) -> None:
        """Before the UPDATE."""

    def updated(self, call, row, changes: dict, body: dict) -> None:
        """After the UPDATE."""

    def deleting(self, call, row) -> None:
        """Before the DELETE: refuse it, or delete what depends on the row."""

    def decorate(self, call, rows: list, bodies: list[dict]) -> None:
        """Complete rendered bodies with what lives in other tables (one query for a list)."""

    def showing_one(self, call, row, body: dict) -> None:
        """Complete the body of one row shown on its own, by its GET or its create (a
        project's ``?parents_as_ids``, a trust's roles)."""


@dataclasses.dataclass(frozen=True)
class Resource:
    """A declaration: ``name`` is the body key and policy noun (``user``), ``collection`` the
    URL segment and list key (``users``), after ``prefix`` (an extension's ``/OS-TRUST``)."""

    name: str
    collection: str
    model: type
    fields: tuple[Field, ...]
    # Rendering: ``render(row, base URL)``, or else the ``shown`` attributes, the ``constants``
    # Keystone always sends (("options", {}), ...) and ``links``.
    render: Callable[[Any, str], dict] | None = None
    shown: tuple[str, ...] = ()
    constants: tuple[tuple[str, Any], ...] = ()
    order_by: tuple[str, ...] = ("name",)
    target: tuple[str, ...] = ("id",)  # attributes policy sees as ``name.attribute``
    unique: tuple[str, ...] = ()  # ("name", "domain_id"): names are unique per domain
    hooks: Hooks = Hooks()
    client_ids: bool = False  # ids are chosen by the client (``id``; PUT /{collection}/{id})
    listed_in_domain: bool = False  # a domain token lists its own domain's only
    keeps_extra: bool = False  # undeclared body attributes are stored in ``extra``
    closed: bool = False  # undeclared body attributes are refused (400), as Keystone's newer APIs
    prefix: str = ""  # of the URL path: "/OS-EP-FILTER" serves /OS-EP-FILTER/{collection}

    def __post_init__(self):
        object.__setattr__(self, "_by_name", {field.name: field for field in self.fields})

    def schemas(self) -> tuple[dict, dict]:
        """The JSON Schemas of a create body and of an update body. As Keystone's, they let
        extra attributes through: they are kept or ignored afterwards."""
        properties = {field.name: field.schema for field in self.fields}
        create = {"type": "object", "properties": properties,
                  "additionalProperties": not self.closed}
        required = [field.name for field in self.fields if field.required]
        if required:
            create["required"] = required
        update = {"type": "object", "properties": properties, "minProperties": 1,
                  "additionalProperties": not self.closed}
        return create, update

    @functools.cached_property
    def _validators(self) -> tuple:
        # Built on first use, not at import: jsonschema and the validators cost every process
        # start-up about 70 ms, which only admin writes need (tests/unit check the schemas).
        import jsonschema
        return tuple(jsonschema.Draft4Validator(schema) for schema in self.schemas())

    @property
    def path_id(self) -> str:
        return f"{self.name}_id"

    @property
    def path(self) -> str:
        """The collection's path under ``/v3``: ``/users``, ``/OS-EP-FILTER/endpoint_groups``,
        ``/OS-OAUTH1/consumers``."""
        return f"{self.prefix}/{self.collection}"

    def rule(self, action: str) -> str:
        """Keystone's policy rule name: ``identity:list_users``, ``identity:get_user``, ..."""
        return f"identity:list_{self.collection}" if action == "list" else \
            f"identity:{action}_{self.name}"

    def validate(self, body: dict, *, creating: bool) -> None:
        """400 worded as Keystone's (``Invalid input for field/attribute name. Value: ...``)
        for the first thing the declaration refuses."""
        error = next(self._validators[not creating].iter_errors(body), None)
        if error is not None:
            raise errors.ValidationError(self._message(error))

    def _message(self, error) -> str:
        if not error.path:
            return error.message
        attribute = str(error.path[0])
        path = "/".join(map(str, error.path))
        if self._by_name.get(attribute, Field("", {})).secret:
            return f"Invalid input for field/attribute {path}."
        value = str(error.instance)
        if not value.isprintable():
            value = repr(error.instance)
        return f"Invalid input for field/attribute {path}. Value: {value[:255]}. " \
            f"{error.message[:512]}"

    def show(self, row, base: str) -> dict:
        if self.render is not None:
            return self.render(row, base)
        body = {key: getattr(row, key) for key in self.shown}
        body.update((key, copy.copy(value)) for key, value in self.constants)
        body["links"] = {"self": f"{base}/v3{self.path}/{row.id}"}
        return body

    def extra_of(self, body: dict) -> dict:
        """The body's undeclared attributes (never ``id`` or ``links``, which are ours)."""
        return {key: value for key, value in body.items()
                if key not in self._by_name and key not in ("id", "links")}


@dataclasses.dataclass
class Call:
    """What a hook may use: the request, its session, the services and the links' base URL."""

    req: Any
    session: Any
    services: Any
    base: str

    @property
    def settings(self):
        return self.services.settings


# -- the generic store path ---------------------------------------------------------------------

def select_rows(session, resource: Resource, filters: dict, conditions: tuple = ()) -> list:
    """Rows of the resource whose columns equal ``filters`` and that meet the SQL
    ``conditions``, in the declared order."""
    model = resource.model
    query = select(model).order_by(*(getattr(model, column) for column in resource.order_by))
    for column, value in filters.items():
        query = query.where(getattr(model, column) == value)
    for condition in conditions:
        query = query.where(condition)
    return list(session.scalars(query))


def ensure_unique(session, resource: Resource, values: dict) -> None:
    """409 naming what clashed, before the write (the transaction's IntegrityError would only
    say "Conflict")."""
    if not resource.unique:
        return
    clash = select_rows(session, resource, {key: values[key] for key in resource.unique})
    if clash:
        first, *scope = resource.unique
        where = "".join(f" at {key.removesuffix('_id').replace('_', ' ')} ID {values[key]}"
                        for key in scope if values[key] is not None)
        raise errors.Conflict(f"Conflict occurred attempting to store {resource.name} - "
                              f"Duplicate entry found with {first} {values[first]}{where}.")


def insert(session, resource: Resource, values: dict):
    row = resource.model(**values)
    session.add(row)
    session.flush()
    return row


def remove(session, row) -> None:
    session.delete(row)
    session.flush()


# -- the generic controller -----------------------------------------------------------------------

class ResourceController(AdminController):
    """list / create / get / update / delete of one declared resource."""

    def __init__(self, services, resources: dict, resource: Resource):
        super().__init__(services, resources)
        self.resource = resource

    def routes(self):
        resource = self.resource
        one = {"GET": self.get, "PATCH": self.update, "DELETE": self.delete}
        if resource.client_ids:
            one["PUT"] = self.put
        return resource.hooks.wrap(self, [
            (resource.path, {"GET": self.list, "POST": self.create}),
            (rf"{resource.path}/{ident(resource.path_id)}", one),
            *resource.hooks.routes(self)])

    def call(self, req, session, base) -> Call:
        return Call(req, session, self.services, base)

    def list(self, req, session):
        resource = self.resource
        params = parsing.query(req)
        base = self.authorize(req, resource.hooks.rule(resource, "list", params),
                              resource.hooks.list_target(params))
        filters = {}
        for field in resource.fields:
            if field.filter and field.name in params:
                filters[field.name] = (parsing.query_bool(params, field.name)
                                       if field.schema is BOOLEAN else params[field.name])
        if resource.listed_in_domain:
            filters["domain_id"] = self.listed_domain(req, params)
            if filters["domain_id"] is None:
                del filters["domain_id"]
        call = self.call(req, session, base)
        resource.hooks.filtering(call, params, filters)
        rows = select_rows(session, resource, filters,
                           resource.hooks.list_conditions(call, params))
        return listing(req, resource.collection, resource.path, self.show(call, rows))

    def create(self, req, session):
        return self._create(req, session, None)

    def put(self, req, session, **path):
        return self._create(req, session, path[self.resource.path_id])

    def _create(self, req, session, chosen_id):
        resource = self.resource
        attempted = self._attempted_body(req)
        base = self.authorize(req, resource.hooks.rule(resource, "create", attempted),
                              self._create_target(attempted))
        body = parsing.entity(req, resource.name)
        if chosen_id is not None:
            body = {**body, "id": chosen_id}  # the path's id is checked as a body's would be
        resource.validate(body, creating=True)
        return json_response({resource.name: self.insert(self.call(req, session, base), body)},
                             status=201)

    def insert(self, call, body: dict) -> dict:
        """Create what a validated create ``body`` describes (with its ``id`` when the client
        chooses ids); returns its rendered body."""
        resource = self.resource
        values = {field.name: body[field.name] if body.get(field.name) is not None
                  else field.default_for(call)
                  for field in resource.fields if field.column}
        if values.get("id") is None:
            values["id"] = store.new_id()
        if resource.keeps_extra:
            values["extra"] = _dump(resource.extra_of(body))
        resource.hooks.creating(call, values, body)
        instead = resource.hooks.create_instead(call, values, body)
        if instead is not None:
            return instead
        ensure_unique(call.session, resource, values)
        row = insert(call.session, resource, values)
        shown_once = resource.hooks.created(call, row, body) or {}
        shown = self.show(call, [row])[0]
        resource.hooks.showing_one(call, row, shown)
        call.services.audit.changed(call.req, call.session, "created", resource.name, row.id)
        return {**shown, **shown_once}

    def get(self, req, session, **path):
        resource = self.resource
        base, row = self._authorized_row(req, session, "get", path)
        call = self.call(req, session, base)
        body = self.show(call, [row])[0]
        resource.hooks.showing_one(call, row, body)
        return json_response({resource.name: body})

    def update(self, req, session, **path):
        resource = self.resource
        base, row = self._authorized_row(req, session, "update", path)
        body = parsing.entity(req, resource.name)
        resource.validate(body, creating=False)
        changes = {}
        for field in resource.fields:
            if not field.column or field.name not in body:
                continue
            value = body[field.name]
            if field.immutable:
                if value != getattr(row, field.name):
                    raise errors.ValidationError(f"The {field.name} of a {resource.name} "
                                                 "cannot be changed.")
            else:  # null: the default ("" for a description, None for a reference)
                changes[field.name] = value if value is not None else field.default
        if resource.keeps_extra:
            extra = resource.extra_of(body)
            if extra:
                changes["extra"] = _dump({**_load(row.extra), **extra})
        if any(changes.get(key, getattr(row, key)) != getattr(row, key)
               for key in resource.unique):
            ensure_unique(session, resource, {key: changes.get(key, getattr(row, key))
                                              for key in resource.unique})
        call = self.call(req, session, base)
        resource.hooks.updating(call, row, changes, body)
        store.update(session, row, changes)
        resource.hooks.updated(call, row, changes, body)
        self.services.audit.changed(req, session, "updated", resource.name, row.id)
        return json_response({resource.name: self.show(call, [row])[0]})

    def delete(self, req, session, **path):
        base, row = self._authorized_row(req, session, "delete", path)
        self.resource.hooks.deleting(self.call(req, session, base), row)
        remove(session, row)
        self.services.audit.changed(req, session, "deleted", self.resource.name, row.id)
        return no_content()

    # -- helpers -----------------------------------------------------------------------------

    def show(self, call, rows: list) -> list[dict]:
        bodies = [self.resource.show(row, call.base) for row in rows]
        self.resource.hooks.decorate(call, rows, bodies)
        return bodies

    def _authorized_row(self, req, session, action: str, path: dict):
        resource = self.resource
        row = find_row(session, resource.model, path[resource.path_id])
        base, rows = self.authorize_on(req, session, resource.hooks.rule(resource, action, row),
                                       **{resource.name: path[resource.path_id]})
        return base, rows[resource.name]

    def _attempted_body(self, req) -> dict:
        """The create's body before it is checked, so that a caller who may not create learns
        nothing from a 400; {} when too broken to read."""
        try:
            return parsing.entity(req, self.resource.name)
        except errors.ValidationError:
            return {}

    def _create_target(self, body: dict) -> dict:
        """The policy target of a create; a body too broken to name the target's attributes
        gives a target without them. A ``domain_id`` left out is the default domain's, where
        the create will put it."""
        resource = self.resource
        target = {}
        for attribute in resource.target:
            value = body.get(attribute)
            if attribute == "domain_id" and value is None:
                value = self.settings.default_domain_id
            target[f"{resource.name}.{attribute}"] = value if isinstance(value, str) else None
        return target

    def listed_domain(self, req, params: dict) -> str | None:
        """The ``?domain_id`` filter; a domain-scoped token lists its own domain only, as in
        Keystone (another ``?domain_id`` then matches nothing)."""
        token_domain = policy.credentials_of(req, self.settings).domain_id
        asked = params.get("domain_id")
        if token_domain is None:
            return asked
        return token_domain if asked in (None, token_domain) else NO_DOMAIN


NO_DOMAIN = ""  # a domain_id no domain has: ids are never empty


def _dump(extra: dict) -> str | None:
    # ensure_ascii: the stored text holds no NUL or surrogate whatever the client sent.
    return json.dumps(extra, ensure_ascii=True) if extra else None


def _load(extra: str | None) -> dict:
    return json.loads(extra) if extra else {}
