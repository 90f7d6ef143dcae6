"""The plugin author's contract: every hook WESS calls, in one place.

A plugin is an ordinary module (or object) with functions decorated by
``wess_core.hookimpl`` and named after a hook below. It is found through the
entry-point group ``wess``::

    # pyproject.toml of your distribution
    [project.entry-points.wess]
    my_plugin = "my_package.my_plugin"

Rules that keep plugins working across versions (from pluggy's own history):

* Hooks are called with keyword arguments only. An implementation takes only the
  arguments it names, so new arguments can be added to a spec without breaking
  anyone; arguments are never renamed.
* Register-style hooks (``wess_register_*``) receive a ``register`` callback.
  Call it once per strategy: ``register(name, strategy, aliases=())``. The core
  refuses duplicate names with a clear error; plugins never touch a global registry.
* Do not depend on the order in which plugins are called.
* Keep heavy imports inside hook bodies so ``wess --help`` stays fast.

The strategy objects a plugin registers are described by the protocols in
``wess_core.strategies``.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("wess")


@hookspec
def wess_register_auth_methods(register):
    """Register authentication methods (how a mailbox is logged into).

    ``register(name, strategy, aliases=())`` with a ``wess_core.strategies.AuthMethod``:
    it validates the settings it needs and returns a transport-neutral
    ``wess_core.strategies.Credential`` for a resolved connection (``UserPassword``,
    ``ServiceAccount``, ``BearerToken``); the user's transport turns it into its own login.
    A method that keeps something between runs (a token cache) uses
    ``connection.storage(name)``, never the core's files. Declare
    ``uses_service_credentials = True`` on a method whose credentials reach other users'
    mailboxes (``False`` for the user's own; undeclared counts as ``True``): the core
    then uses it only with addresses and URLs an admin set. Declare ``settings`` (a tuple
    of ``wess_core.strategies.Setting``) and read them as ``connection.settings[name]``.

    Example::

        @hookimpl
        def wess_register_auth_methods(register):
            register("direct", DirectAuth())

    All implementations are called; the profile's ``auth`` name picks one.
    """


@hookspec
def wess_register_discovery_methods(register):
    """Register ways of finding a user's EWS URL.

    ``register(name, strategy)`` with a ``wess_core.strategies.DiscoveryMethod``
    whose ``discover(connection)`` returns the EWS URL or raises
    ``wess_core.errors.DiscoveryError`` with a name users can look up
    (AutoDiscoverFailed, Unauthorized, ErrorNonExistentMailbox). The URL found must
    be one the credentials may go to (HTTPS, inside the account's trust boundary:
    ``wess_core.endpoints``); the core refuses any other with AutoDiscoverFailed
    before caching or using it. A method that follows redirects itself checks each
    hop with ``endpoints.boundary(connection).refusal(url)``.

    Example::

        @hookimpl
        def wess_register_discovery_methods(register):
            register("manual", ManualDiscovery())

    All implementations are called; the profile's (or account's) ``discovery``
    name picks one.
    """


@hookspec
def wess_register_item_types(register):
    """Register item types: a mapping between a CRM record and a mailbox item.

    ``register(name, strategy)`` with a ``wess_core.strategies.ItemType`` that names
    its mailbox folder, its CRM record type, its direction (two-way or
    exchange-to-crm) and converts records to items and back.

    Example::

        @hookimpl
        def wess_register_item_types(register):
            register("contacts", ContactsItemType())

    All implementations are called; every registered type is synced.
    """


@hookspec
def wess_register_crm_backends(register):
    """Register CRM connectors, the other side of the sync.

    ``register(name, factory)`` where ``factory(home, database)`` returns a
    ``wess_core.strategies.CrmBackend`` (list changes since a cursor, upsert,
    delete). ``local`` is the built-in embedded CRM.

    Example::

        @hookimpl
        def wess_register_crm_backends(register):
            register("acme", lambda home, database: AcmeCrm(database))
    """


@hookspec
def wess_register_transports(register):
    """Register mailbox transports (how WESS talks to Exchange).

    ``register(name, factory)`` where ``factory(connection)`` returns a
    ``wess_core.strategies.Transport``. ``ews`` (exchangelib) is built in. Users get
    the account's transport (``wess connection set --transport NAME``) or their own
    (``wess users set LOGIN --transport NAME``). A factory declaring
    ``needs_ews_url = True`` gets a connection whose EWS URL discovery has found; one
    declaring ``check(connection)`` runs the credential check on save; ``settings``
    declares what it needs configured (``--option KEY=VALUE``, ``--secret-stdin KEY``).

    Example::

        @hookimpl
        def wess_register_transports(register):
            register("ews", EwsTransport)
    """


@hookspec
def wess_check_licence(account, user):
    """Decide whether ``user`` may sync under ``account``.

    Return ``None`` to allow, or a short reason string to deny ("only example.com
    users may sync"; a list of such strings when several apply). All results are
    collected; any denial blocks the sync and every reason is reported. The core's own
    policy (module activation, licence allocated, sync enabled, the user's CRM state) is
    enforced before any plugin is asked: a plugin can only add denials, never lift one.

    Example::

        @hookimpl
        def wess_check_licence(account, user):
            if not user.email.endswith("@example.com"):
                return "only example.com users may sync"
    """


@hookspec
def wess_sync_started(user, item_types):
    """Observe the start of one user's sync run (metrics, notifications).

    ``user`` is the ``UserProfile``; ``item_types`` the names about to sync.
    Return value ignored.
    """


@hookspec
def wess_sync_finished(user, result):
    """Observe the end of one user's sync run.

    ``result`` is a ``wess_core.sync.result.SyncResult``: ``folders`` (a
    ``FolderResult`` per item type: counts each way, conflicts, errors, held),
    ``total_changes``, ``errors``, ``ok``.
    Return value ignored.

    Example::

        @hookimpl
        def wess_sync_finished(user, result):
            statsd.incr("wess.synced", result.total_changes)
    """


@hookspec
def wess_register_commands(cli):
    """Add click commands to the ``wess`` command line.

    ``cli`` is the top-level ``click.Group``.

    Example::

        @hookimpl
        def wess_register_commands(cli):
            @cli.command()
            def hello():
                click.echo("hello")
    """


@hookspec
def wess_register_web_login_methods(register):
    """Register ways to log into ``wess serve`` besides WESS's own web passwords, e.g. a
    CRM's single sign-on.

    ``register(name, method)`` with a callable ``method(credentials) -> str | None``.
    ``credentials`` is a ``wess_core.strategies.WebCredentials``: the ``login`` and
    ``password`` posted to ``POST /api/session`` (either may be None), the request's
    ``headers`` (lower-case names) and the ``client`` address. Return the login of an
    existing WESS user to log them in (with a user's rights, never an admin's), or None
    to leave the request to the next method; WESS's own password check comes last. A
    method that raises counts as None (and is logged without the credentials).

    Example, a CRM that vouches for its users with a signed header::

        @hookimpl
        def wess_register_web_login_methods(register):
            def crm_sso(credentials):
                token = credentials.headers.get("x-crm-session")
                return my_crm.login_for_session(token) if token else None

            register("crm_sso", crm_sso)
    """


@hookspec
def wess_home_initialised(home):
    """Prepare what a plugin needs in a new (or existing) WESS home; ``wess init`` calls it.

    ``home`` is the home's ``pathlib.Path``. Must be idempotent: ``wess init`` may run
    again on an initialised home. Return value ignored.

    Example (the built-in CRM creates its default database)::

        @hookimpl
        def wess_home_initialised(home):
            create_database(home, "main")
    """


@hookspec
def wess_register_tables(register):
    """Declare the tables a plugin keeps in the home's database (``wess_core.tables
    .plugin_tables``), so ``wess migrate`` copies them into a shared database with the
    plugin's own definitions.

    ``register(component, metadata, steps)``: the component's name, its
    ``sqlalchemy.MetaData`` and its migration steps (the same ones ``plugin_tables``
    runs). Rows are copied as they are, primary keys kept.

    Example::

        @hookimpl
        def wess_register_tables(register):
            from my_plugin.tables import STEPS, metadata

            register("my_plugin", metadata, STEPS)
    """
