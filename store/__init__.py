"""The service database `service.sqlite`: the only room that runs SQL on it.

Plain functions over a `sqlite3.Connection` from `store.db.connect`; callers group writes with
`store.db.transaction`. Imports only `heitje`.
"""
