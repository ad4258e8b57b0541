"""Reliability of model files (issue #21, rows 6-9): a model file is untrusted input, bounded and validated
before any parser sees it; what its digest protects against, and the pin that makes tampering detectable.

Real model files (the shipped default model, edited the way an attacker would, digest recomputed), loaded in
fresh processes where a crash would kill the process (LightGBM aborts on malformed text), and through the CLI.
The matrix these tests make true is docs/reliability.md.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lessdask.errors import ModelFileError
from lessdask.model import load_model
from lessdask.model import validation as v
from lessdask.model.default import shipped_model_path
from lessdask.model.files import _digest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def shipped():
    """Metadata and members of the shipped default model (8 classes, LightGBM boosters only)."""
    with zipfile.ZipFile(shipped_model_path()) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    return json.loads(members.pop("metadata.json")), members


def _write(path, meta, members, fix_digest=True, metadata_text=None, compression=zipfile.ZIP_DEFLATED):
    """A model file from (edited) metadata and members; the digest recomputed as an attacker would."""
    meta = json.loads(json.dumps(meta))
    if fix_digest:
        meta["digest"] = _digest(members, meta)
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("metadata.json", metadata_text if metadata_text is not None else json.dumps(meta))
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _edited(shipped, path, edit_meta=None, edit_members=None):
    meta, members = json.loads(json.dumps(shipped[0])), dict(shipped[1])
    if edit_meta:
        edit_meta(meta)
    if edit_members:
        edit_members(members)
    return _write(path, meta, members)


_LOAD = ("import sys\n"
         "from lessdask.errors import ModelFileError\n"
         "from lessdask.model import load_model\n"
         "try:\n"
         "    load_model(sys.argv[1])\n"
         "    print('LOADED')\n"
         "except ModelFileError as exc:\n"
         "    print('REFUSED', exc)\n"
         # VmHWM: this process's peak (ru_maxrss would include the forking test process's)
         "peak = [x for x in open('/proc/self/status') if x.startswith('VmHWM')][0].split()[1]\n"
         "print('PEAK_MB', int(peak) // 1024)\n")


def _load_in_a_fresh_process(path):
    """Load a model file in its own process: (return code, stdout, stderr, peak resident MB)."""
    r = subprocess.run([sys.executable, "-c", _LOAD, str(path)], env=ENV, capture_output=True, text=True,
                       timeout=300)
    peak = next((int(line.split()[1]) for line in r.stdout.splitlines() if line.startswith("PEAK_MB")), None)
    return r.returncode, r.stdout, r.stderr, peak


def _booster(members, c=0) -> str:
    return members[f"mega/{c}.txt"].decode()


# ----------------------------------------------------------------- row 6: malformed LightGBM text


def _truncate(text):
    return text[: int(len(text) * 0.6)]


def _nan_leaves(text):
    i = text.index("\nleaf_value=") + len("\nleaf_value=")
    return text[:i] + "nan " + text[i:]


def _split_feature_out_of_range(text):
    i = text.index("\nsplit_feature=") + len("\nsplit_feature=")
    j = text.index(" ", i)
    return text[:i] + "100000" + text[j:]


def _cycle(text):  # a child pointing back at the root: LightGBM loops or reads out of bounds
    i = text.index("\nleft_child=") + len("\nleft_child=")
    j = text.index(" ", i)
    k = text.index(" ", j + 1)
    return text[:j + 1] + "0" + text[k:]


def _not_a_number(text):
    return text.replace("\nthreshold=", "\nthreshold=1e99999x ", 1)


@pytest.mark.parametrize(("damage", "message"), [
    (_truncate, "truncated"),
    (_nan_leaves, "non-finite"),
    (_split_feature_out_of_range, "splits on a feature outside"),
    (_cycle, "not a tree"),
    (_not_a_number, "not a number"),
])
def test_malformed_booster_text_is_a_model_file_error_not_a_crash(damage, message, shipped, tmp_path):
    path = _edited(shipped, tmp_path / "bad.lessmodel",
                   edit_members=lambda m: m.update({"mega/3.txt": damage(_booster(m, 3)).encode()}))
    rc, out, err, _ = _load_in_a_fresh_process(path)
    assert rc == 0, f"process died with {rc} (SIGABRT 134 / SIGSEGV 139 on main): {err[-500:]}"
    assert "REFUSED" in out and "mega/3.txt" in out and message in out, out


def test_a_huge_tree_sizes_header_never_reaches_lightgbm(shipped, tmp_path):
    """LightGBM allocates from ``tree_sizes`` before reading a tree (SIGABRT on main); the text it now sees is
    rewritten from the checked trees, so the header is ignored and the model classifies as before."""
    def edit(members):
        for c in range(8):
            text = _booster(members, c)
            i = text.index("\ntree_sizes=") + len("\ntree_sizes=")
            j = text.index("\n", i)
            members[f"mega/{c}.txt"] = (text[:i] + " ".join(["999999999999"] * 25) + text[j:]).encode()

    path = _edited(shipped, tmp_path / "sizes.lessmodel", edit_members=edit)
    rc, out, err, _ = _load_in_a_fresh_process(path)
    assert rc == 0 and "LOADED" in out, (rc, out, err[-500:])
    X = np.random.default_rng(0).random((500, 24)).astype(np.float32)
    np.testing.assert_array_equal(load_model(path).predict_proba(X), load_model("default").predict_proba(X))


def test_rewritten_boosters_predict_exactly_as_lightgbm_reads_the_original(shipped):
    import lightgbm as lgb

    X = np.random.default_rng(1).random((2000, 24))
    for c in range(8):
        text = _booster(shipped[1], c)
        original = lgb.Booster(model_str=text)
        canonical = lgb.Booster(model_str=v.safe_booster_text(text, 24, f"mega/{c}.txt"))
        np.testing.assert_array_equal(canonical.predict(X), original.predict(X))


def test_a_malformed_booster_through_the_cli_is_exit_2_and_leaves_no_store(shipped, tmp_path, dump_file):
    path = _edited(shipped, tmp_path / "bad.lessmodel",
                   edit_members=lambda m: m.update({"mega/0.txt": _nan_leaves(_booster(m, 0)).encode()}))
    out = tmp_path / "r.zarr"
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", str(dump_file), "-o", str(out), "-m",
                        str(path), "--workers", "1"], env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "bad.lessmodel" in r.stderr and "mega/0.txt" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


# ----------------------------------------------------------------- row 7: sizes bounded before reading


def _zeros(n):
    return b"\0" * n


def test_a_huge_member_in_a_small_file_is_refused_from_the_zip_directory(shipped, tmp_path):
    size = v.MAX_MEMBER_BYTES["mega"] + (16 << 20)  # 272 MiB of zeros: a 270 kB member
    path = _edited(shipped, tmp_path / "bomb.lessmodel", edit_members=lambda m: m.update({"mega/7.txt": _zeros(size)}))
    assert path.stat().st_size < 2 << 20
    rc, out, err, peak = _load_in_a_fresh_process(path)
    assert rc == 0 and "REFUSED" in out and f"declares {size} bytes" in out, (out, err[-300:])
    baseline = _load_in_a_fresh_process(shipped_model_path())[3]  # a process loading a valid model
    assert peak < baseline + 100, f"peak {peak} MB vs {baseline} MB: the member was decompressed"


def test_a_member_that_expands_like_a_zip_bomb_is_refused_unread(shipped, tmp_path):
    path = _edited(shipped, tmp_path / "bomb.lessmodel",
                   edit_members=lambda m: m.update({"mega/7.txt": _zeros(64 << 20)}))  # under the cap, 1000-fold
    with pytest.raises(ModelFileError, match=r"mega/7.txt expands \d+-fold"):
        load_model(path)


def test_metadata_padded_beyond_its_cap_is_refused_before_it_is_parsed(shipped, tmp_path):
    meta, members = shipped
    text = json.dumps(meta) + " " * (v.MAX_MEMBER_BYTES["metadata.json"] + 1)  # valid JSON, padded
    path = _write(tmp_path / "padded.lessmodel", meta, members, metadata_text=text)
    rc, out, err, peak = _load_in_a_fresh_process(path)
    assert rc == 0 and "REFUSED" in out and "metadata.json declares" in out, (out, err[-300:])
    baseline = _load_in_a_fresh_process(shipped_model_path())[3]
    assert peak < baseline + 16, f"peak {peak} MB vs {baseline} MB: the padded metadata was read"


def test_a_member_larger_than_its_header_says_is_never_read_past_its_cap(shipped, tmp_path):
    """The zip directory lies (a small size declared for a 64 MiB member): reading stops at the cap."""
    path = _edited(shipped, tmp_path / "liar.lessmodel",
                   edit_members=lambda m: m.update({"mega/7.txt": _zeros(64 << 20)}))
    raw = bytearray(path.read_bytes())
    # rewrite the uncompressed size of mega/7.txt in its local header and central directory entry to 1000
    name = b"mega/7.txt"
    for sig, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        k = raw.find(sig + b"")
        while k != -1:
            if raw[k + name_at:k + name_at + len(name)] == name:
                raw[k + size_at:k + size_at + 4] = (1000).to_bytes(4, "little")
            k = raw.find(sig, k + 4)
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError):
        load_model(path)


# ----------------------------------------------------------------- row 8: what the digest protects against


def _reverse_classes(meta):
    meta["classes"] = meta["classes"][::-1]


def test_the_digest_detects_corruption(shipped, tmp_path):
    meta, members = shipped
    damaged = dict(members)
    damaged["mega/2.txt"] = damaged["mega/2.txt"].replace(b"shrinkage=0.4", b"shrinkage=0.5", 1)
    with pytest.raises(ModelFileError, match="digest does not match"):
        load_model(_write(tmp_path / "flipped.lessmodel", meta, damaged, fix_digest=False))


def test_an_edit_with_a_recomputed_digest_is_refused_only_by_the_pin(shipped, tmp_path, dump_file):
    """Reversed classes with the SHA-256 recomputed load (an unkeyed digest cannot tell), but a run pinned to
    the published digest refuses them: exit 2, nothing written."""
    published = shipped[0]["digest"]
    forged = _edited(shipped, tmp_path / "forged.lessmodel", edit_meta=_reverse_classes)
    assert list(load_model(forged).classes_) == shipped[0]["classes"][::-1]
    assert list(load_model(shipped_model_path(), expected_digest=published).classes_) == shipped[0]["classes"]
    out = tmp_path / "r.zarr"
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", str(dump_file), "-o", str(out), "-m",
                        str(forged), "--model-digest", published, "--workers", "1"], env=ENV, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "is not the pinned model" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not out.exists()


def test_the_docs_claim_no_more_than_the_digest_gives():
    texts = {p: p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
    for path, text in texts.items():
        for line in text.splitlines():
            if "tamper" in line.lower():
                assert "--model-digest" in line or "pin" in line or "not" in line, f"{path.name}: {line}"


# ----------------------------------------------------------------- row 9: metadata schema and ranges


def _drop_boosters(meta, members, keep):
    for c in range(keep, 8):
        del members[f"mega/{c}.txt"]
    meta["mega_models"] = keep


@pytest.mark.parametrize(("edit", "message"), [
    (lambda meta, m: _drop_boosters(meta, m, 5), "5 boosters for 8 classes"),
    (lambda meta, m: m.pop("mega/7.txt"), "do not match the 8 classes"),
    (lambda meta, m: meta.update(classes=meta["classes"][:7]), "boosters for 7 classes"),
    (lambda meta, m: meta["params"].update(temperature=0), "temperature"),
    (lambda meta, m: meta["params"].update(temperature=-0.1), "temperature"),
    (lambda meta, m: meta["params"].update(temperature=float("nan")), "temperature"),
    (lambda meta, m: meta["feature_settings"].update(n_nearest=10**9), "n_nearest"),
    (lambda meta, m: meta["feature_settings"].update(max_cutoff=1e6), "max_cutoff"),
    (lambda meta, m: meta["feature_settings"].update(l_values=[4, 4]), "l_values"),
    (lambda meta, m: meta.update(n_features_in="24"), "n_features_in must be an integer"),
    (lambda meta, m: meta.update(class_feature_mean=meta["class_feature_mean"][:3]), "class_feature_mean has shape"),
    (lambda meta, m: meta["class_feature_std"][0].__setitem__(0, -1.0), "negative"),
    (lambda meta, m: meta["envelope_radius"].__setitem__(2, None), "envelope_radius"),
    (lambda meta, m: meta.update(classes=["fcc", "fcc", *meta["classes"][2:]]), "repeat"),
    (lambda meta, m: meta.update(classes=["other", *meta["classes"][1:]]), "not 'other'"),
    (lambda meta, m: meta.pop("base_models"), "missing"),
])
def test_metadata_out_of_its_schema_is_a_model_file_error_naming_the_field(edit, message, shipped, tmp_path):
    meta, members = json.loads(json.dumps(shipped[0])), dict(shipped[1])
    edit(meta, members)
    with pytest.raises(ModelFileError, match=message):
        load_model(_write(tmp_path / "bad.lessmodel", meta, members))


def test_an_invalid_model_through_the_cli_is_one_message_and_exit_2(shipped, tmp_path, dump_file):
    path = _edited(shipped, tmp_path / "cold.lessmodel", edit_meta=lambda m: m["params"].update(temperature=0))
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", str(dump_file), "-o",
                        str(tmp_path / "r.zarr"), "-m", str(path), "--workers", "1"], env=ENV, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.count("error:") == 1 and "temperature" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "r.zarr").exists()


# ----------------------------------------------------------------- fuzzing: metadata and booster text

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


def _paths(value, prefix=()):
    """Every path into a JSON value (dict keys, list indices), shallow-first, lists sampled."""
    yield prefix
    if isinstance(value, dict):
        for k, x in value.items():
            yield from _paths(x, (*prefix, k))
    elif isinstance(value, list):
        for i in sorted({0, len(value) // 2, len(value) - 1} & set(range(len(value)))):
            yield from _paths(value[i], (*prefix, i))


@pytest.fixture(scope="module")
def metadata_paths(shipped):
    return [p for p in _paths(shipped[0]) if p and p[0] not in ("digest", "format")]


_X = np.random.default_rng(3).random((64, 24)).astype(np.float32)


def _check_usable(model):
    """A model that loaded must classify: finite probabilities (summing to 1 for softmax), labels in range."""
    P = model.predict_proba(_X)
    assert np.isfinite(P).all()
    if model.output == "softmax":
        np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-5)
    labels = model.predict_labels(_X, proba=P)
    assert ((labels >= -1) & (labels < len(model.classes_))).all()


_fuzz = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])


@_fuzz
@given(data=st.data())
def test_fuzzed_metadata_loads_a_usable_model_or_is_a_model_file_error(data, shipped, metadata_paths, tmp_path):
    meta, members = json.loads(json.dumps(shipped[0])), shipped[1]
    path = data.draw(st.sampled_from(metadata_paths), label="path")
    mode = data.draw(st.sampled_from(["replace", "delete", "scale"]), label="mode")
    parent = meta
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if mode == "delete" and isinstance(parent, dict):
        del parent[last]
    elif mode == "scale" and isinstance(parent[last], (int, float)) and not isinstance(parent[last], bool):
        parent[last] = parent[last] * data.draw(st.sampled_from([-1, 0, 1e-9, 1e9, math.inf, math.nan]))
    else:
        parent[last] = data.draw(_JSON, label="value")
    try:
        model = load_model(_write(tmp_path / "fuzzed.lessmodel", meta, members))
    except ModelFileError:
        return
    _check_usable(model)


@_fuzz
@given(data=st.data())
def test_fuzzed_booster_text_loads_a_usable_model_or_is_a_model_file_error(data, shipped, tmp_path):
    meta, members = shipped[0], dict(shipped[1])
    c = data.draw(st.integers(0, 7), label="booster")
    text = _booster(members, c)
    tokens = text.split(" ")
    kind = data.draw(st.sampled_from(["cut", "token", "line"]), label="kind")
    if kind == "cut":
        text = text[: data.draw(st.integers(0, len(text)), label="at")]
    elif kind == "token":
        i = data.draw(st.integers(0, len(tokens) - 1), label="token")
        tokens[i] = data.draw(st.sampled_from(["nan", "inf", "-1", "0", "30", "31", "2147483648", "1e308", "",
                                               "-2147483649", "x", "24", "23"]), label="value")
        text = " ".join(tokens)
    else:
        lines = text.split("\n")
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        lines[i] = data.draw(st.sampled_from(["", "Tree=0", "num_leaves=0", "num_leaves=131073",
                                              "end of trees", "num_cat=1", "is_linear=1", "tree"]), label="new")
        text = "\n".join(lines)
    members[f"mega/{c}.txt"] = text.encode()
    try:
        model = load_model(_write(tmp_path / "fuzzed.lessmodel", meta, members))
    except ModelFileError:
        return
    _check_usable(model)
