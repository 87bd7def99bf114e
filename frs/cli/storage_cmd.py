"""Commands: storage_cmd (being written)."""
