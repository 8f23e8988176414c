"""HTTP routes served beside the Streamlit app by the one server process (dashboard/server.py).

- :mod:`dashboard.routes.session`: sign-in and sign-out, which set and clear the HttpOnly
  session cookie the whole dashboard authenticates with;
- :mod:`dashboard.routes.media`: videos, keyframe thumbnails and captions streamed from disk
  with Range support, for signed-in users only;
- :mod:`dashboard.routes.binary`: binary mode's questions and answers, which its page's script
  reads and posts while it shows the next question without a Streamlit run.

Not named ``http``: ``streamlit run`` puts the entry script's folder first on ``sys.path``, where
a ``dashboard/http`` package would shadow the standard library's.
"""
