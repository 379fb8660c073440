"""Admin identity API (placeholder, being written)."""


class IdentityController:
    def __init__(self, services):
        self.services = services

    def routes(self):
        return []
