"""Shop: checkout, payments, inventory, notifications and the order-ETA agent."""

__version__ = "1.4.0"
