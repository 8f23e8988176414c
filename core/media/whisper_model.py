"""One faster-whisper model per process, shared by transcription and the lite audio embedding.

Both need the Whisper encoder's states for the same audio: transcription decodes from them, the
audio embedding pools them. The encoder pass is most of the cost (a 30 s window costs the same
whatever the clip length), so :class:`SharedWhisperModel` remembers the encoder output of the
last few windows, keyed by the exact log-mel window. An equal window gives an equal output, so a
hit can never change a result; a miss just encodes. The embedding side takes a remembered output
out of the memo (each window is embedded once) and never adds to it.

Imported lazily (faster-whisper pulls CTranslate2 and onnxruntime).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel

MEMO_WINDOWS = 16  # 16 x 1500 x 384 float32 (tiny) = 37 MB; covers the videos in flight


class SharedWhisperModel(WhisperModel):
    """``WhisperModel`` whose 30 s window encodings are remembered for :meth:`window_states`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._memo: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._memo_lock = threading.Lock()

    def encode(self, features: np.ndarray) -> ctranslate2.StorageView:
        """faster-whisper's encoder call during transcription; the output is remembered."""
        if features.ndim == 3 and features.shape[0] != 1:  # batched pipeline: nothing to share
            return super().encode(features)
        window = features.reshape(features.shape[-2:])
        states = self._encode_windows(window[None])[0]
        with self._memo_lock:
            self._memo[_window_key(window)] = states
            while len(self._memo) > MEMO_WINDOWS:
                self._memo.popitem(last=False)
        return ctranslate2.StorageView.from_array(states[None])

    def window_states(self, windows: np.ndarray) -> np.ndarray:
        """Encoder states (n, frames, width) of log-mel windows (n, n_mels, 3000), float32.

        Windows transcription already encoded come from the memo (and leave it); the others
        are encoded together in one call.
        """
        states: list[np.ndarray | None] = []
        with self._memo_lock:
            for window in windows:
                states.append(self._memo.pop(_window_key(window), None))
        missing = [i for i, s in enumerate(states) if s is None]
        if missing:
            for i, encoded in zip(missing, self._encode_windows(windows[missing]), strict=True):
                states[i] = encoded
        return np.stack(states)

    def _encode_windows(self, windows: np.ndarray) -> np.ndarray:
        storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(windows, np.float32))
        return np.array(self.model.encode(storage, to_cpu=True), dtype=np.float32)


def _window_key(window: np.ndarray) -> bytes:
    data = np.ascontiguousarray(window, np.float32)
    return hashlib.blake2b(data.tobytes(), digest_size=16).digest() + repr(data.shape).encode()
