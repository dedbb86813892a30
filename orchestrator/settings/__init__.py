"""Instance-wide settings: providers, model prices and budgets."""
