"""Commands: validate_cmd (being written)."""
