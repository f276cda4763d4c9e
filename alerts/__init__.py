"""alerts: the message bus now; alert lifecycle, store and notification with their issue."""
