"""Reading what a video file holds: probing and decoding (:mod:`.decode`), subtitles
(:mod:`.subtitles`), speech-to-text (:mod:`.transcribe`, :mod:`.whisper_model`) and the timed text
they share (:mod:`.transcript`)."""
