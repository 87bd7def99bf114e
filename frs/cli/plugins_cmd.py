"""Commands: plugins_cmd (being written)."""
