"""Shop: checkout, payments, inventory, notifications and the order-ETA agent."""

__version__ = "0.1.0"
