"""Simulated consumption history with known ground truth (BG/NBD customers, elasticities, campaign, fraud)."""
