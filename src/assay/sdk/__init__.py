"""The SDK: the explicit Client, the fluent module-level API, and the background machinery behind them."""
