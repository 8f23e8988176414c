"""The moderators' Streamlit dashboard (`streamlit run dashboard/app.py`).

- ``app.py``: the router (sign-in, role-dependent navigation); ``views/``: one thin page each
  (queue, review, models, analytics, ingest, taxonomy, audit log, sign-in).
- ``state``: session keys and the signed-in user (resolved from the database on every run).
- ``actions``: every write, behind a fresh role check; ``cache``: all caching in one place.
- ``review_data``: what the review page shows, read in one unit of work; ``components``: safe
  text, charts and the tag tree.
"""
