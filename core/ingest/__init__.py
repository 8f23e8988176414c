"""Ingest: registering files, folders, datasets and uploads (:mod:`.batch`), which files of a
folder are taken (:mod:`.inputs`) and objects named by URI, ``s3://`` and the like
(:mod:`.object_inputs`), extracting their media (:mod:`.extract`) and embedding them through the
cache (:mod:`.pipeline`); the file types taken in (:mod:`.formats`); what ingest noted per
modality (:mod:`.notes`) and stored per video (:mod:`.stored`); for videos already processed,
their spoken language (:mod:`.language_backfill`) and their transcripts written again in it
(:mod:`.retranscribe`), both with a multilingual speech model (:mod:`.multilingual`); the same
stages on a Ray cluster (:mod:`.distributed`) and where its workers find the data dir
(:mod:`.storage`)."""
