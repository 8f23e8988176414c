from core.encoders.fingerprint import combine, dir_fingerprint, file_fingerprint


def test_file_fingerprint_sees_changes_at_head_tail_and_size(tmp_path):
    path = tmp_path / "weights.bin"
    data = bytearray(3 << 20)
    path.write_bytes(data)
    base = file_fingerprint(path)
    assert file_fingerprint(path) == base
    for change in (
        lambda d: d.__setitem__(0, 1),
        lambda d: d.__setitem__(-1, 1),
        lambda d: d.append(0),
    ):
        changed = bytearray(data)
        change(changed)
        path.write_bytes(changed)
        assert file_fingerprint(path) != base


def test_dir_fingerprint_depends_on_names_and_contents(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    base = dir_fingerprint(tmp_path)
    (tmp_path / "config.json").write_text('{"a": 1}')
    assert dir_fingerprint(tmp_path) != base


def test_combine_is_order_sensitive_and_short():
    assert combine("a", "b") != combine("b", "a")
    assert len(combine("a")) == 16
