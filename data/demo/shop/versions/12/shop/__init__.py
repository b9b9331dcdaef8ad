"""Shop: checkout, payments, inventory, notifications and the order-ETA agent."""

__version__ = "1.3.0"
