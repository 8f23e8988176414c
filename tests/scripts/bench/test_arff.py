import numpy as np
import pytest

from scripts.bench.arff import load_arff

TREE_ARFF = """@RELATION 'toy'
% a comment line
@ATTRIBUTE x1%weird numeric
@ATTRIBUTE colour {red,green,blue}
@ATTRIBUTE class hierarchical 01,01/01,01/02,02,02/01/03

@DATA
0.5,red,01/01
?,blue,02/01/03@01 % trailing comment
1.5,?,01/02
"""

DAG_ARFF = """@RELATION go
@ATTRIBUTE f NUMERIC
@ATTRIBUTE class hierarchical root/GO1,GO1/GO2,GO1/GO3,GO2/GO4,GO3/GO4,root/GO5
@DATA
1,GO4
2,GO5@GO2
"""


def _write(tmp_path, text, name="toy.arff"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_tree_arff_features_labels_and_hierarchy(tmp_path):
    data = load_arff(_write(tmp_path, TREE_ARFF))
    assert data.feature_names == ("x1%weird", "colour=red", "colour=green", "colour=blue")
    np.testing.assert_array_equal(data.features[0], [0.5, 1, 0, 0])
    assert np.isnan(data.features[1, 0]) and data.features[1, 1:].tolist() == [0, 0, 1]
    assert np.isnan(data.features[2, 1:]).all()  # missing nominal: left to imputation
    terms = list(data.terms)
    assert terms[0] == "root" and set(terms) == {
        "root",
        "01",
        "01/01",
        "01/02",
        "02",
        "02/01",
        "02/01/03",
    }
    parent_of = {terms[c]: terms[p] for p, c in data.hierarchy.edges}
    assert (
        parent_of["02/01/03"] == "02/01"
        and parent_of["02/01"] == "02"
        and parent_of["01"] == "root"
    )
    assert sorted(np.array(terms)[data.labels[1]]) == ["01", "02", "02/01", "02/01/03", "root"]
    assert sorted(np.array(terms)[data.labels[0]]) == ["01", "01/01", "root"]


def test_dag_arff_closes_labels_over_both_parents(tmp_path):
    data = load_arff(_write(tmp_path, DAG_ARFF))
    terms = list(data.terms)
    assert not data.hierarchy.is_tree
    assert sorted(np.array(terms)[data.labels[0]]) == ["GO1", "GO2", "GO3", "GO4", "root"]
    assert sorted(np.array(terms)[data.labels[1]]) == ["GO1", "GO2", "GO5", "root"]
    assert data.hierarchy.depth[terms.index("GO4")] == 3


@pytest.mark.parametrize(
    "text, message",
    [
        (DAG_ARFF.replace("2,GO5@GO2", "2,GO9"), "not in the hierarchy"),
        (DAG_ARFF.replace("1,GO4", "1,2,GO4"), "values for 2 attributes"),
        (DAG_ARFF.replace("1,GO4", "abc,GO4"), "not numeric"),
        (TREE_ARFF.replace("0.5,red", "0.5,pink"), "not one of"),
        ("@RELATION x\n@ATTRIBUTE a numeric\n@DATA\n1\n", "hierarchical"),
    ],
)
def test_bad_files_raise_with_location(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_arff(_write(tmp_path, text))
