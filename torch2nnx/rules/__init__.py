"""Rule tables: one row per torch API (see base.Rule)."""
