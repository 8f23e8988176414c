"""Ingest: registering files, folders, datasets and uploads (:mod:`.batch`), extracting their media
(:mod:`.extract`) and embedding them through the cache (:mod:`.pipeline`); the file types taken
in (:mod:`.formats`)."""
