"""Taxonomy: search any tag by a few letters, browse the tree tier by tier, and (admin) replace
the taxonomy from a CSV (one column per tier) or JSON file."""

from __future__ import annotations

import streamlit as st

from core.taxonomy import TaxonomyError
from dashboard import actions, cache, state
from dashboard.components import md_escape
from db.queries import TaxonomyInUseError

MAX_HITS = 50

db = cache.database()
user = state.user()
tax = cache.taxonomy()
st.title("Taxonomy")

if tax is not None:
    st.caption(md_escape(f"{len(tax.taxonomy)} tags, {tax.taxonomy.max_level} levels"))
    query = st.text_input("Search tags", key="taxonomy_search", placeholder="e.g. socc")
    words = query.casefold().split()
    if words:
        hits = [n for n in tax.options if all(w in tax.path(n).casefold() for w in words)]
        st.caption(f"{len(hits)} match(es)")
        st.text("\n".join(tax.path(n) for n in hits[:MAX_HITS]) or "(none)")
    st.subheader("Browse")
    for root in tax.taxonomy.children(None):
        below = [n for n in tax.taxonomy.nodes if n.path.startswith(root.path + ": ")]
        with st.expander(md_escape(f"{root.name} ({len(below)})")):
            st.text(
                "\n".join(f"{'    ' * (n.level - 2)}{n.name}" for n in below)
                or "(no narrower tags)"
            )
else:
    st.warning("No taxonomy yet.")

if user.is_admin:
    st.subheader("Import (admin)")
    st.caption(
        "Replaces the taxonomy. Ids stay stable for unchanged paths; "
        "removing tags that labels use is refused."
    )
    with st.form("taxonomy_import"):
        file = st.file_uploader(
            "CSV (one column per tier) or JSON", type=["csv", "json"], key="taxonomy_file"
        )
        if st.form_submit_button("Import taxonomy") and file is not None:
            try:
                n = actions.import_taxonomy(db, data=file.getvalue(), filename=file.name)
            except (TaxonomyError, TaxonomyInUseError) as e:
                st.error(md_escape(str(e)))
            else:
                st.success(f"Imported {n} tags.")
