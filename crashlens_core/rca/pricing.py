"""LLM prices: what one call costs, from the ``llm_prices`` setting.

Pricing lives below the analyzers that spend tokens (``rca.engine``, ``rca.ask``) so they need
nothing above them; ``kpi`` sums the recorded costs and re-exports these functions.

>>> round(cost_usd(Settings(llm_prices="m=1/2"), "m", 500_000, 250_000), 2)
1.0
"""

from __future__ import annotations

from ..config import Settings
from ..errors import ConfigError

__all__ = ["cost_usd", "parse_prices"]


def parse_prices(text: str) -> dict[str, tuple[float, float]]:
    """``"model=in/out,..."`` (USD per 1M input/output tokens) → {model: (in, out)}.

    >>> parse_prices("llama-3.3-70b-versatile=0.59/0.79")
    {'llama-3.3-70b-versatile': (0.59, 0.79)}
    """
    prices: dict[str, tuple[float, float]] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        model, sep, pair = item.rpartition("=")
        try:
            if not sep or not model.strip():
                raise ValueError
            inp, out = (float(x) for x in pair.split("/"))
            if inp < 0 or out < 0:
                raise ValueError
        except ValueError:
            raise ConfigError(f"bad LLM price entry {item!r}",
                              hint="CRASHLENS_LLM_PRICES is model=in/out in USD per 1M tokens, e.g. llama-3.3-70b-versatile=0.59/0.79") from None
        prices[model.strip()] = (inp, out)
    return prices


def cost_usd(settings: Settings, model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """USD cost of one LLM call from the ``llm_prices`` setting; 0.0 for unlisted (e.g. local) models.

    >>> round(cost_usd(Settings(), "llama-3.3-70b-versatile", 1_000_000, 1_000_000), 2)
    1.38
    """
    prices = parse_prices(settings.llm_prices)
    price = prices.get(model) or prices.get(model.rsplit("/", 1)[-1])
    if price is None:
        # "groq/llama-3.3-70b-versatile" or a provider-less spelling of a listed model.
        short = {name.rsplit("/", 1)[-1]: p for name, p in prices.items()}
        price = short.get(model.rsplit("/", 1)[-1])
    if price is None:
        return 0.0
    return (max(prompt_tokens, 0) * price[0] + max(completion_tokens, 0) * price[1]) / 1_000_000
