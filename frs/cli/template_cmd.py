"""Commands: template_cmd (being written)."""
