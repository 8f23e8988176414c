"""Taxonomy page: search by a few letters, browse, admin import."""

from __future__ import annotations

from core import taxonomy as taxonomy_core
from dashboard.components import md_escape
from db.queries import audit


def test_search_finds_a_node_from_a_few_letters(signed_in) -> None:
    at = signed_in("mod").switch_page("views/taxonomy.py").run()
    at.text_input(key="taxonomy_search").input("socc").run()
    assert "Sports: Soccer" in at.text[0].value.splitlines()
    at.text_input(key="taxonomy_search").input("sport tenn").run()  # words in any order of the path
    assert {"Sports: Tennis", "Sports: Table Tennis"} == set(at.text[0].value.splitlines())
    assert len(at.expander) == len(taxonomy_core.load_iab3().children(None))


def test_admin_imports_a_csv_taxonomy(signed_in, seeded) -> None:
    at = signed_in("boss").switch_page("views/taxonomy.py").run()
    bad = b"tier1,tier2\n"  # header only
    at.file_uploader(key="taxonomy_file").set_value(("tax.csv", bad, "text/csv"))
    at.button[[b.label for b in at.button].index("Import taxonomy")].click().run()
    assert "no tags" in at.error[0].value or "at least one" in at.error[0].value
    with seeded.db.session() as s:
        assert len(taxonomy_core.load_from_db(s)) == 704  # unchanged


def test_an_admin_adds_and_removes_priority_rules_moderators_see_none(signed_in, seeded) -> None:
    terrorism = taxonomy_core.load_iab3().find("Sensitive Topics: Terrorism").id
    moderator = signed_in("mod").switch_page("views/taxonomy.py").run()
    assert "Priority rules (admin)" not in [s.value for s in moderator.subheader]
    at = signed_in("boss").switch_page("views/taxonomy.py").run()
    at.selectbox(key="taxonomy_rule_tag").set_value(terrorism)
    at.number_input(key="taxonomy_rule_probability").set_value(0.6)
    at.selectbox(key="taxonomy_rule_level").set_value("urgent")
    at.button[[b.label for b in at.button].index("Add rule")].click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == [
        "Rule added: 0 videos the model has predicted so are urgent now."
    ]  # the seeded model gives Terrorism nothing
    [rules] = [d.value for d in at.dataframe if "from probability" in d.value.columns]
    assert rules.to_dict("records") == [
        {
            "id": 1,
            "tag": "Sensitive Topics: Terrorism",
            "from probability": 0.6,
            "priority": "urgent",
        }
    ]
    at.button[[b.label for b in at.button].index("Add rule")].click().run()  # the same tag again
    assert [e.value for e in at.error] == [
        md_escape(f"tag {terrorism} already has a priority rule; remove it first")
    ]
    at.button(key="taxonomy_rule_remove_button").click().run()
    assert not [d for d in at.dataframe if "from probability" in d.value.columns]
    with seeded.db.session() as s:
        actions = [e.action for e in audit.list_audit(s) if e.action.startswith("priority_rule")]
    assert sorted(actions) == ["priority_rule_added", "priority_rule_removed"]
