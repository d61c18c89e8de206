"""Admin registrations (expanded by the operators' work)."""
