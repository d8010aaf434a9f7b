"""Delivery: consume each receiver's queue, map, sign, deliver; settle every message in one place."""
