"""Recipe step 1, data selection: ingesting seeds and corpora (files, uploads, sharded corpora
larger than memory), ranking documents by BM25, dense retrieval and SAE-TracIn, and the
``selection`` artifact with its activation cache. Imports ``models`` and ``infra``."""
