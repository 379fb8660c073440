"""The account page (``/main/account``): who a browser's client certificate makes its holder.

The paste factories live here and import the page's modules (``views``: HTML, forms, mapping
rules) on the first request to /account, so that starting the main app does not load them.
"""


def app_factory(global_conf, **local_conf):
    from keystone_lite import services
    from keystone_lite.router import Router

    built = services.for_paste(global_conf)

    def routes():
        from keystone_lite.account.views import AccountController
        return AccountController(built).routes()
    return Router(built, [], routes)


def filter_factory(global_conf, **local_conf):
    return LazyAccountErrors


class LazyAccountErrors:
    """views.AccountErrors, made by the first request."""

    def __init__(self, app):
        self.app = app
        self.wrapped = None

    def __call__(self, environ, start_response):
        if self.wrapped is None:
            from keystone_lite.account.views import AccountErrors
            self.wrapped = AccountErrors(self.app)
        return self.wrapped(environ, start_response)
