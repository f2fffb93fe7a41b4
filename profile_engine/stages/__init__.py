"""The profile job's stages, one function each, and the typed values they hand on."""
