import numpy as np
import pytest

from explorer import urlstate
from explorer.urlstate import FaceRef, ViewState, decode, encode

NAMES = ["Eyeglasses", "Male", "Smiling", "Blond_Hair"]
D = 8


def roundtrip(state: ViewState, n_rows: int = 100) -> tuple[ViewState, list[str]]:
    params = encode(state)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    return decode(params, D, NAMES, n_rows)


def test_defaults_encode_to_an_empty_url():
    assert encode(ViewState()) == {}
    state, messages = decode({}, D, NAMES, 0)
    assert state == ViewState() and messages == []


def test_full_state_round_trips():
    s = ViewState(view="arithmetic", seed=123456789, tau=0.65, n=36, base=FaceRef.row(42),
                  dims={0: 1.25, 7: -3.5}, dim=3, edit={"Smiling": 1.5, "Eyeglasses": -2.0, "Blond_Hair": 0.75},
                  direction="mean", a=FaceRef(), b=FaceRef.sample(9, 63, 1.3), c=FaceRef.row(0),
                  end=FaceRef.vector(np.linspace(-2, 2, D)), steps=12, proj="pca", color="kl", point=99,
                  ckpt="dev64.pt")
    back, messages = roundtrip(s)
    assert messages == []
    assert back == s
    assert list(back.edit) == ["Smiling", "Eyeglasses", "Blond_Hair"]  # order kept for the UI


def test_vector_face_is_float16_and_exact_after_round_trip():
    z = np.random.default_rng(0).standard_normal(D).astype(np.float32)
    ref = FaceRef.vector(z)
    np.testing.assert_allclose(ref.z, z, atol=2e-3)
    text = ref.to_text()
    assert text.startswith("z:") and "=" not in text
    assert urlstate.parse_face(text, D, 0) == ref


def test_slider_values_are_rounded_consistently():
    s = ViewState(tau=0.15000000000000002, dims={2: 0.30000000000000004})
    s.tau = urlstate.q(s.tau)
    s.dims = {k: urlstate.q(v) for k, v in s.dims.items()}
    back, _ = roundtrip(s)
    assert back.tau == 0.15 and back.dims == {2: 0.3}
    assert encode(ViewState(tau=-0.0)) == {"tau": "0"}


@pytest.mark.parametrize("params, field", [
    ({"view": "nope"}, "view"), ({"seed": "abc"}, "seed"), ({"seed": "-1"}, "seed"), ({"tau": "nan"}, "tau"),
    ({"tau": "9"}, "tau"), ({"n": "1000"}, "n"), ({"n": "4.5"}, "n"), ({"dims": "3:abc"}, "dims"),
    ({"dims": "8:1"}, "dims"), ({"dims": "x"}, "dims"), ({"dims": "1:99"}, "dims"),
    ({"edit": "Hat:2"}, "edit"), ({"t": "1.5"}, "t"), ({"base": "fitted:1:2"}, "base"), ({"edit": "Smiling:inf"}, "edit"), ({"base": "row:100"}, "base"),
    ({"base": "sample:1:2"}, "base"), ({"base": "z:!!!"}, "base"), ({"base": "z:AAAA"}, "base"),
    ({"a": "face"}, "a"), ({"proj": "umap"}, "proj"), ({"color": "Hat"}, "color"), ({"point": "-3"}, "point"),
    ({"steps": "2"}, "steps"), ({"direction": "up"}, "direction"), ({"ckpt": "../../etc/passwd"}, "ckpt"),
    ({"ckpt": "/abs/path.pt"}, "ckpt"), ({"dim": "8"}, "dim"),
])
def test_malformed_parameter_falls_back_and_says_so(params, field):
    state, messages = decode(params, D, NAMES, 100)
    assert getattr(state, field) == getattr(ViewState(), field)
    assert len(messages) == 1 and f"{field}=" in messages[0] and "default" in messages[0]


def test_one_bad_parameter_does_not_spoil_the_others():
    state, messages = decode({"seed": "7", "tau": "hot", "view": "map", "zzz": "1"}, D, NAMES, 10)
    assert (state.seed, state.tau, state.view) == (7, ViewState().tau, "map")
    assert len(messages) == 2 and "zzz" in messages[1]


def test_list_values_and_whitespace_are_tolerated():
    state, messages = decode({"seed": ["1", " 2 "], "edit": " Smiling : 1 , "}, D, NAMES, 0)
    assert messages == [] and state.seed == 2 and state.edit == {"Smiling": 1.0}


def test_rows_need_a_bundle_and_nan_vectors_are_refused():
    _, messages = decode({"base": "row:0", "point": "0"}, D, NAMES, 0)
    assert len(messages) == 2 and all("no encoded dataset faces" in m for m in messages)
    nan = FaceRef("z", z=(float("nan"),) * D).to_text()
    _, messages = decode({"end": nan}, D, NAMES, 0)
    assert "non-finite" in messages[0]


def test_compare_and_map_faces_state_round_trips_and_is_validated():
    s = ViewState(view="compare", faces=True, cmpa="a.pt", cmpb="b-32.pt", cmpface="000042.jpg",
                  cmpattr="Eyeglasses", cmpw=-1.25)
    params = encode(s)
    assert params == {"view": "compare", "faces": "1", "cmpa": "a.pt", "cmpb": "b-32.pt", "cmpface": "000042.jpg",
                      "cmpattr": "Eyeglasses", "cmpw": "-1.25"}
    back, messages = roundtrip(s)
    assert back == s and messages == []
    bad, messages = decode({"faces": "2", "cmpa": "../x.pt", "cmpface": "a/b.jpg", "cmpattr": "Wings", "cmpw": "4"},
                           D, NAMES, 10)
    assert len(messages) == 5 and bad == ViewState()


def test_an_edit_may_name_a_kind_of_an_attribute_where_the_model_has_kinds():
    kinds = NAMES + ["Wearing_Hat.1", "Wearing_Hat.2"]
    state, messages = decode({"edit": "Wearing_Hat.2:1.5,Smiling:-1"}, D, NAMES, 0, edit_names=kinds)
    assert messages == [] and state.edit == {"Wearing_Hat.2": 1.5, "Smiling": -1.0}
    assert encode(state)["edit"] == "Wearing_Hat.2:1.5,Smiling:-1"
    state, messages = decode({"edit": "Wearing_Hat.2:1.5"}, D, NAMES, 0)  # a model without kinds
    assert state.edit == {} and "Wearing_Hat.2" in messages[0]


def test_a_list_parameter_keeps_its_valid_items_and_names_the_others():
    state, messages = decode({"edit": "Smiling:2,Unicorn:1", "dims": "1:0.5,99:1,2:x"}, D, NAMES, 0)
    assert state.edit == {"Smiling": 2.0} and state.dims == {1: 0.5}
    assert len(messages) == 2
    edit = next(m for m in messages if "edit=" in m)
    assert "Unicorn" in edit and "kept Smiling" in edit
    dims = next(m for m in messages if "dims=" in m)
    assert "'99:1'" in dims and "'2:x'" in dims


def test_long_values_and_names_are_cut_in_messages():
    huge = "9" * 5000
    params = {"seed": huge, "tau": "1" * 300, "edit": "Smiling:" + "1" * 300, "dims": "1:" + "2" * 300,
              "base": "sample:" + huge + ":0:1", "x" * 500: "1", "color": "y" * 600}
    _, messages = decode(params, D, NAMES, 10)
    assert len(messages) == len(params)  # one message per parameter
    for m in messages:
        assert len(m) < 300, m
        assert "9" * 60 not in m and "1" * 60 not in m and "x" * 60 not in m and "y" * 60 not in m
    _, messages = decode({"seed": "9" * 4000}, D, NAMES, 10)  # a number Python reads, too large to be a seed
    assert len(messages[0]) < 300


def test_a_fitted_density_sample_and_the_interpolation_position_round_trip():
    s = ViewState(view="interpolate", base=FaceRef.fitted(7, 3, 0.6), end=FaceRef.fitted(1, 0, 1.0), t=0.25)
    params = encode(s)
    assert params["base"] == "fitted:7:3:0.6" and params["t"] == "0.25"
    back, messages = roundtrip(s)
    assert back == s and messages == []
    assert FaceRef.fitted(7, 3, 0.6).describe() == "fitted-density sample #4 of seed 7, τ = 0.6"
    _, messages = decode({"base": "fitted:7:3:0.6"}, D, NAMES, 0)  # no encodings: no density to draw from
    assert "fit a density" in messages[0]
