"""Per-update mechanisms every feature shares: intake, language, roles, flood control,
the services."""
