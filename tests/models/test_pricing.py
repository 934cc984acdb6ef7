"""What a call costs: known models priced, unknown ones None, user prices used."""

from __future__ import annotations

import pytest

from threadline.models import DEFAULT_PRICES, ModelPrice, PriceTable


def test_a_known_model_is_priced_per_million_tokens() -> None:
    table = PriceTable()

    cost = table.cost("gpt-4o-mini", input_tokens=2_000_000, output_tokens=1_000_000)

    assert cost == pytest.approx(2 * 0.15 + 1 * 0.6)


def test_cached_input_and_cache_writes_have_their_own_prices() -> None:
    price = ModelPrice(input=3.0, output=15.0, cached_input=0.3, cache_write=3.75)

    cost = price.cost(
        input_tokens=1_000_000,
        cached_input_tokens=600_000,
        cache_write_tokens=100_000,
        output_tokens=0,
    )

    assert cost == pytest.approx(0.3 * 3.0 + 0.6 * 0.3 + 0.1 * 3.75)


def test_without_a_cache_price_cached_input_costs_the_input_price() -> None:
    price = ModelPrice(input=1.0, output=2.0)

    assert price.cost(
        input_tokens=1_000_000, cached_input_tokens=500_000, output_tokens=0
    ) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("model", "base"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
    ],
)
def test_dated_snapshots_and_aliases_cost_what_their_model_costs(model: str, base: str) -> None:
    assert PriceTable().price(model) == DEFAULT_PRICES[base]


@pytest.mark.parametrize("model", ["llama3.2", "gpt-4o-audio-preview", "gpt-4o-mini-tts", ""])
def test_an_unknown_model_costs_none_not_zero(model: str) -> None:
    assert PriceTable().cost(model, input_tokens=10, output_tokens=10) is None


def test_a_long_prompt_is_billed_at_the_long_context_price() -> None:
    table = PriceTable()

    short = table.cost("claude-sonnet-4-5", input_tokens=200_000, output_tokens=1_000_000)
    long = table.cost("claude-sonnet-4-5", input_tokens=200_001, output_tokens=1_000_000)

    assert short == pytest.approx(0.2 * 3 + 15)
    assert long == pytest.approx(0.200001 * 6 + 22.5)


def test_registered_and_given_prices_override_the_defaults_of_that_table_only() -> None:
    table = PriceTable({"gpt-4o": ModelPrice(input=1.0, output=1.0)})
    table.register_price("my-finetune", input=2.0, output=4.0, cached_input=1.0)
    other = PriceTable()

    assert table.cost("gpt-4o", input_tokens=1_000_000, output_tokens=0) == 1.0
    assert table.cost(
        "my-finetune",
        input_tokens=1_000_000,
        cached_input_tokens=1_000_000,
        output_tokens=1_000_000,
    ) == pytest.approx(5.0)
    assert other.cost("gpt-4o", input_tokens=1_000_000, output_tokens=0) == 2.5
    assert other.price("my-finetune") is None


def test_a_table_without_defaults_knows_only_what_it_is_given() -> None:
    table = PriceTable({"local": ModelPrice(input=0.0, output=0.0)}, defaults=False)

    assert table.cost("local", input_tokens=5, output_tokens=5) == 0.0
    assert table.price("gpt-4o") is None


def test_the_defaults_cannot_be_changed_in_place() -> None:
    with pytest.raises(TypeError):
        DEFAULT_PRICES["gpt-4o"] = ModelPrice(input=0, output=0)  # type: ignore[index]
