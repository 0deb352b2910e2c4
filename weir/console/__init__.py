"""`weir console`: the history of every execution in its scope, its HTTP API (``/api/v1``), live
events and the web console (docs/console.md)."""
