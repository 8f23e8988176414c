"""``tagger demo`` (:mod:`.command`) and the deterministic demo corpus it builds: the plan
(:mod:`.plan`, :mod:`.topics`), the drawing and sound (:mod:`.scenes`, :mod:`.audio`) and the
rendering into files (:mod:`.render`, :mod:`.corpus`)."""
