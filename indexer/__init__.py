"""Write side: crawl playbook sources, validate, embed, and commit snapshots to the store.

Also owns the contracts the read side (``serve``) imports: the store layout
(:mod:`indexer.store`), the playbook vocabulary (:mod:`indexer.model`), settings
(:mod:`indexer.settings`) and the domain errors (:mod:`indexer.errors`).
"""

__version__ = "0.1.0"
