"""models: the project's own detector (recipe, training, shipped weights); warning models later."""
