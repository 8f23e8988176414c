"""Taxonomy page: search by a few letters, browse, admin import."""

from __future__ import annotations

from core import taxonomy as taxonomy_core


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
