"""Ingest: registering files, folders, datasets and uploads (:mod:`.batch`), extracting their media
(:mod:`.extract`) and embedding them through the cache (:mod:`.pipeline`); the file types taken
in (:mod:`.formats`); what ingest noted per modality (:mod:`.notes`) and stored per video
(:mod:`.stored`); the spoken language of videos processed before it was detected
(:mod:`.language_backfill`)."""
