"""The MLflow REST surface: MLflow's tracking, registry and artifact APIs over Corridor's."""
