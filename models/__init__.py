"""One module per model (churn, clv, segmentation, demand, pricing, fraud); no MLflow, Feast or BentoML imports."""
