"""Fuzzed recipes always end in exit 0 or a located exit 2, never a traceback."""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from model_trainer.cli.app import app
from tests.recipe.samples import BASE

runner = CliRunner()
VALID = yaml.safe_load(BASE + "study:\n  space:\n    model.args.hidden: {choice: [4, 8]}\n")

junk = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**20, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["../../etc", "tests.recipe.userconf.Nope", "os.path", "ñ.ü", "a..b",
                     "${oops}", "1e400", "yes", "off", "???", "fp16", "cuda:7", "${seed}",
                     "${oc.env:MTRAIN_FUZZ_UNSET}", "${oc.env:HOME,1}", "${", "x${seed}${.a}",
                     "${..name}", "\\${seed}", "0o17", "2024-01-01", "1:20", "4294967296"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                         max_size=2),
)


def paths(node, prefix=()):
    """Every key path in a nested dict."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))


ALL_PATHS = list(paths(VALID))


@st.composite
def mutated(draw):
    data = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS))
        parent = data
        for key in path[:-1]:
            if not isinstance(parent, dict) or key not in parent:
                break
            parent = parent[key]
        else:
            if not isinstance(parent, dict):
                continue
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                parent[path[-1]] = draw(junk)
            elif action == "delete":
                parent.pop(path[-1], None)
            else:
                parent[draw(st.text(min_size=1, max_size=8))] = draw(junk)
    if draw(st.integers(0, 9)) == 0:
        data["extends"] = draw(st.one_of(junk, st.sampled_from(["fuzz.yaml", "nope.yaml"])))
    text = yaml.safe_dump(data, allow_unicode=True)
    if draw(st.integers(0, 9)) == 0:  # sometimes break the YAML text itself
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["[", "{", ": :", "\t", "- ", "'"])) + text[cut:]
    return text


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=mutated())
def test_mutated_recipe_gives_exit_0_or_a_located_exit_2(tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        errors = [ln for ln in result.output.splitlines() if ln.startswith("error ")]
        assert errors and all(f"{path}" in ln for ln in errors), result.output
