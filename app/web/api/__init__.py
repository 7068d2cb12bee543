"""HTTP and WebSocket routes: validate, call the engine, serialize. One router per resource."""
