"""Factories the trainer tests train with (copied under a fresh package name per test module)."""
