"""Identity: users, projects, roles, assignments and the catalog, kept in SQL."""
