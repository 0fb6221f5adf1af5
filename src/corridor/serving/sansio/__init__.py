"""The pure policies of serving: batching, autoscaling, traffic, balancing and graphs. No I/O."""
