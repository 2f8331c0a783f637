"""The organisation policy document: schema, validation, messages, and where it is read from (SSM,
AppConfig, a file, the packaged default)."""
