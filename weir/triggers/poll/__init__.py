"""The polling trigger kinds, ``files`` and ``mail``: one poller (``poller``) over a source
(``files``, ``mail``), with the items it started kept in the state store (``claims``)."""
