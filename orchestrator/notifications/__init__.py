"""Notifications: persisted per person, targeted at the people responsible."""
