"""A model's life: training (:mod:`.training`), versions on disk (:mod:`.registry`), predicting
stored videos from their cached embeddings (:mod:`.prediction`, :mod:`.model_inputs`), the review
queue's BADGE order over the unreviewed pool (:mod:`.review_order`), the background jobs that
run them (:mod:`.jobs`) and failing the work whose process was killed (:mod:`.liveness`)."""
