"""CLIP models: the registry of embedded models, backend settings, encoders, the bundled server, health checks."""
