"""Bulk operations of the CLI: archive/purge by selection, recover, export and import."""
