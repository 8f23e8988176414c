"""A model's life: training (:mod:`.training`), versions on disk (:mod:`.registry`), predicting
stored videos (:mod:`.prediction`) and the background jobs that run them (:mod:`.jobs`)."""
