"""A model's life: training (:mod:`.training`), versions on disk (:mod:`.registry`), predicting
stored videos (:mod:`.prediction`), the background jobs that run them (:mod:`.jobs`) and failing
the work whose process was killed (:mod:`.liveness`)."""
