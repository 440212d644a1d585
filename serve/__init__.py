"""Read side: serve searches over the snapshots named by the store's CURRENT manifest.

Data flow of one search (each step one module)::

    auth (key -> tenant) -> body/request (validate) -> filters (DuckDB row ids)
      -> search (FAISS, library + caller's tenant only) -> scoring -> responses

:mod:`serve.generation` holds one loaded manifest; :mod:`serve.app` keeps the live one as
a single reference on ``app.state`` and wires the routes.
"""
