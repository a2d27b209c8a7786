"""Programs (tenants): phases, roles, and the Program handle."""
