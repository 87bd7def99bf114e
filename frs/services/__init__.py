"""The service layer, one module per concern (DESIGN.md 2.1).

The CLI, the web pages, the JSON API and the daemon are thin doors onto these modules: every rule
and permission check lives here once. ``frs.storage.service.Service`` holds the engine, the file
store and the kernel and the upload lifecycle; newer concerns (data exchange and cohorts,
collections, reports, web users) live beside it here and take that ``Service``.
"""
