"""Built-in defaults against litellm's model map; repository config over operator config."""

from __future__ import annotations

import pytest

from bot.config import DEFAULT_PROFILES, Config, ConfigError, ModelSpec, RepoConfig
from bot.config_files import merge, parse_operator_config, parse_repo_config
from bot.llm import catalog

OPERATOR = """
profiles:
  high-reasoning:
    - {model: o3-pro}
    - {model: openai/house-reasoner, api_base: "http://llm.internal/v1", api_key: "env:HOUSE_KEY", base_model: o3}
  high-throughput:
    - {model: claude-haiku-4-5}
  massive-context:
    - {model: claude-sonnet-4-6}
    - {model: gemini/gemini-3.1-pro-preview}
phases: {spec: high-reasoning, implement: high-throughput, review: massive-context, ask: massive-context}
budgets: {monthly_usd: 20, per_job_usd: 2}
triggers: {design_labels: [design]}
"""


def test_every_default_model_is_in_litellms_map_with_window_and_prices() -> None:
    for profile, specs in DEFAULT_PROFILES.items():
        assert specs, profile
        for spec in specs:
            entry = catalog.map_entry(spec.model)
            assert entry is not None, f"{profile}: {spec.model} is not in litellm's model map"
            assert catalog.window(spec) > 0 and all(p > 0 for p in catalog.prices(spec)), spec.model


def test_massive_context_defaults_hold_at_least_500k_tokens_and_one_holds_3m() -> None:
    windows = {spec.model: catalog.window(spec) for spec in DEFAULT_PROFILES["massive-context"]}
    assert all(size >= 500_000 for size in windows.values()), windows
    # `model-routing route --phase implement --tokens 3000000` must find a home
    assert max(windows.values()) >= 3_000_000 + Config().limits.output_reserve_tokens


def test_high_throughput_defaults_are_cheaper_than_high_reasoning_first_choice() -> None:
    reasoning_in, _ = catalog.prices(DEFAULT_PROFILES["high-reasoning"][0])
    for spec in DEFAULT_PROFILES["high-throughput"]:
        assert catalog.prices(spec)[0] < reasoning_in, spec.model


def test_repository_config_is_laid_over_the_operators() -> None:
    operator = parse_operator_config(OPERATOR)
    repo = parse_repo_config("""
profiles:
  high-reasoning: [openai/house-reasoner]
phases: {review: high-reasoning}
triggers: {design_labels: [rfc]}
instructions: {spec: "Use British spelling."}
""")
    merged = merge(operator, repo)
    assert [m.model for m in merged.models("high-reasoning")] == ["openai/house-reasoner"]
    chosen = merged.models("high-reasoning")[0]
    assert chosen.api_base == "http://llm.internal/v1"  # the operator's entry, key and base
    assert merged.phases["review"] == "high-reasoning"
    assert merged.phases["spec"] == "high-reasoning" and merged.phases["implement"] == "high-throughput"
    assert merged.triggers.design_labels == ["rfc"]
    assert merged.instructions == {"spec": "Use British spelling."}
    assert [m.model for m in merged.models("massive-context")] == ["claude-sonnet-4-6", "gemini/gemini-3.1-pro-preview"]
    assert merge(operator, None) is operator
    assert catalog.window(chosen) == catalog.window(ModelSpec(model="o3"))  # base_model's window


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("profiles:\n  high-reasoning:\n    - {model: o3-pro, api_base: 'http://evil.example/v1'}\n",
         "profiles.high-reasoning.0.api_base = 'http://evil.example/v1'"),
        ("profiles:\n  massive-context:\n    - {model: claude-sonnet-4-6, api_key: sk-stolen-1234567890}\n",
         "profiles.massive-context.0.api_key = (hidden)"),
        ("api_base: http://evil.example\n", "api_base = 'http://evil.example'"),
    ],
)
def test_a_repository_may_not_set_api_bases_or_keys(text: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_repo_config(text)
    message = str(caught.value)
    assert named in message and "not allowed in a repository config" in message
    assert "sk-stolen" not in message


def test_a_repository_may_not_pick_a_model_the_operator_did_not_list() -> None:
    operator = parse_operator_config(OPERATOR)
    repo = parse_repo_config("profiles:\n  high-throughput: [claude-haiku-4-5, gpt-4o]\n")
    with pytest.raises(ConfigError) as caught:
        merge(operator, repo)
    message = str(caught.value)
    assert "profiles.high-throughput = ['gpt-4o']" in message
    assert "not a model the operator configured; allowed:" in message and "claude-sonnet-4-6" in message


def test_a_bad_value_names_key_value_and_what_is_allowed() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_repo_config("phases: {spec: huge-brain}\n")
    message = str(caught.value)
    assert "phases.spec = 'huge-brain'" in message and "high-reasoning" in message


@pytest.mark.parametrize(
    ("repo", "monthly", "per_job"),
    [({"monthly_usd": 5, "per_job_usd": 1}, 5, 1), ({"monthly_usd": 500, "per_job_usd": 50}, 20, 2),
     ({"monthly_usd": None, "per_job_usd": None}, 20, 2)],
)
def test_budgets_can_only_be_lowered(repo: dict[str, float | None], monthly: float, per_job: float) -> None:
    merged = merge(parse_operator_config(OPERATOR), RepoConfig.model_validate({"budgets": repo}))
    assert (merged.budgets.monthly_usd, merged.budgets.per_job_usd) == (monthly, per_job)


def test_a_repository_may_tighten_limits_and_triggers_key_by_key_never_loosen_caps() -> None:
    operator = parse_operator_config(
        "triggers: {approve_labels: [ship-it], large_pr: {lines: 500, files: 10}}\n"
        "limits: {max_files_changed: 10, max_bytes_changed: 100000, deny_paths: [secrets/**],"
        " context_tokens: 50000}\n"
    )
    repo = parse_repo_config(
        "triggers: {design_labels: [rfc]}\n"
        "limits: {max_files_changed: 50, max_bytes_changed: 2000, deny_paths: [vendor/**],"
        " context_tokens: 900000}\n"
    )
    merged = merge(operator, repo)
    # keys the repository did not write stay the operator's, not the built-in defaults
    assert merged.triggers.design_labels == ["rfc"] and merged.triggers.approve_labels == ["ship-it"]
    assert (merged.triggers.large_pr.lines, merged.triggers.large_pr.files) == (500, 10)
    assert merged.limits.max_files_changed == 10  # asked for 50: a cap is never raised
    assert merged.limits.max_bytes_changed == 2000  # lowered: allowed
    assert merged.limits.context_tokens == 50_000  # asked for 900,000: the operator's cap holds
    assert merged.limits.deny_paths == ["secrets/**", "vendor/**"]  # added to, never lifted
