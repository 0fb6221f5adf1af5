"""Training: PyTorch (one process or DDP), scikit-learn, hyperparameter search, and the model
packages they produce. Training runs as compute jobs; results are registered in the registry."""
