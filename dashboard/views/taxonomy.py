"""Taxonomy: search any tag by a few letters, browse the tree tier by tier, and (admin) the
priority rules (tags the model's prediction sends to review sooner) and replacing the taxonomy
from a CSV (one column per tier) or JSON file."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import TaggerError
from core.review import priority_name
from core.taxonomy import TaxonomyError
from dashboard import actions, cache, state
from dashboard.components import md_escape
from db.queries import TaxonomyInUseError
from db.tables import PREDICTION_FLOOR

MAX_HITS = 50
RULE_ADDED = "taxonomy_rule_added"  # what the last rule added raised, shown after its rerun

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

if user.is_admin and tax is not None:
    st.subheader("Priority rules (admin)")
    st.caption(
        "Videos the active model gives one of these tags at least this probability go to "
        "review sooner: raised to the rule's priority, those it has predicted so when the rule "
        "is added, the others when they are predicted (an upload, a prediction run), with the "
        "tag and its probability as the reason. A rule never lowers a priority, and leaves "
        "reviewed videos alone."
    )
    rules = actions.priority_rules(db)
    if rules:
        st.dataframe(
            pd.DataFrame(
                {
                    "id": [r.id for r in rules],
                    "tag": [tax.path(r.node_id) for r in rules],
                    "from probability": [r.min_probability for r in rules],
                    "priority": [priority_name(r.priority) for r in rules],
                }
            ),
            hide_index=True,
            key="taxonomy_rules",
        )
    with st.form("taxonomy_rule_add"):
        tag_col, probability_col, level_col = st.columns([3, 1, 1])
        rule_tag = tag_col.selectbox(
            "Tag", tax.options, format_func=tax.path, index=None, key="taxonomy_rule_tag"
        )
        rule_probability = probability_col.number_input(
            "From probability",
            min_value=PREDICTION_FLOOR,
            max_value=1.0,
            value=0.5,
            step=0.05,
            key="taxonomy_rule_probability",
        )
        rule_level = level_col.selectbox("Priority", ["urgent", "high"], key="taxonomy_rule_level")
        if st.form_submit_button("Add rule") and rule_tag is not None:
            try:
                added = actions.add_priority_rule(
                    db, node_id=rule_tag, min_probability=rule_probability, level=rule_level
                )
            except TaggerError as e:
                st.error(md_escape(str(e)))
            else:
                st.session_state[RULE_ADDED] = (
                    f"Rule added: {added.raised:,} videos the model has predicted so are "
                    f"{rule_level} now."
                )
                st.rerun()
    if (notice := st.session_state.pop(RULE_ADDED, None)) is not None:
        st.success(notice)
    if rules:
        remove_col, button_col = st.columns([4, 1], vertical_alignment="bottom")
        doomed = remove_col.selectbox(
            "Remove a rule",
            [r.id for r in rules],
            format_func=lambda i: next(f"{i}: {tax.path(r.node_id)}" for r in rules if r.id == i),
            key="taxonomy_rule_remove",
        )
        if button_col.button("Remove", key="taxonomy_rule_remove_button"):
            actions.remove_priority_rule(db, rule_id=doomed)
            st.rerun()

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
