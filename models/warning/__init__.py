"""Warning models: typed rule configurations and the engine that runs them on tracks."""
