"""Storage: the database, its schema and migrations, the group commit, the hot-path SQL."""
