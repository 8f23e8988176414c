"""Ingest: registering files, folders, datasets and uploads (:mod:`.batch`), extracting their media
(:mod:`.extract`) and embedding them through the cache (:mod:`.pipeline`); the file types taken
in (:mod:`.formats`); what ingest noted per modality (:mod:`.notes`) and stored per video
(:mod:`.stored`); for videos already processed, their spoken language (:mod:`.language_backfill`)
and their transcripts written again in it (:mod:`.retranscribe`), both with a multilingual speech
model (:mod:`.multilingual`)."""
